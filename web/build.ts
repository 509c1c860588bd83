// The browser build: src/web.ts bundled by esbuild into one ES module, mobilenetv2.web.js, with
// ONNX Runtime's own files copied beside it (its builds find their .wasm and spawn their threads
// relative to themselves, so they are served as they ship, not re-bundled); and the demo page's
// script. `platform: 'browser'` makes any Node import a build error.

import { build, type Metafile, type Plugin } from 'esbuild';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..'); // dist/web -> repo root
const require = createRequire(import.meta.url);

/** ONNX Runtime's files served beside the bundle: its two builds and their WebAssembly. */
export const ORT_FILES = ['ort.wasm.bundle.min.mjs', 'ort-wasm-simd-threaded.wasm', 'ort.webgpu.bundle.min.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'] as const;

export function ortDist(): string {
  return dirname(require.resolve('onnxruntime-web/wasm')); // node_modules/onnxruntime-web/dist
}

/** onnxruntime-web's builds stay external: imported at run time from beside the bundle. */
const ortExternal: Plugin = {
  name: 'ort-external',
  setup(b) {
    b.onResolve({ filter: /^onnxruntime-web\/(wasm|webgpu)$/ }, (a) => ({ path: `./ort.${a.path.split('/')[1]}.bundle.min.mjs`, external: true }));
  },
};

export interface WebBuild {
  outdir: string;
  /** Bytes of each file written, by name. */
  files: Record<string, number>;
  metafile: Metafile;
}

export async function buildWeb(outdir = join(ROOT, 'dist', 'web-build'), opts: { minify?: boolean; demo?: boolean } = {}): Promise<WebBuild> {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const entryPoints: Record<string, string> = { 'mobilenetv2.web': join(ROOT, 'src', 'web.ts') };
  if (opts.demo ?? true) entryPoints['demo'] = join(ROOT, 'web', 'app.ts');
  const r = await build({
    entryPoints,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'firefox120', 'safari17'],
    minify: opts.minify ?? true,
    sourcemap: true,
    metafile: true,
    logLevel: 'silent',
    plugins: [ortExternal],
    // the demo imports the library by its served URL, so a page and the demo share one copy
    external: ['/mobilenetv2.web.js'],
  });
  const dist = ortDist();
  for (const f of ORT_FILES) await copyFile(join(dist, f), join(outdir, f));
  for (const f of ['index.html', 'style.css', 'blank.html']) await copyFile(join(ROOT, 'web', f), join(outdir, f)).catch(() => undefined);
  const files: Record<string, number> = {};
  for (const f of [...Object.keys(r.metafile.outputs).map((p) => p.split('/').pop()!), ...ORT_FILES]) {
    try {
      files[f] = (await stat(join(outdir, f))).size;
    } catch {
      // outputs are named relative to the working directory; skip what is not in outdir
    }
  }
  await writeFile(join(outdir, 'build.json'), JSON.stringify({ files }, null, 2));
  return { outdir, files, metafile: r.metafile };
}

export async function readBuild(outdir: string): Promise<Record<string, number>> {
  return (JSON.parse(await readFile(join(outdir, 'build.json'), 'utf8')) as { files: Record<string, number> }).files;
}
