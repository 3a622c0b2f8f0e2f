"""Server time of the Activations page's expensive path, on the CPU.

    python bench/activations_latency.py [--repeats 7] [--page]

Measures, as medians over ``--repeats`` runs:

* forward + conv1 grid: preprocess the bundled photograph (china.jpg) to 227×227, run the full
  ``paper-2012`` network on it with a hook on every layer (``alexnet.activations.capture``),
  build conv1's feature-map grid figure (one page of 48 maps, shared colour scale) and
  serialise it to JSON as ``st.plotly_chart`` does.  Target: ≤ 1 s.
* redraw: a layer switch when the forward pass is cached (grid figure of conv2 + JSON).
* build: building the network with seeded random weights (cached once per network and weights).
* with ``--page``: a whole AppTest run of pages/activations.py after a layer switch.

``main()`` prints the figures and returns them as a dict (bench/ui_latency.py calls it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from alexnet import activations as A  # noqa: E402
from alexnet import get_spec  # noqa: E402
from bench.timing import median_seconds  # noqa: E402
from explorer import act_figures as F  # noqa: E402

PER_PAGE = 48  # the page's default maps per page


def _grid_json(acts, layer: str) -> int:
    out = acts.outputs[layer]
    order = A.channel_order(out, "index")[:PER_PAGE]
    fig = F.feature_grid_figure(out[order].numpy(), order, zmin=float(out.min()), zmax=float(out.max()),
                                title=layer)
    return len(fig.to_json())


def _page_rerun(repeats: int) -> float:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "activations.py"), default_timeout=300)
    at.session_state["net_spec"] = get_spec("paper-2012")
    at.session_state["net_base"] = "paper-2012"
    at.session_state["net_version"] = 0
    at.run()
    layers = ["conv2", "conv1"]
    i = [0]

    def switch():
        at.selectbox(key="act_layer").set_value(layers[i[0] % 2]).run()
        i[0] += 1

    return median_seconds(switch, repeats)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--page", action="store_true", help="also time a whole AppTest page rerun")
    args, _ = ap.parse_known_args(argv)  # called from bench/ui_latency.py: ignore its flags

    spec = get_spec("paper-2012")
    c, h, w = spec.input.shape
    photo = A.sample_photo("china.jpg")
    t = time.perf_counter()
    model = A.random_model(spec, seed=0)
    build = time.perf_counter() - t
    state = {}

    def forward_and_grid():
        x = A.normalise(A.to_network_input(photo, c, h, w))
        state["acts"] = A.capture(model, x)
        state["bytes"] = _grid_json(state["acts"], "conv1")

    forward_and_grid()  # warm-up: plotly's validators, torch's kernels
    full = median_seconds(forward_and_grid, args.repeats)
    fwd = median_seconds(lambda: A.capture(model, A.normalise(A.to_network_input(photo, c, h, w))), args.repeats)
    redraw = median_seconds(lambda: _grid_json(state["acts"], "conv2"), args.repeats)
    res = {"forward_plus_conv1_grid_s": full, "forward_s": fwd, "redraw_conv2_grid_s": redraw,
           "build_s": build, "conv1_grid_json_bytes": state["bytes"], "threads": torch.get_num_threads()}
    print(f"activations latency, paper-2012 on a 227×227 photo, CPU ({torch.get_num_threads()} threads), "
          f"median of {args.repeats}:")
    print(f"  forward (all 23 layers hooked) + conv1 grid (48 maps) + JSON: {full * 1000:7.0f} ms  "
          f"(target ≤ 1000 ms) {'OK' if full <= 1.0 else 'OVER'}")
    print(f"    of which forward pass with hooks:                     {fwd * 1000:7.0f} ms")
    print(f"  layer switch, forward cached (conv2 grid + JSON):          {redraw * 1000:7.0f} ms")
    print(f"  network build, random weights (once, cached):              {build * 1000:7.0f} ms")
    print(f"  conv1 grid figure sent to the browser:                     {state['bytes'] / 1e6:7.2f} MB")
    if args.page:
        page = _page_rerun(max(3, args.repeats // 2))
        res["page_rerun_s"] = page
        print(f"  whole page rerun after a layer switch (AppTest):           {page * 1000:7.0f} ms")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
