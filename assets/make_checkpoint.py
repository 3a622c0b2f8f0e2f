"""Make assets/digits-cnn.pt: a small CNN trained on the handwritten digits that ship with
scikit-learn (alexnet.data 'digits'), so the Activations page shows trained filters and maps
offline.  Reproducible: fixed seed, one CPU thread.  Run: python assets/make_checkpoint.py"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from alexnet import NetSpec  # noqa: E402
from alexnet.data import load_dataset  # noqa: E402
from alexnet.runs import RunStore  # noqa: E402
from alexnet.train import make_config, train  # noqa: E402

OUT = HERE / "digits-cnn.pt"
SPEC = NetSpec.from_dict({  # an AlexNet-shaped pocket net for 1×8×8 digits: 8,020 parameters
    "name": "digits-cnn", "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 10,
    "layers": [{"type": "conv", "out_channels": 16, "kernel": 3, "stride": 1, "padding": 1}, {"type": "relu"},
               {"type": "maxpool", "kernel": 2, "stride": 2},
               {"type": "conv", "out_channels": 32, "kernel": 3, "stride": 1, "padding": 1}, {"type": "relu"},
               {"type": "maxpool", "kernel": 2, "stride": 2}, {"type": "flatten"},
               {"type": "linear", "out_features": 10}]})


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        cfg = make_config("quick", epochs=8, batch_size=64, seed=0, cpu_threads=1)
        r = train(SPEC, cfg, store=store, progress=False, dataset=load_dataset("digits"))
        assert r["status"] == "completed", r
        shutil.copyfile(store.checkpoint_path(r["run_id"], "best"), OUT)
    print(f"{OUT.name}: test accuracy {r['test_acc']:.3f}, {OUT.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
