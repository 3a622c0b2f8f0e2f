"""Devices: what a device name means on this machine, which devices a run can use, and a
label for one.  The one home for 'auto' (cuda > mps > cpu): the engine resolves a run's
device with ``resolve_device``, the scheduler keys its queues with ``device_key``.
torch is imported when a function needs it, so importing this module is cheap."""

from __future__ import annotations

import functools
import glob
import sys

from .config import ConfigError

# Device files a GPU backend of PyTorch needs: NVIDIA's driver (/dev/nvidia0 …), WSL's GPU
# bridge (/dev/dxg) and AMD's ROCm (/dev/kfd).  Without any of them (and off macOS, which has
# MPS) PyTorch can only see the CPU, which is known without importing it (seconds).
GPU_DEVICE_FILES = ("/dev/nvidia[0-9]*", "/dev/dxg", "/dev/kfd")


def surely_cpu_only() -> bool:
    """True when this machine certainly has no device but the CPU for PyTorch (no GPU device
    files, not macOS), decided without importing torch; False when only torch can tell.  Never
    waits for torch, not even while another thread imports it (explorer.preload)."""
    return sys.platform != "darwin" and not any(glob.glob(p) for p in GPU_DEVICE_FILES)


def _mps_available(torch) -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def _auto_device() -> str:
    """cuda if there is a CUDA GPU, else mps if available, else cpu."""
    if surely_cpu_only():
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "mps" if _mps_available(torch) else "cpu"


def resolve_device(name: str | None = "auto"):
    """The torch.device a run trains on: 'auto' → cuda > mps > cpu.  A named device
    must exist here (ConfigError saying what to use instead)."""
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device(_auto_device())
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' asked for, but this PyTorch sees no CUDA GPU; use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not _mps_available(torch):
        raise ConfigError("device 'mps' asked for, but it is not available")
    return dev


@functools.lru_cache(maxsize=64)
def device_key(name: str | None) -> str:
    """The device a run will occupy, as the scheduler's key: 'auto' → cuda:0, mps or cpu;
    'cuda' → cuda:0; any other name as given (lower case)."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        name = _auto_device()
    return "cuda:0" if name == "cuda" else name


def gpu_count() -> int:
    """CUDA GPUs on this machine (0 without CUDA): how many a multi-GPU run may use."""
    if surely_cpu_only():
        return 0
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # torch missing or broken: no GPU
        return 0


def available_devices() -> list[str]:
    """Devices a run can be sent to on this machine, 'auto' first."""
    out = ["auto", "cpu"]
    if surely_cpu_only():
        return out
    try:
        import torch

        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        if _mps_available(torch):
            out.append("mps")
    except Exception:  # torch missing or broken: CPU is still a device
        pass
    return out


def device_label(dev) -> str:
    """'cuda (NVIDIA H100)', 'cpu (2 threads)', 'mps'."""
    import torch

    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    if dev.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(dev)
