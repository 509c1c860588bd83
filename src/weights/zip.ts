// A zip reader for the archives torch.save writes (stored entries, zip64 records, 64-byte aligned
// data), bounded for untrusted input: every offset and size in the central directory is checked
// against the file before it is used, and nothing is inflated past the size the archive declares
// or past the caller's budget (a zip bomb is refused before it allocates). fflate only inflates.
// Like torch.load (miniz), CRCs are not checked.

import { Inflate } from 'fflate';
import { quote } from './errors.js';

export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflate. */
  readonly method: number;
  readonly compressedSize: number;
  /** Uncompressed size, as the central directory declares it. */
  readonly size: number;
  /** Offset of the entry's (compressed) data in the archive. */
  readonly dataOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

/** The central directory of a zip archive, by entry name. `fail` throws the caller's one-line error. */
export function zipEntries(bytes: Uint8Array, fail: (m: string) => never): Map<string, ZipEntry> {
  const len = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number): number => dv.getUint16(o, true);
  const u32 = (o: number): number => dv.getUint32(o, true);
  const u64 = (o: number, what: string): number => {
    const v = dv.getBigUint64(o, true);
    if (v > BigInt(len)) fail(`corrupt zip archive: ${what} ${v} is past the end of the ${len}-byte file`);
    return Number(v);
  };

  // End of central directory: 22 bytes + a comment of up to 65535, so within the last 65557 bytes.
  let eocd = -1;
  for (let o = len - 22; o >= Math.max(0, len - 65557); o--) {
    if (u32(o) === EOCD) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) fail('corrupt or truncated zip archive (no end of central directory record)');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  let zip64 = false;
  if (eocd >= 20 && u32(eocd - 20) === ZIP64_LOCATOR) {
    const at = u64(eocd - 12, 'zip64 record offset');
    if (at + 56 > eocd || u32(at) !== ZIP64_EOCD) fail('corrupt zip archive: bad zip64 end of central directory record');
    count = u64(at + 32, 'entry count');
    cdSize = u64(at + 40, 'central directory size');
    cdOffset = u64(at + 48, 'central directory offset');
    zip64 = true;
  }
  if (cdOffset + cdSize > len) fail(`corrupt or truncated zip archive: central directory [${cdOffset}, ${cdOffset + cdSize}) is past the end of the ${len}-byte file`);
  if (count * 46 > cdSize) fail(`corrupt zip archive: ${count} entries cannot fit a ${cdSize}-byte central directory`);

  const utf8 = new TextDecoder('utf-8');
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || u32(p) !== CENTRAL) fail(`corrupt zip archive: central directory entry ${i} at byte ${p} is damaged`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    let compressedSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let local = u32(p + 42);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) fail(`corrupt zip archive: central directory entry ${i} runs past the directory`);
    const name = utf8.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information: the 64-bit values of the fields that read 0xffffffff, in this order
    if (compressedSize === U32_MAX || size === U32_MAX || local === U32_MAX) {
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      let found = false;
      while (x + 4 <= xEnd) {
        const id = u16(x);
        const n = u16(x + 2);
        if (x + 4 + n > xEnd) break;
        if (id === 0x0001) {
          let q = x + 4;
          const take = (what: string): number => {
            if (q + 8 > x + 4 + n) fail(`corrupt zip archive: entry ${quote(name)} has a short zip64 field`);
            const v = u64(q, what);
            q += 8;
            return v;
          };
          if (size === U32_MAX) size = take('entry size');
          if (compressedSize === U32_MAX) compressedSize = take('compressed size');
          if (local === U32_MAX) local = take('entry offset');
          found = true;
          break;
        }
        x += 4 + n;
      }
      if (!found && !zip64) fail(`corrupt zip archive: entry ${quote(name)} has 32-bit sizes of 0xffffffff without zip64 data`);
    }
    if (flags & 1) fail(`zip entry ${quote(name)} is encrypted`);
    if (local + 30 > len || u32(local) !== LOCAL) fail(`corrupt or truncated zip archive: entry ${quote(name)} has no local header at byte ${local}`);
    const dataOffset = local + 30 + u16(local + 26) + u16(local + 28);
    if (dataOffset + compressedSize > len) {
      fail(`truncated zip archive: entry ${quote(name)} needs bytes [${dataOffset}, ${dataOffset + compressedSize}) of a ${len}-byte file`);
    }
    if (method === 0 && compressedSize !== size) fail(`corrupt zip archive: stored entry ${quote(name)} declares ${size} bytes but holds ${compressedSize}`);
    if (entries.has(name)) fail(`corrupt zip archive: entry ${quote(name)} appears twice`);
    entries.set(name, { name, method, compressedSize, size, dataOffset });
    p = next;
  }
  return entries;
}

/**
 * The uncompressed bytes of an entry (a view for stored entries). A deflated entry is inflated
 * in small steps and refused as soon as it outgrows its declared size; the declared size must
 * fit `budget` (bytes) before anything is allocated.
 */
export function zipData(bytes: Uint8Array, e: ZipEntry, budget: number, fail: (m: string) => never): Uint8Array {
  const raw = bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method !== 8) fail(`zip entry ${quote(e.name)} uses compression method ${e.method} (only stored and deflate are read)`);
  // Deflate cannot expand more than 1032:1: a larger declared size cannot be true.
  if (e.size > 1032 * e.compressedSize + 1024) fail(`corrupt zip archive: entry ${quote(e.name)} declares ${e.size} bytes from ${e.compressedSize} compressed`);
  if (e.size > budget) {
    fail(`zip entry ${quote(e.name)} would inflate to ${e.size} bytes, over the ${Math.floor(budget)} this file can account for (a zip bomb?)`);
  }
  const out = new Uint8Array(e.size);
  let n = 0;
  let over = false;
  const inflate = new Inflate((chunk) => {
    if (n + chunk.length > out.length) over = true;
    else out.set(chunk, n);
    n += chunk.length;
  });
  // A step of k compressed bytes yields at most 1032 k: steps sized so that one step yields at
  // most ~8x what is left to inflate or 8x the file (512 bytes of input at least) catch an entry that
  // lies about its size early, without paying fflate's per-step cost (a 32 KB window copy)
  // thousands of times on an honest one.
  try {
    for (let o = 0; o < raw.length && !over;) {
      const step = Math.min(1 << 20, Math.max(512, Math.ceil((8 * Math.max(e.size - n, bytes.length)) / 1032)));
      inflate.push(raw.subarray(o, o + step), o + step >= raw.length);
      o += step;
    }
    if (raw.length === 0) inflate.push(raw, true);
  } catch (err) {
    fail(`corrupt zip archive: entry ${quote(e.name)} does not inflate (${(err as Error).message})`);
  }
  if (over) fail(`corrupt zip archive: entry ${quote(e.name)} inflates past its declared ${e.size} bytes`);
  if (n !== e.size) fail(`corrupt or truncated zip archive: entry ${quote(e.name)} inflates to ${n} bytes, not the declared ${e.size}`);
  return out;
}
