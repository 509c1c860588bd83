// int8 in the browser: onnxruntime-web's WASM in one headless Chromium run, fp32 and each int8
// variant (quant/variants.ts: all-integer QDQ, depthwise convs in float, only 1x1 convs integer)
// side by side at batch 1 and 32, interleaved, on the same ORT instance our backend uses; and
// what each variant answers on a real photo (top-1, logits vs Node's int8).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSite, SHARED } from '../test/helpers/browser.js';
import { variantBytes, onnxNetwork } from '../src/infer/onnx.js';
import { INT8_VARIANTS } from '../src/quant/variants.js';

export interface WebInt8Result {
  threads: number;
  images_per_s: Record<string, { batch_1: number; batch_32: number }>;
  /** Per variant: int8 / fp32 images/s. */
  ratio_vs_fp32: Record<string, { batch_1: number; batch_32: number }>;
  /** Per variant: top-1 on parrot.jpg and its logits' largest difference from the all-integer variant in the same page. */
  answers: Record<string, { top1: number; max_logit_diff_vs_qdq: number }>;
  fastest: string;
  /** The fastest of the variants that compute the int8 graph's numbers (all but weights-only). */
  fastest_exact: string;
}

export async function webInt8(fp32: Uint8Array, int8: Uint8Array, work: string, opts: { rounds?: number; minMs?: number } = {}): Promise<WebInt8Result> {
  const dir = join(work, 'int8-web');
  mkdirSync(dir, { recursive: true });
  const net = onnxNetwork(int8, 'm.int8.onnx');
  writeFileSync(join(dir, 'fp32.onnx'), fp32);
  for (const v of INT8_VARIANTS) writeFileSync(join(dir, `${v}.onnx`), variantBytes(net, v));
  const site = await openSite('/blank.html', { mounts: { '/int8/': dir, '/photos/': join(SHARED, 'real', 'photos') } });
  try {
    const r = (await site.page.evaluate(
      async ({ names, rounds, minMs }) => {
        const lib = await import('/mobilenetv2.web.js' as string);
        // our session first: it fixes the page's WASM threads
        const m = await lib.load({ weights: '/int8/fp32.onnx' });
        const x1 = lib.float32([1, 3, 224, 224], Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i)));
        await m.run(x1, ['logits']);
        const ort = await import('/ort.wasm.bundle.min.mjs' as string);
        const sessions: Record<string, { run(f: unknown, o?: string[]): Promise<Record<string, { data: Float32Array }>>; release(): Promise<void> }> = {};
        for (const n of names) sessions[n] = await ort.InferenceSession.create(new Uint8Array(await (await fetch(`/int8/${n}.onnx`)).arrayBuffer()), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
        const timeIt = async (fn: () => Promise<unknown>) => {
          let k = 0;
          const t0 = performance.now();
          while (performance.now() - t0 < minMs || k < 2) {
            await fn();
            k++;
          }
          return (performance.now() - t0) / k;
        };
        const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        const ips: Record<string, { batch_1: number; batch_32: number }> = {};
        for (const n of names) ips[n] = { batch_1: 0, batch_32: 0 };
        for (const batch of [1, 32]) {
          const x = new ort.Tensor('float32', Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i)), [batch, 3, 224, 224]);
          for (const n of names) await sessions[n]!.run({ input: x }, ['logits']);
          const t: Record<string, number[]> = {};
          for (let r = 0; r < rounds; r++) for (const n of names) (t[n] ??= []).push(await timeIt(() => sessions[n]!.run({ input: x }, ['logits'])));
          for (const n of names) ips[n]![batch === 1 ? 'batch_1' : 'batch_32'] = (batch * 1000) / med(t[n]!);
        }
        // the answers on a real photo, preprocessed by our page path
        const t = await m.toTensor([await (await fetch('/photos/parrot.jpg')).blob()]);
        const x = new ort.Tensor('float32', t.data, t.shape);
        const logits: Record<string, Float32Array> = {};
        for (const n of names) logits[n] = (await sessions[n]!.run({ input: x }, ['logits']))['logits']!.data;
        const answers: Record<string, { top1: number; max_logit_diff_vs_qdq: number }> = {};
        for (const n of names) {
          const l = logits[n]!;
          answers[n] = { top1: l.indexOf(Math.max(...l)), max_logit_diff_vs_qdq: Math.max(...Array.from(l, (v, i) => Math.abs(v - logits['qdq']![i]!))) };
        }
        for (const s of Object.values(sessions)) await s.release();
        await m.dispose();
        return { threads: ort.env.wasm.numThreads as number, ips, answers };
      },
      { names: ['fp32', ...INT8_VARIANTS], rounds: opts.rounds ?? 3, minMs: opts.minMs ?? 1000 },
    )) as { threads: number; ips: WebInt8Result['images_per_s']; answers: WebInt8Result['answers'] };
    const ratio: WebInt8Result['ratio_vs_fp32'] = {};
    for (const v of INT8_VARIANTS) ratio[v] = { batch_1: +(r.ips[v]!.batch_1 / r.ips['fp32']!.batch_1).toFixed(3), batch_32: +(r.ips[v]!.batch_32 / r.ips['fp32']!.batch_32).toFixed(3) };
    for (const k of Object.keys(r.ips)) r.ips[k] = { batch_1: +r.ips[k]!.batch_1.toFixed(1), batch_32: +r.ips[k]!.batch_32.toFixed(1) };
    // fastest int8 variant: the better of the two batch sizes' geometric mean
    const score = (v: string) => Math.sqrt(ratio[v]!.batch_1 * ratio[v]!.batch_32);
    const best = (vs: readonly string[]) => [...vs].sort((a, b) => score(b) - score(a))[0]!;
    const fastest = best(INT8_VARIANTS);
    const fastestExact = best(INT8_VARIANTS.filter((v) => v !== 'weights-only'));
    return { threads: r.threads, images_per_s: r.ips, ratio_vs_fp32: ratio, answers: r.answers, fastest, fastest_exact: fastestExact };
  } finally {
    await site.close();
  }
}

