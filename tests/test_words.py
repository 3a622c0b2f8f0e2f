"""Words and pictures (issue 16 §12–17b): what the pages say, checked without a browser."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Characters that draw as an empty box on a Linux machine without an emoji font: the
# pictograph planes, Misc Symbols and Dingbats (⚠ ✅ ❌ ✖), the emoji of Misc Technical
# (⏹ ⏱ ⏳ ⌛, not the ⌊ ⌋ of the formula), arrows/stars of U+2B00 (⬇ ⭐), the emoji
# variation selector and full-width forms (＋).  Plain arrows (→ ↑ ↓ ↺) and the text check
# marks ✓ ✗ (not emoji in Unicode) are in every font.
EMOJI = re.compile("(?![\u2713\u2717])[\U0001F000-\U0001FAFF\u2600-\u27BF\u231A\u231B\u2328\u23CF"
                   "\u23E9-\u23FA\u2B00-\u2BFF\uFE0F\uFF01-\uFF5E\u2139\u24C2]")


def _ui_sources() -> list[Path]:
    return sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("explorer/*.py")])


def emoji_outside_comments(path: Path) -> list[str]:
    """Every emoji in the file's code and strings (comments are not shown to anyone)."""
    hits = []
    toks = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    for tok in toks:
        if tok.type == tokenize.COMMENT:
            continue
        for m in EMOJI.finditer(tok.string):
            hits.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {m.group()!r} (U+{ord(m.group()):04X})")
    return hits


def test_the_pattern_catches_the_reported_emoji_and_spares_the_formula():
    for ch in "🚀⏹️⏱🗑＋✅⏳🏃❌⚠✖ℹ⬇":
        assert EMOJI.search(ch), ch
    for ch in "→↑↓↺⌊⌋⌈⌉×−·≈…✓":
        assert not EMOJI.search(ch), ch


def test_no_emoji_in_the_ui_sources():
    hits = [h for p in _ui_sources() for h in emoji_outside_comments(p)]
    assert not hits, "use Material icons (':material/name:') instead:\n" + "\n".join(hits)


# ---- 15: one upload limit, said once ------------------------------------------------------
SIZE_WORDS = re.compile(r"\d\s*(KB|MB|GB|kB|KiB|MiB)\b")


def _uploaders(at) -> list:
    return [(u.proto.label, u.proto.max_upload_size_mb) for u in at.get("file_uploader")]


