// `npm run fuzz`: seeded mutation fuzzing of every parser of untrusted bytes (safetensors, both
// .pth formats, the pickle VM, JSON configs, images, BMP). Each parser runs in a child process,
// case after case; a case is a FINDING when it
//   - throws anything but the parser's typed error (WeightsError E_WEIGHTS / ImageError E_IMAGE),
//     or a message that is not one line starting with the file name,
//   - takes over 5 s (the parent kills a child stuck in one case),
//   - crashes the process (out of memory, abort, signal),
//   - allocates more than 64x its input + 8 MB (plus, for images, what the decoded image holds
//     and what PIL allocates for the size the header declares, up to PIL's pixel limit).
// Allocation is the largest of: the largest typed array or ArrayBuffer requested during the case,
// the growth of the JS heap and of ArrayBuffers while the result is held, and (for the image
// parsers, whose decoders allocate natively) the growth of peak RSS.
// Deterministic: case i of parser p is a function of (--seed, p, i); `--case i --only p` reruns
// one and `--dump f` writes its input. Results go to bench/results.json under "fuzz".
//
//   node dist/bench/fuzz.js [--cases 10000] [--seed 1] [--only pickle,config] [--case 17 --dump x.bin]

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, hash32 } from './fuzz-mutate.js';
import { TARGET_NAMES as ALL_TARGETS } from './fuzz-names.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export { ALL_TARGETS };
const CASE_LIMIT_MS = 5000;
const MEMORY_FACTOR = 64;
const MEMORY_SLACK = 8 << 20;

export interface Finding {
  parser: string;
  index: number;
  kind: 'untyped' | 'message' | 'slow' | 'crash' | 'memory';
  detail: string;
  seed?: string;
  how?: string[];
  inputBytes?: number;
}

export interface ParserReport {
  parser: string;
  cases: number;
  findings: number;
  slowestMs: number;
  slowestCase: number;
  peakBytes: number;
  peakCase: number;
  typedErrors: number;
  accepted: number;
  seconds: number;
}

export interface FuzzOptions {
  cases?: number;
  seed?: number;
  only?: readonly string[];
  /** Print progress lines to stderr. */
  verbose?: boolean;
}

// ---------------------------------------------------------------------------------------------
// child: runs cases [from, to) of one parser, one line per event on stdout (synchronous on a pipe,
// so the parent knows which case was running if this process dies)

