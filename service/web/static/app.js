// Semblance's only script: uploads with progress (files, folders, zips), job progress, and the compare slider.
// Everything else works without it.
"use strict";

function csrf() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.content : "";
}

function words() {
  const t = document.getElementById("words");
  const out = {};
  if (t) t.content.querySelectorAll("[data-k]").forEach((e) => (out[e.dataset.k] = e.textContent));
  return out;
}

function show(id, on) {
  const e = document.getElementById(id);
  if (e) e.hidden = !on;
  return e;
}

function fail(message) {
  const e = show("upload-error", true);
  if (e) e.textContent = message;
}

// Read every file of a dropped folder (recursively) through the entries API.
async function entryFiles(entry) {
  if (entry.isFile) return [await new Promise((ok, ko) => entry.file(ok, ko))];
  if (!entry.isDirectory) return [];
  const reader = entry.createReader();
  const out = [];
  for (;;) {
    const batch = await new Promise((ok, ko) => reader.readEntries(ok, ko));
    if (!batch.length) return out;
    for (const e of batch) out.push(...(await entryFiles(e)));
  }
}

async function droppedFiles(event) {
  const items = Array.from(event.dataTransfer.items || []);
  const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null)).filter(Boolean);
  if (!entries.length) return Array.from(event.dataTransfer.files);
  const files = [];
  for (const e of entries) files.push(...(await entryFiles(e)));
  return files;
}

function upload(url, form, onDone) {
  const w = words();
  show("upload-error", false);
  show("progress", true);
  const bar = document.getElementById("bar");
  const text = document.getElementById("progress-text");
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.setRequestHeader("X-CSRF-Token", csrf());
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) {
      bar.value = Math.round((100 * e.loaded) / e.total);
      text.textContent = `${w.uploading || "Uploading"} ${bar.value}%`;
    }
  };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { body = {}; }
    if (xhr.status >= 400) {
      show("progress", false);
      fail(body.error || `HTTP ${xhr.status}`);
      return;
    }
    onDone(xhr.status, body);
  };
  xhr.onerror = () => { show("progress", false); fail("network error"); };
  xhr.send(form);
}

function pollJob(url, onFinished) {
  const w = words();
  const bar = document.getElementById("bar");
  const text = document.getElementById("progress-text");
  const tick = async () => {
    const r = await fetch(url, { credentials: "same-origin" });
    const body = await r.json();
    const job = body.job;
    bar.max = job.total;
    bar.value = job.done + job.failed;
    text.textContent = `${w.scanning || "Scanning"} ${job.done + job.failed} ${w.of || "of"} ${job.total}`;
    if (job.state === "done" || job.state === "cancelled") onFinished(job);
    else setTimeout(tick, 800);
  };
  tick();
}

function setupScanUpload() {
  const drop = document.getElementById("drop");
  if (!drop) return;
  const send = (files) => {
    if (!files.length) return;
    const form = new FormData();
    files.forEach((f) => form.append("files", f, f.webkitRelativePath || f.name));
    upload(drop.dataset.uploadUrl, form, (status, body) => {
      if (status === 202) {
        pollJob(drop.dataset.jobUrl + body.job.id, () => window.location.reload());
      } else {
        window.location.reload();
      }
    });
  };
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    send(await droppedFiles(e));
  });
  ["pick-files", "pick-folder"].forEach((id) => {
    const input = document.getElementById(id);
    if (input) input.addEventListener("change", () => send(Array.from(input.files)));
  });
}

function setupRegister() {
  const form = document.getElementById("register");
  if (!form) return;
  const input = document.getElementById("work-files");
  const drop = document.getElementById("drop-works");
  const chosen = document.getElementById("chosen");
  let files = [];
  const pick = (list) => { files = list; chosen.textContent = files.map((f) => f.name).join(", "); };
  input.addEventListener("change", () => pick(Array.from(input.files)));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => { e.preventDefault(); drop.classList.remove("over"); pick(await droppedFiles(e)); });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    data.delete("files");
    files.forEach((f) => data.append("files", f, f.name));
    upload(form.dataset.uploadUrl, data, () => window.location.reload());
  });
}

function setupCompare() {
  document.querySelectorAll("input.mix").forEach((slider) => {
    const top = document.getElementById(slider.dataset.target);
    const apply = () => { top.style.opacity = String(slider.value / 100); };
    slider.addEventListener("input", apply);
    apply();
  });
}

function setupJobs() {
  const running = document.querySelectorAll("p.job[data-job]");
  if (running.length) setTimeout(() => window.location.reload(), 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  setupScanUpload();
  setupRegister();
  setupCompare();
  setupJobs();
});
