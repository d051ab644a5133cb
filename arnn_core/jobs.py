"""Background jobs for an interactive front end (the Streamlit app), with no UI code in them.

A :class:`Job` owns one worker thread that runs a training function (variational, likelihood, or
a sequence of runs for a comparison) and collects what the training reports through ``on_step``
into a lock-protected list. The UI only ever reads :meth:`Job.snapshot` — a consistent copy — and
asks it to :meth:`Job.stop`; the worker never touches the UI. Failures end the job with a short
message (CUDA out-of-memory gets advice), never a traceback for the user; the traceback is kept
in :attr:`Job.traceback` for logs.

The factories :func:`variational_job`, :func:`likelihood_job` and :func:`compare_job` wire the
library's training functions (physics.md §5) into a job; :func:`run_job_sync` runs one inline
(tests, scripts).
"""

from __future__ import annotations

import math
import threading
import time
import traceback as _traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

__all__ = [
    "Job",
    "JobContext",
    "JobSnapshot",
    "JOB_STATES",
    "variational_job",
    "likelihood_job",
    "compare_job",
    "replay_job",
    "estimate_memory_bytes",
    "available_memory_bytes",
    "check_fits_device",
    "friendly_error",
]

#: Life cycle of a job: created → running → one of the terminal states.
JOB_STATES = ("created", "running", "stopping", "finished", "stopped", "diverged", "failed")
TERMINAL_STATES = ("finished", "stopped", "diverged", "failed")

OOM_ADVICE = ("Out of memory on {device}. Lower the batch size, choose a smaller architecture "
              "(fewer RSB steps, narrower MADE), or train on the CPU.")


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state, safe to read without the lock."""

    state: str
    phase: str
    message: str
    records: list
    progress: float | None
    eta_seconds: float | None
    elapsed_seconds: float
    result: Any
    label: str

    @property
    def running(self) -> bool:
        return self.state in ("running", "stopping", "created")

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass
class JobContext:
    """What a job's work function gets: the stop event and ways to report back."""

    job: "Job"
    stop: threading.Event = field(init=False)

    def __post_init__(self):
        self.stop = self.job.stop_event

    def on_step(self, record: dict) -> None:
        self.job._append(record)

    def set_phase(self, phase: str) -> None:
        self.job._set(phase=phase)

    def set_progress(self, fraction: float | None) -> None:
        self.job._set(progress=fraction)

    def set_result(self, result: Any) -> None:
        self.job._set(result=result)

    def set_message(self, message: str) -> None:
        self.job._set(message=message)


def friendly_error(exc: BaseException, device: str | None = None) -> str:
    """A one-paragraph message for a person, with advice where there is some."""
    text = str(exc).strip() or type(exc).__name__
    oom = isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())) or "out of memory" in text.lower()
    if oom:
        return OOM_ADVICE.format(device=device or "the device")
    if isinstance(exc, MemoryError):
        return OOM_ADVICE.format(device="the CPU")
    if isinstance(exc, (ValueError, TypeError, KeyError, NotImplementedError)):
        return text.splitlines()[0][:500]
    return f"{type(exc).__name__}: {text.splitlines()[0][:400]}"


