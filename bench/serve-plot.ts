// bench:serve's soak drawn: the server's resident memory over the requests (bench/serve-soak.png).
import sharp from 'sharp';
import { lineChartSvg } from '../src/plot/plot.js';

export async function drawServeSoak(curve: readonly (readonly number[])[], file: string, what: string): Promise<void> {
  const svg = lineChartSvg([{ name: 'serve RSS', xy: curve.map((p) => [p[0]!, p[1]!] as [number, number]) }], { title: `serve: resident memory over ${what}`, xLabel: 'requests answered', yLabel: 'RSS (MB)' });
  await sharp(Buffer.from(svg)).png().toFile(file);
}
