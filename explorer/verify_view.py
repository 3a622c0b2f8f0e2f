"""The Architecture page's "Check with PyTorch": build the current network with torch, run
``torchinfo.summary`` and show per row whether torch's output shape, parameters and
multiply-adds equal the table's (a green tick, or both values in red).

torch's side runs in a background thread (the page stays usable meanwhile) and is kept per
network (the last 16, shared by the sessions of this app); the comparison with the table
the page shows is redone on every rerun, so what is compared is always what is on screen.
A network over the memory budget is not built: the page says so.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st

from alexnet import verify as V
from alexnet.spec import NetSpec

_FOR = "arch_verify_for"  # the spec JSON the user asked to check

CSS = """<style>
table.verify{border-collapse:collapse;font-size:13px;width:100%;table-layout:fixed}
table.verify th{text-align:left;border-bottom:2px solid #bbb;padding:3px 6px;font-weight:600}
table.verify td{padding:2px 6px;border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}
table.verify td.ok{color:#0a7d24}
table.verify td.bad{color:#c62828;font-weight:600;background:#fde0e0}
table.verify span.tick{color:#0a7d24;font-weight:700}
</style>"""


POLL_SECONDS = 0.5  # how often the waiting note looks whether torch has finished
_KEEP = 16  # networks whose torch side is kept


@st.cache_resource(show_spinner=False)
def _worker() -> tuple[ThreadPoolExecutor, OrderedDict]:
    """One background thread for torch builds, and the futures by spec JSON (newest last)."""
    return ThreadPoolExecutor(1, thread_name_prefix="verify"), OrderedDict()


def torch_side(spec_json: str) -> Future:
    """torch's rows for this network: a future, started at the first request, then kept."""
    pool, futures = _worker()
    fut = futures.get(spec_json)
    if fut is None or (fut.done() and fut.exception() is not None):  # a failure is tried again next time
        fut = futures[spec_json] = pool.submit(V.torch_rows, spec_json)
    futures.move_to_end(spec_json)
    while len(futures) > _KEEP:
        futures.popitem(last=False)
    return fut


@st.fragment(run_every=POLL_SECONDS)
def _waiting(fut: Future) -> None:
    """The note shown while torch works; the page redraws once it is done."""
    if fut.done():
        st.rerun()
    st.info("Building the network with PyTorch and running torchinfo.summary in the background — the page "
            "stays usable; the result appears here.", icon=":material/hourglass_top:")


def check_with_pytorch(spec: NetSpec, summary: dict) -> None:
    """The button, and once pressed for this network, the verdict and the per-row table."""
    spec_json = spec.to_json(indent=None)
    a, b = st.columns([0.32, 0.68], vertical_alignment="center")  # the button whole at 1024 px
    if a.button("Check with PyTorch", icon=":material/fact_check:", key="arch_verify"):
        st.session_state[_FOR] = spec_json
    b.caption("Builds this network with PyTorch (random weights), runs torchinfo.summary on one image and "
              "compares every row's output shape, parameters and multiply-adds with the table above.")
    if st.session_state.get(_FOR) != spec_json:
        return
    why = V.refusal(summary)
    if why:
        st.warning(f"Not checked: {why}", icon=":material/memory:")
        return
    fut = torch_side(spec_json)
    if not fut.done():
        _waiting(fut)
        return
    try:
        check = V.compare(summary, fut.result())
    except (RuntimeError, ValueError, MemoryError) as e:  # torch could not build or run it
        st.error(f"PyTorch could not run this network: {e}", icon=":material/error:")
        return
    _verdict(check)
    st.html(CSS + table_html(check))


def _verdict(check: V.Check) -> None:
    n, bad = len(check.rows), len(check.disagreeing)
    took = f"({check.versions}; {check.seconds:.1f} s, cached for this network)"
    if not bad:
        st.success(f"PyTorch agrees with every row: all {n} layers have the same output shape, parameters and "
                   f"multiply-adds {took}.", icon=":material/check_circle:")
    else:
        names = ", ".join(r.name for r in check.disagreeing)
        st.error(f"{bad} of {n} layers differ from PyTorch ({names}): in red below, the table's value and "
                 f"torch's {took}.", icon=":material/error:")


def _cell(row: V.RowCheck, f: str) -> str:
    mine = V.value_text(f, row.table[f])
    if f not in row.differs:
        return f'<td class="ok"><span class="tick">✓</span> {html.escape(mine)}</td>'
    theirs = "no such layer" if row.torch is None else V.value_text(f, row.torch[f])
    return (f'<td class="bad" data-field="{f}">table {html.escape(mine)} · torch {html.escape(theirs)}</td>')


def table_html(check: V.Check) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("#", "layer", *V.FIELDS.values()))
    rows = "".join(
        f'<tr class="{"ok" if r.ok else "bad"}" data-name="{html.escape(r.name)}"><td>{r.index}</td>'
        f'<td>{html.escape(r.name)} <span style="color:#888">{html.escape(r.type)}</span></td>'
        + "".join(_cell(r, f) for f in V.FIELDS) + "</tr>" for r in check.rows)
    total = (f'<tr><td></td><td><b>torchinfo totals</b></td><td></td><td>{check.torch_totals["params"]:,}</td>'
             f'<td>{check.torch_totals["macs"]:,}</td></tr>')
    cols = "".join(f'<col style="width:{w}%">' for w in (5, 20, 25, 25, 25))
    return f'<table class="verify"><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead><tbody>{rows}{total}' \
           "</tbody></table>"