def test_the_network_upload_states_one_limit_the_one_the_code_enforces():
    from streamlit.testing.v1 import AppTest

    from explorer import editor

    at = AppTest.from_file(str(ROOT / "pages" / "architecture.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    [(label, mb)] = _uploaders(at)
    assert not SIZE_WORDS.search(label), f"the widget says 'Limit {mb}MB per file'; the label repeats one: {label}"
    assert mb * 2**20 == editor.MAX_UPLOAD_BYTES, "the limit the widget states is the one parse_network_json applies"


def test_the_activations_uploads_state_their_limit_once():
    import tomllib
    from streamlit.testing.v1 import AppTest

    from alexnet import activations as A

    server_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert server_mb * 2**20 == A.MAX_UPLOAD_BYTES
    at = AppTest.from_file(str(ROOT / "pages" / "activations.py"), default_timeout=120)
    at.session_state["act_src"] = "Upload"
    at.session_state["act_wsrc"] = "Local .pth file"
    at.run()
    assert not at.exception, at.exception
    found = _uploaders(at)
    assert len(found) == 2, found
    for label, _ in found:
        assert not SIZE_WORDS.search(label), f"the widget already says its limit; the label repeats one: {label}"


# ---- 16: a refusal appears next to the control that caused it ---------------------------
def _walk(node, path=()):
    yield path, node
    for i, child in getattr(node, "children", {}).items():
        yield from _walk(child, (*path, i))


def _path_of(at, pred) -> tuple:
    found = [p for p, n in _walk(at._tree) if pred(n)]
    assert found, "element not found"
    return found[0]


def next_to(err: tuple, ctrl: tuple) -> bool:
    """The message's container holds the control, and the message sits at most two places
    from the control's branch in it (under the row of widgets, not in another panel)."""
    parent = err[:-1]
    return ctrl[:len(parent)] == parent and abs(ctrl[len(parent)] - err[-1]) <= 2


def _arch_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "architecture.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def _refusal(at) -> tuple:
    errs = [e for e in at.error if e.value.startswith("Not applied")]
    assert len(errs) == 1, [e.value for e in at.error]
    return _path_of(at, lambda n: n is errs[0])


def test_a_refused_input_size_is_said_under_the_input_boxes():
    at = _arch_page()
    next(n for n in at.number_input if n.label == "input W").set_value(1024).run()  # fits: 730 MB
    next(n for n in at.number_input if n.label == "input H").set_value(1024).run()  # 3.60 GB: refused
    assert not at.exception, at.exception
    err = _refusal(at)
    assert "GB of weights" in at.error[0].value
    assert next(n for n in at.number_input if n.label == "input H").value == 227, "the box shows the real value"
    ctrl = _path_of(at, lambda n: getattr(n, "label", None) == "input H")
    assert next_to(err, ctrl), f"refusal at {err}, input H at {ctrl}"


def test_a_refused_layer_edit_is_said_in_the_layer_panel():
    at = _arch_page()
    for index in (17, 20):  # paper-2012's fc1 to the widest (904 MB in all: fits), then fc2 (1.76 GB: refused)
        next(s for s in at.selectbox if s.label == "Layer to edit").set_value(index).run()
        fc = next(n for n in [*at.slider, *at.number_input] if n.label.startswith("out features"))
        fc.set_value(fc.max).run()
    assert not at.exception, at.exception
    err = _refusal(at)
    ctrl = _path_of(at, lambda n: str(getattr(n, "label", "")).startswith("out features"))
    assert next_to(err, ctrl), f"refusal at {err}, the field at {ctrl}"


# ---- 14: Start here names the tutorials, and shows every row -----------------------------
def test_start_here_names_each_tutorial_and_shows_every_row():
    from streamlit.testing.v1 import AppTest

    from alexnet import list_presets

    at = AppTest.from_file(str(ROOT / "pages" / "home.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    tables = [*at.table, *at.dataframe]
    assert len(tables) == 1
    df = tables[0].value
    assert list(df["preset"]) == list_presets()
    sources = list(df.iloc[:, -1])
    for s in sources:  # "seed 001" means nothing to a newcomer: the tutorial's framework and data do
        assert not re.search(r"\bseeds? ?\d{3}", s), s
    by = dict(zip(df["preset"], sources))
    assert "Krizhevsky" in by["paper-2012"] and "2012" in by["paper-2012"]
    for preset, words in {"cifar10-227": ("PyTorch", "CIFAR-10"), "d2l-fashion-mnist-224": ("Dive into Deep Learning",),
                          "tf-benchmark-224": ("TensorFlow",), "paddle-cifar10-32": ("PaddlePaddle", "CIFAR-10"),
                          "keras-cifar10-32": ("Keras", "CIFAR-10"), "half-width-224": ("PyTorch",)}.items():
        assert all(w in by[preset] for w in words), (preset, by[preset])
    if at.dataframe:  # a data grid scrolls inside itself past ~10 rows unless it is given the height
        height = at.dataframe[0].proto.height
        assert height >= 35 * (len(df) + 1), f"rows hidden behind the table's scroll (height {height})"


# ---- 13: charts say what they show ---------------------------------------------------------
def _epochs(n: int, peak=None) -> list[dict]:
    return [{"epoch": e, "train_acc": 0.5, "test_acc": 0.6, "peak_mem_bytes": peak} for e in range(1, n + 1)]


def test_accuracy_per_epoch_has_whole_epoch_ticks():
    from explorer import run_figures as rf

    for n, fig in [(k, f) for k in (3, 40) for f in (rf.accuracy_figure(_epochs(k)), rf.overlay_figure(
            [{"label": "a", "epochs": _epochs(k)}], "test_acc", "epoch"))]:
        x = fig.layout.xaxis
        assert x.tickmode == "linear" and x.dtick >= 1 and float(x.dtick).is_integer(), (n, x)
        assert n / x.dtick <= 12, "at most a dozen ticks"


def test_throughput_axis_starts_at_zero():
    from explorer import run_figures as rf

    steps = [{"step": s, "images_per_sec": 900.0 + s} for s in range(1, 50)]
    assert rf.throughput_figure(steps).layout.yaxis.rangemode == "tozero"


def test_a_cpu_run_charts_process_memory_not_an_empty_gpu_chart():
    from explorer import run_figures as rf

    fig = rf.memory_figure(_epochs(2, peak=300 * 2**20), device="cpu (2 threads)")
    assert "GPU" not in fig.layout.title.text and "process" in fig.layout.title.text.lower()
    assert len(fig.data) == 1 and list(fig.data[0].y) == [300, 300]
    gpu = rf.memory_figure(_epochs(2, peak=2**30), device="cuda:0")
    assert "GPU" in gpu.layout.title.text
    empty = rf.memory_figure([], device="cpu")
    assert all("GPU" not in a.text for a in empty.layout.annotations)


def test_a_cpu_training_run_records_its_peak_process_memory(tmp_path):
    import resource

    from alexnet.data import load_dataset
    from alexnet.runs import RunStore
    from alexnet.train import make_config, train
    from tests.train_helpers import TINY

    store = RunStore(tmp_path)
    r = train(TINY, make_config("quick", epochs=1, batch_size=128, cpu_threads=1), store=store, progress=False,
              dataset=load_dataset("digits"))
    assert r["status"] == "completed", r
    peak = store.epoch_metrics(r["run_id"])[-1]["peak_mem_bytes"]
    here = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # this process trained it (Linux: KiB)
    assert peak and 50 * 2**20 < peak <= here, peak


def _title_lines(fig) -> list[str]:
    return [re.sub(r"<[^>]+>", "", s) for s in re.split(r"<br>", fig.layout.title.text)]


def test_the_weights_vs_compute_chart_keeps_its_title_and_legend_clear():
    from alexnet import get_spec, summarize
    from explorer import figures

    for preset in ("paper-2012", "paddle-cifar10-32"):  # the second collapses: partial totals
        fig = figures.params_macs_bars(summarize(get_spec(preset)))
        assert max(len(s) for s in _title_lines(fig)) <= 60, _title_lines(fig)  # fits a half-width chart
        leg = fig.layout.legend
        assert leg.yref == "container" and leg.yanchor == "bottom", "the legend has its own strip"
        assert fig.layout.margin.b >= 60, "room under the axis title for the legend"


# ---- 17b: words a student understands ------------------------------------------------------
def test_a_stopped_run_says_stopped_not_the_signal(runs_dir):
    from streamlit.testing.v1 import AppTest

    from alexnet.runs import RunStore
    from tests.test_runs_page import fake_run

    store = RunStore(runs_dir)
    rid = fake_run(store, "halted", epochs=1, status="running")
    store.set_status(rid, "stopped", error="stopped by SIGTERM")
    at = AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    said = [w.value for w in at.warning if w.value.startswith("Stopped")]
    assert said and all("SIGTERM" not in s and "stop requested" not in s for s in said), said
    assert said[0].startswith("Stopped.")


def test_a_text_file_given_as_pth_is_named_for_what_it_is(tmp_path):
    import pytest

    from alexnet import activations as A

    for data, words in [(b"hello, this is a text file\n", "text file"), (b'{"a": 1}', "text file"),
                        (b"\x00\x01\x02binary junk", "not a file that torch.save writes"),
                        (b"PK\x03\x04 a broken zip", "damaged")]:
        with pytest.raises(A.WeightsError) as e:
            A.read_weights_file(data)
        said = str(e.value)
        assert words in said and "said: 101" not in said and "weights_only" not in said, said
    p = tmp_path / "notes.pth"
    p.write_text("my notes\n")
    with pytest.raises(A.WeightsError, match="text file"):
        A.read_weights_file(str(p))


def test_no_stale_downloading_bar_after_the_offline_error(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from alexnet import activations as A

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached weights

    def offline(progress=None, **kw):  # urlopen fails before any byte arrives
        raise A.WeightsError("could not download the weights: this machine is offline")

    monkeypatch.setattr(A, "download_torchvision_weights", offline)
    at = AppTest.from_file(str(ROOT / "pages" / "activations.py"), default_timeout=120)
    at.session_state["act_wsrc"] = "torchvision ImageNet"
    at.run()
    assert not at.exception, at.exception
    at.button(key="act_tv_dl").click().run()
    assert any("offline" in e.value for e in at.error), [e.value for e in at.error]
    bars = [p.proto.text for p in at.get("progress")]
    assert not bars, f"a progress bar stays next to the error: {bars}"


def test_map_tiles_leave_room_for_their_numbers_and_layer_names_fit():
    import numpy as np

    from explorer import act_figures as af

    for n, side in ((48, 55), (96, 13), (24, 6)):
        fig = af.feature_grid_figure(np.random.rand(n, side, side), list(range(n)), zmin=0, zmax=1, title="maps")
        tops = sorted({y + 0.5 for y in fig.data[1].y})
        gap = tops[1] - tops[0] - side  # data pixels between one row of tiles and the next
        rows = len(tops) * (side + gap) - gap
        px = (fig.layout.height - fig.layout.margin.t - fig.layout.margin.b) / rows  # screen px per data px
        assert gap * px >= 12, f"{n} maps of {side}²: {gap * px:.1f} px between rows for 9-px numbers"
    rows = [{"layer": f"{k}{i}", "mean": 0.1, "max": 1.0, "zeros": 50.0} for i in range(1, 6)
            for k in ("conv", "relu", "pool")]
    fig = af.layer_stats_figure(rows, title="layers")
    assert fig.layout.xaxis.automargin is True and fig.layout.xaxis.tickangle is not None, "names never clipped"


def test_the_experiment_preview_shows_changes_vs_base_whole():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "experiments.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    grids = [d for d in at.dataframe if "changes vs base" in d.value.columns]
    assert not grids, "a data grid cuts long cells to its column width"
    [preview] = [t for t in at.table if "changes vs base" in t.value.columns]
    assert all("None" not in str(v) for v in preview.value.to_numpy().ravel())


# ---- 17: Activations -----------------------------------------------------------------------
def test_class_labels_do_not_repeat_their_number():
    from explorer import act_figures as af

    fig = af.topk_figure([{"index": 0, "label": "0", "prob": 0.9}, {"index": 3, "label": "cat", "prob": 0.1}],
                         title="top")
    assert sorted(fig.data[0].y) == ["0", "cat (3)"]  # not "0 (0)"


def test_a_tiny_image_enlarged_gets_a_note():
    from PIL import Image
    from streamlit.testing.v1 import AppTest

    img = Image.new("RGB", (2, 2), (200, 10, 10))
    at = AppTest.from_file(str(ROOT / "pages" / "activations.py"), default_timeout=120)
    at.session_state["act_src"] = "Upload"
    at.run()
    import unittest.mock as mock

    from explorer import act_views

    with mock.patch.object(act_views, "_upload", return_value=act_views.Picked(img, "upload:x")):  # as uploaded
        at.run()
    assert not at.exception, at.exception
    notes = [c.value for c in at.caption] + [i.value for i in at.info] + [w.value for w in at.warning]
    assert any("2×2" in n and "enlarged" in n for n in notes), notes


def test_run_checkpoint_offers_only_runs_of_this_network(runs_dir):
    from streamlit.testing.v1 import AppTest

    from alexnet.runs import RunStore
    from tests.test_runs_page import fake_run
    from tests.train_helpers import TINY, use_tiny

    store = RunStore(runs_dir)
    mine = fake_run(store, "tiny run")
    other = fake_run(store, "other net", spec=TINY.with_layer(0, TINY.layers[0].replace(out_channels=16)))
    for rid in (mine, other):
        store.save_checkpoint(rid, "last", {"model": {}, "epoch": 3})
    at = AppTest.from_file(str(ROOT / "pages" / "activations.py"), default_timeout=120)
    use_tiny(at)
    at.session_state["act_wsrc"] = "Run checkpoint"
    at.run()
    assert not at.exception, at.exception
    run_box = at.selectbox(key=at.session_state["act_run__widget"])
    assert len(run_box.options) == 1 and "tiny run" in run_box.options[0], run_box.options
    said = " ".join(c.value for c in at.caption)
    assert "1 run with a checkpoint trained other networks" in said, said


def test_the_bundled_checkpoint_loads_and_beats_chance_on_its_data():
    from alexnet import activations as A
    from alexnet.data import load_dataset
    from alexnet.spec import as_spec
    from alexnet.train import evaluate

    path = ROOT / "assets" / "digits-cnn.pt"
    assert path.stat().st_size < 300 * 1024
    w = A.read_weights_file(str(path))
    spec = as_spec(w.spec)
    model = A.load_weights(A.random_model(spec), w)
    ds = load_dataset("digits")
    import torch

    _, acc = evaluate(model, ds.x_test, ds.y_test, spec, w.mean, w.std, torch.device("cpu"))
    assert acc > 0.5, acc  # chance is 0.1 on ten classes


def test_the_activations_page_shows_the_bundled_trained_filters_offline():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "activations.py"), default_timeout=180)
    at.session_state["act_wsrc"] = "Bundled example (digits)"
    at.session_state["act_src"] = "Handwritten digit"
    at.run()
    assert not at.exception, at.exception
    at.button(key="act_use_bundled").click().run()  # paper-2012 is current: take the example's network
    assert not at.exception, at.exception
    assert at.session_state["net_spec"].name == "digits-cnn"
    assert not at.error, [e.value for e in at.error]
    assert not any("Random weights" in c.value for c in at.caption)  # trained weights, with class names
