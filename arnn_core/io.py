"""Runs on disk: a trained network, its system, its configuration and its history — never pickle.

A *run* is a directory (or the same four files in one zip archive, for a single download):

    config.json          format marker, architecture name and options, dtype, training config
    history.json         the list of records the training driver emitted
    system.json          the spin system (SpinSystem.to_dict, physics.md §1)
    weights.safetensors  the network's state_dict (parameters and persistent buffers)

:func:`load_run` rebuilds the network with :func:`arnn_core.make_arnn` from the recorded name and
options and loads the weights strictly, so a run saved by the app loads in the CLI and back.
Sample files (Monte Carlo output, uploads) are read and written by :func:`load_samples` and
:func:`save_samples` as .npy, .npz (``allow_pickle=False``) or text.
"""

from __future__ import annotations

import datetime as _dt
import io as _io
import json
import math
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

__all__ = ["Run", "save_run", "load_run", "run_to_zip_bytes", "load_run_zip", "to_jsonable",
           "load_samples", "save_samples", "RUN_FORMAT"]

RUN_FORMAT = "arnn-run"
_RUN_VERSION = 1
_FILES = ("config.json", "history.json", "system.json", "weights.safetensors")
#: Refuse zip archives whose members unpack to more than this (a zip bomb guard).
MAX_RUN_BYTES = 4 * 2**30

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
           "bfloat16": torch.bfloat16}


@dataclass
class Run:
    """A loaded run: the rebuilt network, its system, the saved config and the history."""

    net: torch.nn.Module
    system: object
    config: dict
    history: list = field(default_factory=list)
    path: str | None = None

    def __iter__(self):
        # allows ``net, system, config, history = load_run(path)``
        return iter((self.net, self.system, self.config, self.history))

    @property
    def last_beta(self) -> float | None:
        """β of the last history record (or the config's last β), if any."""
        for record in reversed(self.history):
            if isinstance(record, dict) and record.get("beta") is not None:
                return float(record["beta"])
        betas = (self.config.get("training") or {}).get("betas")
        return float(betas[-1]) if betas else None


