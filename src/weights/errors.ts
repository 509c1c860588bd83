// Errors about a user's weight file or download. The message is one line that starts with the
// file (or URL); `code` lets the CLI map them to its "bad input" exit code.

export type WeightsErrorCode = 'E_WEIGHTS' | 'E_DOWNLOAD';

export class WeightsError extends Error {
  readonly code: WeightsErrorCode;
  constructor(message: string, code: WeightsErrorCode = 'E_WEIGHTS') {
    super(message);
    this.name = 'WeightsError';
    this.code = code;
  }
}

/**
 * Text read from a file, made safe for a one-line message: control characters escaped (a key
 * holding "\n" must not break the line), cut to `max` characters.
 */
export function clean(s: string, max = 80): string {
  // eslint-disable-next-line no-control-regex
  const escaped = s.slice(0, max + 1).replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  return escaped.length > max ? `${escaped.slice(0, max)}...` : escaped;
}

/** `clean(s)` in double quotes, for keys and names. */
export function quote(s: string, max = 80): string {
  return `"${clean(s, max)}"`;
}

/**
 * A JSON-ish value for a message, bounded and never recursive (a header may nest a million
 * levels deep): primitives and flat lists as JSON, anything deeper by its kind.
 */
export function describe(v: unknown, max = 80): string {
  if (v === undefined) return 'absent';
  const flat = (x: unknown) => x === null || typeof x !== 'object';
  if (flat(v) || (Array.isArray(v) && v.length <= 64 && v.every(flat))) return clean(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v), max);
  return Array.isArray(v) ? `a list of ${v.length}` : 'an object';
}
