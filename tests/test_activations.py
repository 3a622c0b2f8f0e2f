"""alexnet.activations: hooks, shapes, filters, receptive fields against gradients, weights
loading (checkpoints, torchvision files, mismatches, offline), image validation."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import struct
import threading
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from alexnet import NetSpec, analyze, get_spec, list_presets, summarize
from alexnet import activations as A
from alexnet.arithmetic import receptive_box
from explorer import act_figures as F

# ---------------------------------------------------------------------------------------
# capture: shapes equal the arithmetic, hooks removed
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", list_presets())
def test_captured_shapes_equal_summarize(preset):
    spec = get_spec(preset)
    s = summarize(spec)
    if s["errors"]:
        assert "collapses" in s["errors"][0]  # paddle-cifar10-32: the page shows this message instead
        pytest.skip(f"{preset} collapses: {s['errors'][0][:60]}")
    model = A.random_model(spec, seed=0)
    acts = A.capture(model, torch.rand(1, *spec.input.shape))
    assert list(acts.outputs) == [row["name"] for row in s["layers"]]
    for row in s["layers"]:
        assert list(acts.outputs[row["name"]].shape) == row["out_shape"], row["name"]
    assert list(acts.logits.shape) == s["output_shape"]
    assert all(not m._forward_hooks for m in model.modules())


def test_capture_clones_outputs_before_inplace_relu_and_removes_hooks_on_error():
    spec = NetSpec.from_dict({"input": [1, 8, 8], "layers": [
        {"type": "conv", "out_channels": 4, "kernel": 3}, {"type": "relu"}]})
    model = A.random_model(spec, seed=1)
    acts = A.capture(model, torch.randn(1, 1, 8, 8))
    assert (acts.outputs["conv1"] < 0).any()  # the conv output, not overwritten by the in-place ReLU
    assert torch.equal(acts.outputs["relu1"], acts.outputs["conv1"].clamp(min=0))

    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model.add_module("boom", Boom())
    with pytest.raises(RuntimeError, match="boom"):
        A.capture(model, torch.randn(1, 1, 8, 8))
    assert all(not m._forward_hooks for m in model.modules())


def test_random_weights_are_seeded_and_leave_global_rng_alone():
    spec = get_spec("lenet-5")
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = A.random_model(spec, seed=7)
    after = torch.rand(3)
    b = A.random_model(spec, seed=7)
    c = A.random_model(spec, seed=8)
    assert torch.equal(before, after)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_stats_topk_and_channel_order():
    t = torch.tensor([[[0.0, 2.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 5.0]], [[-1.0, 0.0], [0.0, 0.0]]])
    s = A.map_stats(t)
    np.testing.assert_allclose(s["mean"], [0.5, 2.0, -0.25])
    np.testing.assert_allclose(s["max"], [2.0, 5.0, 0.0])
    np.testing.assert_allclose(s["zeros"], [0.75, 0.0, 0.75])
    assert (s["argmax_row"][1], s["argmax_col"][1]) == (1, 1)
    assert list(A.channel_order(t, "mean")) == [1, 0, 2]
    assert list(A.channel_order(t, "index")) == [0, 1, 2]
    preds = A.top_k(torch.tensor([0.0, 3.0, 1.0]), 2, ["cat", "dog", "owl"])
    assert [p["label"] for p in preds] == ["dog", "owl"]
    assert preds[0]["prob"] == pytest.approx(np.exp(3) / (1 + np.exp(3) + np.exp(1)))
    assert A.top_k(torch.tensor([0.0, 3.0]), 5)[0]["label"] == "class 1"
    assert A.top_k(torch.zeros(4, 2, 2)) is None


def test_layer_stats_after_relu_has_zeros():
    spec = get_spec("alexnet-cifar-32")
    acts = A.capture(A.random_model(spec), A.normalise(A.to_network_input(A.sample_photo(), 3, 32, 32)))
    rows = {r["layer"]: r for r in A.layer_stats(acts, spec)}
    assert len(rows) == len(spec.layers)
    assert rows["relu1"]["zeros"] > 0.05 and rows["relu1"]["min"] == 0.0
    assert rows["conv1"]["min"] < 0 and rows["conv1"]["type"] == "conv"
    assert rows["relu1"]["mean"] == pytest.approx(float(acts.outputs["relu1"].mean()))


# ---------------------------------------------------------------------------------------
# filters
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset,channels,colour", [("paper-2012", 96, 3), ("d2l-fashion-mnist-224", 96, 1),
                                                    ("lenet-5", 6, 1), ("tf-benchmark-224", 64, 3)])
def test_conv1_filter_grid_has_one_tile_per_output_channel(preset, channels, colour):
    model = A.random_model(get_spec(preset))
    f = A.conv1_filters(model)
    assert f.shape[0] == channels and f.shape[-1] == colour
    tiles = F.filter_tiles(f)
    assert tiles.shape[0] == channels and tiles.shape[-1] == 3 and tiles.dtype == np.uint8
    grid, corners = F.montage(tiles, F.grid_columns(channels, 16), fill=255)
    assert len(corners) == channels == len(set(corners))
    kh, kw = f.shape[1:3]
    for i, (t, left) in enumerate(corners):  # every tile is its own filter
        assert np.array_equal(grid[t:t + kh, left:left + kw], tiles[i])
    fig = F.filter_grid_figure(f, title="x")
    assert fig.layout.meta["tiles"] == channels
    # shared scale: weight 0 is mid grey; a filter's sign shows as brighter/darker
    w0 = model.conv1.weight.detach()[0, 0, 0, 0].item() if colour == 1 else None
    if w0 is not None and abs(w0) > 1e-3:
        assert (tiles[0, 0, 0, 0] > 128) == (f[0, 0, 0, 0] > 0)


def test_feature_grid_figure_shares_one_colour_scale():
    maps = np.random.default_rng(0).random((10, 5, 7)).astype(np.float32)
    fig = F.feature_grid_figure(maps, list(range(10)), zmin=0.0, zmax=1.0, title="t")
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 1 and heat[0].zmin == 0 and heat[0].zmax == 1 and heat[0].colorbar.title.text
    z = np.asarray(heat[0].z)
    assert np.isfinite(z).sum() == maps.size  # every map value is shown once, gaps are NaN
    cd = np.asarray(heat[0].customdata)
    assert set(np.unique(cd)) == set(range(10)) | {-1}


# ---------------------------------------------------------------------------------------
# receptive field: the arithmetic's box equals the pixels with a non-zero gradient
# ---------------------------------------------------------------------------------------


def _rect(shape, box):
    m = np.zeros(shape, dtype=bool)
    m[box[0]:box[2] + 1, box[1]:box[3] + 1] = True
    return m


def _check_units(spec, units_per_layer=None):
    """Every unit (or a few per layer: corners, edges, middle) of every spatial layer:
    the pixels with a non-zero gradient form exactly the arithmetic's box."""
    s = analyze(spec)
    checked = 0
    for info in s.layers:
        if info.out_shape is None or len(info.out_shape) != 3:
            continue
        if units_per_layer is not None and info.type not in ("conv", "maxpool", "avgpool", "adaptive_avgpool"):
            continue  # activations and LRN keep their input's field; sampled runs skip them
        c, oh, ow = info.out_shape
        units = [(r, col) for r in range(oh) for col in range(ow)] if units_per_layer is None else \
            sorted({(0, 0), (oh - 1, ow - 1), (oh // 2, ow // 3), (0, ow - 1), (oh - 1, 0)})
        masks = A.influence_masks(spec, info.name, [(c - 1 - i % c, r, col) for i, (r, col) in enumerate(units)])
        for (r, col), mask in zip(units, masks):
            box = receptive_box(info, r, col, spec.input.height, spec.input.width)
            assert A.mask_box(mask) == box, (info.name, r, col)
            assert np.array_equal(mask, _rect(mask.shape, box)), (info.name, r, col)
            checked += 1
    return s, checked


def test_receptive_box_equals_gradient_support_without_padding():
    spec = NetSpec.from_dict({"input": [2, 29, 31], "layers": [
        {"type": "conv", "out_channels": 3, "kernel": 5, "stride": 2}, {"type": "relu"},
        {"type": "maxpool", "kernel": 3, "stride": 2},
        {"type": "conv", "out_channels": 2, "kernel": [3, 2], "groups": 1},
        {"type": "lrn", "size": 2}, {"type": "avgpool", "kernel": 2, "stride": 1}]})
    s, n = _check_units(spec)
    assert n > 100
    # no padding: no box is clipped, every one has the full receptive field size
    info = s.layers[-1]
    for r in range(info.out_shape[1]):
        t, left, b, rr = receptive_box(info, r, 0, 29, 31)
        assert (b - t + 1, rr - left + 1) == tuple(info.rf_hw)


def test_receptive_box_is_clipped_at_the_border_with_padding():
    spec = NetSpec.from_dict({"input": [1, 16, 16], "layers": [
        {"type": "conv", "out_channels": 2, "kernel": 5, "padding": 2}, {"type": "relu"},
        {"type": "maxpool", "kernel": 3, "stride": 2, "padding": 1},
        {"type": "conv", "out_channels": 2, "kernel": 3, "padding": 1},
        {"type": "maxpool", "kernel": 3, "stride": 2, "ceil_mode": True}]})
    s, n = _check_units(spec)
    assert n > 50
    info = s.layers[3]  # conv2: rf 11, a corner unit's field hangs over the edge
    assert info.rf_hw == (11, 11)
    assert receptive_box(info, 0, 0, 16, 16) == (0, 0, 5, 5)
    assert A.mask_box(A.influence_mask(spec, "conv2", 0, 0, 0)) == (0, 0, 5, 5)


@pytest.mark.parametrize("preset", ["paper-2012", "tf-benchmark-224", "keras-cifar10-32", "torchvision"])
def test_receptive_box_equals_gradient_support_for_presets(preset):
    _, n = _check_units(get_spec(preset), units_per_layer="some")
    assert n >= 12


def test_real_gradient_on_an_image_stays_inside_the_box():
    spec = get_spec("alexnet-cifar-32")
    model = A.random_model(spec, seed=3)
    x = A.normalise(A.to_network_input(A.sample_photo("flower.jpg"), 3, 32, 32))
    for layer, r, c in (("conv2", 0, 0), ("pool2", 3, 4), ("relu5", 2, 1)):
        box = A.unit_box(spec, layer, r, c)
        mask = A.influence_mask(model, layer, 1, r, c, image=x)
        got = A.mask_box(mask)
        if got is not None:  # a dead ReLU unit has no gradient at all
            assert box[0] <= got[0] and box[1] <= got[1] and got[2] <= box[2] and got[3] <= box[3]
    assert model.conv1.weight.grad is None  # the page's cached model is not touched
    # after a flatten every unit sees the whole input
    assert A.unit_box(spec, "fc1", 0, 0) == (0, 0, 31, 31)


# ---------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------


def _checkpoint(spec, **extra):
    model = A.random_model(spec, seed=5)
    payload = {"model": model.state_dict(), "spec": spec.to_dict(), "config": {"epochs": 1},
               "classes": [f"c{i}" for i in range(spec.num_classes)], "epoch": 1, "test_acc": 0.5,
               "input_mean": [0.4, 0.45, 0.5], "input_std": [0.2, 0.25, 0.3]}
    payload.update(extra)
    return model, payload


def _save(obj, path=None):
    buf = io.BytesIO()
    torch.save(obj, buf)
    if path is not None:
        path.write_bytes(buf.getvalue())
        return path
    return buf.getvalue()


def test_run_checkpoint_round_trip(tmp_path):
    spec = get_spec("alexnet-cifar-32")
    src, payload = _checkpoint(spec)
    w = A.read_weights_file(_save(payload, tmp_path / "best.pt"))
    assert w.classes == [f"c{i}" for i in range(10)] and w.mean == (0.4, 0.45, 0.5) and w.std[2] == 0.3
    assert w.spec["name"] == "alexnet-cifar-32" and w.meta["epoch"] == 1
    model = A.load_weights(A.random_model(spec, seed=99), w, network_name=spec.name)
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(model.eval()(x), src.eval()(x))


def test_checkpoint_of_another_architecture_names_the_layers(tmp_path):
    _, payload = _checkpoint(get_spec("alexnet-cifar-32"))
    w = A.read_weights_file(_save(payload, tmp_path / "best.pt"))
    target = get_spec("keras-cifar10-32")
    model = A.random_model(target)
    before = model.conv1.weight.clone()
    with pytest.raises(A.WeightsError) as e:
        A.load_weights(model, w, network_name=target.name)
    msg = str(e.value)
    assert "does not fit the current network 'keras-cifar10-32'" in msg
    assert "saved from the network 'alexnet-cifar-32'" in msg
    theirs = list(w.state_dict["conv1.weight"].shape)  # [C, 3, 5, 5] for alexnet-cifar-32
    assert f"layer conv1: weight is {theirs} in the file but [96, 3, 11, 11] in this network" in msg
    assert "layer fc1:" in msg
    assert "the file has layers this network does not: bn1" in msg
    assert torch.equal(model.conv1.weight, before)  # nothing was loaded


def test_torchvision_state_dict_maps_onto_our_layer_names():
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.alexnet(weights=None).eval()
    ours_spec = get_spec("torchvision")
    ours = A.random_model(ours_spec)
    mapping = A.torchvision_key_map(list(tv.state_dict()), ours)
    assert mapping["features.0.weight"] == "conv1.weight"
    assert mapping["features.3.bias"] == "conv2.bias"
    assert mapping["features.10.weight"] == "conv5.weight"
    assert mapping["classifier.1.weight"] == "fc1.weight"
    assert mapping["classifier.6.bias"] == "fc3.bias"
    w = A.read_weights_file(_save(tv.state_dict()), name="alexnet-owt.pth")
    A.load_weights(ours, w)
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(ours(x), tv(x), atol=1e-5)
    assert len(w.classes) == 1000 and w.classes[0] == "tench" and w.mean == A.IMAGENET_MEAN
    # torchvision's file on another preset: the message names our layers
    with pytest.raises(A.WeightsError, match=r"layer conv1: weight is \[64, 3, 11, 11\] in the file but \[96, 3, 11, 11\]"):
        A.load_weights(A.random_model(get_spec("paper-2012")), A.read_weights_file(_save(tv.state_dict())))


def test_torchvision_weights_from_a_local_file(tmp_path):
    import torchvision

    sd = torchvision.models.alexnet(weights=None).state_dict()
    w = A.torchvision_weights(_save(sd, tmp_path / A.torchvision_weights_source()[1]))
    assert w.classes[:2] == ["tench", "goldfish"] and w.std == A.IMAGENET_STD
    A.load_weights(A.random_model(get_spec("torchvision")), w)


class _NotAllowed:  # weights_only=True must refuse to unpickle this
    pass


def test_unsafe_or_broken_weights_files_are_refused(tmp_path):
    with pytest.raises(A.WeightsError, match="weights_only=True"):
        A.read_weights_file(_save({"x": _NotAllowed()}))
    with pytest.raises(A.WeightsError, match="not a PyTorch weights file"):
        A.read_weights_file(b"this is not a checkpoint")
    with pytest.raises(A.WeightsError, match="no such file"):
        A.read_weights_file(tmp_path / "missing.pth")
    with pytest.raises(A.WeightsError, match="holds no tensors"):
        A.read_weights_file(_save({"a": 1}))
    w = A.read_weights_file(_save({"state_dict": {"module.conv1.weight": torch.zeros(1)}}))
    assert list(w.state_dict) == ["conv1.weight"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def test_download_with_progress_hash_check_and_offline_message(tmp_path):
    payload = b"weights" * 100_000
    digest = hashlib.sha256(payload).hexdigest()
    served = tmp_path / "srv"
    served.mkdir()
    (served / f"net-{digest[:8]}.pth").write_bytes(payload)
    (served / "net-deadbeef.pth").write_bytes(payload)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        seen = []
        dest = tmp_path / "cache" / f"net-{digest[:8]}.pth"
        got = A.download_torchvision_weights(lambda d, t: seen.append((d, t)), url=f"{base}/{dest.name}", dest=dest)
        assert got == dest and dest.read_bytes() == payload
        assert seen[-1] == (len(payload), len(payload)) and len(seen) >= 1
        bad = tmp_path / "cache" / "net-deadbeef.pth"
        with pytest.raises(A.WeightsError, match="corrupt"):
            A.download_torchvision_weights(url=f"{base}/net-deadbeef.pth", dest=bad)
        assert not bad.exists() and not list((tmp_path / "cache").glob("*.partial"))
    finally:
        httpd.shutdown()
    with pytest.raises(A.WeightsError) as e:  # nothing listens on port 9: what offline looks like
        A.download_torchvision_weights(url="http://127.0.0.1:9/alexnet-owt-7be5be79.pth",
                                       dest=tmp_path / "x" / "alexnet-owt-7be5be79.pth", timeout=3)
    assert "no internet connection" in str(e.value) and "Local .pth file" in str(e.value)
    assert str(tmp_path / "x" / "alexnet-owt-7be5be79.pth") in str(e.value)


# ---------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------


def _jpeg(size=(300, 200)) -> bytes:
    buf = io.BytesIO()
    A.sample_photo("china.jpg").resize(size).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png_declaring(width, height) -> bytes:
    """A tiny PNG whose header declares width×height (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_good_upload_is_read():
    img = A.read_image(_jpeg())
    assert img.size == (300, 200) and img.mode == "RGB"
    buf = io.BytesIO()
    Image.new("L", (20, 10), 77).save(buf, "PNG")
    assert A.read_image(buf.getvalue()).size == (20, 10)


def test_each_bad_upload_gives_its_message():
    with pytest.raises(A.ImageInputError, match="not an image"):
        A.read_image(b"%PDF-1.4 definitely not a picture" * 10, name="'doc.png'")
    with pytest.raises(A.ImageInputError, match="truncated or corrupt"):
        A.read_image(_jpeg()[:4000])
    data = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(data, "PNG")
    with pytest.raises(A.ImageInputError, match="truncated or corrupt"):
        A.read_image(data.getvalue()[:-30])
    bomb = _png_declaring(30_000, 30_000)
    assert len(bomb) < 200
    with pytest.raises(A.ImageInputError, match="decompression bomb"):
        A.read_image(bomb)  # Pillow's own hard limit
    with pytest.raises(A.ImageInputError, match=r"declares 8,000×8,000 pixels .* decompression bomb"):
        A.read_image(_png_declaring(8000, 8000))  # under Pillow's limit, over ours
    with pytest.raises(A.ImageInputError, match="over the 5.00 MB upload limit"):
        A.read_image(b"\x89PNG" + b"\x00" * A.MAX_UPLOAD_BYTES)
    with pytest.raises(A.ImageInputError, match="empty"):
        A.read_image(b"")
    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, "GIF")
    with pytest.raises(A.ImageInputError, match="GIF image; upload a PNG or JPEG"):
        A.read_image(gif.getvalue())


def test_network_input_is_cropped_resized_and_converted():
    photo = A.sample_photo("china.jpg")  # 640×427
    a = A.to_network_input(photo, 3, 227, 227)
    assert a.shape == (227, 227, 3) and a.dtype == np.uint8
    g = A.to_network_input(photo, 1, 96, 96)
    assert g.shape == (96, 96, 1)
    wide = A.to_network_input(photo, 3, 50, 100)
    assert wide.shape == (50, 100, 3)
    digit, label = A.sample_digit(5)
    assert digit.size == (8, 8) and 0 <= label <= 9
    assert A.to_network_input(digit, 3, 32, 32).shape == (32, 32, 3)
    # centre crop: a picture with a red left and a blue right, cropped to a square, keeps both halves
    two = np.zeros((40, 120, 3), np.uint8)
    two[:, :60, 0] = 255
    two[:, 60:, 2] = 255
    sq = A.to_network_input(two, 3, 10, 10)
    assert sq[5, 0, 0] > 200 and sq[5, 9, 2] > 200
    x = A.normalise(np.full((4, 4, 3), 255, np.uint8), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert x.shape == (1, 3, 4, 4) and torch.allclose(x, torch.full_like(x, 2.0))
    x1 = A.normalise(np.zeros((4, 4, 1), np.uint8), (0.4, 0.45, 0.5), (0.2, 0.25, 0.3))  # RGB stats, grey net
    assert torch.allclose(x1, torch.full_like(x1, -0.45 / 0.25))


def _write_mnist(root, n=5):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", 2), ("t10k", n)):
        imgs = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, count, 28, 28) + imgs.tobytes())
        labels = np.arange(count, dtype=np.uint8) % 10
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, count) + labels.tobytes())
    return imgs, labels


def test_dataset_images_found_on_disk(tmp_path):
    assert A.dataset_images(tmp_path / "nothing") == []
    imgs, labels = _write_mnist(tmp_path)
    found = A.dataset_images(tmp_path)
    assert [d.name for d in found] == ["mnist"]
    d = found[0]
    assert d.images.shape == (5, 28, 28, 1) and list(d.labels) == list(labels)
    assert np.array_equal(np.asarray(d.image(3)), imgs[3]) and d.classes[0].startswith("0")


def test_receptive_box_with_dilation_next_to_padding():
    spec = NetSpec.from_dict({"input": [1, 9, 9], "layers": [
        {"type": "conv", "out_channels": 1, "kernel": 3, "dilation": 2, "padding": 1},
        {"type": "maxpool", "kernel": 2, "stride": 2}]})
    info = analyze(spec).layers[1]
    mask = A.influence_mask(spec, "pool1", 0, 0, 0)
    # conv unit 0 reads pixels 1, 3 (its tap at −1 is padding); unit 1 reads 0, 2, 4
    assert A.mask_box(mask) == (0, 0, 4, 4)
    assert receptive_box(info, 0, 0, 9, 9) == (0, 0, 4, 4)


def test_capture_leaves_the_callers_image_alone():
    """A dropout (identity in eval) followed by an in-place ReLU used to write into the tensor
    the page passed in, so the input map and the unit explanation showed the rectified image."""
    import torch

    from alexnet import activations as A
    from alexnet import build_model

    spec = {"name": "t", "input": [1, 8, 8], "layers": [
        {"type": "dropout", "p": 0.5}, {"type": "relu"}, {"type": "flatten"}, {"type": "linear", "out_features": 3}]}
    model = build_model(spec)
    x = torch.randn(1, 1, 8, 8)
    before = x.clone()
    A.capture(model, x)
    assert torch.equal(x, before)