class Job:
    """One background computation with a stop event, a record list and a status.

    ``work(ctx)`` runs in a daemon thread; it reports through ``ctx.on_step`` and may return a
    result (kept in ``snapshot().result``). ``progress(records)`` (optional) maps the records
    seen so far to a fraction in [0, 1] for a progress bar and ETA.
    """

    def __init__(self, work: Callable[[JobContext], Any], label: str = "job",
                 progress: Callable[[list], float | None] | None = None,
                 device: str | None = None, max_records: int = 200_000):
        self._work = work
        self.label = label
        self._progress_fn = progress
        self.device = device
        self.max_records = int(max_records)
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._records: list[dict] = []
        self._state = "created"
        self._phase = ""
        self._message = ""
        self._progress: float | None = None
        self._result: Any = None
        self._t0: float | None = None
        self._t1: float | None = None
        self.traceback: str | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> "Job":
        """Start the worker thread (once)."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("a job can be started once")
            self._state = "running"
            self._t0 = time.monotonic()
            self._thread = threading.Thread(target=self._run, name=f"arnn-job-{self.label}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the worker to stop; training functions honour this within one step."""
        self.stop_event.set()
        with self._lock:
            if self._state == "running":
                self._state = "stopping"

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True when it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> JobSnapshot:
        """A consistent copy of the state; the record dicts are never mutated after append."""
        with self._lock:
            records = list(self._records)
            state, phase, message = self._state, self._phase, self._message
            result, progress = self._result, self._progress
            t0, t1 = self._t0, self._t1
        if progress is None and self._progress_fn is not None and records:
            try:
                progress = self._progress_fn(records)
            except Exception:  # a progress estimate must never break the display
                progress = None
        now = time.monotonic()
        elapsed = 0.0 if t0 is None else ((t1 if t1 is not None else now) - t0)
        eta = None
        if progress is not None:
            progress = float(min(max(progress, 0.0), 1.0))
            if state in ("running", "stopping") and progress > 1e-3:
                eta = elapsed * (1.0 - progress) / progress
        return JobSnapshot(state=state, phase=phase, message=message, records=records,
                           progress=progress, eta_seconds=eta, elapsed_seconds=elapsed,
                           result=result, label=self.label)

    # ------------------------------------------------------------------ internals
    def _append(self, record: dict) -> None:
        record = dict(record)
        with self._lock:
            self._records.append(record)
            if len(self._records) > self.max_records:
                # keep memory bounded on endless runs: thin the older half by two
                half = len(self._records) // 2
                self._records = self._records[:half:2] + self._records[half:]

    def _set(self, **kw) -> None:
        with self._lock:
            for key, value in kw.items():
                setattr(self, "_" + key, value)

    def _run(self) -> None:
        ctx = JobContext(self)
        state, message = "finished", ""
        try:
            result = self._work(ctx)
            if result is not None:
                self._set(result=result)
            with self._lock:
                last = self._records[-1] if self._records else {}
                last_status = str(last.get("status", ""))
                message = self._message or (str(last.get("message", "")) if last_status != "finished" else "")
            if "diverg" in last_status.lower():
                state = "diverged"
                message = message or ("Training diverged (NaN or inf); the last good weights were restored. "
                                      "Try a lower learning rate, gradient clipping or a smaller β step.")
            elif self.stop_event.is_set():
                state = "stopped"
                message = (message or "stopped by request").rstrip(".") + "; the weights so far are kept."
                message = message[0].upper() + message[1:]
        except BaseException as exc:  # the worker must end cleanly whatever happens
            self.traceback = _traceback.format_exc()
            state = "failed"
            message = friendly_error(exc, self.device)
            if isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())) and torch.cuda.is_available():
                torch.cuda.empty_cache()
        with self._lock:
            self._state = state
            self._message = message
            self._t1 = time.monotonic()
            if state == "finished":
                self._progress = 1.0


# ---------------------------------------------------------------------- memory estimates
def available_memory_bytes(device) -> int | None:
    """Free memory on ``device`` (CUDA: free device memory; CPU: MemAvailable), or None if unknown."""
    dev = torch.device(device)
    if dev.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(dev)
            return int(free)
        except Exception:
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def estimate_memory_bytes(spec, system, options: dict, batch_size: int, dtype_bytes: int = 4) -> int | None:
    """A rough peak-memory estimate of one training step, from the registry's parameter count.

    Parameters, gradients and two Adam moments cost 4 copies; the activations kept for the
    backward pass cost about ``batch × (trainable + fixed)`` numbers for architectures whose
    hidden units are per pair of sites (SK family: one unit per parameter per sample), and
    ``batch × N × hidden`` for MADE. It is an order of magnitude, meant to refuse the hopeless.
    """
    if spec.param_count is None:
        return None
    try:
        counts = spec.param_count(system, **options)
    except Exception:
        return None
    if counts is None:
        return None
    trainable, fixed = (int(c) for c in counts)
    n = system.n
    # Chunked architectures keep a bounded working set whatever the batch (measured: H2ARNN
    # chunks to ~32 MB; SK_kRSB keeps only the (chunk, N) fields c_il, its pair units are
    # recomputed chunk by chunk in backward).
    working_set = 0
    if spec.name == "made":
        per_sample = n * max(1, int(options.get("depth", 2))) * max(1, int(options.get("width", 1))) * 2 + 4 * n
    elif spec.analytic:
        # CW_N and H2ARNN are never trained: the fixed weights, the samples and a chunk of work
        per_sample = 4 * n
        working_set = 2**26
    elif spec.name == "sk_krsb":
        per_sample = 16 * n
        working_set = 2**28
    else:
        per_sample = trainable + fixed + 4 * n
    # activations in the forward pass are kept for backward (×2 for the pre-activations);
    # capped so that absurd sizes (H2ARNN at N = 2000 has 2^2000 units) stay printable floats
    return int(min(dtype_bytes * (4 * (trainable + fixed) + 2 * batch_size * per_sample) + working_set, 2**70))


