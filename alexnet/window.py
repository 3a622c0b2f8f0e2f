"""The arithmetic of one spatial dimension of a sliding window (conv or pool).

Pure Python, no torch: the layer registry's window rules and the receptive-field walk
both read it.  For input size W, kernel F (dilated: F_eff = D·(F − 1) + 1), stride S,
padding P on each side:

    N = floor((W − F_eff + 2P) / S) + 1                (PyTorch, floor mode)
    N = ceil((W − F_eff + 2P) / S) + 1, minus 1 if the last window would start
        in the right padding                         (PyTorch ceil_mode=True)

TensorFlow/Keras 'same' pads so that N = ceil(W / S), splitting the total padding
(N − 1)·S + F_eff − W with the extra pixel after (bottom/right); 'valid' is P = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

_MINUS = "−"


def _fmt(x: float) -> str:
    """55 → '55', 54.25 → '54.25', 1/3 → '0.33'."""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _fmt_within(x: Fraction, lo: float, hi: float) -> str:
    """``x`` with 2 or more decimals, as many as it takes for the shown number to lie strictly
    between ``lo`` and ``hi`` (so '→ 2' never follows a '3': (400 − 1)/200 + 1 = 2.995 → 2)."""
    for digits in range(2, 13):
        text = f"{float(x):.{digits}f}".rstrip("0").rstrip(".")
        if lo < Fraction(text) < hi:
            return text
    return repr(float(x))


def _n(x: int) -> str:
    return f"{x:,}"


# --------------------------------------------------------------------------------------
# one dimension of a conv / pool
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dim:
    """The arithmetic of one spatial dimension of one layer."""

    size_in: int
    kernel: int  # as given
    kernel_eff: int  # dilated
    stride: int
    pad_before: int
    pad_after: int
    ceil_mode: bool
    padding_mode: str  # 'int', 'same', 'valid'
    out: int  # < 1 means the layer collapses
    exact: bool
    remainder: int  # (W + pads − F_eff) mod S: padded-input columns never covered
    ceil_dropped: bool = False  # PyTorch removed a last window that started in the padding
    caffe_out: int | None = None  # what Caffe/Paddle's ceil rule gives, when it differs
    fill: str = "zeros"  # what the padding holds: zeros, or reflect/replicate/circular copies of the input

    @property
    def numerator(self) -> int:
        return self.size_in + self.pad_before + self.pad_after - self.kernel_eff

    @property
    def collapsed(self) -> bool:
        # PyTorch's ceil mode still gives one (partial) window when the kernel overhangs
        # the input by less than a stride; floor mode gives none.
        return self.out < 1

    def formula(self) -> str:
        """'(224 − 11 + 2·2)/4 + 1 = 55.25 → 55' with the user's numbers."""
        w, f, s = self.size_in, self.kernel_eff, self.stride
        if self.padding_mode == "same":
            pt = self.pad_before + self.pad_after
            return (f"same: ⌈{w}/{s}⌉ = {self.out} (pads {pt}: {self.pad_before} before, "
                    f"{self.pad_after} after)")
        pads = ""
        if self.pad_before == self.pad_after and self.pad_before:
            pads = f" + 2·{self.pad_before}"
        elif self.pad_before or self.pad_after:
            pads = f" + {self.pad_before}+{self.pad_after}"
        body = f"{w} {_MINUS} {f}{pads}"
        value = Fraction(self.numerator, s) + 1
        if self.numerator < 0 and not self.ceil_mode:
            shown = str(value) if value.denominator == 1 else _fmt_within(value, math.floor(value), math.ceil(value))
            return f"({body})/{s} + 1 = {shown} < 1"
        if self.ceil_mode:
            text = f"⌈({body})/{s}⌉ + 1 = {math.ceil(self.numerator / s) + 1}"
            if self.ceil_dropped:
                text += f" − 1 = {self.out} (last window would start in the padding)"
            return text
        if self.exact:
            return f"({body})/{s} + 1 = {self.out}"
        return f"({body})/{s} + 1 = {_fmt_within(value, self.out, self.out + 1)} → {self.out}"


def dim_arith(size_in: int, kernel: int, stride: int, padding, dilation: int = 1,
              ceil_mode: bool = False, fill: str = "zeros") -> Dim:
    """Output size of one dimension.  ``padding`` is an int, 'same' or 'valid'."""
    f_eff = dilation * (kernel - 1) + 1
    if padding == "same":
        out = -(-size_in // stride)
        total = max((out - 1) * stride + f_eff - size_in, 0)
        pb, pa, mode = total // 2, total - total // 2, "same"
    elif padding == "valid":
        pb = pa = 0
        mode = "valid"
    else:
        pb = pa = int(padding)
        mode = "int"
    num = size_in + pb + pa - f_eff
    dropped = False
    caffe = None
    if num < 0 and not (ceil_mode and mode != "same"):
        # floor mode: a window larger than the padded input gives nothing
        return Dim(size_in, kernel, f_eff, stride, pb, pa, ceil_mode, mode, min(num // stride + 1, 0), False, 0,
                   fill=fill)
    if mode == "same":
        exact = num % stride == 0
        out = num // stride + 1  # equals ceil(W/S) by construction
    elif ceil_mode:
        out = -(-num // stride) + 1
        caffe_rule = out
        if (out - 1) * stride >= size_in + pb:
            out -= 1
            dropped = True
        if caffe_rule != out:
            caffe = caffe_rule
        exact = num % stride == 0
    else:
        out = num // stride + 1
        exact = num % stride == 0
    return Dim(size_in, kernel, f_eff, stride, pb, pa, ceil_mode, mode, out, exact,
               num % stride, dropped, caffe, fill)