def to_jsonable(obj):
    """Plain JSON types from numpy/torch values, dataclasses and tuples; NaN/inf become None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return to_jsonable(asdict(obj))
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _run_files(net, system, config, history) -> dict[str, bytes]:
    from . import __version__

    arch = getattr(net, "arch_name", None)
    if not arch or arch == "arnn":
        raise ValueError("the network has no registered architecture name (build it with make_arnn) "
                         "so it could not be rebuilt from a saved run")
    if system is None or not hasattr(system, "to_dict"):
        raise ValueError("save_run needs the SpinSystem the network was built for")
    if getattr(net, "n", system.n) != system.n:
        raise ValueError(f"the network has N = {net.n} spins but the system has N = {system.n}")
    dtype = str(net.dtype).replace("torch.", "")
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    cfg = {
        "format": RUN_FORMAT,
        "version": _RUN_VERSION,
        "architecture": arch,
        "options": to_jsonable(dict(getattr(net, "options", {}) or {})),
        "n": system.n,
        "dtype": dtype,
        "num_params": int(net.num_params()) if hasattr(net, "num_params") else None,
        "library_version": __version__,
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "training": to_jsonable(config or {}),
    }
    return {
        "config.json": json.dumps(cfg, indent=1).encode("utf-8"),
        "history.json": json.dumps(to_jsonable(list(history or []))).encode("utf-8"),
        "system.json": json.dumps(system.to_dict()).encode("utf-8"),
        "weights.safetensors": _st_save(state, metadata={"format": RUN_FORMAT, "architecture": arch}),
    }


def save_run(path, net, system, config: dict | None = None, history: list | None = None) -> str:
    """Write a run directory (see the module docstring) and return its path.

    ``config`` is the training configuration (any JSON-able dict: mode, β schedule, lr, …);
    ``history`` the training records. Files are written to temporary names and renamed, so a
    checkpoint interrupted half-way never leaves a corrupt run. A path ending in ``.zip`` writes
    the zip archive of :func:`run_to_zip_bytes` instead.
    """
    path = os.fspath(path)
    files = _run_files(net, system, config, history)
    if path.endswith(".zip"):
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(_zip_files(files))
        os.replace(tmp, path)
        return path
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{path!r} exists and is not a directory")
    os.makedirs(path, exist_ok=True)
    for name, data in files.items():
        tmp = os.path.join(path, name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, os.path.join(path, name))
    return path


def _zip_files(files: dict[str, bytes]) -> bytes:
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def run_to_zip_bytes(net, system, config: dict | None = None, history: list | None = None) -> bytes:
    """The run as one zip archive in memory (for a single download); read it with :func:`load_run_zip`."""
    return _zip_files(_run_files(net, system, config, history))


def _run_from_files(files: dict[str, bytes], where: str) -> Run:
    from .architectures import make_arnn
    from .systems import SpinSystem

    missing = [name for name in _FILES if name not in files]
    if missing:
        raise ValueError(f"{where} is not a complete run: missing {', '.join(missing)}")

    def read_json(name):
        try:
            return json.loads(files[name].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{where}: {name} is not valid JSON: {exc}") from None

    config = read_json("config.json")
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise ValueError(f"{where}: config.json is not an ARNN run (missing 'format': '{RUN_FORMAT}')")
    if int(config.get("version", 0)) > _RUN_VERSION:
        raise ValueError(f"{where}: run format version {config.get('version')} is newer than this library "
                         f"reads ({_RUN_VERSION})")
    history = read_json("history.json")
    if not isinstance(history, list):
        raise ValueError(f"{where}: history.json must hold a list of records")
    system = SpinSystem.from_dict(read_json("system.json"))
    options = config.get("options") or {}
    if not isinstance(options, dict):
        raise ValueError(f"{where}: config.json 'options' must be an object")
    net = make_arnn(config.get("architecture"), system, **options)
    dtype = _DTYPES.get(str(config.get("dtype", "")))
    if dtype is not None:
        net.to(dtype)
    try:
        state = _st_load(files["weights.safetensors"])
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{where}: weights.safetensors is not a readable safetensors file: {exc}") from None
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{where}: the weights do not fit {config.get('architecture')} with options "
                         f"{options}: {exc}") from None
    beta = None
    for record in reversed(history):
        if isinstance(record, dict) and record.get("beta") is not None:
            beta = record["beta"]
            break
    if getattr(net, "analytic", False) and beta is not None:
        net.set_beta(float(beta))  # analytic weights are a function of β: re-derive them exactly
    net.eval()
    return Run(net=net, system=system, config=config, history=history, path=where)


def load_run(path) -> Run:
    """Read a run directory (or a ``.zip`` written by :func:`save_run` / :func:`run_to_zip_bytes`).

    Returns a :class:`Run` (it also unpacks as ``net, system, config, history``); the network is
    rebuilt by name and options with :func:`arnn_core.make_arnn` and its weights loaded strictly.
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            run = load_run_zip(fh.read(), where=path)
        run.path = path
        return run
    if not os.path.isdir(path):
        raise ValueError(f"no run at {path!r} (expected a run directory or a .zip archive)")
    files = {}
    for name in _FILES:
        full = os.path.join(path, name)
        if os.path.isfile(full):
            with open(full, "rb") as fh:
                files[name] = fh.read()
    return _run_from_files(files, path)


