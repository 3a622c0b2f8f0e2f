"""Issue 16 §10: without past runs of a network, the estimate times a few real training steps
of it in the background (the page does not wait), keeps the timing on disk for this machine,
and every later page load shows the same estimate.  On a busy 2-core machine the per-layer
cost of starting work on the CPU threads dominates small networks (tens of ms a layer), which
multiply-adds cannot see: lenet-5 was estimated 15× too fast."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alexnet import estimate as E
from alexnet import get_spec
from tests.train_helpers import TINY, use_tiny

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")


# ---- the timing itself -----------------------------------------------------------------------
def _fake_timer(fixed: float, per_image: float, seen: list):
    def make(spec_json, image_shape=None):
        def run(b, repeats):
            seen.append(b)
            return fixed + per_image * b
        return run
    return make


def test_a_quick_network_is_timed_at_its_own_batch(monkeypatch):
    seen = []
    monkeypatch.setattr(E, "_step_timer", _fake_timer(0.3, 0.001, seen))
    monkeypatch.setattr(E, "cpu_flops_per_second", lambda: 1e11)
    assert E.measure_step_seconds(TINY.to_json(indent=None), 64) == pytest.approx(0.3 + 0.064)
    assert seen == [64]


def test_a_slow_network_is_timed_at_two_smaller_batches_and_extrapolated(monkeypatch):
    """A fixed part per step (starting the layers' work) and a part per image, so the whole
    batch is neither under- nor over-estimated by plain proportion."""
    seen = []
    monkeypatch.setattr(E, "_step_timer", _fake_timer(0.5, 0.15, seen))
    monkeypatch.setattr(E, "cpu_flops_per_second", lambda: 1e10)  # paper-2012: ~0.4 s an image by the model
    got = E.measure_step_seconds(get_spec("paper-2012").to_json(indent=None), 64)
    big, small = seen
    assert big == E.TIMED_MIN_BATCH and small == big // 4
    assert got == pytest.approx(0.5 + 0.15 * 64)
    assert got < (0.5 + 0.15 * big) * 64 / big  # plain proportion would count the fixed part 4 times


def test_noise_that_makes_the_smaller_batch_slower_falls_back_to_proportion(monkeypatch):
    times = iter([2.0, 3.0])  # the big batch, then the small one: slower (a busy moment)
    monkeypatch.setattr(E, "_step_timer", lambda spec_json, image_shape=None: lambda b, r: next(times))
    monkeypatch.setattr(E, "cpu_flops_per_second", lambda: 1e10)
    got = E.measure_step_seconds(get_spec("paper-2012").to_json(indent=None), 64)
    assert got == pytest.approx(2.0 * 64 / E.TIMED_MIN_BATCH)


def test_a_real_timing_runs_the_network_and_gives_a_positive_time():
    assert 0 < E.measure_step_seconds(TINY.to_json(indent=None), 8, (1, 8, 8), repeats=1) < 60


# ---- kept on disk --------------------------------------------------------------------------------
def test_timings_are_kept_per_network_batch_and_data(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "measure_step_seconds", lambda spec_json, b, shape=None: 0.01 * b)
    key = E.timing_key(TINY, "digits", 64, "cpu")
    assert E.saved_timing(tmp_path, key) is None
    assert E.time_and_save(tmp_path, key, TINY.to_json(indent=None), 64, (1, 8, 8)) == pytest.approx(0.64)
    assert E.saved_timing(tmp_path, key)["step_seconds"] == pytest.approx(0.64)
    assert key == E.timing_key(TINY.replace(name="renamed"), "digits", 64, "cpu")  # the name does not matter
    for other in (E.timing_key(TINY, "digits", 32, "cpu"), E.timing_key(TINY, "mnist", 64, "cpu"),
                  E.timing_key(get_spec("lenet-5"), "digits", 64, "cpu")):
        assert other != key and E.saved_timing(tmp_path, other) is None


def test_a_damaged_timings_file_is_ignored_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "measure_step_seconds", lambda spec_json, b, shape=None: 0.5)
    (tmp_path / E.TIMINGS_FILE).write_text("{not json")
    assert E.saved_timing(tmp_path, "k") is None
    E.time_and_save(tmp_path, "k", TINY.to_json(indent=None), 64)
    assert json.loads((tmp_path / E.TIMINGS_FILE).read_text())["k"]["step_seconds"] == 0.5


def test_only_the_newest_timings_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "measure_step_seconds", lambda spec_json, b, shape=None: 0.5)
    monkeypatch.setattr(E, "TIMINGS_KEPT", 3)
    for k in "abcde":
        E.time_and_save(tmp_path, k, TINY.to_json(indent=None), 64)
    assert sorted(json.loads((tmp_path / E.TIMINGS_FILE).read_text())) == ["c", "d", "e"]


def test_a_timed_step_is_the_estimate_unless_past_runs_of_the_network_say_otherwise():
    timed = E.estimate(TINY, dataset="digits", batch_size=64, epochs=2, device="cpu", measured_step_s=0.4)
    assert timed["step_seconds"] == 0.4 and timed["basis"].startswith("timed training steps")
    assert timed["train_seconds_per_epoch"] == pytest.approx(22 * 0.4)  # what a run records as its epoch time
    assert timed["seconds_per_epoch"] > timed["train_seconds_per_epoch"]  # + the test pass
    past = [E.Past(E.spec_key(TINY), "cpu", 1, 640.0)]  # real runs of this network: 0.1 s a step
    learned = E.estimate(TINY, dataset="digits", batch_size=64, epochs=2, device="cpu", measured_step_s=0.4,
                         past=past)
    assert learned["step_seconds"] == pytest.approx(0.1) and "past run" in learned["basis"]


# ---- on the Train page -----------------------------------------------------------------------------
def _page(runs_dir) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    use_tiny(at)
    at.run()
    assert not at.exception, at.exception
    return at


def _per_epoch(at) -> tuple[str, str]:
    m = next(m for m in at.metric if m.label == "Time per epoch (est.)")
    return m.value, m.proto.help


def _captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_the_page_times_the_network_by_itself_and_the_next_page_load_shows_the_same(runs_dir, monkeypatch):
    real = E.measure_step_seconds
    # the real timing, made to take a while: however fast this machine, the page must not wait for it
    monkeypatch.setattr(E, "measure_step_seconds", lambda *a, **k: (time.sleep(1.5), real(*a, **k))[1])
    at = _page(runs_dir)
    assert "in the background" in _captions(at)  # the page did not wait for the timing
    first_value, first_help = _per_epoch(at)
    assert "multiply-adds" in first_help
    _wait_timed(at)  # the page's poll reruns it every second
    value, helptext = _per_epoch(at)
    assert "timed training steps" in helptext
    assert "in the background" not in _captions(at)
    assert (runs_dir / E.TIMINGS_FILE).exists()

    again = _page(runs_dir)  # a new page load (a new session): the same estimate at once, no timing
    assert _per_epoch(again) == (value, helptext)
    assert "in the background" not in _captions(again)


def _wait_timed(at) -> None:
    for _ in range(240):
        if "timed training steps" in _per_epoch(at)[1]:
            return
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    raise AssertionError("the timing did not end")


def test_a_long_timing_is_offered_as_a_button_instead(runs_dir, monkeypatch):
    """When the model says timing would take long (or ALEXNET_AUTO_TIMING=0), nothing runs by
    itself: a button offers it, and its click starts it in the background."""
    monkeypatch.setattr(E, "timing_cost_guess", lambda spec_json, b: 600.0)
    at = _page(runs_dir)
    assert "in the background" not in _captions(at) and "multiply-adds" in _per_epoch(at)[1]
    button = at.button(key="tr_measure")
    assert "10 min" in button.proto.help  # the model's guess of what the timing costs
    button.click()
    at.run()
    assert not at.exception, at.exception
    _wait_timed(at)
    assert not [b for b in at.button if b.key == "tr_measure"]


def test_timing_steps_leaves_torchs_global_random_numbers_alone():
    """The Train page times steps in a background thread of the server (or of a test process):
    drawing from torch's global generator there changed a seeded run beside it (a CI run saw
    two identical seeded runs end 2.8 points apart).  Dropout included."""
    import torch

    from alexnet import get_spec

    before = torch.get_rng_state().clone()
    run = E._step_timer(get_spec("alexnet-cifar-32").to_json(indent=None))  # has dropout
    assert run(4, 1) > 0
    assert torch.equal(before, torch.get_rng_state())
