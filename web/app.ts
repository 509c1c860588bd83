// The demo page: drop photos -> top-5 bars; the webcam classified live with frames per second;
// "teach": classes from webcam frames or pictures, fine-tuned here in the page with a live loss
// curve, tried, and downloaded as .safetensors / .pth / .onnx. It uses the library exactly as any
// page of this origin can: `await import('/mobilenetv2.web.js')`.

type Lib = typeof import('../src/web.js');
type Model = Awaited<ReturnType<Lib['load']>>;
type FitResult = Awaited<ReturnType<Lib['fit']>>;
type Top = { className: string; probability: number; index: number };

const lib: Lib = await import('/mobilenetv2.web.js' as string);
const $ = <T extends Element = HTMLElement>(sel: string) => document.querySelector(sel) as T;

const state: {
  model?: Model;
  loading?: Promise<Model>;
  classes: { name: string; images: Blob[] }[];
  trained?: FitResult;
  classifier?: Model;
  stream?: MediaStream;
  losses: number[];
  /** A run stopped with Stop: Train resumes it from its checkpoint in memory. */
  stopped?: { store: InstanceType<Lib['MemoryStore']>; key: string };
} = { classes: [], losses: [] };
// for tests and the curious: window.demo
(globalThis as unknown as { demo: unknown }).demo = { lib, state };

function setStatus(text: string, error = false): void {
  const s = $('#status');
  s.textContent = text;
  s.classList.toggle('error', error);
}

function bars(el: HTMLElement, top: Top[]): void {
  el.replaceChildren(
    ...top.map((t) => {
      const row = document.createElement('div');
      row.className = 'bar';
      const fill = document.createElement('span');
      fill.className = 'fill';
      fill.style.setProperty('--p', `${(100 * t.probability).toFixed(1)}%`);
      fill.textContent = t.className;
      const pct = document.createElement('span');
      pct.className = 'pct';
      pct.textContent = `${(100 * t.probability).toFixed(1)}%`;
      row.append(fill, pct);
      return row;
    }),
  );
}

// ---- loading ----

/** ?weights=... in the page's URL, else what `npm run demo -- --weights` serves (its /config.json). */
async function defaultWeights(): Promise<string | undefined> {
  const q = new URLSearchParams(location.search).get('weights');
  if (q) return q;
  try {
    const r = await fetch('config.json');
    return r.ok ? ((await r.json()) as { weights?: string }).weights : undefined;
  } catch {
    return undefined;
  }
}

