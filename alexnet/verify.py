"""PyTorch confirms the table: build the network with torch, run ``torchinfo.summary`` on
it, and compare per layer its output shape, parameter count and multiply-adds with the
rows of ``alexnet.summarize`` (which never touches torch).

``torch_rows`` is the torch side (plain data, cacheable per network); ``compare`` sets it
against the table the user is looking at; ``verify`` does both, and refuses a network
over the memory budget (``alexnet.budget``) with a message instead of building it.
No streamlit here; the Architecture page and ``python -m alexnet summary --verify`` use it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .arithmetic import summarize
from .budget import budget_problem
from .spec import NetSpec, as_spec
from .textfmt import shape_text

FIELDS = {"out_shape": "output shape", "params": "parameters", "macs": "multiply-adds"}


@dataclass
class RowCheck:
    """One layer: the table's values and torchinfo's (None: torchinfo has no such layer)."""

    index: int
    name: str
    type: str
    table: dict
    torch: dict | None

    @property
    def differs(self) -> list[str]:
        """The fields whose values differ (all of them when torch has no such layer)."""
        if self.torch is None:
            return list(FIELDS)
        return [f for f in FIELDS if self.table[f] != self.torch[f]]

    @property
    def ok(self) -> bool:
        return not self.differs


@dataclass
class Check:
    """The comparison of a whole network, or why it was not made (``refused``)."""

    rows: list[RowCheck] = field(default_factory=list)
    refused: str | None = None
    seconds: float = 0.0
    torch_totals: dict = field(default_factory=dict)
    versions: str = ""

    @property
    def ok(self) -> bool:
        return self.refused is None and all(r.ok for r in self.rows)

    @property
    def disagreeing(self) -> list[RowCheck]:
        return [r for r in self.rows if not r.ok]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "refused": self.refused, "seconds": round(self.seconds, 3), "versions": self.versions,
                "torch_totals": self.torch_totals,
                "rows": [{"index": r.index, "name": r.name, "type": r.type, "table": r.table, "torch": r.torch,
                          "differs": r.differs} for r in self.rows]}


def refusal(table: dict) -> str | None:
    """Why the network is not built (it does not compute, or it is over the memory budget), or None."""
    if table["errors"]:
        return "the network does not compute, so there is nothing for PyTorch to check: " + table["errors"][0]
    problem = budget_problem(table)
    if problem:
        return "too large to build on this machine: it " + problem
    return None


def torch_rows(spec: NetSpec | dict | str) -> dict:
    """torchinfo's view of the network (random weights, batch 1): per top-level module its
    output shape (batch dropped), parameters and multiply-adds, and the totals."""
    import torch
    import torchinfo

    from .build import build_model

    spec = as_spec(spec)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(spec)
    stats = torchinfo.summary(model, input_size=(1, *spec.input.shape), col_names=("output_size", "num_params",
                              "mult_adds"), depth=1, verbose=0, device="cpu")
    rows = {x.var_name: {"class": x.class_name, "out_shape": list(x.output_size[1:]), "params": int(x.num_params),
                         "macs": int(x.macs)} for x in stats.summary_list if x.depth == 1}
    return {"rows": rows, "total_params": int(stats.total_params), "total_macs": int(stats.total_mult_adds),
            "seconds": time.perf_counter() - t0,
            "versions": f"torch {torch.__version__}, torchinfo {torchinfo.__version__}"}


def compare(table: dict, torch_side: dict) -> Check:
    """Set the table (a ``summarize`` dict) against ``torch_rows``: one RowCheck per table row."""
    rows = []
    for r in table["layers"]:
        mine = {"out_shape": list(r["out_shape"] or []), "params": r["params"], "macs": r["macs"]}
        theirs = torch_side["rows"].get(r["name"])
        rows.append(RowCheck(r["index"], r["name"], r["type"], mine,
                             None if theirs is None else {f: theirs[f] for f in FIELDS}))
    return Check(rows, None, torch_side["seconds"], {"params": torch_side["total_params"],
                                                     "macs": torch_side["total_macs"]}, torch_side["versions"])


def verify(spec: NetSpec | dict | str, table: dict | None = None) -> Check:
    """Build the network with torch and compare with ``table`` (default: its summarize)."""
    spec = as_spec(spec)
    table = table if table is not None else summarize(spec)
    why = refusal(table)
    if why:
        return Check(refused=why)
    return compare(table, torch_rows(spec))


def value_text(f: str, v) -> str:
    return shape_text(v) if f == "out_shape" else f"{v:,}"


def format_check(check: Check) -> str:
    """The comparison as text: one line per layer, a tick or the differing values, then a verdict."""
    if check.refused:
        return f"PyTorch check not run: {check.refused}"
    lines = [f"PyTorch check ({check.versions}, torchinfo.summary on the built network, batch 1):"]
    for r in check.rows:
        if r.ok:
            lines.append(f"  ok    {r.name:<14} {shape_text(r.table['out_shape']):>12}  {r.table['params']:>12,} params"
                         f"  {r.table['macs']:>14,} mult-adds")
        elif r.torch is None:
            lines.append(f"  DIFF  {r.name:<14} torchinfo has no layer of this name")
        else:
            lines.append(f"  DIFF  {r.name:<14} " + "; ".join(
                f"{FIELDS[f]}: table {value_text(f, r.table[f])}, torch {value_text(f, r.torch[f])}"
                for f in r.differs))
    bad = len(check.disagreeing)
    lines.append(f"{len(check.rows) - bad} of {len(check.rows)} layers agree"
                 + (" — the table and PyTorch agree on every layer." if not bad else f"; {bad} differ."))
    return "\n".join(lines)
