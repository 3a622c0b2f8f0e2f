"""Export a network as an ONNX file (for Netron, onnxruntime) or a TorchScript file.

``python -m alexnet export --preset NAME|--config FILE|--run ID --format onnx|torchscript -o FILE``

The weights are PyTorch's default initialisation (seeded: the same file every time) or a
run's trained checkpoint.  The input size is fixed (batch 1 × the spec's input); the
layer names are kept: in ONNX every node is named ``<layer>/<op>`` (``conv1/Conv``), each
layer's output tensor is named after the layer, the initializers are the state-dict keys
(``conv1.weight``) and the model's metadata holds the network spec as JSON.

ONNX goes through torch's exporter (``torch.onnx.export(..., dynamo=True)``, which needs
the ``onnx`` and ``onnxscript`` packages), without its graph optimizer, so that a
BatchNorm is not folded into the conv before it and every layer of the table stays a node.
TorchScript is ``torch.jit.trace`` (torch marks TorchScript as deprecated; it is still
what many C++/mobile deployments load).
"""

from __future__ import annotations

import ast
import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .spec import NetSpec, as_spec

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
ONNX_OPSET = 18
INPUT_NAME, OUTPUT_NAME = "input", "logits"


class ExportError(ValueError):
    """A network or run that cannot be exported, or a missing exporter package."""


# ---- the model ------------------------------------------------------------------------------
def export_model(spec: NetSpec | dict | str, state_dict: dict | None = None, seed: int = 0) -> tuple[NetSpec, nn.Module]:
    """The spec and its model in eval mode: ``state_dict``'s weights, else the default
    initialisation drawn from ``seed``.  SpecError for an invalid network, ExportError for
    weights that do not fit it."""
    from .activations import random_model

    spec = as_spec(spec)
    model = random_model(spec, seed)
    if state_dict is not None:
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise ExportError(f"the weights do not fit the network '{spec.name}': {first}") from None
    return spec, model.eval()


def run_weights(run_id: str, which: str = "best", root: str | os.PathLike | None = None) -> tuple[dict, dict]:
    """(spec dict, state dict) of a stored run's 'best' or 'last' checkpoint."""
    from .activations import read_weights_file
    from .runs import RunStore, RunStoreError

    store = RunStore(root)
    run = store.get_run(RunStore._check_id(run_id))
    if run is None:
        raise RunStoreError(f"no run {run_id!r} in {store.root}")
    path = store.checkpoint_path(run_id, which) or store.checkpoint_path(run_id, "last")
    if path is None:
        raise ExportError(f"run {run_id} has no checkpoint yet (status {run['status']}); "
                          "export it after its first epoch, or export the network with random weights")
    loaded = read_weights_file(path)
    return loaded.spec or run["spec"], loaded.state_dict


def example_input(spec: NetSpec) -> torch.Tensor:
    """The fixed input the exported graph takes: one image of the spec's size (seeded)."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(1, *spec.input.shape, generator=g)


# ---- ONNX -----------------------------------------------------------------------------------
def onnx_bytes(spec: NetSpec, model: nn.Module) -> bytes:
    """The network as an ONNX model (opset 18), layer names kept, the spec in its metadata."""
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it; say so plainly)
    except ImportError:
        raise ExportError("ONNX export needs the packages onnx and onnxscript: pip install onnx onnxscript") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example_input(spec),), dynamo=True, optimize=False, verbose=False,
                                    opset_version=ONNX_OPSET, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME])
    name_layers(program.model)
    program.model.graph.name = spec.name
    program.model.doc_string = f"{spec.name}: exported by AlexNet Explorer, input 1×{'×'.join(map(str, spec.input.shape))}"
    program.model.metadata_props["alexnet.spec"] = spec.to_json(indent=None)
    return program.model_proto.SerializeToString()


def _layer_of(node) -> str | None:
    """The top-level module (spec layer) a node of torch's exported graph came from."""
    scopes = node.metadata_props.get("pkg.torch.onnx.name_scopes")
    if not scopes:
        return None
    try:
        names = ast.literal_eval(scopes)
    except (ValueError, SyntaxError):
        return None
    return names[1] if isinstance(names, list) and len(names) > 1 and names[1] else None


