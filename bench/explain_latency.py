"""Server time of the Activations page's "How this unit got its value" section, on the CPU.

    python bench/explain_latency.py [--repeats 5]

For paper-2012 on china.jpg (random weights, seed 0), as medians over ``--repeats`` runs, per
layer: ``explain_unit`` (the recomputation), and for a conv the sliding-kernel data
(``explain.slide``), its figure and the JSON ``st.plotly_chart`` sends; next to the page's
cached-forward redraw baseline measured in the same process (conv2's grid figure + JSON, as
bench/activations_latency.py), as a ratio.  No target is asserted: the machines are shared.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import plotly.io  # noqa: E402
import plotly.tools  # noqa: E402

from alexnet import activations as A  # noqa: E402
from alexnet import explain as X  # noqa: E402
from alexnet import get_spec  # noqa: E402
from bench.timing import median_seconds  # noqa: E402
from explorer import act_figures as F  # noqa: E402

UNITS = {"conv1": (0, 20, 20), "conv2": (0, 17, 4), "pool2": (5, 6, 6), "lrn1": (3, 4, 4), "fc1": (5,),
         "fc3": (7,)}


def _sent(fig) -> int:
    return len(plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True),
                                 validate=False))


def _slide_sent(model, spec, x, acts, layer: str, unit: tuple) -> int:
    s = X.slide(model, spec, x, acts, layer, unit[0], 0)
    pos = F.slide_positions(*s.partial.shape, unit[1])
    return _sent(F.slide_figure(s, pos, pos.index(unit[1:]), title=layer))


def main(repeats: int = 5) -> dict:
    spec = get_spec("paper-2012")
    model = A.random_model(spec, seed=0)
    x = A.normalise(A.to_network_input(A.sample_photo("china.jpg"), *spec.input.shape))
    acts = A.capture(model, x.clone())
    out = acts.outputs["conv2"]
    base = median_seconds(lambda: _sent(F.feature_grid_figure(out[:48].numpy(), list(range(48)), zmin=float(out.min()),
                                                       zmax=float(out.max()), title="conv2")), repeats)
    print(f"baseline: conv2 grid redraw {1000 * base:.0f} ms")
    figures = {"baseline_s": base}
    for layer, unit in UNITS.items():
        t_explain = median_seconds(lambda layer=layer, unit=unit: X.explain_unit(model, spec, x, layer, unit, acts), repeats)
        figures[f"{layer}_explain_s"] = t_explain
        line = f"{layer:6} explain_unit {1000 * t_explain:6.0f} ms"
        if len(unit) == 3 and layer.startswith("conv"):
            send = functools.partial(_slide_sent, model, spec, x, acts, layer, unit)
            figures[f"{layer}_slide_s"] = median_seconds(send, repeats)
            line += f"; slide + figure + JSON {1000 * figures[f'{layer}_slide_s']:6.0f} ms ({send() / 1e6:.2f} MB)"
        total = t_explain + figures.get(f"{layer}_slide_s", 0.0)
        print(line + f"; {total / base:.1f}× the baseline")
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    main(ap.parse_args().repeats)