def check_fits_device(spec, system, options: dict, batch_size: int, device, dtype_bytes: int = 4) -> str | None:
    """None when the estimate fits the device's free memory, else the reason it does not."""
    need = estimate_memory_bytes(spec, system, options, batch_size, dtype_bytes)
    have = available_memory_bytes(device)
    if need is None or have is None:
        return None
    if need > 0.9 * have:
        return (f"{spec.label} at N = {system.n} with batch {batch_size} needs about {need / 2**30:.1f} GiB "
                f"but {device} has {have / 2**30:.1f} GiB free. Lower the batch size or choose a smaller "
                f"architecture.")
    return None


# ---------------------------------------------------------------------- job factories
def _training():
    # imported lazily so this module loads (and its UI can start) before training.py exists
    from . import training
    return training


def _variational_progress(betas: Sequence[float], steps_per_beta: int):
    schedule = np.asarray(betas, dtype=np.float64)

    def progress(records: list) -> float | None:
        if not records:
            return 0.0
        beta = records[-1].get("beta")
        if beta is None:
            return None
        k = int(np.argmin(np.abs(schedule - float(beta))))
        # steps already taken at this β (the records of one β are contiguous)
        i, steps_here = len(records) - 1, 0
        while i >= 0 and records[i].get("beta") == beta and steps_here < steps_per_beta:
            steps_here += 1
            i -= 1
        return (k + steps_here / max(steps_per_beta, 1)) / len(schedule)
    return progress


def variational_job(net, system, betas: Sequence[float], steps_per_beta: int, *, batch_size: int,
                    lr: float = 1e-3, optimizer: str = "adam", init_steps: int = 0,
                    std_threshold: float | None = None, clip_grad: float | None = None,
                    seed: int | None = None, final_samples: int = 0, exact_kl: bool = False,
                    device: str | None = None,
                    label: str = "variational", train_fn: Callable | None = None,
                    estimate_fn: Callable | None = None) -> Job:
    """A job that runs ``train_variational`` and then, if ``final_samples``, the estimators.

    The job's result is ``{"history": ..., "estimate": dict | None, "beta": final β}`` plus
    ``exact_kl`` (KL(q‖P_B) at the final β by enumeration) when asked for.
    ``train_fn``/``estimate_fn`` replace the library functions (tests).
    """
    betas = [float(b) for b in betas]
    if not betas:
        raise ValueError("the β schedule is empty")

    def work(ctx: JobContext):
        train = train_fn or _training().train_variational
        ctx.set_phase(f"training {getattr(net, 'arch_name', 'network')} at β = {betas[0]:g} → {betas[-1]:g}")
        history = train(net, system, betas, steps_per_beta, batch_size=batch_size, lr=lr, optimizer=optimizer,
                        init_steps=init_steps, std_threshold=std_threshold, clip_grad=clip_grad, seed=seed,
                        on_step=ctx.on_step, stop=ctx.stop)
        result = {"history": history, "estimate": None, "beta": betas[-1]}
        ctx.set_result(result)
        diverged = any("diverg" in str(r.get("status", "")).lower()
                       for r in (history if isinstance(history, list) else [])[-1:])
        if final_samples and not ctx.stop.is_set() and not diverged:
            ctx.set_phase(f"estimating on {final_samples} samples at β = {betas[-1]:g}")
            if estimate_fn is None:
                from . import estimators
                est = estimators.estimate(net, system, betas[-1], n_samples=final_samples)
            else:
                est = estimate_fn(net, system, betas[-1], final_samples)
            result = dict(result, estimate=est)
            ctx.set_result(result)
        if exact_kl and not ctx.stop.is_set() and not diverged:
            ctx.set_phase(f"exact KL(q‖P) by enumeration at β = {betas[-1]:g}")
            from . import estimators
            result = dict(result, exact_kl=float(estimators.exact_kl(net, system, betas[-1])))
        return result

    return Job(work, label=label, progress=_variational_progress(betas, steps_per_beta), device=device)


