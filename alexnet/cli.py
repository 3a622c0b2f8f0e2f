"""Command line: ``python -m alexnet presets | summary | train | runs``.

Exit codes: 0 fine, 2 invalid input or a network that collapses (with a clear
message on stderr, never a traceback); ``summary --verify``: 1 when PyTorch disagrees
with a row of the table.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys

from .arithmetic import Summary, analyze
from .cli_common import fail, load_spec
from .presets import get_preset, list_presets
from .textfmt import human_bytes, one_line, shape_text


def format_table(summary: Summary) -> str:
    """A torchinfo-like aligned table with a formula column, totals and warnings."""
    rows = [("#", "Layer (type)", "Output shape", "Param #", "Mult-Adds", "RF", "Formula")]
    for x in summary.layers:
        if x.status == "not_computed":
            rows.append((str(x.index), f"{x.name} ({x.type})", "not computed", "—", "—", "—", ""))
            continue
        if x.status == "error":
            rows.append((str(x.index), f"{x.name} ({x.type})", "ERROR", "—", "—", "—", x.formula or ""))
            continue
        rf = x.receptive_field
        rf_s = shape_text(rf) if isinstance(rf, list) else str(rf)
        mark = "" if x.exact in (None, True) else "  (!)"
        rows.append((str(x.index), f"{x.name} ({x.type})", shape_text(x.out_shape), f"{x.params:,}",
                     f"{x.macs:,}", rf_s, (x.formula or "") + mark))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    line = "=" * (sum(widths) + 2 * 6 + 20)
    out = [line, f"{summary.name}: input {shape_text(summary.input_shape)}", line]
    for j, r in enumerate(rows):
        cells = [r[0].rjust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                 r[3].rjust(widths[3]), r[4].rjust(widths[4]), r[5].rjust(widths[5]), r[6]]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("-" * len(line))
    out.append(line)
    partial = f"  ({summary.partial})" if summary.partial else ""
    out.append(f"Total params: {summary.total_params:,}{partial}")
    out.append(f"Total mult-adds: {summary.total_macs:,}{partial}")
    out.append(f"Params size (fp32): {human_bytes(summary.param_bytes)}")
    out.append(f"Activations per image (fp32): {human_bytes(summary.activation_bytes)}")
    out.append(line)
    for w in summary.warnings:
        out.append(f"warning: {w}")
    for e in summary.errors:
        out.append(f"error: {e}")
    return "\n".join(out)


def cmd_presets(args) -> int:
    rows = []
    for name in list_presets():
        p = get_preset(name)
        s = analyze(p.spec)
        rows.append({"name": name, "input": list(p.spec.input.shape), "params": s.total_params,
                     "params_partial": bool(s.partial), "source": p.source, "collapses": bool(s.errors),
                     "note": p.note})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        flag = "  (collapses: params of the layers before the collapse only)" if r["collapses"] else ""
        what = "params (partial)" if r["params_partial"] else "params"
        print(f"{r['name'].ljust(w)}  {shape_text(r['input']):>11}  {r['params']:>12,} {what}  {r['source']}{flag}")
    return 0


def cmd_summary(args) -> int:
    spec = load_spec(args.preset, args.config, args.input)
    summary = analyze(spec)
    check = _torch_check(spec, summary) if args.verify else None
    if args.json:
        print(json.dumps({**summary.to_dict(), **({"verify": check.to_dict()} if check else {})}, indent=2,
                         ensure_ascii=False))
    else:
        print(format_table(summary))
    if summary.errors:
        if args.json:
            print(f"error: {summary.errors[0]}", file=sys.stderr)
        return 2
    if check is not None:
        return _check_exit(check, args.json)
    return 0


def _torch_check(spec, summary: Summary):
    from .verify import verify  # torch only when asked

    return None if summary.errors else verify(spec, summary.to_dict())


def _check_exit(check, as_json: bool) -> int:
    """--verify: the comparison (text mode), and exit 0 (agree), 1 (a layer differs) or 2 (refused)."""
    from .verify import format_check

    if check.refused:
        return fail(f"PyTorch check not run: {check.refused}")
    if not as_json:
        print(format_check(check))
    return 0 if check.ok else 1


LIGHT_COMMANDS = ("presets", "summary")  # pure arithmetic: no torch import


def build_parser(training: bool = True) -> argparse.ArgumentParser:
    """The argument parser; ``training=False`` leaves out the commands that need torch."""
    p = argparse.ArgumentParser(prog="python -m alexnet", description="AlexNet Explorer command line")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("presets", help="list the preset networks")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_presets)

    sp = sub.add_parser("summary", help="per-layer shapes, formulas, params, MACs, receptive fields")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--preset", help="a preset name (see `presets`); default paper-2012")
    g.add_argument("--config", help="a network spec JSON file")
    sp.add_argument("--input", help="override the input size, e.g. 3x224x224")
    sp.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    sp.add_argument("--verify", action="store_true",
                    help="build the network with PyTorch and check every row with torchinfo.summary "
                         "(exit 1 if a layer differs; refused over the memory budget)")
    sp.set_defaults(func=cmd_summary)

    if not training:
        return p
    from . import experiments_cli, export, train_cli  # here: `presets` and `summary` start without them

    train_cli.add_parsers(sub)
    experiments_cli.add_parsers(sub)
    export.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command.  The one place that turns an expected error into ``error: …`` on
    stderr and exit 2: every input error of the package is a ValueError (SpecError,
    ConfigError, DatasetError, RunStoreError, WeightsError, InputError …); OSError is a
    file that cannot be used; sqlite3.Error a run store that fails while in use."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(training=not (argv and argv[0] in LIGHT_COMMANDS))
    args = parser.parse_args(argv)
    args.argv = list(argv)  # the launcher (train --nproc N) passes them on to its processes
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, sqlite3.Error) as e:
        return fail(error_line(e))


def error_line(e: BaseException) -> str:
    """An expected error as one line (an OSError names its file)."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    if isinstance(e, sqlite3.Error):
        return f"the run store failed: {e}"
    return one_line(str(e)) or type(e).__name__
