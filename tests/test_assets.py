"""assets/: the app's own sample pictures are what assets/make_images.py draws (their
stated source), each is documented in assets/README.md, and the Activations code offers
and loads every one of them as an RGB picture."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from alexnet import activations as A

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _maker():
    spec = importlib.util.spec_from_file_location("make_images", ASSETS / "make_images.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_shipped_pictures_are_what_the_script_draws():
    mod = _maker()
    shipped = sorted(p.name for p in (ASSETS / "photos").iterdir())
    assert shipped == sorted(mod.IMAGES)
    for name, make in mod.IMAGES.items():
        want = np.asarray(make())
        got = np.asarray(A.sample_photo(name))
        assert got.shape == want.shape == (256, 256, 3) and np.array_equal(got, want), name


def test_every_picture_is_offered_documented_and_seen_by_a_network():
    readme = (ASSETS / "README.md").read_text()
    own = [n for n in A.SAMPLE_PHOTOS if n not in A.SKLEARN_PHOTOS]
    assert len(own) >= 3 and A.SAMPLE_PHOTOS[:2] == ("china.jpg", "flower.jpg")
    for name in own:
        assert f"`{name}`" in readme, f"{name} is not described in assets/README.md"
        img = A.sample_photo(name)
        assert img.mode == "RGB" and np.asarray(img).std() > 10  # a picture, not a flat fill
        x = A.normalise(A.to_network_input(img, 3, 32, 32))
        assert x.shape == (1, 3, 32, 32)
    assert "Licence" in readme and "Source" in readme
