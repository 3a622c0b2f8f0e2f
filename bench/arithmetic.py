"""How fast is alexnet.summarize against torchinfo.summary on the same network?

    .venv/bin/python bench/arithmetic.py [--preset paper-2012] [--repeats 30]

Both run in this process, back to back; the figure that matters is the ratio
(these machines are shared, so absolute times drift).  Target: ≥ 100×.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alexnet import build_model, get_spec, summarize  # noqa: E402
from bench.timing import median_seconds  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="paper-2012")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()

    import torch
    import torchinfo

    torch.set_num_threads(max(1, torch.get_num_threads()))
    spec = get_spec(args.preset)
    model = build_model(spec)
    size = (1, *spec.input.shape)
    ours = median_seconds(lambda: summarize(spec), args.repeats * 20, warm_up=True)
    theirs = median_seconds(lambda: torchinfo.summary(model, input_size=size, verbose=0, device="cpu"),
                            args.repeats, warm_up=True)
    s = summarize(spec)
    print(f"network: {args.preset}  ({s['total_params']:,} params, {s['total_macs']:,} mult-adds)")
    print(f"alexnet.summarize   median {ours * 1e3:8.3f} ms")
    print(f"torchinfo.summary   median {theirs * 1e3:8.3f} ms")
    print(f"ratio               {theirs / ours:8.0f}x faster  (target >= 100x)")


if __name__ == "__main__":
    main()
