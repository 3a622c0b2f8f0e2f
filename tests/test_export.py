"""ONNX / TorchScript export (issue 12 §4): every non-collapsing preset's ONNX file passes
onnx's checker and gives torch's output in onnxruntime; layer names survive; a run's
trained weights are the ones exported; the CLI refuses what cannot be exported."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alexnet import analyze, get_preset, list_presets
from alexnet.export import export_bytes, export_model
from alexnet.runs import RunStore

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
ROOT = Path(__file__).resolve().parent.parent

NON_COLLAPSING = [n for n in list_presets() if not analyze(get_preset(n).spec).errors]


def small_spec(name: str):
    """The preset at the smallest square input (at most its own) that does not collapse:
    same layers, smaller tensors, a fast test."""
    spec = get_preset(name).spec
    c, h, w = spec.input.shape
    for side in range(min(h, w) // 4, min(h, w) + 1):
        if side > 0 and not analyze(spec.with_input(c, side, side)).errors:
            return spec.with_input(c, side, side)
    return spec


def ort_run(data: bytes, x: torch.Tensor) -> np.ndarray:
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def test_presets_exist_on_both_sides():
    assert len(NON_COLLAPSING) >= 8 and len(NON_COLLAPSING) < len(list_presets())  # one preset collapses


@pytest.mark.parametrize("name", NON_COLLAPSING)
def test_onnx_of_every_preset_checks_and_matches_torch(name):
    spec = small_spec(name)
    data = export_bytes(spec, "onnx")
    model_proto = onnx.load_from_string(data)
    onnx.checker.check_model(model_proto, full_check=True)
    _, model = export_model(spec)  # the same seeded weights the file holds
    for seed in (1, 2):
        x = torch.randn(1, *spec.input.shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            want = model(x).numpy()
        got = ort_run(data, x)
        assert got.shape == want.shape == (1, *analyze(spec).layers[-1].out_shape)
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)
    # the layer names of the table survive: node names and the state-dict keys as initializers
    nodes = {n.name.split("/")[0] for n in model_proto.graph.node}
    table = {x.name for x in analyze(spec).layers if x.type != "dropout"}
    assert table <= nodes, f"layers missing from the ONNX graph: {sorted(table - nodes)}"
    inits = {i.name for i in model_proto.graph.initializer}
    params = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert params <= inits
    shape = [d.dim_value for d in model_proto.graph.input[0].type.tensor_type.shape.dim]
    assert shape == [1, *spec.input.shape]  # fixed input size
    meta = {p.key: p.value for p in model_proto.metadata_props}
    assert json.loads(meta["alexnet.spec"])["layers"] == spec.to_dict()["layers"]


def test_torchscript_matches_torch():
    spec = small_spec("tf-benchmark-224")  # 'same' padding, LRN
    data = export_bytes(spec, "torchscript")
    extra = {"spec.json": ""}
    loaded = torch.jit.load(io.BytesIO(data), _extra_files=extra)
    assert json.loads(extra["spec.json"])["name"] == spec.name
    _, model = export_model(spec)
    x = torch.randn(1, *spec.input.shape)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-5)


def cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alexnet", "export", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)


def test_cli_exports_a_runs_trained_weights(runs_dir, tmp_path):
    """A run's checkpoint (weights unlike the default initialisation) is what the file computes."""
    spec = get_preset("alexnet-mini-15").spec
    _, model = export_model(spec, seed=7)
    trained = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    store = RunStore()
    run_id = store.create_run("trained", spec.to_dict(), {"epochs": 1})
    store.save_checkpoint(run_id, "best", {"model": trained, "spec": spec.to_dict(), "classes": list("0123456789")})
    out = tmp_path / "net.onnx"
    r = cli("--run", run_id, "--format", "onnx", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["weights"] == f"run {run_id}'s best weights"
    model.load_state_dict(trained)
    x = torch.randn(1, *spec.input.shape)
    with torch.no_grad():
        want = model.eval()(x).numpy()
    np.testing.assert_allclose(ort_run(out.read_bytes(), x), want, rtol=1e-4, atol=1e-4)
    _, fresh = export_model(spec)
    with torch.no_grad():
        assert not np.allclose(fresh(x).numpy(), want, atol=1e-3)  # not the random weights


def test_cli_refuses_what_cannot_be_exported(runs_dir, tmp_path):
    collapsing = [n for n in list_presets() if n not in NON_COLLAPSING][0]
    r = cli("--preset", collapsing, "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "collapses" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x.onnx").exists()
    r = cli("--run", "no-such-run", "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and "no run 'no-such-run'" in r.stderr
    run_id = RunStore().create_run("queued", get_preset("lenet-5").spec.to_dict(), {})
    r = cli("--run", run_id, "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and "no checkpoint yet" in r.stderr
    r = cli("--run", run_id, "--input", "1x32x32", "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and "--input" in r.stderr