def load_run_zip(data: bytes, where: str = "the uploaded archive") -> Run:
    """Read a run from the bytes of a zip archive (an upload); see :func:`run_to_zip_bytes`."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"load_run_zip needs bytes, got {type(data).__name__}")
    try:
        with zipfile.ZipFile(_io.BytesIO(bytes(data))) as zf:
            infos = {os.path.basename(info.filename): info for info in zf.infolist()
                     if not info.is_dir() and os.path.basename(info.filename) in _FILES}
            total = sum(info.file_size for info in infos.values())
            if total > MAX_RUN_BYTES:
                raise ValueError(f"{where} unpacks to {total / 2**30:.1f} GiB, over the "
                                 f"{MAX_RUN_BYTES / 2**30:.0f} GiB limit")
            files = {name: zf.read(info) for name, info in infos.items()}
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{where} is not a zip archive: {exc}") from None
    return _run_from_files(files, where)


# ---------------------------------------------------------------------- sample files
def load_samples(path_or_bytes, format: str | None = None, max_bytes: int | None = None) -> np.ndarray:
    """Read an (M, N) array of ±1 spins from .npy, .npz or text (.txt/.csv/.dat, whitespace or
    commas); ``format`` ("npy", "npz", "txt") is required for bytes. Never unpickles.

    A text file of 0/1 is refused rather than guessed at: convert with ``2*x - 1`` first.
    """
    if isinstance(path_or_bytes, (bytes, bytearray)):
        raw = bytes(path_or_bytes)
        if format not in ("npy", "npz", "txt", "csv"):
            raise ValueError("loading samples from bytes needs format='npy', 'npz' or 'txt'")
        where = "the uploaded samples"
    else:
        path = os.fspath(path_or_bytes)
        if not os.path.isfile(path):
            raise ValueError(f"no sample file at {path!r}")
        ext = os.path.splitext(path)[1].lower().lstrip(".")
        format = format or {"npy": "npy", "npz": "npz", "txt": "txt", "csv": "csv", "dat": "txt"}.get(ext)
        if format is None:
            raise ValueError(f"unknown sample format for {path!r}: use .npy, .npz, .txt or .csv")
        with open(path, "rb") as fh:
            raw = fh.read()
        where = path
    if max_bytes is not None and len(raw) > max_bytes:
        raise ValueError(f"{where} is {len(raw) / 2**20:.1f} MiB, over the {max_bytes / 2**20:.0f} MiB limit")
    try:
        if format == "npy":
            arr = np.load(_io.BytesIO(raw), allow_pickle=False)
        elif format == "npz":
            with np.load(_io.BytesIO(raw), allow_pickle=False) as data:
                key = "samples" if "samples" in data else (data.files[0] if data.files else None)
                if key is None:
                    raise ValueError(f"{where}: the NPZ archive holds no array")
                arr = data[key]
        else:
            text = raw.decode("utf-8")
            arr = np.loadtxt(_io.StringIO(text.replace(",", " ")), ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{where}: could not read samples: {exc}") from None
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{where}: could not read samples: {exc}") from None
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ValueError(f"{where}: samples must be a 2-D (M, N) array with N ≥ 2, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
        raise ValueError(f"{where}: samples must be numeric ±1, got dtype {arr.dtype}")
    ok = (arr == 1) | (arr == -1)
    if not ok.all():
        bad = arr[~ok].flat[0]
        hint = " (0/1 data: convert with 2*x - 1)" if set(np.unique(arr).tolist()) <= {0, 1} else ""
        raise ValueError(f"{where}: samples must contain only +1 and -1, found {bad!r}{hint}")
    return arr.astype(np.int8)


def save_samples(path, samples) -> str:
    """Write ±1 samples as .npy (int8), .npz (key 'samples') or text (.txt/.csv), by extension."""
    path = os.fspath(path)
    arr = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    arr = arr.astype(np.int8)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        np.save(path, arr, allow_pickle=False)
    elif ext == ".npz":
        np.savez_compressed(path, samples=arr)
    elif ext in (".txt", ".csv", ".dat"):
        np.savetxt(path, arr, fmt="%d", delimiter="," if ext == ".csv" else " ")
    else:
        raise ValueError(f"unknown sample format for {path!r}: use .npy, .npz, .txt or .csv")
    return path
