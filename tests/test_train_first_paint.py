"""Issue 16 §9: the Train page's form draws before the training engine (PyTorch) is loaded.

On a fresh server whose first page is Train, sections "1 · Network and data" and
"2 · Recipe and settings" must not wait for ``import torch`` (seconds on a busy machine);
only the estimate in "3 · Launch" and the live panel need it.  Checked in a fresh Python
where importing torch fails: the form must still draw in full, and the page must say that
the engine could not be loaded instead of raising.  bench/ui_latency.py times the paint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A fresh interpreter in which any import of torch (or a torch.* module) raises.
BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked by the test")
        return None
sys.meta_path.insert(0, _NoTorch())
"""

FORM_MODULES = ("explorer.train_form", "explorer.share", "explorer.state", "explorer.run_views",
                "alexnet.estimate", "alexnet.devices", "alexnet.data", "alexnet.runs", "alexnet.jobs")


def _python(code: str, runs_dir: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "ALEXNET_RUNS_DIR": str(runs_dir), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_importing_the_train_forms_modules_does_not_load_torch(runs_dir):
    code = ("import sys\n" + "".join(f"import {m}\n" for m in FORM_MODULES)
            + "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:5])")
    out = _python(code, runs_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", "importing the form's modules loaded " + out.stdout


def test_the_device_list_needs_no_torch_on_a_machine_without_gpu_devices(runs_dir):
    """The Device box is part of the form: on a machine with no GPU device files it is
    known without PyTorch, and it is the list PyTorch itself gives."""
    from alexnet import devices

    if not devices.surely_cpu_only():
        pytest.skip("this machine has GPU device files: the list needs PyTorch here")
    code = BLOCK_TORCH + ("from alexnet import devices\n"
                          "print(devices.available_devices(), devices.gpu_count(), devices.device_key('auto'))")
    out = _python(code, runs_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["['auto',", "'cpu']", "0", "cpu"]
    import torch  # the same answer from PyTorch (what the app shows once it is loaded)

    assert torch.cuda.device_count() == 0 and not torch.backends.mps.is_available()


PAGE_WITHOUT_TORCH = BLOCK_TORCH + """
import json
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("pages/train.py", default_timeout=180)
at.run()
print(json.dumps({
    "exception": [str(e.value) for e in at.exception],
    "subheaders": [s.value for s in at.subheader],
    "radios": [r.label for r in at.radio],
    "selectboxes": [s.label for s in at.selectbox],
    "numbers": [n.label for n in at.number_input],
    "errors": [str(e.value) for e in at.error],
    "metrics": [m.label for m in at.metric],
}))
"""


def test_the_form_draws_in_full_without_torch_and_the_page_says_the_engine_is_missing(runs_dir):
    out = _python(PAGE_WITHOUT_TORCH, runs_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    page = json.loads(out.stdout.strip().splitlines()[-1])
    assert page["exception"] == []
    assert {"1 · Network and data", "2 · Recipe and settings"} <= set(page["subheaders"])
    assert "Network" in page["radios"]
    assert {"Dataset", "Recipe", "Device"} <= set(page["selectboxes"])
    assert {"Epochs", "Batch size"} <= set(page["numbers"])
    assert any("engine" in e and "PyTorch" in e for e in page["errors"]), page["errors"]
    assert "Time per epoch (est.)" not in page["metrics"]  # no estimate without the engine


def test_with_the_engine_the_page_shows_the_launch_section_and_the_estimate(train_page):
    at = train_page
    assert not at.exception
    assert {"1 · Network and data", "2 · Recipe and settings", "3 · Launch"} <= {s.value for s in at.subheader}
    labels = [m.label for m in at.metric]
    assert "Time per epoch (est.)" in labels and "Training memory (est.)" in labels
    assert at.button(key="tr_launch").label == "Train"
    assert not [e for e in at.error if "engine" in str(e.value)]
