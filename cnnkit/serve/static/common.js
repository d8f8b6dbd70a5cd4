// cnnkit serve: what both pages share. Plain JavaScript, no libraries.
"use strict";

const cnnkit = {
  // POST or GET, answering the decoded JSON or throwing an Error with the server's message.
  async call(url, options = {}) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      throw new Error("the cnnkit server does not answer (is `cnnkit serve` still running?)");
    }
    let payload = null;
    try { payload = await response.json(); } catch (err) { payload = null; }
    if (!response.ok) {
      throw new Error((payload && payload.error) || `the server answered ${response.status}`);
    }
    return payload;
  },

  // Run `task` whenever `request()` is called, never two at once: a call during a run
  // schedules one more run after it, with the newest input (what a stroke needs).
  latest(task, minGap = 30) {
    let busy = false, again = false, last = 0;
    const run = async () => {
      busy = true; again = false;
      const wait = last + minGap - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      last = performance.now();
      try { await task(); } finally {
        busy = false;
        if (again) run();
      }
    };
    return () => { if (busy) again = true; else run(); };
  },

  say(element, text, isError = false) {
    element.textContent = text;
    element.classList.toggle("error", isError);
  },

  // The server's upload limit, checked here too: a browser that sends a body the server
  // refuses half-way often reports a reset connection instead of the server's message.
  maxBytes: Infinity,
  tooBig(file) {
    if (file.size <= cnnkit.maxBytes) return null;
    const mb = (n) => (n / 1048576).toFixed(1);
    return `the file is too large (${mb(file.size)} MB); the limit is ` +
      `${Math.round(cnnkit.maxBytes / 1048576)} MB`;
  },

  hexToRgb(hex) {
    return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  },

  bytes(base64) {
    const raw = atob(base64);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  },

  // Accept files dropped on `element`; calls onFile(file). The browser would otherwise
  // open a dropped file in place of the page.
  dropTarget(element, onFile) {
    for (const name of ["dragenter", "dragover"]) {
      element.addEventListener(name, (e) => { e.preventDefault(); element.classList.add("drop"); });
    }
    for (const name of ["dragleave", "drop"]) {
      element.addEventListener(name, () => element.classList.remove("drop"));
    }
    element.addEventListener("drop", (e) => {
      e.preventDefault();
      const file = e.dataTransfer && e.dataTransfer.files[0];
      if (file) onFile(file);
    });
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => e.preventDefault());
  },

  format(value) {
    if (Number.isInteger(value)) return String(value);
    const text = Math.abs(value) >= 1000 || Math.abs(value) < 0.01 ? value.toPrecision(3)
      : value.toFixed(3);
    return String(parseFloat(text));
  },
};
