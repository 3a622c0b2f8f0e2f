"""Makes the app's own sample pictures in assets/photos (see assets/README.md).

    python assets/make_images.py

Deterministic: numpy and Pillow only, no randomness, so the files it writes are the
files in the repository (tests/test_assets.py checks that).  Each picture is made to
show something about a network's first layers: edges at four orientations, coloured
blobs with hard and soft borders, and a smooth colour wheel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIDE = 256
OUT = Path(__file__).resolve().parent / "photos"


def gratings() -> Image.Image:
    """Four sine gratings, 0°, 45°, 90° and 135°, one per quadrant (grey, period 16 px)."""
    y, x = np.mgrid[0:SIDE // 2, 0:SIDE // 2].astype(np.float64)
    tiles = [np.sin(2 * np.pi * (x * np.cos(a) + y * np.sin(a)) / 16) for a in np.deg2rad([0, 45, 90, 135])]
    img = np.block([[tiles[0], tiles[1]], [tiles[2], tiles[3]]])
    return Image.fromarray(np.round(127.5 + 127.5 * img).astype(np.uint8), mode="L").convert("RGB")


def shapes() -> Image.Image:
    """A red disc, a green square and a blue triangle (hard edges) and a soft yellow blob
    on a pale background."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    blob = np.exp(-((x - 190) ** 2 + (y - 190) ** 2) / (2 * 22.0 ** 2))
    base = np.stack([235 - 15 * blob, 235 + 20 * blob, 225 - 200 * blob], axis=-1)
    img = Image.fromarray(np.clip(np.round(base), 0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(img)
    draw.ellipse((24, 24, 112, 112), fill=(200, 30, 30))
    draw.rectangle((150, 30, 226, 106), fill=(30, 150, 60))
    draw.polygon([(30, 226), (110, 226), (70, 146)], fill=(30, 60, 200))
    return img


def colour_wheel() -> Image.Image:
    """Hue around the centre, saturation growing outwards, full value, on dark grey:
    smooth colour with no edges but the wheel's rim."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64) - (SIDE - 1) / 2
    hue = (np.arctan2(y, x) / (2 * np.pi)) % 1.0
    inside = np.hypot(x, y) <= SIDE / 2 - 8
    sat = np.where(inside, np.clip(np.hypot(x, y) / (SIDE / 2 - 8), 0, 1), 0)
    hsv = np.stack([hue * 255, sat * 255, np.where(inside, 255, 40)], axis=-1)
    return Image.fromarray(np.round(hsv).astype(np.uint8), mode="HSV").convert("RGB")


IMAGES = {"gratings.png": gratings, "shapes.png": shapes, "colour-wheel.png": colour_wheel}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in IMAGES.items():
        make().save(OUT / name, optimize=True)
        print(OUT / name)


if __name__ == "__main__":
    main()
