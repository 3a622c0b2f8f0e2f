"""AlexNet Explorer — entry point: ``streamlit run explorer/app.py``.

It only routes (st.navigation) and draws the sidebar every page shares: the
current network's name, input and totals.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # under `streamlit run` only explorer/ is on sys.path
    sys.path.insert(0, str(ROOT))

# Heavy modules are imported here, once, before any page runs: a page left while it is
# still importing (a rerun interrupts the script) could otherwise leave a module
# half-initialised in sys.modules for the next page.
import pandas  # noqa: E402,F401
import plotly.graph_objects  # noqa: E402,F401
import streamlit as st  # noqa: E402

from alexnet import jobs  # noqa: E402
from alexnet.runs import RunStoreError  # noqa: E402
from alexnet.textfmt import human_bytes, human_count  # noqa: E402
from explorer import preload  # noqa: E402
from explorer.state import current_spec, current_summary  # noqa: E402

# the icon is a file the server sends (a :material/…: icon makes every browser fetch it from a font server)
st.set_page_config(page_title="AlexNet Explorer", page_icon=str(ROOT / "assets" / "favicon.png"), layout="wide")

PAGES = [  # Material icons ship with Streamlit's font; emoji need a system emoji font
    ("home.py", "Start here", ":material/home:"),
    ("architecture.py", "Architecture", ":material/architecture:"),
    ("train.py", "Train", ":material/model_training:"),
    ("runs.py", "Runs", ":material/monitoring:"),
    ("activations.py", "Activations", ":material/grid_view:"),
    ("experiments.py", "Experiments", ":material/science:"),
]
pages = [st.Page(str(ROOT / "pages" / f), title=t, icon=i, default=(f == "home.py"))
         for f, t, i in PAGES if (ROOT / "pages" / f).exists()]
nav = st.navigation(pages)


def sidebar() -> None:
    spec = current_spec()
    s = current_summary()
    with st.sidebar:
        st.markdown(f"**Current network:** `{spec.name}`")
        c, h, w = spec.input.shape
        st.caption(f"input {c}×{h}×{w} · {len(spec.layers)} layers")
        # plain lines, not st.metric: metric values are cut off ("60.9…") in a 300-px sidebar
        st.markdown(
            f"**{human_count(s['total_params'])}** parameters ({s['total_params']:,})"
            f"{' — partial, layers before the collapse only' if s['errors'] else ''}  \n"
            f"**{human_count(s['total_macs'])}** multiply-adds per image  \n"
            f"**{human_bytes(s['param_bytes'])}** of fp32 weights  \n"
            f"**{human_bytes(s['activation_bytes'])}** of activations per image",
            help="from alexnet.summarize, the same numbers as `python -m alexnet summary`")
        if s["errors"]:
            st.error(f"{len(s['errors'])} error: the network does not compute — see Architecture")
        else:  # a row that computes and still has a message is a note (ceil mode…), not a warning
            notes = sum(1 for r in s["layers"] if r["message"] and r["status"] == "ok")
            if len(s["warnings"]) > notes:
                st.warning(f"{len(s['warnings']) - notes} warning(s) — see Architecture")
            if notes:
                st.caption(f":material/info: {notes} note{'s' if notes > 1 else ''} on the Architecture page "
                           "(nothing wrong, worth knowing)")


sidebar()
# The job scheduler lives as long as the server process: starting it on every render
# means runs queued before a server restart are launched as soon as anyone opens the app.
with contextlib.suppress(RunStoreError):  # a runs folder that cannot be used: the Train and Runs pages say why
    jobs.get_manager()
preload.start()  # PyTorch in the background: the first visit to Train need not wait for it
nav.run()
