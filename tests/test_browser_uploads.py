"""The real app in Chromium: the Activations page takes an uploaded picture and an uploaded
.pth (issue 13 §3: the uploads were only tested through AppTest).  The network comes in by a
share link (the bundled digits CNN), the weights are the bundled checkpoint given as an upload,
the picture a PNG the test draws."""

from __future__ import annotations

import io
import urllib.parse

import pytest
from conftest import ROOT, screenshot, wait_for_app

CHECKPOINT = ROOT / "assets" / "digits-cnn.pt"


def _png(side: int = 32) -> bytes:
    """A white vertical bar on black: a '1' as the digits show it."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (side, side), 0)
    ImageDraw.Draw(img).rectangle([side * 0.4, side * 0.1, side * 0.6, side * 0.9], fill=255)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _upload(pg, label: str, name: str, mime: str, data: bytes) -> None:
    box = pg.locator('[data-testid="stFileUploader"]', has_text=label).first
    box.locator('input[type="file"]').set_input_files({"name": name, "mimeType": mime, "buffer": data})
    pg.get_by_text(name).first.wait_for(timeout=60_000)
    wait_for_app(pg, 120_000)


@pytest.mark.browser
def test_activations_runs_an_uploaded_picture_through_uploaded_weights(page, app_server):
    from alexnet import activations as A
    from alexnet.spec import NetSpec
    from explorer import share

    net = NetSpec.from_dict(A.read_weights_file(str(CHECKPOINT)).spec)
    pg = page
    pg.goto(app_server.url + "/architecture?" + urllib.parse.urlencode(share.network_params(net)))
    pg.wait_for_function("n => document.querySelector('[data-testid=\"stSidebar\"]')?.innerText.includes(n)",
                         arg=net.name, timeout=120_000)  # the link applied (the page reruns once for it)
    wait_for_app(pg, 120_000)
    pg.locator('[data-testid="stSidebarNav"] a', has_text="Activations").click()
    pg.wait_for_url("**/activations", timeout=60_000)
    # The page's caption names the network once the engine is loaded (the first visit may wait
    # for PyTorch: the status widget alone does not say the page is drawn).
    pg.get_by_text(f"Network {net.name}").first.wait_for(timeout=300_000)
    wait_for_app(pg, 300_000)
    screenshot(pg, "activations_uploads_start")

    pg.get_by_role("radiogroup", name="Image").get_by_text("Upload", exact=True).click()
    wait_for_app(pg, 60_000)
    _upload(pg, "PNG or JPEG", "bar.png", "image/png", _png())
    pg.get_by_role("radiogroup", name="Weights").get_by_text("Local .pth file", exact=True).click()
    wait_for_app(pg, 60_000)
    _upload(pg, "upload one", "digits-cnn.pt", "application/octet-stream", CHECKPOINT.read_bytes())

    pg.get_by_text("Top-5 predictions").first.wait_for(timeout=120_000)
    wait_for_app(pg, 120_000)
    body = pg.locator("body").inner_text()
    assert pg.locator('[data-testid="stException"]').count() == 0
    assert "Input as the network sees it (1×8×8)" in body  # the 32×32 picture, shrunk to the net's input
    assert "Random weights" not in body  # the uploaded checkpoint's weights are the ones in use
    assert "does not fit" not in body and "mismatch" not in body.lower()
    pg.get_by_text("Top-5 predictions").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    pg.wait_for_timeout(1000)
    ticks = pg.locator(".stPlotlyChart", has_text="Top-5 predictions").first.locator(".ytick text")
    assert ticks.count() == 5, ticks.all_inner_texts()  # every class named, the winner too
    screenshot(pg, "activations_uploads")
