// The seam: the browser entry bundles for the browser (esbuild, platform 'browser', where any Node
// import is a build error), the core imports no platform, and each runtime is imported by one module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from './helpers/browser.js';

const SRC = join(ROOT, 'src');

async function inputsOf(entry: string): Promise<string[]> {
  const r = await build({
    entryPoints: [join(SRC, entry)],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    metafile: true,
    logLevel: 'silent',
    // ONNX Runtime's web builds are loaded at run time (web/build.ts serves them as they ship)
    external: ['onnxruntime-web/wasm', 'onnxruntime-web/webgpu'],
  });
  return Object.keys(r.metafile.inputs);
}

test('src/web.ts bundles for the browser: no Node module, no onnxruntime-node, sharp or cli-progress, nothing of platform/node or the CLI', async () => {
  const inputs = await inputsOf('web.ts');
  assert.ok(inputs.some((i) => i.endsWith('src/platform/web/load.ts')), 'the bundle holds the web platform');
  const bad = inputs.filter((i) => /node_modules\/(onnxruntime-node|sharp|cli-progress|commander|@img)\/|src\/platform\/node\/|src\/cli\/|src\/serve\//.test(i));
  assert.deepEqual(bad, []);
});

test('src/core.ts bundles for the browser and holds no platform code at all', async () => {
  const inputs = await inputsOf('core.ts');
  assert.deepEqual(inputs.filter((i) => /src\/platform\//.test(i) || /node_modules\/onnxruntime/.test(i)), []);
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('one module per platform imports its ONNX Runtime; nothing outside platform/node, cli/ and serve/ imports Node, sharp or cli-progress; train/ never touches process', () => {
  const imports = (f: string) => [...readFileSync(f, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*from\s+'([^']+)'|import\('([^']+)'\)/g)].map((m) => m[1] ?? m[2]!);
  const found: Record<string, string[]> = { 'onnxruntime-node': [], 'onnxruntime-web': [] };
  const leaks: string[] = [];
  for (const f of sources(SRC)) {
    const rel = relative(SRC, f);
    const nodeSide = rel.startsWith('platform/node/') || rel.startsWith('cli/') || rel.startsWith('serve/') || rel === 'index.ts'; // serve/: the HTTP server, a Node program (mobilenetv2/serve)
    for (const spec of imports(f)) {
      if (spec.startsWith('onnxruntime-node')) found['onnxruntime-node']!.push(rel);
      if (spec.startsWith('onnxruntime-web')) found['onnxruntime-web']!.push(rel);
      if (!nodeSide && (spec.startsWith('node:') || ['sharp', 'cli-progress', 'commander', 'onnxruntime-node'].includes(spec))) leaks.push(`${rel} imports ${spec}`);
    }
    if (rel.startsWith('train/') && /\bprocess\./.test(readFileSync(f, 'utf8'))) leaks.push(`${rel} uses process`);
  }
  assert.deepEqual([...new Set(found['onnxruntime-node'])], ['platform/node/ort.ts']);
  assert.deepEqual([...new Set(found['onnxruntime-web'])], ['platform/web/ort.ts']);
  assert.deepEqual(leaks, []);
});
