// The draw page: a pad, the 28x28 the model sees, ten probabilities, the feature maps.
"use strict";

(() => {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const message = document.getElementById("message");
  const INK = 18; // px: a marker stroke on a 280 px pad, like a pen on a small note
  let strokes = []; // each a list of [x, y] in pad pixels
  let photo = null; // {file, image}: a dropped picture, shown under the strokes
  let colours = null; // the sequential colour map, 256 [r, g, b]
  let info = null;

  function paint() {
    ctx.fillStyle = "white";
    ctx.fillRect(0, 0, pad.width, pad.height);
    if (photo) {
      const scale = Math.min(pad.width / photo.image.width, pad.height / photo.image.height);
      const w = photo.image.width * scale, h = photo.image.height * scale;
      ctx.drawImage(photo.image, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    }
    ctx.strokeStyle = "black";
    ctx.fillStyle = "black";
    ctx.lineWidth = INK;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const stroke of strokes) {
      ctx.beginPath();
      ctx.moveTo(stroke[0][0], stroke[0][1]);
      if (stroke.length === 1) ctx.lineTo(stroke[0][0] + 0.1, stroke[0][1]);
      for (const [x, y] of stroke.slice(1)) ctx.lineTo(x, y);
      ctx.stroke();
    }
  }

  function where(event) {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * (pad.width / box.width),
            (event.clientY - box.top) * (pad.height / box.height)];
  }

  let drawing = null;
  pad.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    drawing = [where(e)];
    strokes.push(drawing);
    paint();
    update();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    for (const event of (e.getCoalescedEvents ? e.getCoalescedEvents() : [e])) {
      drawing.push(where(event));
    }
    paint();
    update();
  });
  const stop = () => { if (drawing) { drawing = null; update(); } };
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);

  document.getElementById("undo").addEventListener("click", () => {
    if (strokes.length) strokes.pop(); else photo = null;
    paint();
    update();
  });
  document.getElementById("clear").addEventListener("click", () => {
    strokes = []; photo = null;
    paint();
    update();
  });

  cnnkit.dropTarget(pad, (file) => {
    const big = cnnkit.tooBig(file);
    if (big) { cnnkit.say(message, big, true); return; }
    const url = URL.createObjectURL(file);
    const image = new Image();
    image.onload = () => { photo = {file, image}; strokes = []; paint(); update(); };
    image.onerror = () => {
      // the browser cannot show it; the server still says exactly what is wrong
      photo = null; strokes = []; paint();
      send(file);
    };
    image.src = url;
  });

  function blank() {
    return !photo && strokes.length === 0;
  }

  // What the server reads: the dropped file itself while nothing is drawn on it (so the
  // preparation is exactly predict's), else the pad as a PNG.
  async function body() {
    if (photo && strokes.length === 0) return photo.file;
    return await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  }

  async function send(data) {
    try {
      const stages = document.getElementById("steps-box").open ? "?stages=1" : "";
      const result = await cnnkit.call(`/api/look${stages}`, {method: "POST", body: data});
      show(result);
      cnnkit.say(message, "");
    } catch (err) {
      reset();
      cnnkit.say(message, err.message, true);
    }
    document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
  }

  const update = cnnkit.latest(async () => {
    if (blank()) {
      reset();
      cnnkit.say(message, "Draw with the mouse, a pen or a finger.");
      return;
    }
    await send(await body());
  });

  // ---- showing the answer ------------------------------------------------------------------
  const bars = document.getElementById("bars");
  const rows = [];
  function buildBars(count) {
    bars.innerHTML = "";
    for (let k = 0; k < count; k++) {
      const label = document.createElement("span");
      label.className = "d";
      label.textContent = k;
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.appendChild(document.createElement("span"));
      const p = document.createElement("span");
      p.className = "p";
      bars.append(label, bar, p);
      rows.push({label, bar, p});
    }
  }

  function reset() {
    document.getElementById("digit").textContent = "?";
    document.getElementById("confidence").textContent = "";
    document.getElementById("timing").textContent = "";
    for (const row of rows) {
      row.bar.firstChild.style.width = "0";
      row.p.textContent = "";
      row.bar.classList.remove("top");
      row.label.classList.remove("top");
    }
    const prepared = document.getElementById("prepared").getContext("2d");
    prepared.fillStyle = "black";
    prepared.fillRect(0, 0, 28, 28);
    document.getElementById("layers").innerHTML = "";
    document.getElementById("stages").innerHTML = "";
  }

  function show(result) {
    document.getElementById("digit").textContent = result.digit;
    document.getElementById("confidence").textContent =
      `${(100 * result.confidence).toFixed(1)}% sure`;
    result.probs.forEach((p, k) => {
      const row = rows[k];
      row.bar.firstChild.style.width = `${(100 * p).toFixed(1)}%`;
      row.p.textContent = `${(100 * p).toFixed(1)}%`;
      row.bar.classList.toggle("top", k === result.digit);
      row.label.classList.toggle("top", k === result.digit);
    });
    const ms = result.ms;
    document.getElementById("timing").textContent =
      `server: prepare ${ms.prepare} ms, model ${ms.model} ms, maps ${ms.maps} ms`;
    const grey = cnnkit.bytes(result.prepared);
    const prepared = document.getElementById("prepared").getContext("2d");
    const image = prepared.createImageData(28, 28);
    grey.forEach((v, i) => { image.data.set([v, v, v, 255], 4 * i); });
    prepared.putImageData(image, 0, 0);
    showLayers(result.layers);
    showStages(result.stages);
  }

  // The preparation's stages, small, in order: as `cnnkit predict --show-steps` saves them.
  function showStages(stages) {
    const holder = document.getElementById("stages");
    holder.innerHTML = "";
    for (const stage of stages) {
      const figure = document.createElement("figure");
      const canvas = document.createElement("canvas");
      canvas.width = stage.width; canvas.height = stage.height;
      canvas.className = "pixelated";
      const side = Math.max(stage.width, stage.height);
      canvas.style.width = `${Math.round(72 * stage.width / side)}px`;
      const image = canvas.getContext("2d").createImageData(stage.width, stage.height);
      cnnkit.bytes(stage.data).forEach((v, i) => image.data.set([v, v, v, 255], 4 * i));
      canvas.getContext("2d").putImageData(image, 0, 0);
      const caption = document.createElement("figcaption");
      caption.textContent = stage.name.replace(/^\d+-/, "").replace(/-/g, " ");
      figure.append(canvas, caption);
      holder.appendChild(figure);
    }
  }
  document.getElementById("steps-box").addEventListener("toggle", () => update());

  function layerCanvas(layer) {
    const [h, w, c] = layer.shape;
    const columns = Math.min(c, 16);
    const gap = 1;
    const gridW = columns * (w + gap) - gap;
    const gridH = Math.ceil(c / columns) * (h + gap) - gap;
    const canvas = document.createElement("canvas");
    canvas.width = gridW;
    canvas.height = gridH;
    canvas.className = "pixelated";
    // about 52 css px per tile: a 26x26 conv map twice, a 13x13 pooled map four times
    const zoom = Math.max(1, Math.min(8, Math.round(52 / w)));
    canvas.style.width = `${gridW * zoom}px`;
    canvas.dataset.name = layer.name;
    const values = cnnkit.bytes(layer.data);
    const image = canvas.getContext("2d").createImageData(gridW, gridH);
    image.data.fill(255);
    const table = layer.signed ? diverging : colours;
    for (let k = 0; k < c; k++) {
      const x0 = (k % columns) * (w + gap), y0 = Math.floor(k / columns) * (h + gap);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const rgb = table[values[k * h * w + y * w + x]];
          const at = 4 * ((y0 + y) * gridW + x0 + x);
          image.data[at] = rgb[0]; image.data[at + 1] = rgb[1]; image.data[at + 2] = rgb[2];
        }
      }
    }
    canvas.getContext("2d").putImageData(image, 0, 0);
    return canvas;
  }

  function legend(layer) {
    const box = document.createElement("div");
    box.className = "legend";
    const ramp = document.createElement("canvas");
    ramp.width = 256; ramp.height = 1;
    const image = ramp.getContext("2d").createImageData(256, 1);
    const table = layer.signed ? diverging : colours;
    table.forEach((rgb, i) => image.data.set([...rgb, 255], 4 * i));
    ramp.getContext("2d").putImageData(image, 0, 0);
    const lo = document.createElement("span");
    lo.textContent = cnnkit.format(layer.lo);
    const hi = document.createElement("span");
    hi.textContent = cnnkit.format(layer.hi);
    box.append(lo, ramp, hi);
    return box;
  }

  function showLayers(layers) {
    const holder = document.getElementById("layers");
    holder.innerHTML = "";
    for (const layer of layers) {
      const [h, w, c] = layer.shape;
      const block = document.createElement("div");
      block.className = "layer";
      const title = document.createElement("h3");
      const act = layer.activation ? ` + ${layer.activation === "relu" ? "ReLU" : layer.activation}` : "";
      title.textContent = `${layer.name} (${layer.kind}${act}): ${c} maps of ${h}x${w}`;
      block.append(title, layerCanvas(layer), legend(layer));
      holder.appendChild(block);
    }
  }

  let diverging = null;
  async function start() {
    buildBars(10);
    reset();
    paint();
    try {
      info = await cnnkit.call("/api/info");
      cnnkit.maxBytes = info.max_bytes;
      colours = info.colormaps.sequential.map(cnnkit.hexToRgb);
      diverging = info.colormaps.diverging.map(cnnkit.hexToRgb);
      if (info.classes !== 10) { rows.length = 0; buildBars(info.classes); }
      document.getElementById("model").textContent = `model: ${info.model}`;
      document.body.dataset.ready = "1";
    } catch (err) {
      cnnkit.say(message, err.message, true);
    }
  }
  start();
})();
