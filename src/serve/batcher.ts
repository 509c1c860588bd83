// Dynamic batching, as Triton's dynamic batcher does it: requests that arrive while the sessions
// are busy, or within `maxDelayMs` of the oldest waiting one, run together in one batch of up to
// `maxBatch` rows (and, when nothing more is on its way, at once). Each of `runners` sessions runs one batch at a time; a request is a block of
// rows (an image is one row, a KServe tensor N rows) and gets its own rows of every output back.
//
//   const b = new Batcher(runBatch, { maxBatch: 32, maxDelayMs: 2, runners: 1 });
//   const { logits } = await b.submit(tensor /* (n, 3, H, W) */, signal);   // (n, classes)
//
// Platform-free: `run` is given the batch and the runner (session) index. The queue is bounded
// by the server's admission (server.ts), not here; an aborted signal (a deadline, a client that
// left) takes a request out of the queue before it runs.

import type { Tensor } from '../tensor.js';

/** Runs one batch (N, ...) on session `runner` -> outputs with N rows each. */
export type RunBatch = (input: Tensor, runner: number) => Promise<Record<string, Tensor>>;

export interface BatcherOptions {
  /** Most rows in one run. */
  readonly maxBatch: number;
  /** How long the oldest waiting request may wait for others to join its batch (0: run at once). */
  readonly maxDelayMs: number;
  /** Sessions: batches run at the same time. */
  readonly runners: number;
  /**
   * Requests on their way to the queue (being decoded). While there are none, a batch does not
   * wait for company: one client alone gets no added delay. Default: always wait maxDelayMs.
   */
  readonly incoming?: () => number;
  /** Called after each run with its rows and duration (metrics). */
  readonly onBatch?: (rows: number, ms: number) => void;
}

interface Job {
  readonly key: string; // requests batch together only with the same per-row shape
  readonly input: Tensor; // (n, ...)
  readonly rows: number;
  readonly enqueued: number;
  readonly resolve: (out: Record<string, Tensor>) => void;
  readonly reject: (e: unknown) => void;
  readonly signal?: AbortSignal;
  readonly onAbort?: () => void;
}

export class Batcher {
  private readonly queue: Job[] = [];
  private idle: number[]; // free runner indices
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private running = 0;
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  private queuedRows = 0;

