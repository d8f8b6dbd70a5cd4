"""Draw cnnkit's sample images from a fixed seed: ``python samples/make_samples.py [MNIST_DIR]``.

testcard.png   512x512 grey: edges at every angle, gradients, text, fine lines and noise
scene.png      768x512 RGB: a photo-like landscape (sky, sun, hills, house, trees, grain)
still_life.png 512x384 grey: shaded spheres and a box under soft light
ramp16.png     256x256 16-bit grey: a smooth ramp with rings that 8 bits would band
               (testcard.png is also copied into cnnkit/assets, the package's sample picture)
digits/        MNIST test digits redrawn as photos of ink on paper (JPEG), named
               <test index>_<label>.jpg, and a number, number_<digits>.jpg; drawn only when
               MNIST is found (MNIST_DIR, else the cnnkit cache)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
PACKAGE_ASSETS = HERE.parent / "cnnkit" / "assets"
SEED = 20261125


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def testcard(rng: np.random.Generator) -> Image.Image:
    size = 512
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.full((size, size), 128, np.float32)
    base[:64, :] = x[:64, :] / (size - 1) * 255  # horizontal ramp
    base[64:128, :] = np.where((x[64:128, :] // 32) % 2 == 0, 40, 215)  # bars
    img = Image.fromarray(base.astype(np.uint8), "L")
    draw = ImageDraw.Draw(img)
    centre = (160, 300)
    for angle in range(0, 180, 15):  # a star of lines: edges at every angle
        t = np.deg2rad(angle)
        dx, dy = 120 * np.cos(t), 120 * np.sin(t)
        draw.line([(centre[0] - dx, centre[1] - dy), (centre[0] + dx, centre[1] + dy)],
                  fill=0 if angle % 30 else 255, width=2)
    draw.ellipse([330, 180, 490, 340], outline=255, width=6)
    draw.rectangle([350, 200, 470, 320], fill=30)
    draw.polygon([(410, 215), (460, 305), (360, 305)], fill=230)
    for i in range(12):  # fine lines that get closer together
        xx = 300 + i * (12 - i // 2)
        draw.line([(xx, 360), (xx, 420)], fill=255, width=1)
    draw.text((20, 440), "cnnkit test card", fill=255, font=_font(30))
    draw.text((300, 440), "Aa 0123456789", fill=0, font=_font(26))
    array = np.asarray(img, np.float32)
    array[360:430, 20:120] += rng.normal(0, 25, (70, 100))  # a noise patch
    array[360:430, 130:230] = np.linspace(0, 255, 100)[None, :]  # a fine gradient
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "L")


def scene(rng: np.random.Generator) -> Image.Image:
    width, height = 768, 512
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([110 + 80 * y / height, 160 + 60 * y / height,
                    235 - 20 * y / height], axis=-1)
    img = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    draw.ellipse([580, 60, 670, 150], fill=(255, 236, 170))
    for k, (colour, base, amp, freq) in enumerate([((96, 140, 88), 300, 40, 0.011),
                                                   ((60, 112, 60), 350, 30, 0.017),
                                                   ((44, 90, 40), 400, 20, 0.023)]):
        xs = np.arange(width + 1)
        ridge = base + amp * np.sin(xs * freq + k) + 10 * np.sin(xs * freq * 3.1)
        draw.polygon([(0, height)] + list(zip(xs.tolist(), ridge.tolist())) + [(width, height)],
                     fill=colour)
    draw.rectangle([150, 300, 290, 400], fill=(200, 180, 150), outline=(90, 70, 50), width=3)
    draw.polygon([(140, 300), (220, 240), (300, 300)], fill=(150, 50, 40))
    draw.rectangle([200, 340, 235, 400], fill=(100, 70, 45))
    draw.rectangle([250, 320, 275, 345], fill=(170, 210, 240), outline=(80, 60, 40), width=2)
    for tx in (420, 470, 540, 600, 690):
        ty = 330 + (tx % 37)
        draw.rectangle([tx - 5, ty, tx + 5, ty + 50], fill=(90, 60, 35))
        draw.ellipse([tx - 30, ty - 60, tx + 30, ty + 10], fill=(34, 100 + tx % 40, 45))
    img = img.filter(ImageFilter.GaussianBlur(0.7))
    array = np.asarray(img, np.float32) + rng.normal(0, 2.5, (height, width, 3))
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def still_life(rng: np.random.Generator) -> Image.Image:
    width, height = 512, 384
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    light = np.array([-0.5, -0.6, 0.62])
    light /= np.linalg.norm(light)
    image = 70 + 60 * (y / height)  # table and wall
    image[y < 230] = 150 - 40 * (x[y < 230] / width)
    for cx, cy, r, albedo in ((150, 230, 90, 210), (330, 260, 60, 160), (430, 200, 45, 235)):
        dx, dy = (x - cx) / r, (y - cy) / r
        inside = dx * dx + dy * dy < 1
        dz = np.sqrt(np.clip(1 - dx * dx - dy * dy, 0, 1))
        shade = np.clip(dx * light[0] + dy * light[1] + dz * light[2], 0, 1)
        image = np.where(inside, 25 + albedo * shade, image)
    image[280:350, 20:90] = 200  # a box: lit face and shadowed face
    image[280:350, 90:120] = 110
    image += rng.normal(0, 3, image.shape)
    pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "L")
    return pil.filter(ImageFilter.GaussianBlur(0.8))


def ramp16() -> Image.Image:
    size = 256
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    r = np.hypot(x - size / 2, y - size / 2)
    values = 20000 + 160 * x + 3000 * np.cos(r / 6)
    return Image.fromarray(np.clip(values, 0, 65535).astype(np.uint16))


def user_digits(mnist_dir: str | None) -> None:
    import sys

    sys.path.insert(0, str(HERE.parent / "bench"))
    from user_digits import user_number, user_style

    from cnnkit.data.mnist import load_split

    images, labels = load_split("test", mnist_dir)
    rng = np.random.default_rng(SEED)
    folder = HERE / "digits"
    folder.mkdir(exist_ok=True)
    for index in (0, 1, 2, 3, 4, 8, 11, 18, 61, 62):
        user_style(images[index], rng).save(folder / f"{index}_{labels[index]}.jpg", quality=90)
    picks = [21, 36, 83, 13]
    number = "".join(str(labels[i]) for i in picks)
    user_number([images[i] for i in picks], rng).save(folder / f"number_{number}.jpg",
                                                       quality=90)
    print(f"wrote {len(list(folder.iterdir()))} user-style digit pictures to {folder}")


def main() -> None:
    import sys

    rng = np.random.default_rng(SEED)
    images = {"testcard.png": testcard(rng), "scene.png": scene(rng),
              "still_life.png": still_life(rng), "ramp16.png": ramp16()}
    for name, image in images.items():
        image.save(HERE / name)
        print(f"wrote {HERE / name} ({image.size[0]}x{image.size[1]} {image.mode})")
    # the package's own copy: `cnnkit kernels show --plot` draws on it after a plain install
    images["testcard.png"].save(PACKAGE_ASSETS / "testcard.png")
    try:
        user_digits(sys.argv[1] if len(sys.argv) > 1 else None)
    except Exception as exc:  # MNIST is optional here: the other samples stand on their own
        print(f"digits/ not drawn: {exc}")


if __name__ == "__main__":
    main()