def name_layers(model) -> None:
    """Name each node ``<layer>/<op>`` and each layer's output tensor ``<layer>`` (an
    ``onnx_ir`` model, as torch's exporter gives it)."""
    graph = model.graph
    outputs = {id(v) for v in graph.outputs}
    taken: set[str] = set()
    last: dict[str, object] = {}
    for node in graph:
        layer = _layer_of(node)
        if layer is None:
            continue
        base = f"{layer}/{node.op_type}"
        name, k = base, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        node.name = name
        last[layer] = node
    for layer, node in last.items():
        out = node.outputs[0]
        if id(out) not in outputs:
            out.name = layer


# ---- TorchScript -----------------------------------------------------------------------------
def torchscript_bytes(spec: NetSpec, model: nn.Module) -> bytes:
    """The network traced at its fixed input size, saved with ``torch.jit.save``; the spec
    rides along as the extra file ``spec.json``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace's deprecation notice
        traced = torch.jit.trace(model, example_input(spec))
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={"spec.json": spec.to_json(indent=None)})
    return buf.getvalue()


def export_bytes(spec: NetSpec | dict | str, fmt: str, state_dict: dict | None = None) -> bytes:
    """The network (random or ``state_dict``'s weights) as an ONNX or TorchScript file."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    spec, model = export_model(spec, state_dict)
    with torch.no_grad():
        return onnx_bytes(spec, model) if fmt == "onnx" else torchscript_bytes(spec, model)


def file_name(spec_name: str, fmt: str, run_id: str | None = None) -> str:
    """A download name such as ``alexnet-cifar-32.onnx`` (``…-<run id>.onnx`` for a run)."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec_name) or "network"
    return f"{stem}-{run_id}{FORMATS[fmt]}" if run_id else f"{stem}{FORMATS[fmt]}"


# ---- command line ----------------------------------------------------------------------------
def add_parsers(sub) -> None:
    sp = sub.add_parser("export", help="write the network as an ONNX (Netron, onnxruntime) or TorchScript file",
                        description="Export a network with random weights, or a stored run's trained weights.")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--preset", help="a preset name (see `presets`); default paper-2012")
    g.add_argument("--config", help="a network spec JSON file")
    g.add_argument("--run", metavar="ID", help="a stored run: its network with its trained weights")
    sp.add_argument("--input", help="override the input size, e.g. 3x64x64 (not with --run)")
    sp.add_argument("--checkpoint", choices=("best", "last"), default="best", help="with --run: which checkpoint")
    sp.add_argument("--runs-dir", help="run store folder (default $ALEXNET_RUNS_DIR or ./runs)")
    sp.add_argument("--format", choices=list(FORMATS), default="onnx", help="file format (default onnx)")
    sp.add_argument("-o", "--output", required=True, help="the file to write")
    sp.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    """Bad input (spec, run, files) is reported by ``cli.main`` as ``error: …``, exit 2."""
    from .cli_common import load_spec

    state = None
    if args.run:
        if args.input:
            raise ExportError("--input cannot change a trained run's network; drop --input")
        spec_dict, state = run_weights(args.run, args.checkpoint, args.runs_dir)
        spec = as_spec(spec_dict)
    else:
        spec = load_spec(args.preset, args.config, args.input)
    data = export_bytes(spec, args.format, state)
    out = Path(args.output)
    out.write_bytes(data)
    weights = f"run {args.run}'s {args.checkpoint} weights" if args.run else "random weights"
    print(json.dumps({"file": str(out), "format": args.format, "bytes": len(data), "network": spec.name,
                      "input": [1, *spec.input.shape], "weights": weights}))
    return 0
