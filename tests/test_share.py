"""Share by link (issue 12 §3): the network (and the Train page's settings) in the address.
A link is untrusted input: damaged, oversized, bomb-like or invalid links are refused with a
message naming the problem, and the page keeps its network and keeps working."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alexnet import get_spec, list_presets
from alexnet.spec import SpecError
from explorer import share

ROOT = Path(__file__).resolve().parent.parent
ARCH = str(ROOT / "pages" / "architecture.py")
TRAIN = str(ROOT / "pages" / "train.py")


def edited():
    """paper-2012 with conv1's stride 2 → 3 kernel … an edit a teacher makes."""
    spec = get_spec("paper-2012")
    return spec.with_layer(0, spec.layers[0].replace(out_channels=64, kernel=7, stride=2, padding=2))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# ---- pure -----------------------------------------------------------------------------------
def test_network_round_trips_compactly():
    for name in list_presets():
        assert share.network_params(get_spec(name)) == {"preset": name}
        assert share.network_from_params({"preset": name}) == (get_spec(name), name)
    spec = edited()
    params = share.network_params(spec)
    assert set(params) == {"net"} and len(params["net"]) < 1200  # fits any address bar
    got, base = share.network_from_params(params)
    assert got == spec and base is None


BAD = {
    "damaged base64": ("net", "@@not*base64@@", "not base64url"),
    "not compressed": ("net", b64(b"hello, this is not zlib"), "not compressed data"),
    "cut short": ("net", share.pack(edited().to_dict())[:-40], "cut short"),
    "too long": ("net", "A" * (share.MAX_LINK_CHARS + 1), "over the 16,000"),
    "bomb": ("net", b64(zlib.compress(b" " * (3 << 20), 9)), "unpacks to more than 1 MB"),
    "not json": ("net", b64(zlib.compress(b"{nope")), "not valid JSON"),
    "bad field": ("net", share.pack({"input": {"channels": 3, "height": 32, "width": 32},
                                     "layers": [{"type": "conv", "out_channels": 8, "kernel": 0}]}), "kernel"),
    "too big": ("net", share.pack({"input": {"channels": 3, "height": 32, "width": 32},
                                   "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 10**6},
                                              {"type": "linear", "out_features": 10**6}]}), "too big"),
    "unknown preset": ("preset", "paper-2099", "does not exist"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_links_are_refused_with_the_reason(case):
    key, value, words = BAD[case]
    with pytest.raises(SpecError) as e:
        share.network_from_params({key: value})
    assert words in str(e.value)


def test_training_settings_round_trip_and_refusals():
    from alexnet.config import make_config

    flip = not make_config("quick").flip
    cfg = make_config("quick", lr=0.02, epochs=7, flip=flip, device="cpu").to_dict()
    params = share.train_params("quick", cfg, "digits")
    recipe, dataset, settings = share.train_from_params(params["train"])
    assert (recipe, dataset) == ("quick", "digits")
    assert settings == {"lr": 0.02, "epochs": 7, "flip": flip}  # only what differs; never the device
    for payload, words in (({"recipe": "nope"}, "recipe 'nope' is unknown"),
                           ({"recipe": "quick", "settings": {"lr": 99.0}}, "Learning rate is 99.0"),
                           ({"recipe": "quick", "settings": {"device": "cuda:7"}}, "does not set"),
                           ({"recipe": "quick", "settings": {"optimizer": "rmsprop"}}, "not one of"),
                           ({"recipe": "quick", "dataset": "/etc/passwd"}, "not a built-in one")):
        with pytest.raises(SpecError, match=words):
            share.train_from_params(share.pack(payload))


# ---- the pages ------------------------------------------------------------------------------
def height_box(at):
    return next(w for w in at.number_input if w.key.endswith("_in_height"))


def open_with(page: str, **params) -> AppTest:
    at = AppTest.from_file(page, default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def test_architecture_page_opens_a_link_and_writes_the_address():
    spec = edited()
    at = open_with(ARCH, **share.network_params(spec))
    assert at.session_state["net_spec"] == spec
    assert not at.error
    link = [c.value for c in at.code if "net=" in c.value]
    assert link and share.network_params(spec)["net"] in link[0]
    # the network then changes on the page: the address follows, and the link is not re-applied
    height_box(at).set_value(235).run()
    assert not at.exception
    assert at.session_state["net_spec"].input.height == 235
    assert at.query_params["net"] == share.network_params(at.session_state["net_spec"])["net"]


@pytest.mark.parametrize("case", ["damaged base64", "bomb", "bad field", "unknown preset"])
def test_architecture_page_refuses_a_bad_link_and_keeps_working(case):
    key, value, words = BAD[case]
    at = open_with(ARCH, **{key: value})
    assert at.session_state["net_spec"] == get_spec("paper-2012")  # the default network, unchanged
    errors = [e.value for e in at.error]
    assert any("link's network was refused" in e and words in e for e in errors), errors
    height_box(at).set_value(235).run()
    assert not at.exception and at.session_state["net_spec"].input.height == 235  # still usable
    assert not any("refused" in e.value for e in at.error)  # the message goes once the network changes


def test_train_page_link_sets_network_and_settings(runs_dir):
    from alexnet.config import make_config

    spec = edited().with_input(3, 64, 64)
    cfg = make_config("quick", lr=0.02, epochs=7).to_dict()
    at = open_with(TRAIN, **share.network_params(spec), **share.train_params("quick", cfg, "digits"))
    assert at.session_state["net_spec"] == spec
    assert at.session_state["tr_quick_lr"] == pytest.approx(0.02) and at.session_state["tr_quick_epochs"] == 7
    link = [c.value for c in at.code if "train=" in c.value]
    assert link, "the Train page shows its link"
    bad = share.pack({"recipe": "quick", "settings": {"lr": -1}})
    at = open_with(TRAIN, train=bad)
    assert any("training settings were refused" in e.value for e in at.error)
    assert at.session_state["tr_quick_lr"] == pytest.approx(make_config("quick").lr)
    assert json.loads(json.dumps(at.session_state["net_spec"].to_dict()))["name"] == "paper-2012"
