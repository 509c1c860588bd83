// Where the transformers / timm reference fixtures are: the small ones committed (gzipped) under
// test/fixtures/{hf,timm}, the rest read from ../shared/fixtures beside the checkout when present.

import { existsSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** ../shared/fixtures relative to the repository (this file runs from dist/test/helpers/). */
export const SHARED = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));
export const hasShared = existsSync(join(SHARED, 'MANIFEST.json'));

export const COMMITTED = (name: 'hf' | 'timm'): string => fileURLToPath(new URL(`../../../test/fixtures/${name}/`, import.meta.url));

/** A committed fixture folder with its .gz files expanded, in a fresh temporary directory. */
export function expandFixture(name: 'hf' | 'timm'): string {
  const src = COMMITTED(name);
  const dir = mkdtempSync(join(tmpdir(), `mnv2-${name}-`));
  for (const f of readdirSync(src)) {
    if (f.endsWith('.gz')) writeFileSync(join(dir, f.slice(0, -3)), gunzipSync(readFileSync(join(src, f))));
    else if (f.endsWith('.json')) copyFileSync(join(src, f), join(dir, f));
  }
  return dir;
}

export interface SharedCase {
  kind: 'hf' | 'timm';
  model?: string;
  sizes: number[];
  params: number;
  config?: Record<string, unknown>;
}

export function sharedManifest(): Record<string, SharedCase> {
  return (JSON.parse(readFileSync(join(SHARED, 'MANIFEST.json'), 'utf8')) as { cases: Record<string, SharedCase> }).cases;
}
