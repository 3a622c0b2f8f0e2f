"""Makes the app's icon, assets/favicon.png (see assets/README.md).

    python assets/make_icon.py

A 64×64 picture of a small network (2 → 3 → 2 nodes, every pair connected) on a
rounded blue square.  Shipped with the app so that no browser fetches an icon from a
font server.  Deterministic: Pillow only, drawn at 4× and shrunk (antialiased).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIDE = 64
SCALE = 4
OUT = Path(__file__).resolve().parent / "favicon.png"


def icon() -> Image.Image:
    n = SIDE * SCALE
    img = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, n - 1, n - 1), radius=14 * SCALE, fill=(31, 78, 121, 255))
    columns = [(16, (22, 42)), (32, (14, 32, 50)), (48, (22, 42))]  # (x, node ys) in 64-px units
    nodes = [[(x * SCALE, y * SCALE) for y in ys] for x, ys in columns]
    for left, right in zip(nodes, nodes[1:]):
        for a in left:
            for b in right:
                draw.line((a, b), fill=(160, 200, 235, 255), width=2 * SCALE)
    r = 5 * SCALE
    for column in nodes:
        for x, y in column:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 255))
    return img.resize((SIDE, SIDE), Image.LANCZOS)


def main() -> None:
    icon().save(OUT, optimize=True)
    print(OUT)


if __name__ == "__main__":
    main()
