"""What the command-line modules share: the network a command works on, the error line,
and the training-option flags (from ``TrainConfig``'s field metadata).  ``cli``,
``train_cli`` and ``experiments_cli`` import this module; it imports none of them."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable

from .config import OPTIONS, ConfigError
from .presets import get_preset
from .spec import NetSpec, SpecError


def parse_input(text: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[x×,]\s*(\d+)\s*[x×,]\s*(\d+)\s*", text)
    if not m:
        raise SpecError(f"--input must look like 3x224x224 (channels x height x width), got {text!r}")
    return int(m[1]), int(m[2]), int(m[3])


class InputError(ValueError):
    """A file named on the command line that cannot be used; the message is the error line."""


def read_text(path: str, flag: str, limit: int = 2_000_000) -> str:
    """The UTF-8 text of the file a flag names (a JSON spec or training config: a few KB)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(limit + 1)
    except OSError as e:
        raise InputError(f"cannot read {flag} {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{flag} {path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at position {e.start}); "
                         "save it as UTF-8 JSON") from None
    if len(text) > limit:
        raise InputError(f"{flag} {path} is larger than {limit // 1_000_000} MB; a JSON spec or config is a few KB")
    return text


def read_json(path: str, flag: str) -> object:
    """The JSON value in the file a flag names."""
    text = read_text(path, flag)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, nested too deep, too many digits
        raise InputError(f"{flag} {path} is not valid JSON: {e}") from None


def load_spec(preset: str | None, config: str | None, input_: str | None) -> NetSpec:
    """The spec a command works on, from --preset or --config, with --input applied."""
    if config:
        spec = NetSpec.from_json(read_text(config, "--config"))
    else:
        spec = get_preset(preset or "paper-2012").spec
    if input_:
        c, h, w = parse_input(input_)
        spec = spec.with_input(c, h, w)
    return spec


def fail(msg: str) -> int:
    """Print ``error: msg`` on stderr; the exit code for invalid input."""
    print(f"error: {msg}", file=sys.stderr)
    return 2


# ---- training options as flags ---------------------------------------------------------------
def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def config_flags() -> list[str]:
    """The TrainConfig fields that are flags of `python -m alexnet train`, in field order."""
    return [name for name, opt in OPTIONS.items() if opt.flag]


def add_config_flags(parser: argparse.ArgumentParser, fields: Iterable[str] | None = None) -> None:
    """One flag per training option (default None: the recipe decides), with the option's
    help, choices and range.  Booleans get --x / --no-x."""
    for name in fields if fields is not None else config_flags():
        opt = OPTIONS[name]
        rng = opt.range_text()
        help_text = opt.help + (f"; {rng}" if rng else "") + (f" ({opt.unit})" if opt.unit else "")
        if opt.kind is bool:
            parser.add_argument(flag_name(name), action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif opt.choices:
            parser.add_argument(flag_name(name), choices=list(opt.choices), help=help_text)
        else:
            parser.add_argument(flag_name(name), type=opt.kind, help=help_text)


def config_overrides(args: argparse.Namespace, fields: Iterable[str] | None = None) -> dict:
    """The training options given as flags (those left out stay with the recipe)."""
    names = fields if fields is not None else config_flags()
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def config_error_text(e: ConfigError, given: dict) -> str:
    """The message of a bad training option, naming the flag when it came from one."""
    if e.field in given and e.requirement:
        return f"{flag_name(e.field)} {e.requirement}, got {given[e.field]!r}"
    return str(e)
