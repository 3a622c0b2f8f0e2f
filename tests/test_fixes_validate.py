"""Every fix the summary offers (the Architecture page turns each into a button) is one the page
then accepts, and it does what its label says: applied the way the editor applies it, the
network validates, a collapsing layer no longer collapses and an inexact one divides exactly.
Checked over random networks, most of them collapsing somewhere."""

from __future__ import annotations

import json
import random

from alexnet import analyze, summarize
from alexnet.spec import NetSpec, SpecError
from tests.test_oracle import random_spec


def apply(spec: NetSpec, index: int, fix: dict) -> NetSpec:
    """What explorer.editor.apply_fix does with a fix (written out here, not imported)."""
    if fix["kind"] == "field":
        return spec.with_layer(index, spec.layers[index].replace(**{fix["field"]: fix["value"]}))
    if fix["kind"] == "input":
        return spec.with_input(height=fix["height"], width=fix["width"])
    assert fix["kind"] == "delete", fix
    return spec.delete_layer(index)


def check_fixes(spec: NetSpec) -> int:
    checked = 0
    for row in analyze(spec).layers:
        if "Fix: " in (row.message or ""):  # the message lists exactly the fixes offered
            listed = row.message.split("Fix: ", 1)[1].rstrip(".").split("; or ")
            assert listed == [f["label"] for f in row.fixes], (row.message, row.fixes)
        for fix in row.fixes:
            where = json.dumps([spec.to_dict(), row.index, fix])
            try:
                new = apply(spec, row.index, fix)
            except SpecError as e:
                raise AssertionError(f"offered fix refused: {e}; {where}") from None
            if fix["kind"] != "delete":
                after = analyze(new).layers[row.index]
                assert after.status != "error" or after.message != row.message, where
                if row.status == "error":
                    assert after.status != "error", (after.message, where)
                else:
                    assert after.exact, (after.formula, where)
            checked += 1
    return checked


def test_the_issue_case_offers_no_kernel_the_page_refuses():
    spec = NetSpec.from_dict({"input": [1, 3, 3], "layers": [{"type": "maxpool", "kernel": 4, "padding": [0, 2]}]})
    row = summarize(spec)["layers"][0]
    assert row["status"] == "error" and row["fixes"]
    assert all(f["label"] != "shrink the kernel to 3" for f in row["fixes"]) and "shrink" not in row["message"]
    assert check_fixes(spec) == len(row["fixes"])


def test_every_offered_fix_validates_on_random_networks():
    rng = random.Random(99)
    fixes = collapsing = specs = 0
    while specs < 400:
        try:
            spec = NetSpec.from_dict(random_spec(rng))
        except SpecError:
            continue
        specs += 1
        collapsing += bool(analyze(spec).errors)
        fixes += check_fixes(spec)
    assert collapsing >= 80 and fixes >= 300, (collapsing, fixes)
