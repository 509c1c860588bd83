// The training figures (plot/plot.ts) as PNG files' bytes, rasterised by sharp (librsvg).

import sharp from 'sharp';
import { confusionPicture, curvesSvg, type ConfusionOptions, type CurvePoint, type CurvesOptions } from '../../plot/plot.js';

/** Loss and accuracy curves as a PNG (see curvesSvg). */
export async function drawCurves(points: CurvePoint[], opts: CurvesOptions = {}): Promise<Buffer> {
  return sharp(Buffer.from(curvesSvg(points, opts))).flatten({ background: '#ffffff' }).png().toBuffer();
}

/** A confusion matrix as a PNG heat map (see confusionPicture). */
export async function drawConfusionMatrix(matrix: number[][], classNames: string[], opts: ConfusionOptions = {}): Promise<Buffer> {
  const { width, height, svg, heat } = confusionPicture(matrix, classNames, opts);
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([
      { input: Buffer.from(heat.pixels.buffer, heat.pixels.byteOffset, heat.pixels.length), raw: { width: heat.side, height: heat.side, channels: 3 }, left: heat.left, top: heat.top },
      { input: Buffer.from(svg), left: 0, top: 0 },
    ])
    .png()
    .toBuffer();
}
