// The demo page (web/) as a user drives it, in real Chromium with Chromium's fake camera: it loads
// the real weights the server was started with; dropped photos get top-5 bars; the webcam is
// classified live with frames per second; "teach" makes classes from webcam frames and uploaded
// pictures, fine-tunes in the page with a live loss curve (stopped and continued), tries a picture, and downloads a .pth
// that reads back as a torchvision state dict with the taught head. Screenshots are written to
// dist/test-artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MobileNetV2 } from '../src/models/mobilenetv2.js';
import { readPth } from '../src/weights/pth.js';
import { openSite, ROOT, SHARED, type Site } from './helpers/browser.js';

const REAL = join(SHARED, 'real');
const photo = (p: string) => join(REAL, 'photos', p);
const ARTIFACTS = join(ROOT, 'dist', 'test-artifacts');
let site: Site;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  site = await openSite('/', { weights: join(REAL, 'mobilenet_v2_coral_imagenet.pth') }, { camera: true });
  await site.page.waitForFunction(() => document.body.dataset['ready'] === 'true' || document.querySelector('#status.error') !== null, null, { timeout: 120_000 });
});
after(() => site?.close());

test('the demo page loads the weights the server offers and says so', async () => {
  assert.match((await site.page.textContent('#status'))!, /^loaded http:\/\/127\.0\.0\.1:\d+\/weights\/mobilenet_v2_coral_imagenet\.pth \(1000 classes, alpha 1\) on wasm in [\d.]+ s$/);
  assert.equal(await site.page.evaluate(() => crossOriginIsolated), true, 'COOP/COEP: WASM threads');
});

test('photos: each chosen photo gets a card with its top-5 bars', async () => {
  const { page } = site;
  await page.setInputFiles('#photo-files', [photo('bird.png'), photo('parrot.jpg'), photo('sunflower.png')]);
  await page.waitForFunction(() => document.querySelectorAll('.card[data-done]').length === 3, null, { timeout: 60_000 });
  const cards = await page.$$eval('.card', (cs) => cs.map((c) => ({ name: c.querySelector('.name')!.textContent, top: [...c.querySelectorAll('.bar .fill')].map((b) => b.textContent), pct: c.querySelector('.bar .pct')!.textContent })));
  const byName = Object.fromEntries(cards.map((c) => [c.name, c]));
  assert.equal(byName['bird.png']!.top[0], 'chickadee');
  assert.equal(byName['parrot.jpg']!.top[0], 'macaw');
  assert.equal(byName['parrot.jpg']!.pct, '99.2%');
  for (const c of cards) assert.equal(c.top.length, 5);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-photos.png'), fullPage: true });
});

test('webcam: the (fake) camera is classified live, frames per second shown', async () => {
  const { page } = site;
  await page.click('nav button[data-tab=webcam]');
  await page.click('#cam-start');
  await page.waitForFunction(() => /frames\/s$/.test(document.querySelector('#fps')!.textContent ?? ''), null, { timeout: 60_000 });
  const fps = Number((await page.textContent('#fps'))!.split(' ')[0]);
  assert.ok(fps > 0, `${fps} frames/s`);
  assert.equal(await page.$$eval('#live .bar', (b) => b.length), 5);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-webcam.png'), fullPage: true });
  await page.click('#cam-stop');
});

test('teach: classes from webcam frames and pictures, fine-tuned in the page, tried, downloaded as a .pth torchvision reads', async () => {
  const { page } = site;
  await page.click('nav button[data-tab=teach]');
  for (const name of ['camera', 'cat', 'flower']) {
    await page.fill('#class-name', name);
    await page.click('#add-class button');
  }
  for (let i = 0; i < 4; i++) {
    await page.click('.class[data-class=camera] button:text("Add a webcam frame")');
    await page.waitForFunction((n) => document.querySelector('.class[data-class=camera] h3')!.textContent === `camera (${n})`, i + 1);
  }
  await page.setInputFiles('.class[data-class=cat] input[type=file]', [photo('cat.png'), photo('cat_1080p.jpg'), photo('cat_train_0.png'), photo('pets.jpg')]);
  await page.setInputFiles('.class[data-class=flower] input[type=file]', [photo('sunflower.png'), photo('dragonfly.png'), photo('bird.png'), photo('kite_and_cold.jpg')]);
  await page.fill('#epochs', '6');
  await page.fill('#input-size', '96');
  // Stop in the middle, then Train continues the same run from its checkpoint in memory
  await page.click('#train');
  await page.waitForFunction(() => /^epoch [2-5]\/6/.test(document.querySelector('#train-status')!.textContent ?? ''), null, { timeout: 300_000 });
  await page.click('#stop');
  await page.waitForFunction(() => /Train continues the run$/.test(document.querySelector('#train-status')!.textContent ?? ''), null, { timeout: 120_000 });
  assert.match((await page.textContent('#train-status'))!, /^stopped (at|after) epoch \d/);
  await page.click('#train');
  await page.waitForFunction(() => document.body.dataset['trained'] === 'true' || document.querySelector('#train-status.error') !== null, null, { timeout: 300_000 });
  const status = (await page.textContent('#train-status'))!;
  assert.match(status, /^trained 3 classes in [\d.]+ s: final loss [\d.]+, accuracy \d+%$/, status);
  assert.ok(await page.$$eval('#curve polyline', (p) => p.length === 1 && (p[0]!.getAttribute('points') ?? '').split(' ').length >= 6), 'a loss curve with a point per step');
  const history = (await page.evaluate(() => (globalThis as unknown as { demo: { state: { trained: { history: Record<string, number>[] } } } }).demo.state.trained.history)) as Record<string, number>[];
  assert.equal(history.length, 6);
  assert.ok(history.at(-1)!['train_loss']! < history[0]!['train_loss']!, `the loss fell: ${history.map((h) => h['train_loss']!.toFixed(3)).join(' -> ')}`);

  await page.setInputFiles('#try-file', photo('cat.png'));
  await page.waitForSelector('#try-result[data-done] .bar');
  assert.equal(await page.$$eval('#try-result .bar', (b) => b.length), 3);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-teach.png'), fullPage: true });

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('.downloads button[data-format=pth]')]);
  const file = join(ARTIFACTS, download.suggestedFilename());
  await download.saveAs(file);
  const sd = readPth(readFileSync(file), file);
  assert.deepEqual(sd.get('classifier.1.weight')!.shape, [3, 1280]);
  const m = new MobileNetV2({ numClasses: 3, lastChannel: 'paper' });
  m.loadStateDict(sd, true); // torchvision's keys, strictly
});
