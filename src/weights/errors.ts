// Errors about a user's weight file or download. The message is one line that starts with the
// file (or URL); `code` lets the CLI map them to its "bad input" exit code.

export type WeightsErrorCode = 'E_WEIGHTS' | 'E_DOWNLOAD';

export class WeightsError extends Error {
  readonly code: WeightsErrorCode;
  constructor(message: string, code: WeightsErrorCode = 'E_WEIGHTS') {
    super(message);
    this.name = 'WeightsError';
    this.code = code;
  }
}
