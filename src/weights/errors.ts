// Errors about a user's weight file or download. The message is one line that starts with the
// file (or URL); `code` lets the CLI map them to its "bad input" exit code.

export type WeightsErrorCode = 'E_WEIGHTS' | 'E_DOWNLOAD';

/**
 * What a state dict that does not fit probably is: a MobileNetV2 of another width, or one with
 * another number of classes. Each caller says it in its own words (an option, a flag).
 */
export type WeightsHint = { kind: 'width' } | { kind: 'classes'; classes: number };

export class WeightsError extends Error {
  readonly code: WeightsErrorCode;
  /** The message without the hint's words. */
  readonly problem: string;
  constructor(
    message: string,
    code: WeightsErrorCode = 'E_WEIGHTS',
    readonly hint?: WeightsHint,
  ) {
    super(hint ? `${message} (${hintWords(hint)})` : message);
    this.name = 'WeightsError';
    this.code = code;
    this.problem = message;
  }
}

/** A hint in the library's words (the CLI says --alpha and --num-classes). */
export function hintWords(h: WeightsHint, flags = false): string {
  if (h.kind === 'width') return `is it a MobileNetV2 of another width? pass ${flags ? '--alpha' : 'alpha'}`;
  return `the checkpoint has ${h.classes} classes: ${flags ? 'leave out --num-classes' : 'give that class count'}, or fine-tune it to yours with train --weights`;
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
