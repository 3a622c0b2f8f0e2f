"""The live layer table of the architecture page, as HTML built from ``alexnet.summarize``.

Why HTML and not ``st.dataframe``: the data grid draws on a canvas, so its text cannot
be read by a browser test or copied as it looks, rows cannot carry a message line, and
a fix button cannot sit on the row it fixes.  Here the table is cut into *segments*:
every row that has one-click fixes ends a segment, and the page puts the fix buttons
right under it, before the next segment.  All segments share one ``<colgroup>`` so the
columns line up as one table.

Pure functions of the summary dict (tests/test_arch_page.py reads the same HTML).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from alexnet import layers as L
from alexnet.textfmt import human_bytes, shape_text, short_bytes, short_count

COLUMNS = (  # (header, width %, tooltip); widths hold paper-2012's cells whole in a 620-px table
    ("#", 4.5, "layer index in the spec"),
    ("layer", 14, "module name (type)"),
    ("output C×H×W", 13, "output shape per image"),
    ("formula N = ⌊(W − F + 2P)/S⌋ + 1 with your numbers", 28.5,
     "W input size, F kernel (dilated), P padding each side, S stride; ⌈ ⌉ in ceil mode"),
    ("params (% of total)", 14, "weights + biases"),
    ("mult-adds (%)", 11, "multiply-accumulates per image (torchinfo's convention); exact count on hover"),
    ("act. mem", 9.5, "fp32 output of this layer, one image"),
    ("RF", 5.5, "receptive field in input pixels"),
)
# Below NARROW_PX of table width (a 1024-px window with the sidebar open) the last two columns
# (act. mem, RF) are hidden and the others take these widths: every shown cell stays whole.
NARROW_PX, NARROW_WIDTHS = 560, (6, 17, 16, 28, 19, 14, 0, 0)
QUIET = tuple(n for n, lt in L.REGISTRY.items() if lt.quiet)  # pointwise rows without weights: greyed

CSS = """<style>
.block-container{padding-top:3.8rem;padding-left:2rem;padding-right:2rem}
table.arch{width:100%;table-layout:fixed;border-collapse:collapse;font-size:13px;line-height:1.25;margin:0}
table.arch th{font-weight:600;text-align:left;border-bottom:2px solid #bbb;padding:3px 5px;font-size:12px;
 vertical-align:bottom;color:#333}
table.arch td{padding:2px 4px;border-bottom:1px solid #eee;overflow:hidden;text-overflow:ellipsis;
 white-space:nowrap;vertical-align:top}
table.arch td.num,table.arch td.shape{text-align:right;font-variant-numeric:tabular-nums;white-space:normal}
table.arch td.shape{text-align:left}
table.arch tr:not(.msg)>td:nth-child(2){white-space:normal;overflow-wrap:anywhere}
div.archwrap{container-type:inline-size}
table.arch td.rf{white-space:normal;font-size:12px}
table.arch td.f{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:normal}
table.arch span.pct{color:#888;font-size:11px}
table.arch span.ty{color:#888;font-size:11px}
table.arch tr.quiet td{color:#8a8a8a}
table.arch tr.sel td{background:#e8f0fe}
table.arch tr.sel td:first-child{box-shadow:inset 3px 0 0 #1a73e8}
table.arch tr.inexact td{background:#fff4d6}
table.arch tr.error td{background:#fde0e0;color:#a01010}
table.arch tr.msg td::before{font-family:'Material Symbols Rounded';font-size:15px;vertical-align:-3px;
 margin-right:4px;content:'info'}
table.arch tr.msg.inexact td::before{content:'warning'}
table.arch tr.msg.error td::before{content:'cancel'}
table.arch tr.msg td{white-space:normal;font-size:12px;padding:2px 8px 5px 28px;border-bottom:1px solid #e6d3a3}
table.arch tr.msg.inexact td{background:#fff4d6;color:#6b4e00}
table.arch tr.msg.note td{background:#fafafa;color:#666}
table.arch tr.msg.error td{background:#fde0e0;color:#a01010;font-weight:600}
table.arch tr.nc td{color:#b0b0b0;font-style:italic}
table.arch tfoot td{border-top:2px solid #bbb;border-bottom:none;font-weight:600;padding-top:4px}
div[class*="st-key-fixrow"]{background:#fff4d6;padding:0 8px 6px 28px;margin-top:-1rem;margin-bottom:-0.5rem;border-radius:0 0 4px 4px}
div[class*="st-key-fixrowerr"]{background:#fde0e0}
div[class*="st-key-fixrow"] button{min-height:1.9rem;padding:0 .6rem}
div[class*="st-key-fixrow"] p{font-size:12px}
</style>"""
_NARROW_COLS = "".join(f"table.arch col:nth-child({i + 1}){{width:{w}% !important}}"
                       for i, w in enumerate(NARROW_WIDTHS))
CSS = CSS.replace("</style>", f"@container (max-width: {NARROW_PX}px){{table.arch tr:not(.msg):not(.nc)>"
                  f":nth-last-child(-n+2){{display:none}}{_NARROW_COLS}}}</style>")
# A window narrower than STACK_PX with the sidebar open (1024 px): the table takes the whole
# width and the layer panel goes under it, instead of both squeezed side by side.
STACK_PX = 1100
_ROW = 'div[data-testid="stHorizontalBlock"]:has(> div[data-testid="stColumn"] table.arch)'
CSS = CSS.replace("</style>", (
    f'@media (max-width: {STACK_PX}px){{[data-testid="stAppViewContainer"]:has([data-testid="stSidebar"]'
    f'[data-collapsed="false"]) {_ROW}{{flex-wrap:wrap}} [data-testid="stAppViewContainer"]:has('
    f'[data-testid="stSidebar"][data-collapsed="false"]) {_ROW}>div[data-testid="stColumn"]'
    "{width:100% !important;flex:1 1 100% !important;min-width:100% !important}}</style>"))


@dataclass
class Segment:
    html: str
    row: dict | None = None  # the row whose fixes go under this segment
    fixes: list[dict] = field(default_factory=list)


def _colgroup() -> str:
    return "<colgroup>" + "".join(f'<col style="width:{w}%">' for _, w, _ in COLUMNS) + "</colgroup>"


def _header() -> str:
    return "<thead><tr>" + "".join(f'<th title="{html.escape(t)}">{html.escape(h)}</th>'
                                   for h, _, t in COLUMNS) + "</tr></thead>"


def _pct(p: float) -> str:
    if p == 0:
        return ""
    return f' <span class="pct">{p:.1f}%</span>' if p >= 0.1 else ' <span class="pct">&lt;0.1%</span>'


def _nb(text: str) -> str:
    """'106 M' kept on one line (the cell may wrap before its percentage, never inside a number)."""
    return text.replace(" ", "\u00a0")


def _rf(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return "×".join(_num(x) for x in v)
    return _num(v)


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def row_message(row: dict) -> str:
    """The row's message without the 'layer i (type) 'name': ' prefix the row already
    shows, and without the trailing 'Fix: …' when buttons will carry the fixes."""
    msg = row.get("message") or ""
    prefix = f"layer {row['index']} ({row['type']}) '{row['name']}': "
    if row["status"] != "error" and msg.startswith(prefix):
        msg = msg[len(prefix):]
    if row.get("fixes"):
        msg = msg.split(". Fix: ")[0].split(" Fix: ")[0]
    return msg


def _formula(row: dict) -> str:
    if row["formula"]:
        return row["formula"]
    if row.get("params_formula"):  # a layer with weights but no window: its parameter count
        return "params " + row["params_formula"]
    return ""


def _row_html(row: dict, selected: int | None) -> str:
    st_ = row["status"]
    cls = []
    if st_ in ("inexact", "error"):
        cls.append(st_)
    elif st_ == "not_computed":
        cls.append("nc")
    elif row["type"] in QUIET:
        cls.append("quiet")
    if selected == row["index"]:
        cls.append("sel")
    e = html.escape
    name = f'{e(row["name"])} <span class="ty">{e(row["type"])}</span>'
    if st_ == "not_computed":
        why = (row_message(row) or "an earlier layer failed").replace("cannot be computed: ", "")
        why = "not computed: " + why
        body = (f'<td>{row["index"]}</td><td>{name}</td><td class="shape">—</td>'
                f'<td colspan="{len(COLUMNS) - 3}">{e(why)}</td>')
    else:
        out = "collapses" if st_ == "error" else e(shape_text(row["out_shape"], "")).replace("×", "×<wbr>")
        pf = e(row.get("params_formula") or "")
        params = f'{row["params"]:,}{_pct(row["params_pct"])}' if row["params"] else "0"
        macs = f'{_nb(short_count(row["macs"]))}{_pct(row["macs_pct"])}' if row["macs"] else "0"
        act = _nb(short_bytes(row["activation_bytes"])) if row["activation_bytes"] else ""
        body = (f'<td>{row["index"]}</td><td>{name}</td><td class="shape">{out}</td>'
                f'<td class="f">{e(_formula(row))}</td>'
                f'<td class="num" title="{pf}">{params}</td><td class="num" title="{row["macs"]:,}">{macs}</td>'
                f'<td class="num">{act}</td><td class="num rf">{_rf(row["receptive_field"])}</td>')
    shape = "" if st_ in ("error", "not_computed") else shape_text(row["out_shape"], "")
    return (f'<tr class="{" ".join(cls)}" data-layer="{row["index"]}" data-name="{e(row["name"])}" '
            f'data-status="{st_}" data-shape="{e(shape)}">{body}</tr>')


def _msg_html(row: dict) -> str:
    msg = row_message(row)
    if not msg or row["status"] == "not_computed":  # its row already says why
        return ""
    kind = row["status"] if row["status"] in ("inexact", "error") else "note"
    return (f'<tr class="msg {kind}" data-msg-for="{row["index"]}"><td colspan="{len(COLUMNS)}">'
            f"{html.escape(msg)}</td></tr>")  # the icon is drawn by CSS (::before)


def totals_html(summary: dict) -> str:
    if summary["errors"]:
        what = f'the network does not compute (red row): the totals are {summary.get("partial", "partial")}'
    else:
        what = f'output {shape_text(summary["output_shape"])}'
    total = "Partial total" if summary["errors"] else "Total"
    return (f'<tfoot><tr><td></td><td colspan="3">{total}: {summary["total_params"]:,} parameters '
            f'= {human_bytes(summary["param_bytes"])} fp32; {what}</td>'
            f'<td class="num">{summary["total_params"]:,}</td>'
            f'<td class="num" title="{summary["total_macs"]:,}">{short_count(summary["total_macs"])}</td>'
            f'<td class="num">{short_bytes(summary["activation_bytes"])}</td><td></td></tr></tfoot>')


def table_segments(summary: dict, selected: int | None = None) -> list[Segment]:
    """Cut the table after every row that has fixes; the last segment has the totals."""
    segs: list[Segment] = []
    rows_html: list[str] = []
    first = True

    def flush(row=None, fixes=None, foot=""):
        nonlocal first
        head = _header() if first else ""
        segs.append(Segment(f'<div class="archwrap"><table class="arch">{_colgroup()}{head}<tbody>'
                            f'{"".join(rows_html)}</tbody>{foot}</table></div>', row, list(fixes or [])))
        rows_html.clear()
        first = False

    for row in summary["layers"]:
        rows_html.append(_row_html(row, selected))
        rows_html.append(_msg_html(row))
        if row.get("fixes") and row["status"] in ("inexact", "error"):
            flush(row, row["fixes"])
    flush(foot=totals_html(summary))
    return segs


def plain_text(summary: dict) -> str:
    """The same table as aligned text (what people paste into reports)."""
    lines = [f"{'#':>3}  {'layer':<20}{'output':>14}  {'params':>12}  {'mult-adds':>14}  {'RF':>5}  formula"]
    for r in summary["layers"]:
        shape = {"error": "ERROR", "not_computed": "not computed"}.get(r["status"], shape_text(r["out_shape"], ""))
        lines.append(f"{r['index']:>3}  {r['name'] + ' (' + r['type'] + ')':<20}{shape:>14}  {r['params']:>12,}  "
                     f"{r['macs']:>14,}  {_rf(r['receptive_field']):>5}  {r['formula'] or ''}")
    if summary.get("partial"):
        lines.append(f"totals below are {summary['partial']}")
    lines.append(f"total params {summary['total_params']:,}; mult-adds {summary['total_macs']:,}; "
                 f"weights {human_bytes(summary['param_bytes'])}; activations {human_bytes(summary['activation_bytes'])}"
                 " per image")
    return "\n".join(lines)
