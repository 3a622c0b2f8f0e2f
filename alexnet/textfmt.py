"""Text for people: tensor shapes, durations and one-line messages.  Pure Python (no torch), so the CLI's
light commands and every page can use it.  Byte and count sizes live in
``alexnet.arithmetic`` (``human_bytes``, ``human_count``)."""

from __future__ import annotations

from collections.abc import Iterable


def shape_text(shape: Iterable[int] | None, empty: str = "—") -> str:
    """256×6×6 for [256, 6, 6]; ``empty`` for no shape."""
    return "×".join(str(x) for x in shape) if shape else empty


def fmt_seconds(s: float | None) -> str:
    """4.2 s, 3 min 07 s, 2 h 05 min; — for None."""
    if s is None:
        return "—"
    s = float(s)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def one_line(text: str, limit: int = 600) -> str:
    """A message as the single line a failed run stores and an error line prints."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
