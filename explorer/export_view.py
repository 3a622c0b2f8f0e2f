"""Download buttons for files other tools open: the network as ONNX (Netron, onnxruntime)
or TorchScript, and runs as TensorBoard event files.  The files are made when the button
is clicked (Streamlit's deferred download), not on every rerun."""

from __future__ import annotations

import streamlit as st

from alexnet.arithmetic import analyze
from alexnet.spec import NetSpec

NETRON_NOTE = ("ONNX opens in Netron and onnxruntime; input fixed at 1×{shape}; every node is named after its "
               "layer (conv1/Conv …). TorchScript loads with torch.jit.load.")


def network_files(spec: NetSpec, key: str = "arch") -> None:
    """ONNX and TorchScript downloads of the current network with PyTorch's default
    initialisation (seed 0): for looking at the graph, not for predictions."""
    from alexnet.export import export_bytes, file_name

    if analyze(spec).errors:
        st.caption("The ONNX and TorchScript downloads appear once the network computes.")
        return
    a, b = st.columns(2)
    a.download_button("ONNX file (random weights)", lambda: export_bytes(spec, "onnx"), icon=":material/download:",
                      file_name=file_name(spec.name, "onnx"), mime="application/octet-stream", key=f"{key}_onnx",
                      on_click="ignore")
    b.download_button("TorchScript file (random weights)", lambda: export_bytes(spec, "torchscript"),
                      icon=":material/download:", file_name=file_name(spec.name, "torchscript"),
                      mime="application/octet-stream", key=f"{key}_torchscript", on_click="ignore")
    st.caption(NETRON_NOTE.format(shape="×".join(map(str, spec.input.shape))) +
               " The weights are random (PyTorch's default initialisation, seed 0); a trained run's network with "
               "its weights is on the Runs page.")


def run_files(store, run: dict) -> None:
    """ONNX and TorchScript downloads of a run's network with its trained (best) weights."""
    from alexnet.export import export_bytes, file_name, run_weights

    if store.checkpoint_path(run["id"], "best") is None and store.checkpoint_path(run["id"], "last") is None:
        return

    def make(fmt: str):
        spec, weights = run_weights(run["id"], "best", store.root)
        return export_bytes(spec, fmt, weights)

    name = (run.get("spec") or {}).get("name", "network")
    for fmt, label in (("onnx", "ONNX (trained weights)"), ("torchscript", "TorchScript (trained weights)")):
        st.download_button(label, lambda fmt=fmt: make(fmt), icon=":material/download:", key=f"rn_{fmt}",
                           file_name=file_name(name, fmt, run["id"]), mime="application/octet-stream",
                           on_click="ignore", help="the run's best checkpoint, for Netron or onnxruntime")


def tensorboard_zip(store, run_ids: list[str], key: str = "rn_tb") -> None:
    """The selected runs as TensorBoard event files in one zip."""
    from alexnet.tensorboard import export_zip

    st.download_button(f"TensorBoard files of {len(run_ids)} run(s) (zip)", lambda: export_zip(store, run_ids),
                       icon=":material/download:", file_name="tensorboard-runs.zip", mime="application/zip",
                       key=key, on_click="ignore", disabled=not run_ids,
                       help="step and epoch metrics, hyper-parameters (HPARAMS) and network summaries; unzip and "
                            "run: tensorboard --logdir tensorboard  (the CLI: python -m alexnet runs "
                            "--export-tensorboard DIR)")
