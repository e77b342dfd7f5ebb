// irsrgan web page: plain JavaScript, no dependencies, talks to /api on the same server.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  models: [],
  defaultModel: null,
  limits: {},
  file: null,
  job: null, // the job being run or shown
  polling: null,
  urls: [], // object URLs of the shown result, revoked when replaced
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

function formatNumber(v, digits = 4) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "n/a";
  return Math.abs(v) >= 1e5 ? v.toExponential(2) : Number(v.toPrecision(digits)).toString();
}

// --------------------------------------------------------------------------- models
function modelLabel(m) {
  let label = m.id;
  if (m.pair) label += m.pair.role === "psnr" ? " (PSNR)" : " (GAN)";
  if (m.denoise) label += m.denoise.role === "faithful" ? " (denoise pair)" : " (robust)";
  if (m.id === state.defaultModel) label += " [default]";
  return label;
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
  $("denoise-row").hidden = !(m && m.denoise);
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
    `${(l.max_pixels / 1e6).toFixed(1)} Mpx per image; tile 0 (none) or ${l.min_tile}..${l.max_tile}.`;
  $("tile").min = "0";
}

// --------------------------------------------------------------------------- file choice
function setFile(file) {
  showError("");
  if (!file) return;
  state.file = file;
  let info = `${file.name} (${formatBytes(file.size)})`;
  if (state.limits.max_upload_bytes && file.size > state.limits.max_upload_bytes) {
    info += " is larger than the server accepts";
  }
  $("file-info").textContent = info;
  $("run").disabled = false;
}

function setupDrop() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => setFile(e.target.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("hover");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("hover"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) setFile(e.dataTransfer.files[0]);
  });
  // a file dropped beside the zone must not make the browser navigate away
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

// --------------------------------------------------------------------------- jobs
function busy(on) {
  $("run").disabled = on || !state.file;
  $("cancel").hidden = !on;
  $("cancel").disabled = false;
  $("progress-row").hidden = !on;
}

async function startJob() {
  if (!state.file) return;
  showError("");
  const form = new FormData();
  form.append("image", state.file, state.file.name);
  const m = currentModel();
  if (m) form.append("model", m.id);
  if (m && m.pair) form.append("alpha", $("alpha").value);
  // auto is the server's default; 16-bit inputs then keep the faithful model
  if (m && m.denoise && $("denoise").value !== "auto") form.append("denoise", $("denoise").value);
  const tile = $("tile").value.trim();
  if (tile !== "") form.append("tile", tile);
  form.append("range_mode", $("range").value);
  if ($("flir-raw").checked) form.append("flir_raw", "true");
  if ($("ensemble").checked) form.append("ensemble", "true");
  busy(true);
  $("progress").value = 0;
  setStatus("uploading\u2026");
  try {
    const job = await api("/api/jobs", { method: "POST", body: form }).then((r) => r.json());
    state.job = job;
    poll();
  } catch (err) {
    busy(false);
    setStatus("");
    showError(err.message);
  }
}

function describe(job) {
  const p = job.progress;
  if (job.status === "queued") return "queued (waiting for a free worker)";
  if (job.status === "cancelling") return "cancelling\u2026";
  if (job.stage === "upscaling") {
    return p.total ? `upscaling: ${p.done} / ${p.total} tiles` : "upscaling\u2026";
  }
  return `${job.stage}\u2026`;
}

async function poll() {
  const job = state.job;
  if (!job) return;
  let now;
  try {
    now = await api(`/api/jobs/${job.id}`).then((r) => r.json());
  } catch (err) {
    busy(false);
    showError(err.message);
    return;
  }
  if (state.job !== job) return; // replaced meanwhile
  state.job = now;
  $("progress").value = now.progress.fraction;
  if (now.status === "done") {
    busy(false);
    await showResult(now);
  } else if (now.status === "failed") {
    busy(false);
    setStatus("");
    showError(now.error || "the job failed");
  } else if (now.status === "cancelled") {
    busy(false);
    setStatus(`cancelled after ${now.progress.done} / ${now.progress.total} tiles`);
  } else {
    setStatus(describe(now));
    state.polling = setTimeout(poll, 250);
  }
}

