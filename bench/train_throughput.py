"""Training throughput: the engine (uint8 dataset on the device, batched resize/normalise/
augment there, autocast) against a seed-style loop (seed 001: a torchvision-style Dataset
that resizes every image with PIL, ToTensor, Normalize, a DataLoader with batch 32, fp32).

    python bench/train_throughput.py                 # auto: CUDA cases if a GPU, else the CPU case
    python bench/train_throughput.py --device cpu --steps 20
    python bench/train_throughput.py --device cuda --compile

CUDA cases (issue 4 targets on one H100: ≥ 30,000 img/s for paper-2012 at 227 and
≥ 40× the seed-style loop; ≥ 100,000 img/s for d2l at 96):
  paper-2012            3×227×227, 1000 classes, bf16, batch 256, synthetic uint8 images at 227
  d2l-fashion-mnist-224 run at 1×96×96, 10 classes, bf16, batch 512, synthetic 28×28 images
                        resized to 96 on the device (the seed resizes Fashion-MNIST to 96 with PIL)
CPU case: alexnet-cifar-32 at 3×32×32, fp32, batch 128, synthetic 32×32 images.

Images are random uint8 (throughput does not depend on their content).  The engine is
timed with ``alexnet.train.train`` itself (step metrics after the warm-up window); the
seed-style loop is timed over ``--seed-steps`` batches after 3 warm-up batches.
Prints one line per case and a JSON summary as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from alexnet.build import build_model  # noqa: E402
from alexnet.data import Dataset  # noqa: E402
from alexnet.devices import resolve_device  # noqa: E402
from alexnet.presets import get_spec  # noqa: E402
from alexnet.runs import RunStore  # noqa: E402
from alexnet.train import make_config, train  # noqa: E402


def synthetic(n_train: int, shape: tuple[int, int, int], classes: int, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    c, h, w = shape
    x = torch.randint(0, 256, (n_train, c, h, w), dtype=torch.uint8, generator=g)
    y = torch.randint(0, classes, (n_train,), generator=g)
    xt = torch.randint(0, 256, (64, c, h, w), dtype=torch.uint8, generator=g)
    yt = torch.randint(0, classes, (64,), generator=g)
    return Dataset("synthetic", x, y, xt, yt, [str(i) for i in range(classes)],
                   mean=(0.5,) * c, std=(0.29,) * c)


def engine_ips(spec, ds: Dataset, device: str, precision: str, batch: int, warmup: int, steps: int,
               compile_: bool, flip: bool, translate: float) -> float:
    """Median images/s over the step-metric windows after the first (the warm-up) window."""
    with tempfile.TemporaryDirectory() as d:
        store = RunStore(d)
        cfg = make_config("quick", epochs=1, batch_size=batch, precision=precision, device=device,
                          max_steps=warmup + steps, log_every=warmup, compile=compile_, flip=flip,
                          translate=translate, eval_batch_size=64)
        r = train(spec, cfg, store=store, progress=False, dataset=ds)
        if r["status"] != "completed":
            raise SystemExit(f"engine run {r['status']}: {r.get('error')}")
        rows = store.step_metrics(r["run_id"])
        # rows[warmup] opens the first window after warm-up; each window has one images/s value
        windows = [row["images_per_sec"] for row in rows[warmup::warmup]] or [rows[-1]["images_per_sec"]]
        store.close()
    return statistics.median(windows)


class SeedStyleDataset(torch.utils.data.Dataset):
    """What seed 001 does per image: PIL image → Resize → ToTensor → Normalize."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int, channels: int):
        from torchvision import transforms

        self.images, self.labels = images, labels
        self.tf = transforms.Compose([transforms.Resize([size, size]), transforms.ToTensor(),
                                      transforms.Normalize((0.5,) * channels, (0.5,) * channels)])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        a = self.images[i]
        img = Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)
        return self.tf(img), int(self.labels[i])


def seed_style_ips(spec, ds: Dataset, device: torch.device, steps: int, batch: int = 32) -> float:
    c, h, _ = spec.input.shape
    images = ds.x_train.permute(0, 2, 3, 1).contiguous().numpy()  # HWC, as PIL wants
    loader = torch.utils.data.DataLoader(SeedStyleDataset(images, ds.y_train.numpy(), h, c),
                                         batch_size=batch, shuffle=True, num_workers=0)
    model = build_model(spec).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    it = iter(loader)
    n = 0
    t0 = None
    for i in range(3 + steps):
        if i == 3:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        x, y = next(it)
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 3:
            n += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=None, help="timed engine steps (default 60 CUDA / 15 CPU)")
    p.add_argument("--warmup", type=int, default=None, help="engine warm-up steps (default 20 CUDA / 5 CPU)")
    p.add_argument("--seed-steps", type=int, default=None, help="timed seed-style batches (default 100 / 40)")
    p.add_argument("--compile", action="store_true", help="torch.compile the engine's model")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (60 if cuda else 15)
    warmup = args.warmup or (20 if cuda else 5)
    seed_steps = args.seed_steps or (100 if cuda else 40)
    if cuda:
        torch.backends.cudnn.benchmark = True
        cases = [
            ("paper-2012 @227 bf16", get_spec("paper-2012"), (3, 227, 227), 1000, "bf16", 256),
            ("d2l-fashion-mnist @96 bf16", get_spec("d2l-fashion-mnist-224").with_input(1, 96, 96), (1, 28, 28), 10,
             "bf16", 512),
        ]
        where = torch.cuda.get_device_name(device)
    else:
        cases = [("alexnet-cifar-32 @32 fp32", get_spec("alexnet-cifar-32"), (3, 32, 32), 10, "fp32", 128)]
        where = f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {where}; torch {torch.__version__}", file=sys.stderr)
    summary = []
    for label, spec, shape, classes, precision, batch in cases:
        ds = synthetic((warmup + steps) * batch, shape, classes)
        eng = engine_ips(spec, ds, str(device), precision, batch, warmup, steps, args.compile, flip=True,
                         translate=0.0)
        naive = seed_style_ips(spec, ds, device, seed_steps)
        row = {"case": label, "device": where, "engine_images_per_sec": round(eng, 1),
               "seed_style_images_per_sec": round(naive, 1), "ratio": round(eng / naive, 2),
               "engine": f"batch {batch}, {precision}, uint8 on device, flip", "seed_style": "batch 32, fp32, PIL"}
        summary.append(row)
        print(f"{label:32s} engine {eng:10,.0f} img/s   seed-style {naive:9,.0f} img/s   ratio {eng / naive:6.1f}×",
              flush=True)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
