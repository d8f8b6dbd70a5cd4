// The step-through: convolution, ReLU and max pooling on small grids, one output cell at a
// time, with the numbers from `cnnkit explain` (the same ops the filters use).
"use strict";

(() => {
  const grids = document.getElementById("grids");
  const sumline = document.getElementById("sumline");
  const note = document.getElementById("explain-note");
  const NOTES = {
    conv: "The 3x3 kernel slides over the 5x5 image. At each place, multiply the cells under " +
      "the window (yellow) by the kernel and add the nine products: that sum is one output " +
      "cell. Click an image or kernel cell to change it.",
    relu: "ReLU keeps positive values and replaces negative ones by 0: max(x, 0), cell by cell.",
    pool: "2x2 max pooling: each output cell is the largest of a 2x2 window (red), and the " +
      "window moves by 2, so the map halves in each direction.",
  };
  let walk = null, step = 0, timer = null, kind = "conv";
  let custom = {image: null, kernel: null};

  const fmt = (v) => cnnkit.format(Math.round(v * 1000) / 1000);

  function table(matrix, caption, classes = () => "", text = (v) => fmt(v), onClick = null) {
    const t = document.createElement("table");
    t.className = "grid";
    const c = document.createElement("caption");
    c.textContent = caption;
    t.appendChild(c);
    matrix.forEach((row, i) => {
      const tr = document.createElement("tr");
      row.forEach((v, j) => {
        const td = document.createElement("td");
        td.textContent = text(v, i, j);
        const extra = classes(i, j);
        if (extra) td.className = extra;
        if (onClick) { td.style.cursor = "pointer"; td.addEventListener("click", () => onClick(i, j)); }
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    return t;
  }

  const inside = (s, i, j) => i >= s.rows[0] && i < s.rows[1] && j >= s.cols[0] && j < s.cols[1];
  const order = (s) => s.out[0] * walk.output[0].length + s.out[1];

  function render() {
    grids.innerHTML = "";
    const s = walk.steps[step];
    const done = (i, j) => i * walk.output[0].length + j <= order(s);
    const outClass = (i, j) => (i === s.out[0] && j === s.out[1] ? "current" : done(i, j) ? "" : "todo");
    const outText = (v, i, j) => (done(i, j) ? fmt(v) : "?");
    document.getElementById("position").textContent = `step ${step + 1} of ${walk.steps.length}`;
    if (walk.kind === "conv") {
      const flipped = walk.op === "conv";
      grids.append(
        table(walk.image, "image (5x5)", (i, j) => (inside(s, i, j) ? "window" : ""), fmt,
              (i, j) => { custom.image = walk.image.map((r) => r.slice()); custom.image[i][j] = custom.image[i][j] ? 0 : 1; load(); }),
        table(walk.kernel, "kernel", () => "", fmt,
              (i, j) => { custom.kernel = walk.kernel.map((r) => r.slice()); custom.kernel[i][j] = {"-1": 0, "0": 1, "1": -1}[String(custom.kernel[i][j])] ?? 0; load(); }),
        table(walk.slid, flipped ? "as slid (flipped)" : "as slid (not flipped)"),
        table(s.products, "products"),
        table(walk.output, "output (3x3)", outClass, outText));
      const terms = s.products.flat().map(fmt).join(" + ");
      sumline.textContent = `output[${s.out[0]}, ${s.out[1]}] = ${terms} = ${fmt(s.value)}`;
    } else if (walk.kind === "relu") {
      const v = walk.image[s.out[0]][s.out[1]];
      grids.append(
        table(walk.image, "input", (i, j) => (inside(s, i, j) ? "window" : "")),
        table(walk.output, "ReLU(input)", outClass, outText));
      sumline.textContent = `output[${s.out[0]}, ${s.out[1]}] = max(${fmt(v)}, 0) = ${fmt(s.value)}`;
    } else {
      const chosen = (i, j) => i === s.chosen[0] && j === s.chosen[1];
      grids.append(
        table(walk.image, "input (4x4)", (i, j) => (chosen(i, j) ? "chosen" : inside(s, i, j) ? "window" : "")),
        table(walk.output, "max pool 2x2 (2x2)", outClass, outText));
      const values = [];
      for (let i = s.rows[0]; i < s.rows[1]; i++) {
        for (let j = s.cols[0]; j < s.cols[1]; j++) values.push(fmt(walk.image[i][j]));
      }
      sumline.textContent = `output[${s.out[0]}, ${s.out[1]}] = max(${values.join(", ")}) = ${fmt(s.value)}`;
    }
  }

  async function load() {
    const request = {kind, op: document.getElementById("op").value};
    if (kind === "conv") Object.assign(request, {image: custom.image, kernel: custom.kernel});
    try {
      walk = await cnnkit.call("/api/explain", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(request)});
      step = Math.min(step, walk.steps.length - 1);
      note.textContent = NOTES[kind];
      render();
    } catch (err) {
      note.textContent = err.message;
    }
  }

  function move(by) {
    if (!walk) return;
    step = (step + by + walk.steps.length) % walk.steps.length;
    render();
  }

  document.getElementById("next").addEventListener("click", () => move(1));
  document.getElementById("prev").addEventListener("click", () => move(-1));
  document.getElementById("play").addEventListener("click", (e) => {
    if (timer) { clearInterval(timer); timer = null; e.target.textContent = "Play"; return; }
    e.target.textContent = "Pause";
    timer = setInterval(() => {
      if (step === walk.steps.length - 1) { clearInterval(timer); timer = null; e.target.textContent = "Play"; return; }
      move(1);
    }, 800);
  });
  for (const button of document.querySelectorAll("#tabs button[data-kind]")) {
    button.addEventListener("click", () => {
      kind = button.dataset.kind;
      step = 0;
      for (const b of document.querySelectorAll("#tabs button[data-kind]")) b.classList.toggle("here", b === button);
      load();
    });
  }
  document.getElementById("op").addEventListener("change", () => { if (kind === "conv") load(); });
  load();
})();
