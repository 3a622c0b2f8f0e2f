"""Property tests (hypothesis) of the spec loader and the arithmetic: generated specs round-trip
through JSON, their summary's shapes equal the independent oracle's (tests/oracle.py), and the
written formula never shows a number whose floor is not the output size."""

from __future__ import annotations

import math
import re
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alexnet import summarize
from alexnet.spec import NetSpec, SpecError
from alexnet.window import dim_arith
from tests import oracle
from tests.test_oracle import random_spec

SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much]


@st.composite
def valid_specs(draw):
    """A valid spec dict (all fields filled in) from the oracle test's generator, driven by hypothesis."""
    rng = draw(st.randoms(use_true_random=False))
    for _ in range(50):
        try:
            return NetSpec.from_dict(random_spec(rng)).to_dict()
        except SpecError:
            continue
    return NetSpec.from_dict({"input": [1, 8, 8], "layers": [{"type": "relu"}]}).to_dict()


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(valid_specs())
def test_to_dict_from_dict_round_trip(d):
    spec = NetSpec.from_dict(d)
    assert spec.to_dict() == d
    assert NetSpec.from_json(spec.to_json()) == spec
    assert summarize(spec.to_json()) == summarize(d)


@settings(max_examples=120, deadline=None, suppress_health_check=SLOW)
@given(valid_specs())
def test_summary_shapes_equal_the_oracle_shapes(d):
    s = summarize(d)
    steps = oracle.build(d, macs=False)
    for row, step in zip(s["layers"], steps):
        if row["status"] == "error" or step.error:
            assert row["status"] == "error" and step.error, (row["index"], row["message"], step.error, d)
            return
        assert tuple(row["out_shape"]) == step.out_shape, (row["index"], row["formula"], d)
        assert row["params"] == step.params
    assert len(steps) == len(s["layers"])


# ---- the formula's arrow ---------------------------------------------------------------------
NUMBER = r"(-?\d+(?:\.\d+)?)"


def check_formula(w, k, s, p, d, ceil):
    dim = dim_arith(w, k, s, p, d, ceil)
    text = dim.formula()
    if m := re.search(rf"= {NUMBER} → (\d+)$", text):
        shown, out = Fraction(m.group(1)), int(m.group(2))
        assert out == dim.out and math.floor(shown) == out and shown != out, text  # never '= 3 → 2', nor '= 2 → 2'
    elif m := re.search(rf"= {NUMBER} < 1$", text):
        shown = Fraction(m.group(1))
        true = Fraction(dim.numerator, s) + 1
        assert shown < 1 and math.floor(shown) == math.floor(true), text
        assert (shown.denominator == 1) == (true.denominator == 1), text
    elif not ceil and p != "same":
        assert re.search(rf"= {dim.out}$", text) and dim.exact, text


@settings(max_examples=3000, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 1024), st.integers(1, 1024),
       st.one_of(st.integers(0, 64), st.sampled_from(["same", "valid"])), st.integers(1, 8), st.booleans())
def test_the_shown_quotient_floors_to_the_output(w, k, s, p, d, ceil):
    check_formula(w, k, s, p, d, ceil)


def test_the_issue_cases():
    assert dim_arith(400, 1, 200, 0).formula() == "(400 − 1)/200 + 1 = 2.995 → 2"
    assert dim_arith(5, 1006, 1000, 0).formula() == "(5 − 1006)/1000 + 1 = -0.001 < 1"
    for s in range(2, 1025):  # the closest a quotient gets to the next integer: (s − 1)/s
        check_formula(2 * s - 1, 1, s, 0, 1, False)
