// Ctrl-C (SIGINT) and SIGTERM: the command stops at its next safe point (after the batch or the
// training step in flight; train checkpoints first), says so in one line and exits 130 / 143. The
// terminal is given back as it was (the cursor shown, line wrap on: progress bars turn both off),
// and no half-written file is left (temporary files of atomic writes are removed). A second signal
// exits at once. A command that stops cleanly by itself (serve drains: it stops accepting, answers
// what is in flight and exits 0) takes the first signal instead with handleSignalsWith().

import { rmSync } from 'node:fs';
import { inFlightTemporaries } from '../platform/node/files.js';

const controller = new AbortController();
let received: NodeJS.Signals | undefined;

/** Aborted when a signal arrives: commands pass it to the loops that can stop early. */
export const abortSignal: AbortSignal = controller.signal;

export const signalExitCode = (s: NodeJS.Signals): number => (s === 'SIGINT' ? 130 : 143);

export function interruptedBy(): NodeJS.Signals | undefined {
  return ownHandler ? undefined : received;
}

/** Show the cursor and turn line wrap back on, if stderr is a terminal (what a progress bar changes). */
export function restoreTerminal(): void {
  if (process.stderr.isTTY) process.stderr.write('\x1b[?25h\x1b[?7h');
}

function removeTemporaries(): void {
  for (const f of inFlightTemporaries) rmSync(f, { force: true });
}

let ownHandler: ((sig: NodeJS.Signals) => void) | undefined;

/**
 * The first signal calls `handler` instead of aborting `abortSignal` (nor does runCommand then say
 * "interrupted"); a second signal, or 30 s without an exit, still ends the process. Returns the undo.
 */
export function handleSignalsWith(handler: (sig: NodeJS.Signals) => void): () => void {
  ownHandler = handler;
  return () => {
    if (ownHandler === handler) ownHandler = undefined;
  };
}

export function installSignalHandlers(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (received) {
        // a second signal: stop now
        removeTemporaries();
        restoreTerminal();
        process.exit(signalExitCode(received));
      }
      received = sig;
      if (ownHandler) ownHandler(sig);
      else controller.abort(new Error(`interrupted by ${sig}`));
      restoreTerminal();
      // the command stops at its next safe point; if it cannot (a long compile), do not hang
      setTimeout(() => {
        removeTemporaries();
        process.stderr.write(`mobilenetv2: interrupted by ${sig}\n`);
        process.exit(signalExitCode(sig));
      }, 30_000).unref();
    });
  }
  process.on('exit', () => {
    removeTemporaries();
    if (received) restoreTerminal();
  });
}
