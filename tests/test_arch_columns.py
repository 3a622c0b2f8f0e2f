"""The Architecture table's number columns, cell by cell, against the independent oracle
(tests/oracle.py: plain torch.nn and torchinfo): parameters and their share of the total,
multiply-adds (the full count in the cell's title) and their share, the activation memory of
each row (4 bytes per output value), and the receptive field as the summary gives it (which
tests/test_receptive_field.py checks against gradients).  Every preset and 40 random networks."""

from __future__ import annotations

import html
import math
import random
import re

import pytest

from alexnet import list_presets, summarize
from alexnet.presets import get_spec
from alexnet.textfmt import short_bytes
from explorer.arch_table import table_segments
from tests import oracle
from tests.test_oracle import random_specs

ROW = re.compile(r'<tr class="[^"]*" data-layer="(\d+)"[^>]*data-status="(\w+)"[^>]*>(.*?)</tr>', re.S)
CELL = re.compile(r'<td(?: class="([^"]*)")?(?: title="([^"]*)")?[^>]*>(.*?)</td>', re.S)


def shown_rows(summary: dict) -> dict[int, list[tuple[str, str, str]]]:
    """Row index → its cells as (class, title, text) for the computed rows."""
    page = "".join(seg.html for seg in table_segments(summary))
    out = {}
    for index, status, body in ROW.findall(page):
        if status in ("ok", "inexact"):
            out[int(index)] = [(c or "", html.unescape(t or ""), html.unescape(re.sub(r"<[^>]+>", "", x)))
                               for c, t, x in CELL.findall(body)]
    return out


def _share(text: str) -> str:
    m = re.search(r"(<?\d+(?:\.\d+)?%)$", text.strip())
    return m.group(1) if m else ""


def _want_share(part: int, total: int) -> str:
    if not part:
        return ""
    p = 100 * part / total
    return f"{p:.1f}%" if p >= 0.1 else "<0.1%"


def check_columns(d: dict) -> int:
    s = summarize(d)
    steps = [st for st in oracle.build(d) if st.error is None]
    total_p, total_m = sum(st.params for st in steps), sum(st.macs for st in steps)
    rows = shown_rows(s)
    assert set(rows) == {st.index for st in steps} - {r["index"] for r in s["layers"] if r["status"] == "error"}
    for st in steps:
        cells = rows[st.index]
        params, macs, act, rf = cells[4], cells[5], cells[6], cells[7]
        assert params[2].split()[0] == (f"{st.params:,}" if st.params else "0"), (st.index, params)
        assert _share(params[2]) == _want_share(st.params, total_p), (st.index, params)
        assert (macs[1] or "0") == f"{st.macs:,}" and _share(macs[2]) == _want_share(st.macs, total_m), (st.index, macs)
        assert act[2].strip().replace("\u00a0", " ") == short_bytes(4 * math.prod(st.out_shape)), (st.index, act)
        want_rf = s["layers"][st.index]["receptive_field"]
        want_rf = "" if want_rf is None else "×".join(str(v) for v in want_rf) if isinstance(want_rf, list) \
            else str(want_rf)
        assert rf[0] == "num rf" and rf[2] == want_rf, (st.index, rf, want_rf)
    return len(steps)


@pytest.mark.parametrize("name", list_presets())
def test_preset_columns_match_the_oracle(name):
    assert check_columns(get_spec(name).to_dict()) > 0


def test_random_network_columns_match_the_oracle():
    rows = sum(check_columns(d) for d in random_specs(random.Random(5).randint(0, 10**6), 40))
    assert rows >= 100