/** The largest allocation requested from typed-array and ArrayBuffer constructors (fflate, decoders...). */
function installAllocTracker(): { bytes: number } {
  const counter = { bytes: 0 };
  const names = ['ArrayBuffer', 'Uint8Array', 'Int8Array', 'Uint8ClampedArray', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array',
    'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'] as const;
  for (const name of names) {
    const C = (globalThis as unknown as Record<string, { BYTES_PER_ELEMENT?: number }>)[name]! as unknown as new (...a: unknown[]) => object;
    const size = (C as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    const proxy: object = new Proxy(C, {
      construct(target, args, newTarget): object {
        const a = args[0];
        const n = typeof a === 'number' ? a * size : Array.isArray(a) || ArrayBuffer.isView(a) ? (a as ArrayLike<unknown>).length * size : 0;
        if (n > counter.bytes) counter.bytes = n;
        // with the proxy as new.target V8 gives each array a map of its own, and element access
        // in a loop that has seen many goes megamorphic (30x slower): construct the intrinsic
        return Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
      },
    });
    (globalThis as unknown as Record<string, unknown>)[name] = proxy;
    // x.constructor === Uint8Array (sharp checks its input so) and new x.constructor(n) must see the proxy
    Object.defineProperty(C.prototype, 'constructor', { value: proxy, writable: true, configurable: true });
  }
  return counter;
}

/** Run one case: its result or error, time, and the largest of the allocation measures. */
async function measure(run: () => unknown, native: boolean, alloc: { bytes: number }): Promise<{ result: unknown; error: unknown; ms: number; bytes: number }> {
  const m0 = process.memoryUsage();
  const rss0 = process.resourceUsage().maxRSS * 1024;
  alloc.bytes = 0;
  const t0 = performance.now();
  let result: unknown;
  let error: unknown;
  try {
    result = run();
    if (result instanceof Promise) result = await result;
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - t0;
  const m1 = process.memoryUsage();
  // native memory (libvips) shows only in RSS; for the TypeScript parsers the JS heap and
  // ArrayBuffer counts are exact, and RSS would add the V8 heap's own growth as noise
  const rss = native ? process.resourceUsage().maxRSS * 1024 - rss0 : 0;
  return { result, error, ms, bytes: Math.max(alloc.bytes, m1.arrayBuffers - m0.arrayBuffers, m1.heapUsed - m0.heapUsed, rss) };
}

const gc = (globalThis as { gc?: () => void }).gc;

function caseRng(seed: number, parser: string, index: number): Rng {
  return new Rng(hash32(`${seed}:${parser}:${index}`));
}

async function child(parser: string, from: number, to: number, seed: number, dump?: string): Promise<void> {
  const alloc = installAllocTracker();
  const { loadTarget } = await import('./fuzz-targets.js');
  const target = await loadTarget(parser);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  // warm up on the seeds themselves (they must parse), so that peak RSS is steady before measuring
  for (const s of target.seeds) {
    try {
      await target.run({ bytes: s.bytes, seed: s.name, how: [], kind: s.kind }, `seed.${target.ext}`);
    } catch (e) {
      if (!s.bad) out(`W ${JSON.stringify({ seed: s.name, error: (e as Error).message.slice(0, 200) })}`);
    }
  }
  for (let i = from; i < to; i++) {
    const c = target.make(caseRng(seed, parser, i));
    if (dump) {
      writeFileSync(dump, c.bytes);
      out(`I ${JSON.stringify({ index: i, seed: c.seed, how: c.how, kind: c.kind, bytes: c.bytes.length })}`);
    }
    const file = target.fileName ? target.fileName(i, c) : `case-${i}.${target.ext}`;
    out(`S ${i}`);
    let { result, error, ms, bytes } = await measure(() => target.run(c, file), target.native ?? false, alloc);
    let allowed = MEMORY_FACTOR * c.bytes.length + (target.slack ?? MEMORY_SLACK) + (error === undefined && target.allowance ? target.allowance(result) : 0);
    if (target.declared && bytes > allowed) allowed += await target.declared(c);
    if (bytes > allowed && gc && !target.native) {
      // the JS heap delta counts garbage of earlier cases that a collection during this one did
      // not reach: measure again from a collected heap before calling it a finding
      result = undefined;
      gc();
      ({ result, error, bytes } = await measure(() => target.run(c, file), target.native ?? false, alloc));
    }
    let verifyError: unknown;
    if (error === undefined && target.verify) {
      try {
        target.verify(result);
      } catch (e) {
        verifyError = e;
      }
    }
    result = undefined;
    const r: Record<string, unknown> = { i, ms: Math.round(ms * 10) / 10, bytes, n: c.bytes.length };
    const finding = (kind: Finding['kind'], detail: string) => out(`F ${JSON.stringify({ parser, index: i, kind, detail, seed: c.seed, how: c.how, inputBytes: c.bytes.length })}`);
    if (error !== undefined) {
      const e = error as Error & { code?: unknown };
      const message = String(e?.message ?? e);
      if (e?.code !== target.code) finding('untyped', `${e?.constructor?.name ?? typeof e}: ${message.slice(0, 300)}`);
      else if (message.includes('\n') || !message.startsWith(target.prefix ? target.prefix(c, file) : `${file}: `) || message.length > 500) finding('message', `not one short line naming the file: ${JSON.stringify(message.slice(0, 300))}`);
      r['t'] = 1;
    }
    if (verifyError !== undefined) finding('untyped', `accepted, then the next step threw ${(verifyError as Error)?.constructor?.name}: ${String((verifyError as Error)?.message ?? verifyError).slice(0, 300)}`);
    if (ms > CASE_LIMIT_MS) finding('slow', `${Math.round(ms)} ms`);
    if (bytes > allowed) finding('memory', `allocated ${(bytes / 2 ** 20).toFixed(1)} MB for a ${c.bytes.length}-byte input (allowed ${(allowed / 2 ** 20).toFixed(1)} MB)`);
    out(`E ${JSON.stringify(r)}`);
  }
  out('D');
}

// ---------------------------------------------------------------------------------------------
// parent: one child per parser, restarted after a crash or a hang, from the next case

function runParser(parser: string, cases: number, seed: number, verbose: boolean): Promise<{ report: ParserReport; findings: Finding[]; warnings: string[] }> {
  const t0 = performance.now();
  const report: ParserReport = { parser, cases: 0, findings: 0, slowestMs: 0, slowestCase: -1, peakBytes: 0, peakCase: -1, typedErrors: 0, accepted: 0, seconds: 0 };
  const findings: Finding[] = [];
  const warnings: string[] = [];
  let next = 0;
  return new Promise((resolve) => {
    const start = (): void => {
      if (next >= cases) {
        report.seconds = Math.round((performance.now() - t0) / 100) / 10;
        report.findings = findings.length;
        resolve({ report, findings, warnings });
        return;
      }
      const p = spawn(process.execPath, ['--max-old-space-size=4096', '--max-semi-space-size=1', '--expose-gc', SELF, '--child', parser, '--from', String(next), '--to', String(cases), '--seed', String(seed)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let current = -1;
      let startedAt = 0;
      let buf = '';
      let stderr = '';
      let done = false;
      const timer = setInterval(() => {
        if (current >= 0 && performance.now() - startedAt > CASE_LIMIT_MS + 1000) {
          findings.push({ parser, index: current, kind: 'slow', detail: `over ${CASE_LIMIT_MS} ms: killed` });
          p.kill('SIGKILL');
        }
      }, 250);
      p.stdout.setEncoding('utf8');
      p.stderr.setEncoding('utf8');
      p.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
      p.stdout.on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const kind = line[0];
          const body = line.slice(2);
          if (kind === 'S') {
            current = Number(body);
            startedAt = performance.now();
          } else if (kind === 'E') {
            const r = JSON.parse(body) as { i: number; ms: number; bytes: number; t?: number };
            report.cases++;
            if (r.t) report.typedErrors++;
            else report.accepted++;
            if (r.ms > report.slowestMs) [report.slowestMs, report.slowestCase] = [r.ms, r.i];
            if (r.bytes > report.peakBytes) [report.peakBytes, report.peakCase] = [r.bytes, r.i];
            next = r.i + 1;
            current = -1;
            if (verbose && report.cases % 1000 === 0) process.stderr.write(`fuzz ${parser}: ${report.cases}/${cases}, ${findings.length} findings\n`);
          } else if (kind === 'F') {
            findings.push(JSON.parse(body) as Finding);
          } else if (kind === 'W') {
            warnings.push(body);
          } else if (kind === 'D') {
            done = true;
          }
        }
      });
      p.on('close', (code, signal) => {
        clearInterval(timer);
        if (!done) {
          if (current >= 0) {
            const killed = findings.some((f) => f.index === current && f.kind === 'slow');
            if (!killed) findings.push({ parser, index: current, kind: 'crash', detail: `child exited (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}` });
            report.cases++;
            next = current + 1;
          } else {
            // died outside a case (while loading seeds): nothing more to learn from restarting
            findings.push({ parser, index: next, kind: 'crash', detail: `child failed before a case (${signal ?? `code ${code}`}): ${stderr.trim().slice(-300)}` });
            next = cases;
          }
        }
        start();
      });
    };
    start();
  });
}

/** Run `cases` cases of each parser, up to two parsers at once. */
export async function runFuzz(opts: FuzzOptions = {}): Promise<{ reports: ParserReport[]; findings: Finding[]; warnings: string[] }> {
  const cases = opts.cases ?? 10_000;
  const seed = opts.seed ?? 1;
  const parsers = opts.only && opts.only.length > 0 ? opts.only : ALL_TARGETS;
  for (const p of parsers) if (!(ALL_TARGETS as readonly string[]).includes(p)) throw new RangeError(`Unknown parser: "${p}". Should be one of: ${ALL_TARGETS.join(', ')}`);
  const results: Awaited<ReturnType<typeof runParser>>[] = new Array(parsers.length);
  let k = 0;
  const lanes = Math.max(1, Math.min(2, cpus().length));
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (k < parsers.length) {
      const i = k++;
      results[i] = await runParser(parsers[i]!, cases, seed, opts.verbose ?? false);
    }
  }));
  return {
    reports: results.map((r) => r.report),
    findings: results.flatMap((r) => r.findings),
    warnings: results.flatMap((r) => r.warnings.map((w) => `${r.report.parser}: ${w}`)),
  };
}