async function loadModel(): Promise<Model> {
  const file = $<HTMLInputElement>('#weights-file').files?.[0];
  const url = $<HTMLInputElement>('#weights-url').value.trim();
  const device = $<HTMLSelectElement>('#device').value as 'wasm' | 'webgpu';
  const weights = file ?? (url || 'IMAGENET1K_V2');
  const bar = $<HTMLProgressElement>('#download');
  setStatus(`loading ${typeof weights === 'string' ? weights : weights.name}...`);
  const t0 = performance.now();
  const old = state.model;
  state.loading = lib.load({
    weights,
    device,
    onProgress: (got, total) => {
      bar.hidden = false;
      bar.max = total ?? got;
      bar.value = got;
    },
  });
  try {
    const m = await state.loading;
    state.model = m;
    await old?.dispose();
    setStatus(`loaded ${m.source} (${m.model.numClasses} classes, alpha ${m.model.alpha}) on ${device} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    document.body.dataset['ready'] = 'true';
    return m;
  } catch (e) {
    setStatus((e as Error).message, true);
    throw e;
  } finally {
    bar.hidden = true;
  }
}

$('#setup').addEventListener('submit', (e) => {
  e.preventDefault();
  void loadModel().catch(() => undefined);
});

async function model(): Promise<Model> {
  return state.model ?? (await (state.loading ?? loadModel()));
}

// ---- photos ----

async function classifyFiles(files: File[]): Promise<void> {
  const m = await model();
  for (const f of files) {
    const card = document.createElement('div');
    card.className = 'card';
    const img = document.createElement('img');
    img.src = URL.createObjectURL(f);
    img.alt = f.name;
    const name = document.createElement('div');
    name.className = 'name';
    name.textContent = f.name;
    const out = document.createElement('div');
    card.append(img, name, out);
    $('#results').prepend(card);
    try {
      bars(out, await m.classify(f, 5));
      card.dataset['done'] = 'true';
    } catch (e) {
      out.className = 'error';
      out.textContent = (e as Error).message;
      card.dataset['done'] = 'error';
    }
  }
}

const drop = $('#drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  void classifyFiles([...(e.dataTransfer?.files ?? [])]);
});
$<HTMLInputElement>('#photo-files').addEventListener('change', (e) => void classifyFiles([...((e.target as HTMLInputElement).files ?? [])]));

// ---- webcam ----

const video = $<HTMLVideoElement>('#video');
let live = false;

async function startCamera(): Promise<void> {
  state.stream ??= await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  video.srcObject = state.stream;
  await video.play();
  $<HTMLButtonElement>('#try-cam').disabled = !state.classifier;
}

$('#cam-start').addEventListener('click', async () => {
  try {
    await startCamera();
  } catch (e) {
    $('#fps').textContent = `camera: ${(e as Error).message}`;
    return;
  }
  const m = await model();
  live = true;
  $<HTMLButtonElement>('#cam-stop').disabled = false;
  let frames = 0;
  let since = performance.now();
  while (live) {
    const top = await m.classify(video, 5);
    bars($('#live'), top);
    frames++;
    const dt = performance.now() - since;
    if (dt > 1000) {
      $('#fps').textContent = `${((frames * 1000) / dt).toFixed(1)} frames/s`;
      frames = 0;
      since = performance.now();
    }
    await new Promise(requestAnimationFrame);
  }
});
$('#cam-stop').addEventListener('click', () => {
  live = false;
  $<HTMLButtonElement>('#cam-stop').disabled = true;
});

// ---- teach ----

function renderClasses(): void {
  $('#classes').replaceChildren(
    ...state.classes.map((c, i) => {
      const box = document.createElement('div');
      box.className = 'class';
      box.dataset['class'] = c.name;
      const h = document.createElement('h3');
      h.textContent = `${c.name} (${c.images.length})`;
      const cam = document.createElement('button');
      cam.textContent = 'Add a webcam frame';
      cam.addEventListener('click', async () => {
        await startCamera();
        const canvas = new OffscreenCanvas(video.videoWidth, video.videoHeight);
        canvas.getContext('2d')!.drawImage(video, 0, 0);
        c.images.push(await canvas.convertToBlob({ type: 'image/png' }));
        renderClasses();
      });
      const pick = document.createElement('input');
      pick.type = 'file';
      pick.accept = 'image/*';
      pick.multiple = true;
      pick.dataset['class'] = c.name;
      pick.addEventListener('change', () => {
        c.images.push(...(pick.files ?? []));
        renderClasses();
      });
      const thumbs = document.createElement('div');
      thumbs.className = 'thumbs';
      for (const b of c.images.slice(-24)) {
        const t = document.createElement('img');
        t.src = URL.createObjectURL(b);
        thumbs.append(t);
      }
      const del = document.createElement('button');
      del.textContent = 'Remove';
      del.addEventListener('click', () => {
        state.classes.splice(i, 1);
        renderClasses();
      });
      box.append(h, cam, document.createTextNode(' or '), pick, del, thumbs);
      return box;
    }),
  );
}

$('#add-class').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>('#class-name');
  const name = input.value.trim();
  if (name && !state.classes.some((c) => c.name === name)) state.classes.push({ name, images: [] });
  input.value = '';
  renderClasses();
});

function drawCurve(losses: number[], total: number): void {
  const svg = $('#curve');
  const w = 400;
  const h = 160;
  const max = Math.max(...losses, 1e-6);
  const pts = losses.map((l, i) => `${(10 + (i / Math.max(1, total - 1)) * (w - 20)).toFixed(1)},${(h - 10 - (l / max) * (h - 30)).toFixed(1)}`).join(' ');
  svg.innerHTML = `<text x="10" y="14" font-size="11" fill="#555">loss (max ${max.toFixed(3)}), last ${losses.at(-1)?.toFixed(4) ?? '-'}</text>` + `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${pts}"/>`;
}

$('#train').addEventListener('click', async () => {
  const status = $('#train-status');
  status.className = '';
  const images = state.classes.flatMap((c) => c.images.map((image, i) => ({ image, label: c.name, name: `${c.name} ${i + 1}` })));
  const stop = new AbortController();
  const stopButton = $<HTMLButtonElement>('#stop');
  const trainButton = $<HTMLButtonElement>('#train');
  const epochs = Number($<HTMLInputElement>('#epochs').value);
  // the same pictures and settings as a stopped run: Train continues it from its checkpoint in memory
  const key = JSON.stringify([images.map((x) => `${x.label}:${x.image.size}`), epochs, $<HTMLInputElement>('#input-size').value, $<HTMLInputElement>('#freeze').checked]);
  const resume = state.stopped?.key === key ? state.stopped : undefined;
  const store = resume?.store ?? new lib.MemoryStore();
  if (!resume) state.losses = [];
  try {
    const m = await model();
    status.textContent = resume ? 'resuming...' : 'compiling the training step...';
    stopButton.disabled = false;
    trainButton.disabled = true;
    stopButton.onclick = () => stop.abort();
    const t0 = performance.now();
    const r = await lib.fit({
      images,
      model: m,
      store,
      resume: resume !== undefined,
      signal: stop.signal,
      freeze: $<HTMLInputElement>('#freeze').checked ? 'backbone' : undefined,
      epochs,
      batchSize: Math.min(16, images.length),
      inputSize: Number($<HTMLInputElement>('#input-size').value),
      device: $<HTMLSelectElement>('#device').value as 'wasm' | 'webgpu',
      onProgress: (p) => {
        state.losses.push(p.batchLoss);
        drawCurve(state.losses, p.batches * p.epochs);
        status.textContent = `epoch ${p.epoch}/${p.epochs}, batch ${p.batch}/${p.batches}: loss ${p.batchLoss.toFixed(4)}, accuracy ${(100 * p.accuracy).toFixed(0)}%, ${p.imagesPerSecond.toFixed(1)} images/s`;
      },
    });
    await state.classifier?.dispose();
    state.trained = r;
    state.classifier = r.classifier();
    status.textContent = `trained ${r.classes.length} classes in ${((performance.now() - t0) / 1000).toFixed(1)} s: final loss ${r.history.at(-1)?.['train_loss']?.toFixed(4)}, accuracy ${(100 * (r.history.at(-1)?.['train_acc'] ?? 0)).toFixed(0)}%`;
    document.body.dataset['trained'] = 'true';
    for (const b of document.querySelectorAll<HTMLButtonElement>('.downloads button')) b.disabled = false;
    $<HTMLButtonElement>('#try-cam').disabled = !state.stream;
    state.stopped = undefined;
  } catch (e) {
    if ((e as { code?: string }).code === 'E_INTERRUPTED') {
      state.stopped = { store, key };
      status.textContent = `${(e as Error).message.replace(/; checkpoint written to .*$/, '')}: Train continues the run`;
    } else {
      status.textContent = (e as Error).message;
      status.className = 'error';
    }
  } finally {
    stopButton.disabled = true;
    trainButton.disabled = false;
  }
});

async function tryImage(image: Blob | HTMLVideoElement): Promise<void> {
  if (!state.classifier) return;
  bars($('#try-result'), await state.classifier.classify(image, Math.min(5, state.trained!.classes.length)));
  $('#try-result').dataset['done'] = 'true';
}
$<HTMLInputElement>('#try-file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void tryImage(f);
});
$('#try-cam').addEventListener('click', () => void tryImage(video));

for (const b of document.querySelectorAll<HTMLButtonElement>('.downloads button')) {
  b.addEventListener('click', () => {
    const format = b.dataset['format'] as 'safetensors' | 'pth' | 'onnx';
    if (state.trained) lib.downloadBytes(state.trained.save(format), `mobilenetv2-taught.${format}`);
  });
}

// ---- tabs ----
for (const b of document.querySelectorAll<HTMLButtonElement>('nav button')) {
  b.addEventListener('click', () => {
    for (const x of document.querySelectorAll('nav button, .tab')) x.classList.remove('active');
    b.classList.add('active');
    $(`#${b.dataset['tab']}`).classList.add('active');
  });
}

const w = await defaultWeights();
if (w) {
  $<HTMLInputElement>('#weights-url').value = w;
  void loadModel().catch(() => undefined);
}
