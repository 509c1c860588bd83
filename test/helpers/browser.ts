// Real Chromium for the browser tests (and bench:web): Debian's /usr/bin/chromium driven by
// playwright-core, headless, pages served by the demo server (web/server.ts) on 127.0.0.1.
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb, type WebBuild } from '../../web/build.js';
import { serve, type DemoServer, type ServeOptions } from '../../web/server.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import type { Tensor } from '../../src/tensor.js';

export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url)); // dist/test/helpers -> repo root
export const SHARED = join(ROOT, '..', 'shared');

/** Flags for a headless Chromium on a machine without network or GPU. */
export function chromiumArgs(opts: { webgpu?: boolean; camera?: boolean } = {}): string[] {
  return [
    '--no-sandbox',
    '--headless=new',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    '--no-first-run',
    '--disable-quic',
    ...(opts.webgpu ? ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--disable-gpu-sandbox'] : ['--disable-gpu']),
    ...(opts.camera ? ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'] : []),
  ];
}

export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

export async function launch(opts: { webgpu?: boolean; camera?: boolean } = {}): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumArgs(opts) });
}

let built: Promise<WebBuild> | undefined;
/** The browser build, made once per process. */
export function webBuild(): Promise<WebBuild> {
  return (built ??= buildWeb(join(ROOT, 'dist', 'web-test-build')));
}

export interface Site {
  server: DemoServer;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Everything the page printed to its console. */
  console: string[];
  close(): Promise<void>;
}

/** A served build and a fresh page on it (`path` relative to the server root). */
export async function openSite(path = '/', serveOpts: Partial<ServeOptions> = {}, browserOpts: { webgpu?: boolean; camera?: boolean } = {}): Promise<Site> {
  const b = await webBuild();
  const server = await serve({ root: b.outdir, ...serveOpts });
  const browser = await launch(browserOpts);
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const log: string[] = [];
  page.on('console', (m: ConsoleMessage) => log.push(`${m.type()}: ${m.text()}${m.type() === 'error' && m.location().url ? ` @ ${m.location().url}` : ''}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  await page.goto(server.url + path);
  return {
    server,
    browser,
    context,
    page,
    console: log,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/**
 * One SGD step (lr 0.1) in the page, of the MobileNetV2 `spec` with the weights at /run/start.safetensors,
 * on the batch of /train/inputs.safetensors (input, labels, dropout mask_0): loss, logits, every
 * gradient (grad.<key>) and the state dict after it (after.<key>).
 */
export async function stepInPage(page: Page, spec: object, device: 'wasm' | 'webgpu', formulation?: object): Promise<Map<string, Tensor>> {
  const b64 = (await page.evaluate(
    async ({ opts, device, formulation }) => {
      const lib = await import('/mobilenetv2.web.js' as string);
      const read = async (u: string) => lib.readSafetensors(new Uint8Array(await (await fetch(u)).arrayBuffer()), u).tensors as Map<string, Tensor>;
      const m = new lib.MobileNetV2(opts);
      m.loadStateDict(await read('/run/start.safetensors'));
      m.train();
      const inp = await read('/train/inputs.safetensors');
      const tr = new lib.Trainer(m, lib.withWasmFallback(lib.pageBackend()), { optimizer: { name: 'sgd' }, numClasses: 10, inputSize: 64, outputGradients: true, device, formulation });
      const r = await tr.train(inp.get('input')!, Array.from(inp.get('labels')!.data as BigInt64Array, Number), 0.1, new Map([['dropout.classifier.0', inp.get('mask_0')!]]));
      await tr.release();
      const out = new Map<string, Tensor>([['loss', lib.float32([], [r.loss])], ['logits', r.logits]]);
      for (const [k, g] of r.grads!) out.set(`grad.${k}`, g);
      for (const [k, t] of m.stateDict()) out.set(`after.${k}`, t);
      const bytes: Uint8Array = lib.writeSafetensors(out);
      let s = '';
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(s);
    },
    { opts: spec, device, formulation },
  )) as string;
  return readSafetensors(Buffer.from(b64, 'base64'), 'page').tensors;
}
