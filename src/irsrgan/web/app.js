// irsrgan web page: plain JavaScript, no dependencies, talks to /api on the same server.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  models: [],
  defaultModel: null,
  limits: {},
  files: [], // the chosen files, upscaled one after another
  clips: new WeakSet(), // those of them that are clips (video, TIFF stack, FLIR SEQ/CSQ)
  results: [], // this batch: {name, filename, job, preview, bicubic, result, values} or {name, error}
  shown: null, // the result in the viewer
  cancelled: false,
  job: null, // the job being run
  polling: null,
  urls: [], // object URLs of the shown previews, revoked when replaced
  downloadUrl: null,
};

// --------------------------------------------------------------------------- API helpers
async function errorText(res) {
  let text = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (typeof body.detail === "string") text = body.detail;
    else if (Array.isArray(body.detail)) {
      text = body.detail
        .map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`)
        .join("\n");
    }
  } catch (_) {
    /* not JSON: keep the status line */
  }
  return text;
}

async function api(path, options) {
  const res = await fetch(path, options);
  if (!res.ok) {
    const err = new Error(await errorText(res));
    err.status = res.status;
    throw err;
  }
  return res;
}

function showError(message) {
  const el = $("error");
  el.textContent = message || "";
  el.hidden = !message;
}

function setStatus(text) {
  $("status").textContent = text;
}

function formatBytes(n) {
  if (n >= 1048576) return `${(n / 1048576).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} kB`;
  return `${n} B`;
}

// "1 tile", "2 tiles"
function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function formatSeconds(s) {
  if (!Number.isFinite(s)) return "";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function formatNumber(v, digits = 4) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "n/a";
  return Math.abs(v) >= 1e5 ? v.toExponential(2) : Number(v.toPrecision(digits)).toString();
}

// --------------------------------------------------------------------------- models
function modelLabel(m) {
  const tags = [];
  if (m.pair) tags.push(m.pair.role === "psnr" ? "PSNR" : "GAN");
  if (m.denoise) tags.push(m.denoise.role === "faithful" ? "denoise pair" : "robust end");
  let label = tags.length ? `${m.id} (${tags.join(", ")})` : m.id;
  if (m.id === state.defaultModel) label += " [default]";
  return label;
}

// The Denoise menu belongs to the faithful end of a pair (its strength runs 0..1 towards the
// robust end). A robust end may also be the PSNR half of a PSNR/GAN pair (irsrgan-psnr-x4):
// it then shows the alpha slider only, and a form never carries both alpha and denoise,
// which the server refuses.
function denoiseMenu(m) {
  return Boolean(m && m.denoise && m.denoise.role === "faithful");
}

function fillModels() {
  const scale = Number($("scale").value);
  const select = $("model");
  const previous = select.value;
  select.replaceChildren();
  for (const m of state.models.filter((x) => x.scale === scale)) {
    select.append(new Option(modelLabel(m), m.id));
  }
  const ids = [...select.options].map((o) => o.value);
  if (ids.includes(previous)) select.value = previous;
  else if (ids.includes(state.defaultModel)) select.value = state.defaultModel;
  onModelChange();
}

function currentModel() {
  return state.models.find((m) => m.id === $("model").value) || null;
}

function onModelChange() {
  const m = currentModel();
  $("model-summary").textContent = m
    ? `${m.arch}, x${m.scale}${m.summary ? ": " + m.summary : ""}`
    : "";
  const paired = Boolean(m && m.pair);
  $("alpha-row").hidden = !paired;
  $("denoise-row").hidden = !denoiseMenu(m);
  if (paired) {
    $("alpha").value = m.pair.role === "psnr" ? "0" : "1";
    onAlpha();
  }
}

function onAlpha() {
  $("alpha-value").textContent = Number($("alpha").value).toFixed(2);
}

async function loadModels() {
  const [models, health] = await Promise.all([
    api("/api/models").then((r) => r.json()),
    api("/api/health").then((r) => r.json()),
  ]);
  state.models = models.models;
  state.defaultModel = models.default;
  state.limits = models.limits;
  $("server-info").textContent = `v${health.version} on ${health.device}`;
  const scales = [...new Set(state.models.map((m) => m.scale))].sort((a, b) => a - b);
  const scaleSelect = $("scale");
  scaleSelect.replaceChildren(...scales.map((s) => new Option(`\u00d7${s}`, String(s))));
  const def = state.models.find((m) => m.id === state.defaultModel);
  if (def) scaleSelect.value = String(def.scale);
  fillModels();
  const l = state.limits;
  $("limits").textContent =
    `Limits: ${formatBytes(l.max_upload_bytes)} per file, ` +
    `${(l.max_pixels / 1e6).toFixed(1)} Mpx per image; tile 0 (none) or ${l.min_tile}..${l.max_tile}. ` +
    `Clips: ${formatBytes(l.max_clip_bytes)}, ${l.max_clip_frames} frames, ${l.max_clip_seconds} s, ` +
    `${(l.max_clip_pixels / 1e6).toFixed(2)} Mpx per frame.`;
  $("tile").min = "0";
}

// --------------------------------------------------------------------------- file choice
const IMAGE_SUFFIX = /\.(png|tiff?|jpe?g|bmp)$/i;
const CLIP_SUFFIX = /\.(mp4|m4v|mkv|webm|avi|mov|ts|h264|seq|csq)$/i;

// A TIFF with more than one page is a clip: read the first IFD's entry count and the offset
// of the next IFD from the file's header (a few bytes, not the whole file).
async function isTiffStack(file) {
  const bytes = async (at, n) => new DataView(await file.slice(at, at + n).arrayBuffer());
  try {
    const head = await bytes(0, 8);
    const order = head.getUint16(0);
    if (order !== 0x4949 && order !== 0x4d4d) return false;
    const le = order === 0x4949;
    if (head.getUint16(2, le) !== 42) return false; // BigTIFF: left to the server
    const ifd = head.getUint32(4, le);
    const n = (await bytes(ifd, 2)).getUint16(0, le);
    return (await bytes(ifd + 2 + 12 * n, 4)).getUint32(0, le) !== 0;
  } catch (_) {
    return false; // too short to say: the server decides from the content
  }
}

async function setFiles(files) {
  showError("");
  files = [...files].filter((f) => IMAGE_SUFFIX.test(f.name) || CLIP_SUFFIX.test(f.name));
  if (!files.length) {
    showError("no image (PNG, TIFF, JPEG, BMP) or clip (MP4, MKV, AVI, MOV, SEQ, CSQ) among those chosen");
    return;
  }
  const clips = new WeakSet();
  for (const f of files) {
    if (CLIP_SUFFIX.test(f.name) || (/\.tiff?$/i.test(f.name) && (await isTiffStack(f)))) clips.add(f);
  }
  state.files = files;
  state.clips = clips;
  const total = files.reduce((n, f) => n + f.size, 0);
  const label = (f) => (clips.has(f) ? `${f.name} (clip)` : f.name);
  let info = files.length === 1
    ? `${label(files[0])} (${formatBytes(total)})`
    : `${files.length} files (${formatBytes(total)}): ${files.map(label).join(", ")}`;
  const limit = (f) => (clips.has(f) ? state.limits.max_clip_bytes : state.limits.max_upload_bytes);
  const big = files.filter((f) => limit(f) && f.size > limit(f));
  if (big.length) info += ` (${big.map((f) => f.name).join(", ")}: larger than the server accepts)`;
  $("file-info").textContent = info;
  $("run").disabled = false;
}

// the files of a dropped folder (and its subfolders)
async function entryFiles(entry) {
  if (entry.isFile) return [await new Promise((ok, fail) => entry.file(ok, fail))];
  if (!entry.isDirectory) return [];
  const reader = entry.createReader();
  const out = [];
  for (;;) {
    const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) break;
    for (const child of batch) out.push(...(await entryFiles(child)));
  }
  return out;
}

function setupDrop() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => setFiles(e.target.files).catch((err) => showError(err.message)));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("hover");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("hover"));
  }
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    const items = e.dataTransfer ? [...e.dataTransfer.items] : [];
    const entries = items.map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    if (entries.length) {
      const files = [];
      for (const entry of entries) files.push(...(await entryFiles(entry)));
      await setFiles(files);
    } else if (e.dataTransfer && e.dataTransfer.files.length) await setFiles(e.dataTransfer.files);
  });
  // a file dropped beside the zone must not make the browser navigate away
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

// --------------------------------------------------------------------------- jobs
function busy(on) {
  $("run").disabled = on || !state.files.length;
  $("cancel").hidden = !on;
  $("cancel").disabled = false;
  $("progress-row").hidden = !on;
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// The settings stills and clips share: model, alpha, a fixed denoise strength, tile, range.
// ("auto" denoise is the server's default for stills, where 16-bit inputs then keep the
// faithful model; a clip keeps one model for every frame: a fixed strength, or the model.)
function commonForm(field, file) {
  const form = new FormData();
  form.append(field, file, file.name);
  const m = currentModel();
  if (m) form.append("model", m.id);
  if (denoiseMenu(m) && $("denoise").value !== "auto") form.append("denoise", $("denoise").value);
  else if (m && m.pair) form.append("alpha", $("alpha").value);
  const tile = $("tile").value.trim();
  if (tile !== "") form.append("tile", tile);
  form.append("range_mode", $("range").value);
  return form;
}

function jobForm(file) {
  const form = commonForm("image", file);
  if ($("flir-raw").checked) {
    form.append("flir_raw", "true");
    form.append("units", $("units").value);
  }
  if ($("ensemble").checked) form.append("ensemble", "true");
  if ($("consistency").value !== "auto") form.append("consistency", $("consistency").value);
  return form;
}

function clipForm(file) {
  const form = commonForm("clip", file);
  const range = $("range").value;
  form.append("temporal", range === "stretch" ? "0" : $("temporal").value);
  if ($("ensemble").checked) form.append("ensemble", "true");
  return form;
}

// a POST with upload progress (clips can be large): the parsed JSON, or an Error
function postWithProgress(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr.response);
      const body = xhr.response || {};
      const err = new Error(typeof body.detail === "string" ? body.detail
        : `${xhr.status} ${xhr.statusText}`);
      err.status = xhr.status;
      reject(err);
    };
    xhr.onerror = () => reject(new Error("the upload failed (connection closed by the server?)"));
    xhr.send(form);
  });
}

function describe(job) {
  const p = job.progress;
  const unit = p.unit === "frames" ? "frame" : "tile";
  if (job.status === "queued") return "queued (waiting for a free worker)";
  if (job.status === "cancelling") return "cancelling\u2026";
  if (job.stage === "upscaling") {
    if (!p.total && !p.done) return "upscaling\u2026";
    let text = p.total ? `upscaling: ${p.done} / ${plural(p.total, unit)}`
      : `upscaling: ${plural(p.done, unit)}`;
    if (p.fps) text += `, ${formatNumber(p.fps, 3)} frames/s`;
    if (p.eta_s !== null && p.eta_s !== undefined) text += `, about ${formatSeconds(p.eta_s)} left`;
    return text;
  }
  return `${job.stage}\u2026`;
}

// poll a job until it has finished; the bar shows the whole batch
async function follow(job, k, n, prefix) {
  for (;;) {
    const now = await api(`/api/jobs/${job.id}`).then((r) => r.json());
    state.job = now;
    $("progress").value = (k + now.progress.fraction) / n;
    if (["done", "failed", "cancelled"].includes(now.status)) return now;
    setStatus(prefix + describe(now));
    await sleep(250);
  }
}

async function fetchResult(job) {
  // previews and values first: fetching the result releases the job on the server
  const preview = await blobOf(job.links.preview);
  const bicubic = await blobOf(job.links.preview_bicubic);
  const res = await api(job.links.values);
  const values = {
    w: Number(res.headers.get("X-Width")),
    h: Number(res.headers.get("X-Height")),
    unit: res.headers.get("X-Unit") || "value",
    data: new Float32Array(await res.arrayBuffer()),
  };
  const result = await blobOf(job.links.result);
  return { name: job.name, filename: job.output.filename, job, preview, bicubic, result, values };
}

async function fetchClipResult(job) {
  // the previews are 8-bit H.264 videos; the result is the exact file
  const preview = await blobOf(job.links.preview);
  const bicubic = await blobOf(job.links.preview_bicubic);
  const result = await blobOf(job.links.result);
  return { name: job.name, filename: job.output.filename, job, preview, bicubic, result, clip: true };
}

async function startBatch() {
  const files = state.files;
  if (!files.length) return;
  showError("");
  state.results = [];
  state.cancelled = false;
  renderBatch();
  busy(true);
  $("progress").value = 0;
  const n = files.length;
  for (let k = 0; k < n && !state.cancelled; k++) {
    const file = files[k];
    const prefix = n > 1 ? `file ${k + 1} of ${n} (${file.name}): ` : "";
    setStatus(prefix + "uploading\u2026");
    const clip = state.clips.has(file);
    try {
      let job;
      if (clip) {
        const l = state.limits;
        if (l.max_clip_bytes && file.size > l.max_clip_bytes) {
          throw new Error(`${file.name}: ${formatBytes(file.size)}; the server takes clips up to ` +
            `${formatBytes(l.max_clip_bytes)} (--max-clip-mb)`);
        }
        job = await postWithProgress("/api/clips", clipForm(file), (f) =>
          setStatus(prefix + `uploading: ${Math.round(100 * f)} %`));
      } else {
        job = await api("/api/jobs", { method: "POST", body: jobForm(file) }).then((r) => r.json());
      }
      state.job = job;
      const done = await follow(job, k, n, prefix);
      if (done.status === "done") {
        setStatus(prefix + "fetching the result\u2026");
        const r = clip ? await fetchClipResult(done) : await fetchResult(done);
        state.results.push(r);
        await showResult(r);
      } else if (done.status === "failed") {
        state.results.push({ name: file.name, error: done.error || "the job failed" });
        if (n === 1) showError(done.error || "the job failed");
      } else {
        const unit = done.progress.unit === "frames" ? "frame" : "tile";
        setStatus(`cancelled after ${done.progress.done} / ${plural(done.progress.total, unit)}`);
        state.cancelled = true;
      }
    } catch (err) {
      state.results.push({ name: file.name, error: err.message });
      if (n === 1) showError(err.message);
    }
    renderBatch();
  }
  state.job = null;
  busy(false);
  const ok = state.results.filter((r) => !r.error).length;
  if (!state.cancelled && ok) {
    const time = state.results.reduce((t, r) => t + (r.job ? r.job.elapsed_s : 0), 0);
    setStatus(n === 1 ? `done in ${time.toFixed(1)} s`
      : `done: ${ok} of ${n} upscaled in ${time.toFixed(1)} s` +
        (ok < n ? `, ${n - ok} failed` : ""));
  } else if (!state.cancelled) setStatus("");
}

async function cancelJob() {
  state.cancelled = true;
  const job = state.job;
  if (!job) return;
  $("cancel").disabled = true;
  try {
    await api(`/api/jobs/${job.id}`, { method: "DELETE" });
    setStatus("cancelling\u2026");
  } catch (err) {
    showError(err.message);
  }
}

async function blobOf(path) {
  return api(path).then((r) => r.blob());
}

function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error("the preview could not be shown"));
    img.src = url;
  });
}

async function showResult(r) {
  const job = r.job;
  state.shown = r;
  $("result").hidden = false;
  $("placeholder").hidden = true;
  const clip = Boolean(r.clip);
  for (const id of ["before", "after", "still-tools", "preview-note"]) $(id).hidden = clip;
  for (const id of ["before-video", "after-video", "player", "clip-note"]) $(id).hidden = !clip;
  if (clip) await player.load(r);
  else {
    player.unload();
    await applyPalette();
  }
  if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
  state.downloadUrl = URL.createObjectURL(r.result);
  const link = $("download");
  link.href = state.downloadUrl;
  link.download = r.filename;
  const depth = job.output.dtype === "uint8" ? "8-bit" : job.output.dtype;
  link.textContent =
    `Download ${r.filename} (${depth} ${job.output.format.toUpperCase()}, ` +
    `${job.output.width}\u00d7${job.output.height}, ${formatBytes(r.result.size)})`;
  link.hidden = false;
  $("after-tag").textContent = job.alpha === null ? job.model : `${job.model} \u03b1=${job.alpha}`;
  fillMetrics(job);
  $("readout").textContent = "move over the image for its values";
  viewer.reset(job.output.width, job.output.height);
}

function renderBatch() {
  const several = state.files.length > 1;
  $("batch").hidden = !several || !state.results.length;
  const list = $("batch-list");
  list.replaceChildren(
    ...state.results.map((r) => {
      const li = document.createElement("li");
      if (r.error) {
        li.className = "failed";
        li.textContent = `${r.name}: ${r.error}`;
        return li;
      }
      li.textContent = `${r.name} \u2192 ${r.filename} (${formatBytes(r.result.size)})`;
      const view = document.createElement("button");
      view.type = "button";
      view.className = "secondary";
      view.textContent = "view";
      view.addEventListener("click", () => showResult(r));
      li.append(view);
      return li;
    })
  );
  $("download-zip").disabled = !state.results.some((r) => !r.error);
}

function fillMetrics(job) {
  const m = job.metrics || {};
  const i = job.input;
  const o = job.output;
  const f = i.flir;
  const input = f
    ? `FLIR radiometric JPEG${f.camera ? " (" + f.camera + ")" : ""}: raw ` +
      `${f.raw_size[0]}\u00d7${f.raw_size[1]}` +
      (f.preview_size ? ` (preview ${f.preview_size[0]}\u00d7${f.preview_size[1]})` : "") +
      `, ${f.units === "counts" ? "raw counts" : i.unit}`
    : `${i.width}\u00d7${i.height}, ${i.dtype}, ${i.format.toUpperCase()} (${i.layout})`;
  if (job.kind === "clip") return fillClipMetrics(job);
  const rows = [
    ["Input", input],
    ["Output", `${o.width}\u00d7${o.height}, ${o.dtype}, ${o.format.toUpperCase()}` +
      (f ? `, ${f.units === "counts" ? "raw counts" : i.unit}` : "")],
    ["Model", job.alpha === null ? job.model : `${job.model}, alpha ${job.alpha}`],
    ...(job.denoise ? [["Denoise", `${job.denoise.strength.toFixed(2)} (` +
      (job.denoise.requested === "auto" ? `auto, noise ${formatNumber(job.denoise.noise, 3)}`
        : "fixed") + ")"]] : []),
    ["Time", `${job.elapsed_s.toFixed(2)} s, ${plural(job.progress.total, "tile")}, ${job.backend}` +
      (job.ensemble ? ", self-ensemble x8" : "")],
    ["Laplacian variance, bicubic", formatNumber(m.laplacian_variance_bicubic)],
    ["Laplacian variance, result", formatNumber(m.laplacian_variance_result)],
    ["High-frequency ratio (result / bicubic)", formatNumber(m.hf_ratio, 3), HF_RATIO_HINT],
  ];
  if (i.flir_preview) {
    rows.push(["Note", "FLIR radiometric JPEG: its 8-bit preview was upscaled. Tick " +
      "\u201craw sensor data\u201d (Advanced) for the measurement itself, as TIFF."]);
  }
  if (m.measured_pixels && m.measured_pixels < o.width * o.height) {
    rows.push(["Measured on", `the central ${(m.measured_pixels / 1e6).toFixed(1)} Mpx`]);
  }
  fillRows(rows);
}

// what the ratio means (server.sharpness_figures): the Laplacian variance of the result over
// that of bicubic upscaling, on the same pixels
const HF_RATIO_HINT =
  "1 = as much fine detail as bicubic; above 1 = more (detail, or amplified noise and " +
  "invented texture); below 1 = smoother than bicubic. Higher is not better by itself: " +
  "a sanity figure, not a quality score.";

// [label, value, hint]: the hint is shown under the value and as the row's tooltip
function fillRows(rows) {
  const body = $("metrics").tBodies[0];
  body.replaceChildren(
    ...rows.map(([k, v, hint]) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      const td = document.createElement("td");
      th.textContent = k;
      td.textContent = v;
      if (hint) {
        tr.title = hint;
        const small = document.createElement("small");
        small.className = "hint";
        small.textContent = hint;
        td.append(small);
      }
      tr.append(th, td);
      return tr;
    })
  );
}

function fillClipMetrics(job) {
  const i = job.input;
  const o = job.output;
  const p = job.progress;
  const kinds = { video: "video", tiff: "TIFF stack", "flir-seq": "FLIR SEQ", "flir-csq": "FLIR CSQ" };
  const rate = (r) => (r ? `, ${formatNumber(r, 4)} frames/s` : "");
  const rows = [
    ["Input", `${i.width}\u00d7${i.height}, ${i.dtype}, ${kinds[i.kind] || i.kind}` +
      (i.codec ? ` (${i.codec})` : "") + (i.frames ? `, ${plural(i.frames, "frame")}` : "") +
      rate(i.rate)],
    ["Output", `${o.width}\u00d7${o.height}, ${o.dtype}, ${o.format.toUpperCase()}` +
      (o.codec ? ` (${o.codec.toUpperCase()})` : "") + `, ${plural(p.done, "frame")}`],
    ["Model", job.alpha === null ? job.model : `${job.model}, alpha ${job.alpha}`],
    ...(job.denoise ? [["Denoise", `${job.denoise.strength.toFixed(2)} (fixed for the clip)`]] : []),
    ["Temporal blend", job.temporal ? String(job.temporal) : "off (frame by frame)"],
    ["Time", `${job.elapsed_s.toFixed(2)} s, ${formatNumber(p.fps, 3)} frames/s, ${job.backend}` +
      (job.ensemble ? ", self-ensemble x8" : "")],
  ];
  fillRows(rows);
}

// --------------------------------------------------------------------------- palettes
// Display only: the 8-bit previews are recoloured; the readout and downloads keep the data.
const PALETTE_STOPS = {
  "black-hot": [[0, [255, 255, 255]], [1, [0, 0, 0]]],
  iron: [[0, [0, 0, 0]], [0.15, [32, 0, 96]], [0.35, [140, 0, 150]], [0.55, [220, 50, 40]],
    [0.75, [250, 150, 0]], [0.9, [255, 220, 60]], [1, [255, 255, 255]]],
  rainbow: [[0, [0, 0, 128]], [0.2, [0, 0, 255]], [0.4, [0, 255, 255]], [0.6, [0, 255, 0]],
    [0.8, [255, 255, 0]], [1, [255, 0, 0]]],
};

function paletteLut(name) {
  const stops = PALETTE_STOPS[name];
  const lut = new Uint8ClampedArray(256 * 3);
  for (let g = 0; g < 256; g++) {
    const t = g / 255;
    let j = 1;
    while (j < stops.length - 1 && stops[j][0] < t) j++;
    const [t0, c0] = stops[j - 1];
    const [t1, c1] = stops[j];
    const u = t1 > t0 ? (t - t0) / (t1 - t0) : 0;
    for (let c = 0; c < 3; c++) lut[3 * g + c] = Math.round(c0[c] + u * (c1[c] - c0[c]));
  }
  return lut;
}

async function coloured(blob, name) {
  if (name === "white-hot") return URL.createObjectURL(blob);
  const bitmap = await createImageBitmap(blob);
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const d = img.data;
  const lut = paletteLut(name);
  for (let i = 0; i < d.length; i += 4) {
    const g = Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
    d[i] = lut[3 * g];
    d[i + 1] = lut[3 * g + 1];
    d[i + 2] = lut[3 * g + 2];
  }
  ctx.putImageData(img, 0, 0);
  const out = await new Promise((ok) => canvas.toBlob(ok, "image/png"));
  return URL.createObjectURL(out);
}

async function applyPalette() {
  const r = state.shown;
  if (!r || r.clip) return;
  const name = $("palette").value;
  const urls = [await coloured(r.preview, name), await coloured(r.bicubic, name)];
  await Promise.all([loadImage($("after"), urls[0]), loadImage($("before"), urls[1])]);
  for (const url of state.urls) URL.revokeObjectURL(url);
  state.urls = urls;
}

// --------------------------------------------------------------------------- readout
function formatValue(v, unit) {
  if (!Number.isFinite(v)) return "no value";
  if (unit === "degC" || unit === "K" || unit === "degF") {
    const sym = unit === "degC" ? "\u00b0C" : unit === "degF" ? "\u00b0F" : "K";
    return `${v.toFixed(2)} ${sym}`;
  }
  if (unit === "counts" || unit === "level") return `${Math.round(v)} ${unit}`;
  return formatNumber(v, 6);
}

function readout(e) {
  const r = state.shown;
  if (!r || !r.values) return;
  const b = viewer.box();
  const ix = Math.floor((e.clientX - b.left - viewer.x) / viewer.scale);
  const iy = Math.floor((e.clientY - b.top - viewer.y) / viewer.scale);
  const { w, h, data, unit } = r.values;
  $("readout").textContent = ix >= 0 && iy >= 0 && ix < w && iy < h
    ? `x ${ix}, y ${iy}: ${formatValue(data[iy * w + ix], unit)}`
    : "outside the image";
}

// --------------------------------------------------------------------------- zip
// A stored (uncompressed) zip of this batch's downloads, built here: no server round trip.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function zipBlob(files) {
  const enc = new TextEncoder();
  const parts = [];
  const central = [];
  let offset = 0;
  for (const f of files) {
    const data = new Uint8Array(await f.blob.arrayBuffer());
    const name = enc.encode(f.name);
    const crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(6, 0x0800, true); // UTF-8 names
    local.setUint16(12, 0x21, true); // 1980-01-01
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true);
    local.setUint16(26, name.length, true);
    parts.push(local.buffer, name, data);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true);
    entry.setUint16(4, 20, true);
    entry.setUint16(6, 20, true);
    entry.setUint16(8, 0x0800, true);
    entry.setUint16(14, 0x21, true);
    entry.setUint32(16, crc, true);
    entry.setUint32(20, data.length, true);
    entry.setUint32(24, data.length, true);
    entry.setUint16(28, name.length, true);
    entry.setUint32(42, offset, true);
    central.push(entry.buffer, name);
    offset += 30 + name.length + data.length;
  }
  const size = central.reduce((n, b) => n + b.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true);
  end.setUint32(12, size, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end.buffer], { type: "application/zip" });
}

async function downloadZip() {
  const used = new Set();
  const files = [];
  for (const r of state.results.filter((x) => !x.error)) {
    let name = r.filename;
    for (let k = 2; used.has(name); k++) name = r.filename.replace(/(\.[^.]*)?$/, `-${k}$1`);
    used.add(name);
    files.push({ name, blob: r.result });
  }
  const blob = await zipBlob(files);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `irsrgan-batch-${files.length}.zip`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

// --------------------------------------------------------------------------- viewer
// Before/after comparison: the bicubic image below, the result above clipped to the right of
// the divider; both share one transform (zoom about the cursor, drag to pan).
const viewer = {
  w: 0, h: 0, scale: 1, x: 0, y: 0, split: 0.5, fit: true, drag: null,

  box() {
    return $("viewer").getBoundingClientRect();
  },

  reset(w, h) {
    this.w = w;
    this.h = h;
    this.fitToView();
  },

  fitToView() {
    const b = this.box();
    if (!this.w || !b.width) return;
    this.scale = Math.min(b.width / this.w, b.height / this.h);
    this.x = (b.width - this.w * this.scale) / 2;
    this.y = (b.height - this.h * this.scale) / 2;
    this.fit = true;
    this.apply();
  },

  zoomTo(scale, cx, cy) {
    const b = this.box();
    if (cx === undefined) {
      cx = b.width / 2;
      cy = b.height / 2;
    }
    scale = Math.min(32, Math.max(0.05, scale));
    const ix = (cx - this.x) / this.scale;
    const iy = (cy - this.y) / this.scale;
    this.scale = scale;
    this.x = cx - ix * scale;
    this.y = cy - iy * scale;
    this.fit = false;
    this.apply();
  },

  apply() {
    const b = this.box();
    const stage = $("stage");
    stage.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.scale})`;
    stage.classList.toggle("pixelated", this.scale >= 2);
    const sx = this.split * b.width;
    const ix = Math.min(this.w, Math.max(0, (sx - this.x) / this.scale));
    $("after").style.clipPath = `inset(0 0 0 ${ix}px)`;
    $("after-video").style.clipPath = `inset(0 0 0 ${ix}px)`;
    $("divider").style.left = `${sx}px`;
    $("split").value = String(this.split * 100);
    $("zoom-value").textContent = this.fit
      ? `fit (${Math.round(this.scale * 100)}%)`
      : `${Math.round(this.scale * 100)}%`;
  },

  setup() {
    const el = $("viewer");
    const divider = $("divider");
    divider.addEventListener("pointerdown", (e) => {
      e.stopPropagation();
      divider.setPointerCapture(e.pointerId);
      this.drag = { mode: "split" };
    });
    divider.addEventListener("pointermove", (e) => {
      if (!this.drag || this.drag.mode !== "split") return;
      const b = this.box();
      this.split = Math.min(1, Math.max(0, (e.clientX - b.left) / b.width));
      this.apply();
    });
    divider.addEventListener("pointerup", () => (this.drag = null));
    el.addEventListener("pointerdown", (e) => {
      el.setPointerCapture(e.pointerId);
      this.drag = { mode: "pan", px: e.clientX, py: e.clientY, x: this.x, y: this.y };
      el.classList.add("panning");
    });
    el.addEventListener("pointermove", (e) => {
      if (!this.drag) readout(e);
      if (!this.drag || this.drag.mode !== "pan") return;
      this.x = this.drag.x + e.clientX - this.drag.px;
      this.y = this.drag.y + e.clientY - this.drag.py;
      this.fit = false;
      this.apply();
    });
    const end = () => {
      this.drag = null;
      el.classList.remove("panning");
    };
    el.addEventListener("pointerup", end);
    el.addEventListener("pointercancel", end);
    el.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const b = this.box();
        this.zoomTo(this.scale * Math.pow(1.0015, -e.deltaY), e.clientX - b.left, e.clientY - b.top);
      },
      { passive: false }
    );
    el.addEventListener("dblclick", (e) => {
      const b = this.box();
      if (this.fit) this.zoomTo(1, e.clientX - b.left, e.clientY - b.top);
      else this.fitToView();
    });
    el.addEventListener("keydown", (e) => {
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        this.split = Math.min(1, Math.max(0, this.split + (e.key === "ArrowLeft" ? -0.02 : 0.02)));
        this.apply();
      } else if (e.key === "+" || e.key === "=") this.zoomTo(this.scale * 1.25);
      else if (e.key === "-") this.zoomTo(this.scale / 1.25);
      else if (e.key === "0") this.fitToView();
      else return;
      e.preventDefault();
    });
    $("split").addEventListener("input", (e) => {
      this.split = Number(e.target.value) / 100;
      this.apply();
    });
    for (const button of document.querySelectorAll("[data-zoom]")) {
      button.addEventListener("click", () => {
        const z = button.dataset.zoom;
        if (z === "fit") this.fitToView();
        else this.zoomTo(Number(z));
      });
    }
    window.addEventListener("resize", () => (this.fit ? this.fitToView() : this.apply()));
  },
};

