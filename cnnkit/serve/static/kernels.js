// The kernels page: a picture, a kernel edited cell by cell, the filtered result, live.
"use strict";

(() => {
  const message = document.getElementById("message");
  const matrixBox = document.getElementById("matrix");
  const named = document.getElementById("named");
  const sizeBox = document.getElementById("size");
  let picture = "testcard";
  let kernel = {name: "laplacian"}; // a bank name, or {matrix: [[...]]} once a cell is edited
  let shown = [[0, 1, 0], [1, -4, 1], [0, 1, 0]];
  let filterFailed = false;

  const cells = () => [...matrixBox.querySelectorAll("input")];

  function drawMatrix(matrix, editable = true) {
    matrixBox.innerHTML = "";
    matrixBox.style.gridTemplateColumns = `repeat(${matrix[0].length}, auto)`;
    matrixBox.classList.toggle("small", matrix.length > 7);
    matrix.forEach((row, i) => row.forEach((value, j) => {
      const input = document.createElement("input");
      input.type = "text";
      input.inputMode = "decimal";
      input.value = cnnkit.format(value);
      input.dataset.row = i; input.dataset.col = j;
      input.setAttribute("aria-label", `kernel row ${i + 1} column ${j + 1}`);
      input.disabled = !editable;
      input.addEventListener("input", edited);
      matrixBox.appendChild(input);
    }));
    shown = matrix.map((row) => row.slice());
    showSum(shown);
  }

  function showSum(matrix) {
    const total = matrix.flat().reduce((a, b) => a + b, 0);
    const zero = Math.abs(total) < 1e-6;
    const meaning = zero ? "zero-sum: flat areas become 0, only changes (edges) remain"
      : Math.abs(total - 1) < 1e-6 ? "sums to 1: overall brightness is kept"
      : `brightness is multiplied by ${cnnkit.format(total)}`;
    document.getElementById("sum").innerHTML = "";
    const b = document.createElement("b");
    b.textContent = cnnkit.format(Math.round(total * 1e6) / 1e6);
    document.getElementById("sum").append("sum of the kernel: ", b, ` (${meaning})`);
  }

  function edited() {
    const rows = shown.map((row) => row.slice());
    for (const input of cells()) {
      const text = input.value.trim();
      let value = Number(text);
      const fraction = /^(-?[\d.]+)\/([\d.]+)$/.exec(text);
      if (fraction) value = Number(fraction[1]) / Number(fraction[2]);
      const bad = text === "" || !Number.isFinite(value);
      input.style.borderColor = bad ? "var(--bad)" : "";
      if (bad) {
        cnnkit.say(message, `row ${+input.dataset.row + 1}, column ${+input.dataset.col + 1}: ` +
          `"${text}" is not a number`, true);
        filterFailed = true; // cleared by the next good result
        return;
      }
      rows[input.dataset.row][input.dataset.col] = value;
    }
    shown = rows;
    kernel = {matrix: rows};
    named.value = "";
    document.getElementById("summary").textContent = "your own kernel";
    showSum(rows);
    update();
  }

  async function pick(name) {
    try {
      const spec = await cnnkit.call(`/api/kernels/${encodeURIComponent(name)}`);
      kernel = {name};
      document.getElementById("op").value = spec.op; // learned kernels: correlation
      drawMatrix(spec.matrices[0]);
      sizeBox.value = String(spec.matrices[0].length);
      document.getElementById("summary").textContent = spec.magnitude
        ? `${spec.summary}: two kernels, x (shown) and y (its transpose), combined as ` +
          "sqrt(gx² + gy²); edit a cell to use the x kernel alone"
        : spec.summary;
      update();
    } catch (err) {
      cnnkit.say(message, err.message, true);
    }
  }

  named.addEventListener("change", () => { if (named.value) pick(named.value); });
  sizeBox.addEventListener("change", () => {
    const n = Number(sizeBox.value);
    const matrix = Array.from({length: n}, (_, i) => Array.from({length: n},
      (_, j) => (i === (n - 1) / 2 && j === (n - 1) / 2 ? 1 : 0)));
    drawMatrix(matrix);
    kernel = {matrix};
    named.value = "";
    document.getElementById("summary").textContent =
      "the identity: edit the cells to make your own kernel";
    update();
  });
  for (const id of ["op", "border", "range", "relu", "pool"]) {
    document.getElementById(id).addEventListener("change", () => update());
  }

  function request() {
    const value = (id) => document.getElementById(id);
    return {picture, kernel, op: value("op").value, border: value("border").value,
            range: value("range").value, relu: value("relu").checked, pool: value("pool").checked};
  }

  const update = cnnkit.latest(async () => {
    try {
      const result = await cnnkit.call("/api/filter", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(request())});
      const img = document.getElementById("result");
      img.src = result.image;
      img.dataset.version = String(Number(img.dataset.version || 0) + 1);
      const k = result.kernel;
      document.getElementById("result-note").textContent =
        `result ${result.width}x${result.height}, shown with range "${result.range}"`;
      document.getElementById("stats").textContent =
        `${k.shape[0]}x${k.shape[1]} kernel; output values ${cnnkit.format(result.min)} to ` +
        `${cnnkit.format(result.max)}, ${result.clipped}% clipped; ` +
        `server ${result.ms.total} ms (filter ${result.ms.filter}, PNG ${result.ms.encode})`;
      if (filterFailed) cnnkit.say(message, ""); // an upload's message stays until the next drop
      filterFailed = false;
    } catch (err) {
      cnnkit.say(message, err.message, true);
      filterFailed = true;
    }
    document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
  });

  async function choose(name, note) {
    picture = name;
    for (const button of document.querySelectorAll("#samples button")) {
      button.classList.toggle("here", button.dataset.name === name);
    }
    document.getElementById("original").src = `/api/pictures/${name}.png`;
    document.getElementById("original-note").textContent = note;
    update();
  }

  cnnkit.dropTarget(document.getElementById("dropzone"), async (file) => {
    const big = cnnkit.tooBig(file);
    if (big) { cnnkit.say(message, big, true); return; }
    cnnkit.say(message, `reading ${file.name} ...`);
    try {
      const held = await cnnkit.call("/api/pictures", {
        method: "POST", body: file,
        headers: {"X-Filename": encodeURIComponent(file.name).slice(0, 80)}});
      cnnkit.say(message, "");
      await choose(held.name, `${file.name}: ${held.note}`);
    } catch (err) {
      cnnkit.say(message, err.message, true);
      document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
    }
  });

  async function start() {
    try {
      const info = await cnnkit.call("/api/info");
      document.getElementById("model").textContent = `model: ${info.model}`;
      cnnkit.maxBytes = info.max_bytes;
      const none = document.createElement("option");
      none.value = ""; none.textContent = "your own kernel";
      named.appendChild(none);
      for (const k of info.kernels) {
        const option = document.createElement("option");
        option.value = k.name;
        option.textContent = k.name;
        option.title = k.summary;
        named.appendChild(option);
      }
      if (info.learned.length) {
        const group = document.createElement("optgroup");
        group.label = "learned by the model";
        for (const name of info.learned) {
          const option = document.createElement("option");
          option.value = name;
          option.textContent = name.replace("model:", "");
          group.appendChild(option);
        }
        named.appendChild(group);
      }
      const samples = document.getElementById("samples");
      for (const s of info.samples) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = s.title.replace(/ \(.*/, "");
        button.title = s.title;
        button.dataset.name = s.name;
        button.addEventListener("click", () => choose(s.name, s.title));
        samples.appendChild(button);
      }
      named.value = "laplacian";
      await pick("laplacian");
      await choose("testcard", info.samples[0].title);
      document.body.dataset.ready = "1";
    } catch (err) {
      cnnkit.say(message, err.message, true);
    }
  }
  start();
})();
