"""Arbitrary JSON in every field of every layer type, in the input and in the network's
own fields: ``NetSpec.from_dict`` gives a spec whose summary computes, or a SpecError —
never another exception — and ``python -m alexnet summary --config FILE`` exits 0 or 2
with one ``error: …`` line.  Layer types and field names come from ``alexnet.spec`` at
test time, so a new layer type is fuzzed the day it is registered (issue 14)."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alexnet.arithmetic import analyze
from alexnet.cli import main
from alexnet.spec import LAYER_TYPES, InputSpec, NetSpec, SpecError

TYPES = sorted(LAYER_TYPES)
FIELDS = {t: [f.name for f in dataclasses.fields(cls)] for t, cls in LAYER_TYPES.items()}
INPUT_FIELDS = [f.name for f in dataclasses.fields(InputSpec)]
WORDS = ["same", "valid", "zeros", "reflect", "replicate", "circular", "relu", "tanh", "max", "avg", "conv1",
         "", "x" * 100, "__init__", "1a"] + TYPES

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.integers(), st.floats(),
                    st.sampled_from(WORDS), st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                           max_leaves=12)
rarely = st.integers(0, 9).map(lambda i: i == 7)  # about one draw in ten (hypothesis favours 0 and 9)
field_values = st.one_of(json_values, st.lists(st.integers(-2, 40), min_size=1, max_size=3), st.integers(0, 12))


@st.composite
def layers(draw):
    """A layer of any type: mostly its defaults with one to three fields set to arbitrary
    JSON (so most networks get past the first check and into the shape walk)."""
    t = draw(st.sampled_from(TYPES))
    d = {"type": t}
    names = [n for n in FIELDS[t] if n != "name"]
    if names:
        for name in draw(st.lists(st.sampled_from(names), unique=True, max_size=min(3, len(names)))):
            d[name] = draw(field_values)
    if draw(rarely):
        d[draw(st.sampled_from(["name", "type", "bogus"]))] = draw(json_values)
    return d


@st.composite
def specs(draw):
    """A network dict: a valid input and name most of the time, a few layers (a flatten
    often in the middle, so linear layers can follow), sometimes arbitrary JSON anywhere."""
    side = st.integers(1, 40)
    d = {"name": "fuzz", "input": {"channels": draw(st.integers(1, 4)), "height": draw(side), "width": draw(side)},
         "layers": draw(st.lists(layers(), min_size=1, max_size=5))}
    if draw(st.booleans()):
        d["layers"].insert(draw(st.integers(0, len(d["layers"]))), {"type": "flatten"})
    for f in draw(st.lists(st.sampled_from(INPUT_FIELDS), unique=True, max_size=2)):
        d["input"][f] = draw(field_values)
    if draw(st.booleans()):
        d["num_classes"] = draw(st.one_of(st.integers(0, 20), field_values))
    if draw(rarely):
        d["layers"].append(draw(json_values))
    if draw(rarely):
        d[draw(st.sampled_from(["name", "input", "layers", "extra"]))] = draw(json_values)
    return d


def _check(d) -> None:
    try:
        spec = NetSpec.from_dict(d)
    except SpecError:
        return
    summary = analyze(spec)  # a valid spec's summary computes (errors such as a collapse are data)
    json.dumps(summary.to_dict())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_from_dict_gives_a_spec_or_a_spec_error(d):
    _check(d)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_from_dict_of_any_json_value(d):
    _check(d)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(specs())
def test_summary_cli_exits_0_or_2_with_one_error_line(tmp_path, capsys, d):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(d))
    capsys.readouterr()
    rc = main(["summary", "--config", str(path)])
    out, err = (text.strip() for text in capsys.readouterr())
    assert rc in (0, 2) and "Traceback" not in err + out
    if rc == 2 and err:  # a bad spec: one line on stderr
        assert err.startswith("error: ") and "\n" not in err, err
    elif rc == 2:  # a network that collapses: the table names the layer
        assert "\nerror: layer " in out, out