def likelihood_job(net, *, epochs: int, batch_size: int, lr: float = 1e-3, validation_fraction: float = 0.1,
                   samples: torch.Tensor | np.ndarray | None = None,
                   make_samples: Callable[[], Any] | None = None, device: str | None = None,
                   label: str = "likelihood", train_fn: Callable | None = None) -> Job:
    """A job that (optionally) draws the training samples first, then runs ``train_likelihood``.

    Give either ``samples`` ((M, N) ±1) or ``make_samples()`` (e.g. a Metropolis run), which is
    called in the worker so the page stays responsive.
    """
    if (samples is None) == (make_samples is None):
        raise ValueError("give exactly one of samples or make_samples")

    def work(ctx: JobContext):
        data = samples
        if data is None:
            ctx.set_phase("drawing Metropolis samples")
            data = make_samples()
        data = torch.as_tensor(np.asarray(data) if not isinstance(data, torch.Tensor) else data)
        if data.ndim != 2 or data.shape[1] != net.n:
            raise ValueError(f"samples must have shape (M, {net.n}), got {tuple(data.shape)}")
        if ctx.stop.is_set():
            return {"history": [], "n_samples": int(data.shape[0])}
        ctx.set_phase(f"maximum likelihood on {data.shape[0]} samples")
        train = train_fn or _training().train_likelihood
        history = train(net, data, epochs=epochs, batch_size=batch_size, lr=lr,
                        validation_fraction=validation_fraction, on_step=ctx.on_step, stop=ctx.stop)
        return {"history": history, "n_samples": int(data.shape[0]), "samples": data}

    def progress(records):
        if not records:
            return 0.0
        epoch = records[-1].get("epoch")
        if epoch is None:
            return None
        return (float(epoch) + 1.0) / max(epochs, 1)

    return Job(work, label=label, progress=progress, device=device)


def compare_job(system, entries: Sequence[tuple[str, Callable[[], Any]]], betas: Sequence[float],
                steps_per_beta: int, *, batch_size: int, lr: float = 1e-3, std_threshold: float | None = None,
                seed: int | None = None, device: str | None = None, train_fn: Callable | None = None) -> Job:
    """Train several architectures one after another on one system over the same β schedule.

    ``entries`` are ``(label, build)`` with ``build()`` returning a fresh network on the device.
    Every record gets an ``"arch"`` key; the result maps each label to its summary: the last
    record at every β (relative error against β — the paper's figure), trainable and fixed
    parameter counts, wall time, and an error message if that run failed (the others go on).
    """
    betas = [float(b) for b in betas]
    entries = list(entries)

    def work(ctx: JobContext):
        train = train_fn or _training().train_variational
        summary: dict[str, dict] = {}
        for k, (label, build) in enumerate(entries):
            if ctx.stop.is_set():
                break
            ctx.set_phase(f"{label} ({k + 1}/{len(entries)})")
            t0 = time.monotonic()
            per_beta: dict[float, dict] = {}

            def on_step(record, _label=label, _per_beta=per_beta):
                record = dict(record, arch=_label)
                _per_beta[float(record.get("beta", math.nan))] = record
                ctx.on_step(record)

            entry = {"per_beta": [], "trainable": None, "fixed": None, "seconds": 0.0, "error": None}
            try:
                net = build()
                entry["trainable"], entry["fixed"] = int(net.num_params()), int(net.num_fixed_params())
                train(net, system, betas, steps_per_beta, batch_size=batch_size, lr=lr, optimizer="adam",
                      init_steps=0, std_threshold=std_threshold, clip_grad=None, seed=seed,
                      on_step=on_step, stop=ctx.stop)
            except Exception as exc:  # one failing architecture must not end the comparison
                entry["error"] = friendly_error(exc, device)
            entry["seconds"] = time.monotonic() - t0
            entry["per_beta"] = [per_beta[b] for b in sorted(per_beta)]
            summary[label] = entry
            ctx.set_result(dict(summary))
            ctx.set_progress((k + 1) / len(entries))
        return summary

    return Job(work, label="compare", device=device)


def replay_job(history: Sequence[dict], result: dict | None = None, label: str = "loaded run") -> Job:
    """A job that only replays a saved run's history (no training): a loaded run then looks to
    the UI exactly like one trained here (charts, estimates, downloads). Start it, it ends at once."""
    history = [dict(r) for r in history if isinstance(r, dict)]

    def work(ctx: JobContext):
        for record in history:
            ctx.on_step(record)
        return dict(result or {}, history=history)

    return Job(work, label=label)
