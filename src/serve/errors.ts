// What a request can get instead of its answer: an HTTP status, one line saying why (the body is
// KServe's error object, `{ "error": "<line>" }`), and the reason counted in /metrics.

export type ErrorReason = 'bad_request' | 'bad_image' | 'too_large' | 'unsupported_media_type' | 'not_found' | 'queue_full' | 'draining' | 'timeout' | 'internal';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly reason: ErrorReason,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string) => new HttpError(400, message, 'bad_request');
export const badImage = (message: string) => new HttpError(400, message, 'bad_image');
export const tooLarge = (message: string) => new HttpError(413, message, 'too_large');
export const notFound = (message: string) => new HttpError(404, message, 'not_found');
