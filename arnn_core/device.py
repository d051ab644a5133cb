"""Where tensors live: CUDA when present, else the CPU (never required)."""

from __future__ import annotations

import torch

__all__ = ["default_device", "available_devices", "device_description", "resolve_device"]


def available_devices() -> list[str]:
    """``["cpu"]`` plus ``"cuda:k"`` for every visible CUDA device."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{k}" for k in range(torch.cuda.device_count())]
    return devices


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def resolve_device(device=None) -> torch.device:
    """``None``/"auto" → :func:`default_device`; otherwise the named device, refused with a
    ``ValueError`` when it does not exist here."""
    if device is None or device == "auto":
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available (torch {torch.__version__})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise ValueError(f"device {device!r} is not supported; use 'cpu' or 'cuda'")
    return dev


def device_description(device=None) -> str:
    """A one-line human description: the CUDA card's name and memory, or the CPU, and torch's version."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        return f"CUDA {props.name} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}"
    return f"CPU ({torch.get_num_threads()} threads), torch {torch.__version__}"
