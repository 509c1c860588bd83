// Typed reads of the JSON configs that come with checkpoints (transformers' config.json and
// preprocessor_config.json, timm's pretrained_cfg): a field of the wrong type or out of range is a
// WeightsError naming the file and the field, never a TypeError deep inside. An absent field and
// JSON null (Python's None) both read as undefined: the caller's default.

import { WeightsError, clean, describe } from './errors.js';

export type Json = Record<string, unknown>;

/** The parsed document, which must be a JSON object. */
export function jsonObject(v: unknown, file: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new WeightsError(`${file}: holds ${describe(v)}, not a JSON object`);
  return v as Json;
}

function field(o: Json, key: string): unknown {
  return Object.hasOwn(o, key) && o[key] !== null ? o[key] : undefined;
}

function bad(file: string, key: string, v: unknown, want: string): never {
  throw new WeightsError(`${file}: ${clean(key)} = ${describe(v)} is not ${want}`);
}

export interface NumberRange {
  int?: boolean;
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  max?: number;
}

function rangeText(r: NumberRange, plural = false): string {
  const kind = r.int ? (plural ? 'integers' : 'an integer') : plural ? 'numbers' : 'a number';
  const bounds: string[] = [];
  if (r.above !== undefined) bounds.push(`> ${r.above}`);
  if (r.min !== undefined) bounds.push(`>= ${r.min}`);
  if (r.max !== undefined) bounds.push(`<= ${r.max}`);
  return bounds.length > 0 ? `${kind} ${bounds.join(' and ')}` : kind;
}

function checkNumber(v: unknown, r: NumberRange): boolean {
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (r.int && !Number.isSafeInteger(v)) return false;
  if (r.min !== undefined && v < r.min) return false;
  if (r.above !== undefined && !(v > r.above)) return false;
  if (r.max !== undefined && v > r.max) return false;
  return true;
}

/** A number field (finite; `r` narrows it), or undefined when absent. `name` is the key as messages show it. */
export function num(o: Json, key: string, file: string, r: NumberRange = {}, name = key): number | undefined {
  const v = field(o, key);
  if (v === undefined) return undefined;
  if (!checkNumber(v, r)) bad(file, name, v, rangeText(r));
  return v as number;
}

export function str(o: Json, key: string, file: string): string | undefined {
  const v = field(o, key);
  if (v !== undefined && typeof v !== 'string') bad(file, key, v, 'a string');
  return v as string | undefined;
}

export function bool(o: Json, key: string, file: string): boolean | undefined {
  const v = field(o, key);
  if (v !== undefined && typeof v !== 'boolean') bad(file, key, v, 'true or false');
  return v as boolean | undefined;
}

export function obj(o: Json, key: string, file: string): Json | undefined {
  const v = field(o, key);
  if (v !== undefined && (typeof v !== 'object' || Array.isArray(v))) bad(file, key, v, 'an object');
  return v as Json | undefined;
}

/** A list of strings. */
export function strs(o: Json, key: string, file: string): string[] | undefined {
  const v = field(o, key);
  if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) bad(file, key, v, 'a list of strings');
  return v as string[] | undefined;
}

/** A list of `length` numbers in range `r`; a single number stands for all of them when `broadcast`. */
export function nums(o: Json, key: string, file: string, length: number, r: NumberRange = {}, broadcast = false): number[] | undefined {
  const v = field(o, key);
  if (v === undefined) return undefined;
  if (broadcast && checkNumber(v, r)) return Array.from({ length }, () => v as number);
  if (!(Array.isArray(v) && v.length === length && v.every((x) => checkNumber(x, r)))) bad(file, key, v, `a list of ${length} ${rangeText(r, true)}`);
  return v as number[];
}