  constructor(
    private readonly run: RunBatch,
    private readonly opts: BatcherOptions,
  ) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) throw new RangeError(`maxBatch must be an integer >= 1, got ${opts.maxBatch}`);
    if (!(opts.maxDelayMs >= 0)) throw new RangeError(`maxDelayMs must be a number >= 0, got ${opts.maxDelayMs}`);
    if (!Number.isInteger(opts.runners) || opts.runners < 1) throw new RangeError(`runners must be an integer >= 1, got ${opts.runners}`);
    this.idle = Array.from({ length: opts.runners }, (_, i) => i);
  }

  /** Rows waiting for a session. */
  get depth(): number {
    return this.queuedRows;
  }

  /** Batches running now. */
  get busy(): number {
    return this.running;
  }

  /**
   * Queue (n, ...) rows; resolves with this request's rows of every output ((n, ...) each). An
   * abort of `signal` while the rows wait rejects with the signal's reason and drops them.
   */
  submit(input: Tensor, signal?: AbortSignal): Promise<Record<string, Tensor>> {
    const rows = input.shape[0]!;
    if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`a request needs at least one row, got shape [${input.shape.join(', ')}]`);
    if (rows > this.opts.maxBatch) throw new RangeError(`a request of ${rows} rows is more than the largest batch (${this.opts.maxBatch})`);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const job: Job = {
        key: input.shape.slice(1).join('x'),
        input,
        rows,
        enqueued: performance.now(),
        resolve,
        reject,
        signal,
        onAbort: signal ? () => this.cancel(job) : undefined,
      };
      signal?.addEventListener('abort', job.onAbort!, { once: true });
      this.queue.push(job);
      this.queuedRows += rows;
      this.pump();
    });
  }

  /** Look again whether a batch is due (the server calls it when a request stops being incoming). */
  poke(): void {
    this.pump();
  }

  /** Run what is queued without waiting for more; resolves when nothing is queued or running. */
  drain(): Promise<void> {
    this.draining = true;
    this.pump();
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private cancel(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i < 0) return; // already running: its answer is dropped by the caller
    this.queue.splice(i, 1);
    this.queuedRows -= job.rows;
    job.reject(job.signal!.reason);
    this.pump();
    this.settleIdle();
  }

  /** Start batches while a session is free and a batch is due. */
  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const oldest = this.queue[0]!;
      const waited = performance.now() - oldest.enqueued;
      const company = this.opts.incoming ? this.opts.incoming() > 0 : true;
      if (!this.draining && company && waited < this.opts.maxDelayMs && this.rowsFor(oldest.key) < this.opts.maxBatch) {
        this.wakeAt(oldest.enqueued + this.opts.maxDelayMs);
        return;
      }
      this.start(this.take(oldest.key), this.idle.shift()!);
    }
    if (this.queue.length === 0 && this.timer !== undefined) {
      clearTimeout(this.timer); // nothing waits for it
      this.timer = undefined;
    }
  }

  private rowsFor(key: string): number {
    let n = 0;
    for (const j of this.queue) if (j.key === key) n += j.rows;
    return n;
  }

  /** The oldest jobs of one shape, in arrival order, up to maxBatch rows. */
  private take(key: string): Job[] {
    const jobs: Job[] = [];
    let rows = 0;
    for (let i = 0; i < this.queue.length && rows < this.opts.maxBatch; ) {
      const j = this.queue[i]!;
      if (j.key !== key || rows + j.rows > this.opts.maxBatch) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      jobs.push(j);
      rows += j.rows;
    }
    this.queuedRows -= rows;
    return jobs;
  }

  private wakeAt(t: number): void {
    if (this.timer !== undefined && this.timerAt <= t) return;
    clearTimeout(this.timer);
    this.timerAt = t;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, t - performance.now()));
  }

  private async start(jobs: Job[], runner: number): Promise<void> {
    this.running++;
    for (const j of jobs) j.signal?.removeEventListener('abort', j.onAbort!);
    const rows = jobs.reduce((n, j) => n + j.rows, 0);
    const t0 = performance.now();
    try {
      const out = await this.run(concatRows(jobs.map((j) => j.input), rows), runner);
      this.opts.onBatch?.(rows, performance.now() - t0);
      let r = 0;
      for (const j of jobs) {
        j.resolve(sliceRows(out, r, j.rows));
        r += j.rows;
      }
    } catch (e) {
      for (const j of jobs) j.reject(e);
    } finally {
      this.running--;
      this.idle.push(runner);
      this.pump();
      this.settleIdle();
    }
  }

  private settleIdle(): void {
    if (this.queue.length > 0 || this.running > 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

/** Blocks of rows (n_i, ...) of one per-row shape -> (sum n_i, ...); one block is passed as is. */
function concatRows(blocks: Tensor[], rows: number): Tensor {
  if (blocks.length === 1) return blocks[0]!;
  const first = blocks[0]!;
  const data = new Float32Array((first.data.length / first.shape[0]!) * rows);
  let o = 0;
  for (const b of blocks) {
    data.set(b.data as Float32Array, o);
    o += b.data.length;
  }
  return { dtype: 'float32', shape: [rows, ...first.shape.slice(1)], data };
}

/** Rows [start, start + n) of every output (views, no copy). */
function sliceRows(out: Record<string, Tensor>, start: number, n: number): Record<string, Tensor> {
  const r: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(out)) {
    const per = t.data.length / t.shape[0]!;
    r[k] = { dtype: t.dtype, shape: [n, ...t.shape.slice(1)], data: (t.data as Float32Array).subarray(start * per, (start + n) * per) };
  }
  return r;
}
