// Images in a web page -> 8-bit RGB, from which the same transforms as in Node (data/transforms.ts,
// Pillow's resampling) make the same tensor bit for bit. What differs from Node is only the
// decoder: the browser's (Chromium: libjpeg-turbo, libpng, libwebp) instead of libvips', so a
// JPEG's pixels can differ by a few levels (docs/browser.md measures it); pixels handed over as
// ImageData or raw bytes give exactly Node's tensor.
//
// Decoding follows PIL's `Image.open(f).convert('RGB')` as far as a browser allows: no EXIF
// rotation, no colour-profile conversion, alpha dropped (not composited). A canvas stores pixels
// with premultiplied alpha, so the colour of a partly transparent pixel read back through one is
// rounded (fully opaque images, the usual photo, are exact).

import { ImageError, isRawImage, prepareBatch, rawToRgb, viaRgb, type BatchResult, type RawImage } from '../../data/image.js';
import type { PresetName, PresetSpec, RgbImage } from '../../data/transforms.js';

/** What a page can classify: elements, bitmaps, frames, pixel data, files and encoded bytes. */
export type WebImageInput =
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | ImageBitmap
  | ImageData
  | VideoFrame
  | Blob
  | RawImage
  | Uint8Array
  | ArrayBuffer;

const has = (name: string): boolean => typeof (globalThis as Record<string, unknown>)[name] === 'function';
const isA = <T>(x: unknown, name: string): x is T => has(name) && x instanceof ((globalThis as Record<string, unknown>)[name] as abstract new (...a: never[]) => unknown);

export function isWebImage(x: unknown): x is WebImageInput {
  if (typeof x !== 'object' || x === null) return false;
  return (
    x instanceof Uint8Array ||
    x instanceof ArrayBuffer ||
    isRawImage(x) ||
    ['HTMLImageElement', 'HTMLCanvasElement', 'HTMLVideoElement', 'OffscreenCanvas', 'ImageBitmap', 'ImageData', 'VideoFrame', 'Blob'].some((n) => isA(x, n))
  );
}

export const WEB_IMAGE_KINDS = 'an HTMLImageElement, HTMLCanvasElement, HTMLVideoElement, OffscreenCanvas, ImageBitmap, ImageData, VideoFrame, Blob/File, encoded bytes or an { data, width, height, channels } object';

/** The name an input is reported by. */
export function describeWebImage(x: WebImageInput): string {
  if (isA<File>(x, 'File')) return x.name || '<file>';
  if (isA<Blob>(x, 'Blob')) return `<blob of ${x.size} bytes${x.type ? `, ${x.type}` : ''}>`;
  if (isA<HTMLImageElement>(x, 'HTMLImageElement')) return x.currentSrc || x.src ? `<img ${(x.currentSrc || x.src).slice(0, 120)}>` : '<img>';
  if (x instanceof Uint8Array || x instanceof ArrayBuffer) return `<buffer of ${x.byteLength} bytes>`;
  if (isRawImage(x)) return `<raw ${x.width}x${x.height}x${x.channels}>`;
  return `<${(x as object).constructor?.name ?? 'image'}>`;
}

/** RGBA pixels read back from a canvas of the source's size. */
function readPixels(source: CanvasImageSource | OffscreenCanvas, width: number, height: number): RgbImage {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' }) as OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new Error('no 2d canvas context');
  ctx.drawImage(source as CanvasImageSource, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' });
  return rawToRgb({ data: rgba.data, width, height, channels: 4 });
}

async function bitmapOf(blob: Blob): Promise<ImageBitmap> {
  // PIL applies no EXIF rotation and no colour profile; keep the stored pixels
  return createImageBitmap(blob, { imageOrientation: 'none' as ImageOrientation, colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
}

/** One image -> (H, W, 3) uint8; a user's image that cannot be read is an ImageError naming it. */
export async function decodeWebImage(x: WebImageInput): Promise<RgbImage> {
  const name = describeWebImage(x);
  try {
    if (isRawImage(x)) return rawToRgb(x);
    if (isA<ImageData>(x, 'ImageData')) return rawToRgb({ data: x.data, width: x.width, height: x.height, channels: 4 });
    if (x instanceof Uint8Array || x instanceof ArrayBuffer || isA<Blob>(x, 'Blob')) {
      const blob = isA<Blob>(x, 'Blob') ? x : new Blob([x as BlobPart]);
      let bmp: ImageBitmap;
      try {
        bmp = await bitmapOf(blob);
      } catch {
        throw new ImageError(name, 'not an image the browser can decode (unsupported format or corrupt)');
      }
      try {
        return readPixels(bmp, bmp.width, bmp.height);
      } finally {
        bmp.close();
      }
    }
    if (isA<HTMLImageElement>(x, 'HTMLImageElement')) {
      if (!x.complete || x.naturalWidth === 0) await x.decode().catch(() => undefined);
      if (x.naturalWidth === 0) throw new ImageError(name, 'the image has not loaded (broken or missing src)');
      return readPixels(x, x.naturalWidth, x.naturalHeight);
    }
    if (isA<HTMLVideoElement>(x, 'HTMLVideoElement')) {
      if (x.videoWidth === 0) throw new ImageError(name, 'the video has no frame yet (wait for loadeddata)');
      return readPixels(x, x.videoWidth, x.videoHeight);
    }
    if (isA<VideoFrame>(x, 'VideoFrame')) return readPixels(x as unknown as CanvasImageSource, x.displayWidth, x.displayHeight);
    const s = x as HTMLCanvasElement | OffscreenCanvas | ImageBitmap;
    if (!(s.width > 0 && s.height > 0)) throw new ImageError(name, `has no pixels (${s.width}x${s.height})`);
    return readPixels(s, s.width, s.height);
  } catch (e) {
    if (e instanceof ImageError || e instanceof TypeError || e instanceof RangeError) throw e;
    throw new ImageError(name, `cannot read the image (${(e as Error).message})`);
  }
}

/** Decodes and transforms a list of images: (N_ok, 3, crop, crop); bad images are reported, not thrown. */
export function loadWebBatch(images: readonly WebImageInput[], preset: PresetName | PresetSpec): Promise<BatchResult> {
  return prepareBatch(images, preset, viaRgb(decodeWebImage), 2);
}
