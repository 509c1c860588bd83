// The CLI's contract: a user's mistake is one line on stderr and a stable exit code, never a stack.

export const EXIT = {
  /** Something unexpected: a bug (the message asks for a report). */
  INTERNAL: 1,
  /** Bad command line: unknown option, bad value. */
  USAGE: 2,
  /** A file the user gave cannot be used: missing, unreadable, wrong format, wrong shape. */
  INPUT: 3,
  /** The requested device is not available. */
  DEVICE: 4,
  /** Some inputs failed, the others were answered (predict with one bad image among many). */
  PARTIAL: 5,
  /** Training stopped on a NaN or infinite loss (the last good checkpoint is kept). */
  DIVERGED: 6,
} as const;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usage = (message: string) => new CliError(EXIT.USAGE, 'E_USAGE', message);
export const badInput = (message: string) => new CliError(EXIT.INPUT, 'E_INPUT', message);
