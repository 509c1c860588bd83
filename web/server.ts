// `npm run demo`: builds the browser files (build.ts) and serves them on 127.0.0.1 with the
// headers that give a page WASM threads (COOP/COEP: crossOriginIsolated), so that
//   /                       the demo page (web/index.html)
//   /mobilenetv2.web.js     the library as one ES module, ONNX Runtime's files beside it
//   /weights/<name>         the weights given with --weights (a file, or a checkpoint folder's files)
// any page of this origin can `await import('/mobilenetv2.web.js')` and call load().
//
//   npm run demo -- [--port 8080] [--host 127.0.0.1] [--weights model.pth|folder/]

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { basename, extname, join, normalize, resolve, sep } from 'node:path';
import { buildWeb } from './build.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
};

export interface DemoServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface ServeOptions {
  port?: number;
  host?: string;
  /** The folder served at / (the build). */
  root: string;
  /** A weights file or checkpoint folder served at /weights/. */
  weights?: string;
  /** More folders served under a prefix, e.g. { '/photos/': 'path' } (tests). */
  mounts?: Record<string, string>;
}

/** The file under `dir` that `rel` names, or undefined when it would leave `dir`. */
function inside(dir: string, rel: string): string | undefined {
  const p = normalize(join(dir, decodeURIComponent(rel)));
  return p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep) ? p : undefined;
}

export async function serve(o: ServeOptions): Promise<DemoServer> {
  const root = resolve(o.root);
  const mounts: [string, string, boolean][] = Object.entries(o.mounts ?? {}).map(([k, v]) => [k, resolve(v), true]);
  let config: string | undefined;
  if (o.weights) {
    const w = resolve(o.weights);
    const isDir = (await stat(w)).isDirectory();
    mounts.push(isDir ? ['/weights/', w, true] : [`/weights/${basename(w)}`, w, false]);
    config = JSON.stringify({ weights: isDir ? '/weights/' : `/weights/${encodeURIComponent(basename(w))}` });
  }
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-cache');
    if (path === '/config.json' && config) {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(config);
      return;
    }
    let file: string | undefined;
    for (const [prefix, target, dir] of mounts) {
      if (dir && path.startsWith(prefix)) file = inside(target, path.slice(prefix.length));
      else if (!dir && path === prefix) file = target;
      if (file) break;
    }
    file ??= inside(root, path === '/' ? 'index.html' : path.slice(1));
    try {
      if (!file || req.method !== 'GET' && req.method !== 'HEAD') throw new Error();
      const s = await stat(file);
      if (!s.isFile()) throw new Error();
      // revalidated on every use (no-cache), answered 304 when unchanged: a returning page downloads nothing again
      const etag = `"${s.size.toString(36)}-${Math.floor(s.mtimeMs).toString(36)}"`;
      res.setHeader('ETag', etag);
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': s.size });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(o.port ?? 0, o.host ?? '127.0.0.1', () => ok()));
  const a = server.address() as { port: number; address: string };
  return {
    url: `http://${a.address}:${a.port}`,
    server,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const port = Number(flag(args, '--port') ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`--port must be an integer in [0, 65535], got ${flag(args, '--port')}`);
  process.stderr.write('building the browser files...\n');
  const b = await buildWeb();
  const s = await serve({ port, host: flag(args, '--host') ?? '127.0.0.1', root: b.outdir, weights: flag(args, '--weights') });
  process.stderr.write(`demo: ${s.url}/  (library: ${s.url}/mobilenetv2.web.js${flag(args, '--weights') ? `, weights: ${s.url}/weights/` : ''})\n`);
  const stop = () => void s.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().catch((e: Error) => {
    process.stderr.write(`mobilenetv2 demo: ${e.message.split('\n')[0]}\n`);
    process.exitCode = 1;
  });
}