export function table(reports: readonly ParserReport[]): string {
  const rows = [['parser', 'cases', 'findings', 'typed errors', 'accepted', 'slowest case (ms)', 'peak memory (MB)', 'seconds']];
  for (const r of reports) {
    rows.push([r.parser, String(r.cases), String(r.findings), String(r.typedErrors), String(r.accepted), `${r.slowestMs.toFixed(1)} (#${r.slowestCase})`, `${(r.peakBytes / 2 ** 20).toFixed(1)} (#${r.peakCase})`, String(r.seconds)]);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((x, c) => (c === 0 ? x.padEnd(w[c]!) : x.padStart(w[c]!))).join(' | ')} |`;
  return [line(rows[0]!), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...rows.slice(1).map(line)].join('\n');
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const parser = argValue(args, '--child');
  if (parser !== undefined) {
    await child(parser, Number(argValue(args, '--from')), Number(argValue(args, '--to')), Number(argValue(args, '--seed')), argValue(args, '--dump'));
    return;
  }
  const cases = Number(argValue(args, '--cases') ?? 10_000);
  const seed = Number(argValue(args, '--seed') ?? 1);
  const only = argValue(args, '--only')?.split(',').filter(Boolean);
  if (!Number.isInteger(cases) || cases < 1) throw new RangeError(`--cases must be a positive integer, got ${argValue(args, '--cases')}`);
  const one = argValue(args, '--case');
  if (one !== undefined) {
    // rerun one case in this process's child, printing what happened
    if (!only || only.length !== 1) throw new RangeError('--case needs --only <one parser>');
    const p = spawn(process.execPath, ['--max-semi-space-size=1', '--expose-gc', SELF, '--child', only[0]!, '--from', one, '--to', String(Number(one) + 1), '--seed', String(seed), ...(argValue(args, '--dump') ? ['--dump', argValue(args, '--dump')!] : [])], { stdio: 'inherit' });
    await new Promise((r) => p.on('close', r));
    return;
  }
  const t0 = performance.now();
  const { reports, findings, warnings } = await runFuzz({ cases, seed, only, verbose: true });
  for (const w of warnings) process.stderr.write(`warning: seed did not parse: ${w}\n`);
  for (const f of findings.slice(0, 50)) process.stdout.write(`FINDING ${f.parser} #${f.index} ${f.kind}: ${f.detail}${f.seed ? ` [seed ${f.seed}; ${f.how?.join(', ')}]` : ''}\n`);
  if (findings.length > 50) process.stdout.write(`... and ${findings.length - 50} more findings\n`);
  process.stdout.write(`${table(reports)}\n`);
  process.stdout.write(`${findings.length} findings in ${reports.reduce((a, r) => a + r.cases, 0)} cases, ${((performance.now() - t0) / 1000).toFixed(0)} s (seed ${seed})\n`);
  if (!only) {
    const file = join(ROOT, 'bench', 'results.json');
    const all = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
    all['fuzz'] = {
      machine: { cpu: cpus()[0]?.model.replace(/\s+\d+-Core Processor$/, '').trim(), cores: cpus().length, node: process.version, date: new Date().toISOString() },
      seed,
      cases_per_parser: cases,
      finding_rules: `untyped error or not one line naming the file; over ${CASE_LIMIT_MS} ms; crash; allocation over ${MEMORY_FACTOR}x input + ${MEMORY_SLACK >> 20} MB (images: + 32 MB of decoder rows, the decoded pixels and what PIL allocates for the declared size)`,
      parsers: Object.fromEntries(reports.map((r) => [r.parser, {
        cases: r.cases, findings: r.findings, typed_errors: r.typedErrors, accepted: r.accepted,
        slowest_case_ms: r.slowestMs, slowest_case: r.slowestCase, peak_memory_mb: Math.round(r.peakBytes / 2 ** 20 * 10) / 10, peak_case: r.peakCase, seconds: r.seconds,
      }])),
      findings: findings.slice(0, 20),
    };
    writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
    process.stdout.write(`wrote ${file} (key "fuzz")\n`);
  }
  if (findings.length > 0) process.exitCode = 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === SELF) {
  main().catch((e) => {
    process.stderr.write(`fuzz: ${(e as Error).stack}\n`);
    process.exitCode = 1;
  });
}
