"""Text for people: tensor shapes, durations and one-line messages.  Pure Python (no torch), so the CLI's
light commands and every page can use it: the one home of shape text and of byte and count sizes."""

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


def human_bytes(n: float) -> str:
    """Binary units with two decimals: 1.11 MB, 273.44 KB, 12 B."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TB"


def human_count(n: float) -> str:
    """Decimal units with two decimals: 62.38 M, 4.10 K."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return str(int(n))


def short_bytes(n: float) -> str:
    """As human_bytes with 3 significant digits, for narrow table cells: 273 KB, 1.11 MB."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.3g} {unit}" if n >= 1 or unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.3g} TB"


def short_count(n: float) -> str:
    """As human_count with 3 significant digits, for narrow table cells: 106 M, 74.8 M, 4.1 K."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            v = n / div
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return str(int(n))