async function cancelJob() {
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

async function showResult(job) {
  setStatus("fetching the result\u2026");
  try {
    // previews first: fetching the result releases the job on the server
    const preview = await blobOf(job.links.preview);
    const bicubic = await blobOf(job.links.preview_bicubic);
    const result = await blobOf(job.links.result);
    for (const url of state.urls) URL.revokeObjectURL(url);
    state.urls = [preview, bicubic, result].map((b) => URL.createObjectURL(b));
    $("result").hidden = false;
    $("placeholder").hidden = true;
    await Promise.all([
      loadImage($("after"), state.urls[0]),
      loadImage($("before"), state.urls[1]),
    ]);
    const link = $("download");
    link.href = state.urls[2];
    link.download = job.output.filename;
    const depth = job.output.dtype === "uint8" ? "8-bit" : job.output.dtype;
    link.textContent =
      `Download ${job.output.filename} (${depth} ${job.output.format.toUpperCase()}, ` +
      `${job.output.width}\u00d7${job.output.height}, ${formatBytes(result.size)})`;
    link.hidden = false;
    $("after-tag").textContent = job.alpha === null ? job.model : `${job.model} \u03b1=${job.alpha}`;
    fillMetrics(job);
    viewer.reset(job.output.width, job.output.height);
    setStatus(`done in ${job.elapsed_s.toFixed(1)} s`);
  } catch (err) {
    setStatus("");
    showError(err.message);
  }
}

function fillMetrics(job) {
  const m = job.metrics || {};
  const i = job.input;
  const o = job.output;
  const rows = [
    ["Input", `${i.width}\u00d7${i.height}, ${i.dtype}, ${i.format.toUpperCase()} (${i.layout})`],
    ["Output", `${o.width}\u00d7${o.height}, ${o.dtype}, ${o.format.toUpperCase()}`],
    ["Model", job.alpha === null ? job.model : `${job.model}, alpha ${job.alpha}`],
    ...(job.denoise ? [["Denoise", `${job.denoise.strength.toFixed(2)} (` +
      (job.denoise.requested === "auto" ? `auto, noise ${formatNumber(job.denoise.noise, 3)}`
        : "fixed") + ")"]] : []),
    ["Time", `${job.elapsed_s.toFixed(2)} s, ${job.progress.total} tiles, ${job.backend}` +
      (job.ensemble ? ", self-ensemble x8" : "")],
    ["Laplacian variance, bicubic", formatNumber(m.laplacian_variance_bicubic)],
    ["Laplacian variance, result", formatNumber(m.laplacian_variance_result)],
    ["High-frequency ratio (result / bicubic)", formatNumber(m.hf_ratio, 3)],
  ];
  if (i.flir_preview) {
    rows.push(["Note", "FLIR radiometric JPEG: its 8-bit preview was upscaled. Tick " +
      "\u201craw sensor counts\u201d (Advanced) for the measurement itself, as 16-bit TIFF."]);
  }
  if (m.measured_pixels && m.measured_pixels < o.width * o.height) {
    rows.push(["Measured on", `the central ${(m.measured_pixels / 1e6).toFixed(1)} Mpx`]);
  }
  const body = $("metrics").tBodies[0];
  body.replaceChildren(
    ...rows.map(([k, v]) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      const td = document.createElement("td");
      th.textContent = k;
      td.textContent = v;
      tr.append(th, td);
      return tr;
    })
  );
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

// --------------------------------------------------------------------------- start
function init() {
  setupDrop();
  viewer.setup();
  $("scale").addEventListener("change", fillModels);
  $("model").addEventListener("change", onModelChange);
  $("alpha").addEventListener("input", onAlpha);
  $("run").addEventListener("click", startJob);
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
