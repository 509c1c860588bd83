// /metrics in Prometheus' text format, through prom-client, in a registry of the server's own
// (two servers in one process do not share counters). Names follow Prometheus' conventions:
// _total for counters, _seconds for durations.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ErrorReason } from './errors.js';

export interface ServeMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'status'>;
  readonly errors: Counter<'route' | 'reason'>;
  readonly latency: Histogram<'route'>;
  readonly batchSize: Histogram;
  readonly inference: Histogram;
  readonly decode: Histogram;
}

export interface Gauges {
  /** Rows waiting for a session. */
  queue(): number;
  /** Requests admitted and not yet answered. */
  inFlight(): number;
  /** Images waiting for a decode thread. */
  decodeQueue(): number;
  /** Batches running now. */
  running(): number;
}

export function serveMetrics(prefix: string, g: Gauges): ServeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry }); // process_resident_memory_bytes, event loop lag, GC...
  const registers = [registry];
  const requests = new Counter({ name: `${prefix}_requests_total`, help: 'HTTP requests answered, by route and status code', labelNames: ['route', 'status'] as const, registers });
  const errors = new Counter({ name: `${prefix}_errors_total`, help: 'Requests answered with an error, by route and reason', labelNames: ['route', 'reason'] as const, registers });
  const latency = new Histogram({
    name: `${prefix}_request_duration_seconds`,
    help: 'Time from the request to its answer, by route',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const batchSize = new Histogram({ name: `${prefix}_batch_size`, help: 'Rows (images) per network run', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers });
  const inference = new Histogram({ name: `${prefix}_inference_duration_seconds`, help: 'Time of one network run (a batch)', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers });
  const decode = new Histogram({ name: `${prefix}_decode_duration_seconds`, help: 'Time to decode and preprocess one image', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers });
  new Gauge({ name: `${prefix}_queue_depth`, help: 'Rows (images) waiting for a session', registers, collect() { this.set(g.queue()); } });
  new Gauge({ name: `${prefix}_requests_in_flight`, help: 'Requests admitted and not yet answered (bounded by --max-queue)', registers, collect() { this.set(g.inFlight()); } });
  new Gauge({ name: `${prefix}_decode_queue_depth`, help: 'Images waiting for a decode thread', registers, collect() { this.set(g.decodeQueue()); } });
  new Gauge({ name: `${prefix}_batches_running`, help: 'Batches running now (at most --workers)', registers, collect() { this.set(g.running()); } });
  return { registry, requests, errors, latency, batchSize, inference, decode };
}

export function countError(m: ServeMetrics, route: string, reason: ErrorReason): void {
  m.errors.inc({ route, reason });
}