// --------------------------------------------------------------------------- clip player
// Two videos, bicubic below and the result above (clipped by the divider): the result leads,
// bicubic follows it (play, pause, seek, and a correction when they drift apart).
const player = {
  urls: [],
  rate: 25,
  frames: 0,

  async load(r) {
    this.unload();
    const after = $("after-video");
    const before = $("before-video");
    this.urls = [URL.createObjectURL(r.preview), URL.createObjectURL(r.bicubic)];
    this.rate = r.job.input.rate || 25;
    this.frames = r.job.progress.done;
    const ready = (v) => new Promise((ok, fail) => {
      v.onloadeddata = () => ok();
      v.onerror = () => fail(new Error("the clip preview could not be played by this browser"));
    });
    const loaded = Promise.all([ready(after), ready(before)]);
    after.src = this.urls[0];
    before.src = this.urls[1];
    await loaded;
    $("clip-time").max = String(after.duration || this.frames / this.rate);
    this.show();
  },

  unload() {
    for (const v of [$("after-video"), $("before-video")]) {
      v.pause();
      v.removeAttribute("src");
      v.load();
    }
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    $("play").textContent = "Play";
  },

  toggle() {
    const after = $("after-video");
    const before = $("before-video");
    if (after.paused) {
      before.currentTime = after.currentTime;
      Promise.all([after.play(), before.play()]).catch((e) => showError(e.message));
    } else {
      after.pause();
      before.pause();
      before.currentTime = after.currentTime;
    }
  },

  seek(t) {
    $("after-video").currentTime = t;
    $("before-video").currentTime = t;
  },

  show() {
    const after = $("after-video");
    const before = $("before-video");
    if (Math.abs(before.currentTime - after.currentTime) > 0.5 / this.rate && !after.paused) {
      before.currentTime = after.currentTime;
    }
    const frame = Math.min(this.frames, Math.floor(after.currentTime * this.rate + 1e-3) + 1);
    $("clip-frame").textContent = `frame ${frame} / ${this.frames}`;
    $("clip-time").value = String(after.currentTime);
    $("play").textContent = after.paused ? "Play" : "Pause";
  },

  setup() {
    const after = $("after-video");
    $("play").addEventListener("click", () => this.toggle());
    $("clip-time").addEventListener("input", (e) => this.seek(Number(e.target.value)));
    for (const type of ["timeupdate", "play", "pause", "seeked"]) {
      after.addEventListener(type, () => this.show());
    }
  },
};

// --------------------------------------------------------------------------- start
function init() {
  setupDrop();
  viewer.setup();
  player.setup();
  $("scale").addEventListener("change", fillModels);
  $("model").addEventListener("change", onModelChange);
  $("alpha").addEventListener("input", onAlpha);
  $("run").addEventListener("click", startBatch);
  $("palette").addEventListener("change", () => applyPalette().catch((e) => showError(e.message)));
  $("download-zip").addEventListener("click", () => downloadZip().catch((e) => showError(e.message)));
  $("cancel").addEventListener("click", cancelJob);
  // leaving the page cancels a job still running (its result would never be fetched)
  window.addEventListener("pagehide", () => {
    const job = state.job;
    if (job && !["done", "failed", "cancelled"].includes(job.status)) {
      fetch(`/api/jobs/${job.id}`, { method: "DELETE", keepalive: true });
    }
  });
  loadModels().catch((err) => showError(`cannot reach the server: ${err.message}`));
}

document.addEventListener("DOMContentLoaded", init);
