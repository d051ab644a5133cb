"""Training drivers: variational annealing (REINFORCE) and maximum likelihood (physics.md §5).

Both drivers follow the NetKet pattern: they run a loop, build one plain ``dict`` per step and
hand it to callbacks (``on_step``); they never print. They return the list of those records (the
history), so a script, the CLI and the app's background thread all read the same thing.

Variational training minimises the variational free energy (physics.md §5)

    F_q = E_q[ H + (1/β) log q ]  ≥  F,        β (F_q - F) = KL(q ‖ P_B)

with ``L(x) = log q(x) + β H(x)`` over a batch drawn from q:

    F_q ≈ mean(L) / β,        ∇ ≈ mean( (L - mean L) · ∇ log q(x) )

(REINFORCE with a mean baseline), annealing β along a schedule and keeping the optimiser state
from one β to the next. Likelihood training minimises ``-mean log q(x)`` over given samples.

Divergence (a NaN or inf in the loss, the gradients or the updated parameters) ends either
driver with a final record whose ``status`` is ``"diverged"``; the parameters and the optimiser
state are put back to the last state whose loss and gradients were finite.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from .device import resolve_device

__all__ = [
    "beta_schedule",
    "TrainingProtocol",
    "PAPER_PROTOCOL",
    "QUICK_PROTOCOL",
    "train_variational",
    "train_likelihood",
    "make_optimizer",
    "JsonLinesLogger",
    "TRAINING_STATUSES",
]

#: Values of a record's ``status``: every step is "running" except the last one of a run.
TRAINING_STATUSES = ("running", "finished", "stopped", "diverged")

_OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


# ---------------------------------------------------------------------- schedules and presets
def beta_schedule(start: float, stop: float, step: float) -> list[float]:
    """Inverse temperatures ``start, start+step, …`` up to ``stop`` inclusive (physics.md §5).

    ``stop`` is included when it lies on the grid within rounding, so the paper's schedule
    ``beta_schedule(0.1, 2.0, 0.05)`` has 39 values, 0.1 … 2.0. Values are rounded to 12
    significant digits so that 0.1 + 3·0.05 prints as 0.25, not 0.25000000000000006.
    """
    for name, value in (("start", start), ("stop", stop), ("step", step)):
        if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool) \
                or not math.isfinite(float(value)):
            raise ValueError(f"beta_schedule: {name} must be a finite number, got {value!r}")
    start, stop, step = float(start), float(stop), float(step)
    if start <= 0 or stop <= 0:
        raise ValueError(f"beta_schedule: inverse temperatures must be positive, got start={start}, stop={stop}")
    if stop < start:
        raise ValueError(f"beta_schedule: stop ({stop}) must be ≥ start ({start})")
    if stop == start:
        return [start]
    if step <= 0:
        raise ValueError(f"beta_schedule: step must be positive, got {step}")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > 1_000_000:
        raise ValueError(f"beta_schedule: {count} values is too many; use a larger step")
    return [float(f"{start + k * step:.12g}") for k in range(count)]


@dataclass(frozen=True)
class TrainingProtocol:
    """A named set of variational-training settings (physics.md §5).

    ``kwargs()`` gives the keyword arguments of :func:`train_variational`;
    ``final_samples`` is the sample count for the estimates after training.
    """

    name: str
    betas: tuple[float, ...]
    steps_per_beta: int
    batch_size: int
    lr: float
    std_threshold: float | None
    init_steps: int
    final_samples: int
    optimizer: str = "adam"
    description: str = ""

    def kwargs(self) -> dict:
        """Keyword arguments for :func:`train_variational` (betas, steps, batch, lr, …)."""
        return {"betas": list(self.betas), "steps_per_beta": self.steps_per_beta,
                "batch_size": self.batch_size, "lr": self.lr, "optimizer": self.optimizer,
                "init_steps": self.init_steps, "std_threshold": self.std_threshold}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data


#: The paper's protocol (physics.md §5): β 0.1 → 2.0 by 0.05, ≤ 1000 Adam steps per β at lr 1e-3,
#: batch 2000, leave a β when std(L)/(βN) < 1e-4, 5000 initial steps at the first β, final
#: estimates on 20,000 samples.
PAPER_PROTOCOL = TrainingProtocol(
    name="paper",
    betas=tuple(beta_schedule(0.1, 2.0, 0.05)),
    steps_per_beta=1000,
    batch_size=2000,
    lr=1e-3,
    std_threshold=1e-4,
    init_steps=5000,
    final_samples=20000,
    description="Biazzo 2023: β 0.1→2.0 by 0.05, ≤1000 Adam steps per β (lr 1e-3, batch 2000), "
                "leave a β when std(L)/(βN) < 1e-4, 5000 initial steps at the first β",
)

#: A fast preview of the same annealing (minutes on a laptop CPU for N ≈ 20–100).
QUICK_PROTOCOL = TrainingProtocol(
    name="quick",
    betas=tuple(beta_schedule(0.1, 2.0, 0.1)),
    steps_per_beta=100,
    batch_size=500,
    lr=3e-3,
    std_threshold=1e-4,
    init_steps=200,
    final_samples=5000,
    description="preview: β 0.1→2.0 by 0.1, ≤100 Adam steps per β (lr 3e-3, batch 500)",
)


# ---------------------------------------------------------------------- helpers
def make_optimizer(name_or_optimizer, params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """An optimiser by name ("adam", "adamw", "sgd", "rmsprop"), or the given one unchanged."""
    if isinstance(name_or_optimizer, torch.optim.Optimizer):
        return name_or_optimizer
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"learning rate must be a positive number, got {lr!r}")
    params = list(params)
    name = str(name_or_optimizer).lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise ValueError(f"unknown optimizer {name_or_optimizer!r}; choose one of {', '.join(_OPTIMIZERS)}")


def _check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _callbacks(on_step) -> list[Callable[[dict], None]]:
    if on_step is None:
        return []
    if callable(on_step):
        return [on_step]
    try:
        callbacks = list(on_step)
    except TypeError:
        raise ValueError(f"on_step must be a callable or a list of callables, got {on_step!r}") from None
    for cb in callbacks:
        if not callable(cb):
            raise ValueError(f"on_step entries must be callable, got {cb!r}")
    return callbacks


def _make_generator(seed, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


class _Snapshot:
    """The last parameters and optimiser state known to give a finite loss and finite gradients.

    Buffers are allocated once and refreshed with in-place copies, so taking a snapshot every
    step costs one memory copy of the parameters (and of Adam's two moments), no allocation.
    """

    def __init__(self, params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer):
        self.params = params
        self.optimizer = optimizer
        self.saved_params = [p.detach().clone() for p in params]
        self.saved_state: dict[int, dict] = {}
        self.valid = True
        self._copy_optimizer_state()

    def _copy_optimizer_state(self) -> None:
        for k, p in enumerate(self.params):
            state = self.optimizer.state.get(p)
            if not state:
                self.saved_state.pop(k, None)
                continue
            saved = self.saved_state.setdefault(k, {})
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    buf = saved.get(key)
                    if isinstance(buf, torch.Tensor) and buf.shape == value.shape and buf.dtype == value.dtype \
                            and buf.device == value.device:
                        buf.copy_(value)
                    else:
                        saved[key] = value.detach().clone()
                else:
                    saved[key] = value

    def save(self) -> None:
        with torch.no_grad():
            for buf, p in zip(self.saved_params, self.params):
                buf.copy_(p)
            self._copy_optimizer_state()

    def restore(self) -> None:
        with torch.no_grad():
            for buf, p in zip(self.saved_params, self.params):
                p.copy_(buf)
            for k, p in enumerate(self.params):
                if k in self.saved_state:
                    self.optimizer.state[p] = {key: (v.clone() if isinstance(v, torch.Tensor) else v)
                                               for key, v in self.saved_state[k].items()}
                else:
                    self.optimizer.state.pop(p, None)


def _all_finite(tensors: Iterable[torch.Tensor | None]) -> bool:
    flags = [torch.isfinite(t).all() for t in tensors if t is not None]
    if not flags:
        return True
    return bool(torch.stack(flags).all())


def _grad_norm(params: list[torch.nn.Parameter], clip_grad: float | None) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if clip_grad is not None:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm=clip_grad))
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def _exact_free_energy_lookup(system, max_n: int) -> Callable[[float], float | None]:
    """β → exact free-energy density when one is known (physics.md §2), else None; cached per β."""
    cache: dict[float, float | None] = {}

    def lookup(beta: float) -> float | None:
        if beta in cache:
            return cache[beta]
        value = None
        if max_n > 0:
            from . import exact as _exact  # lazy: exact.py is optional for training itself

            fn = getattr(_exact, "exact_free_energy", None)
            if fn is not None:
                try:
                    value = fn(system, beta, max_n=max_n)
                except ValueError:
                    value = None
        cache[beta] = None if value is None else float(value)
        return cache[beta]

    return lookup


def _check_net_and_system(net, system) -> None:
    if not isinstance(net, torch.nn.Module) or not hasattr(net, "sample") or not hasattr(net, "log_prob"):
        raise ValueError(f"net must be an ARNN (a torch Module with sample and log_prob), got {type(net).__name__}")
    if system is not None and getattr(net, "n", system.n) != system.n:
        raise ValueError(f"the network has N = {net.n} spins but the system has N = {system.n}")


def _maybe_checkpoint(checkpoint_dir, net, system, config, history) -> None:
    if checkpoint_dir is None:
        return
    from .io import save_run  # lazy: avoid an import cycle

    save_run(checkpoint_dir, net, system, config, history)


# ---------------------------------------------------------------------- variational training
def _variational_stats(log_q: torch.Tensor, energy: torch.Tensor, x: torch.Tensor, beta: float, n: int) -> dict:
    """Batch statistics of one step (physics.md §5–6), as Python floats."""
    L = log_q + beta * energy
    b = L.shape[0]
    std = float(L.std(correction=1)) if b > 1 else 0.0
    return {
        "free_energy": float(L.mean()) / (beta * n),
        "free_energy_std": std / (beta * n),
        "free_energy_stderr": std / (beta * n) / math.sqrt(b),
        "energy": float(energy.mean()) / n,
        "entropy": -float(log_q.mean()) / n,
        "abs_magnetization": float(x.sum(-1).abs().mean()) / n,
    }


def train_variational(net, system, betas: Sequence[float], steps_per_beta: int, batch_size: int = 2000,
                      lr: float = 1e-3, optimizer="adam", init_steps: int = 0,
                      std_threshold: float | None = None, clip_grad: float | None = None, seed=None,
                      on_step=None, stop: threading.Event | None = None, checkpoint_dir=None,
                      device=None, exact_max_n: int = 20) -> list[dict]:
    """Minimise the variational free energy with REINFORCE, annealing β along ``betas`` (physics.md §5).

    Parameters
    ----------
    net : ARNN
        Any registered architecture. Analytic ones (``net.analytic``: CW_N, H2ARNN) are not
        trained: at each β their parameters are re-derived with ``net.set_beta(β)`` and one
        record per β is emitted from a batch of samples.
    system : SpinSystem
        The Hamiltonian H; ``net.n`` must equal ``system.n``.
    betas : sequence of float
        Inverse temperatures in the order they are visited (see :func:`beta_schedule`).
    steps_per_beta : int
        Maximum optimiser steps at each β.
    batch_size, lr, optimizer
        Samples per step, learning rate, and "adam" / "adamw" / "sgd" / "rmsprop" (or a
        ``torch.optim.Optimizer`` already bound to ``net``'s parameters, to continue a run).
        One optimiser serves all β, so its state (Adam's moments) carries across β.
    init_steps : int
        Extra steps at the first β, before its ``steps_per_beta`` (the paper uses 5000); these
        never leave early.
    std_threshold : float, optional
        Leave a β early once ``std(L)/(βN)`` of a batch falls below this (the paper: 1e-4).
    clip_grad : float, optional
        Clip the gradient's global 2-norm to this value.
    seed : int, optional
        Seeds the sampler's generator, so a run is reproducible on one device.
    on_step : callable or list of callables, optional
        Called with each record (a dict) right after it is made.
    stop : threading.Event, optional
        Checked before every step; once set, training ends before the next step.
    checkpoint_dir : path, optional
        A run directory (see :func:`arnn_core.save_run`) rewritten after each β and at the end.
    device : optional
        Move ``net`` there first (default: leave it where it is).
    exact_max_n : int
        Largest N for which the exact free energy is computed by enumeration at each β (once per
        β, not per step); Curie–Weiss systems have an exact value at any N. 0 disables it.

    Returns
    -------
    list of dict
        One record per step, in order. Keys: ``step`` (1-based, over the whole run), ``beta``,
        ``beta_index``, ``step_in_beta``, ``phase`` ("init" or "anneal"), ``free_energy``
        (variational density mean(L)/(βN)), ``free_energy_std`` (std(L)/(βN) over the batch),
        ``free_energy_stderr``, ``energy`` and ``entropy`` (densities), ``abs_magnetization``,
        ``loss``, ``grad_norm``, ``seconds`` (since the start), ``step_seconds``,
        ``samples_per_second``, ``free_energy_exact`` and ``relative_error`` (None when no exact
        value is known), ``status`` ("running" except for the last record: "finished",
        "stopped" or "diverged") and, on the last record, ``message``. A "stopped" or "diverged"
        record repeats the metrics of the last finite step (so plots stay continuous); a
        diverged run's parameters are those of that step.

    Never prints. Raises ValueError on bad arguments.
    """
    _check_net_and_system(net, system)
    betas = [float(b) for b in betas]
    if not betas:
        raise ValueError("betas is empty: give at least one inverse temperature")
    for b in betas:
        if not (math.isfinite(b) and b > 0):
            raise ValueError(f"every β must be a positive finite number, got {b!r}")
    steps_per_beta = _check_positive_int(steps_per_beta, "steps_per_beta")
    batch_size = _check_positive_int(batch_size, "batch_size", minimum=2)
    init_steps = _check_positive_int(init_steps, "init_steps", minimum=0)
    if std_threshold is not None and not (std_threshold >= 0):
        raise ValueError(f"std_threshold must be ≥ 0 or None, got {std_threshold!r}")
    if clip_grad is not None and not (clip_grad > 0):
        raise ValueError(f"clip_grad must be positive or None, got {clip_grad!r}")
    callbacks = _callbacks(on_step)
    if device is not None:
        net.to(resolve_device(device))
    dev, dtype = net.device, net.dtype
    n = system.n
    # energies in float64 whatever the network's dtype: records and the baseline stay accurate
    J, h = system.coupling_matrix(dev, torch.float64)
    generator = _make_generator(seed, dev)
    exact_lookup = _exact_free_energy_lookup(system, exact_max_n)
    analytic = bool(getattr(net, "analytic", False))

    params = [p for p in net.parameters() if p.requires_grad]
    if not analytic and not params:
        raise ValueError(f"{getattr(net, 'arch_name', type(net).__name__)} has no trainable parameters "
                         "and is not analytic: nothing to train")
    opt = None if analytic else make_optimizer(optimizer, params, lr)
    snapshot = None if analytic else _Snapshot(params, opt)
    if opt is not None and isinstance(optimizer, torch.optim.Optimizer):
        # continuing with a given optimiser: make sure it drives this network
        owned = {id(p) for group in opt.param_groups for p in group["params"]}
        if not all(id(p) in owned for p in params):
            raise ValueError("the given optimizer does not hold all of the network's trainable parameters")

    config = {"mode": "variational", "betas": betas, "steps_per_beta": steps_per_beta,
              "batch_size": batch_size, "lr": lr,
              "optimizer": optimizer if isinstance(optimizer, str) else type(optimizer).__name__.lower(),
              "init_steps": init_steps, "std_threshold": std_threshold, "clip_grad": clip_grad, "seed": seed}

    history: list[dict] = []
    start_time = time.perf_counter()
    step = 0
    last_good: dict | None = None

    def energy_of(x: torch.Tensor) -> torch.Tensor:
        return -0.5 * ((x @ J) * x).sum(-1) - x @ h

    def emit(record: dict) -> None:
        history.append(record)
        for cb in callbacks:
            cb(record)

    def final(status: str, message: str, beta: float, beta_index: int) -> list[dict]:
        base = dict(last_good) if last_good is not None else {
            "step": step, "beta": beta, "beta_index": beta_index, "step_in_beta": 0, "phase": "anneal",
            "free_energy": None, "free_energy_std": None, "free_energy_stderr": None, "energy": None,
            "entropy": None, "abs_magnetization": None, "loss": None, "grad_norm": None,
            "step_seconds": 0.0, "samples_per_second": None, "free_energy_exact": exact_lookup(beta),
            "relative_error": None}
        base.update(status=status, message=message, seconds=time.perf_counter() - start_time)
        emit(base)
        _maybe_checkpoint(checkpoint_dir, net, system, {**config, "status": status}, history)
        return history

    for beta_index, beta in enumerate(betas):
        net.set_beta(beta)
        f_exact = exact_lookup(beta)
        n_steps = 1 if analytic else steps_per_beta + (init_steps if beta_index == 0 else 0)
        for step_in_beta in range(1, n_steps + 1):
            if stop is not None and stop.is_set():
                return final("stopped", f"stopped by request after {step} step(s)", beta, beta_index)
            t0 = time.perf_counter()
            step += 1
            phase = "init" if (beta_index == 0 and step_in_beta <= init_steps and not analytic) else "anneal"
            try:
                with torch.no_grad():
                    x, _ = net.sample(batch_size, generator=generator)
                    x = x.detach().to(dtype)
                    energy = energy_of(x.to(torch.float64))
            except RuntimeError as exc:  # e.g. torch.bernoulli on NaN probabilities
                if snapshot is not None and not _all_finite(params):
                    snapshot.restore()
                    return final("diverged", f"sampling failed at step {step} (β={beta:g}) with non-finite "
                                 f"parameters: {exc}; parameters restored to the last finite state", beta, beta_index)
                raise
            if analytic:
                with torch.no_grad():
                    log_q = net.log_prob(x)
                loss_value, grad_norm = 0.0, 0.0
                finite = _all_finite([log_q])
            else:
                log_q = net.log_prob(x)
                L = log_q.detach().to(torch.float64) + beta * energy
                # REINFORCE with a mean baseline (physics.md §5); the baseline cuts the variance
                loss = ((L - L.mean()).to(log_q.dtype) * log_q).mean()
                opt.zero_grad(set_to_none=True)
                finite = _all_finite([loss.detach()])
                grad_norm = float("nan")
                if finite:
                    loss.backward()
                    grad_norm = _grad_norm(params, clip_grad)
                    finite = math.isfinite(grad_norm) and _all_finite(p.grad for p in params)
                loss_value = float(loss.detach())
            if not finite:
                if snapshot is not None:
                    snapshot.restore()
                    opt.zero_grad(set_to_none=True)
                return final("diverged", f"non-finite loss or gradient at step {step} (β={beta:g}); "
                             "parameters restored to the last finite state", beta, beta_index)
            if opt is not None:
                snapshot.save()
                opt.step()
                if not _all_finite(p.detach() for p in params):
                    snapshot.restore()
                    return final("diverged", f"the update at step {step} (β={beta:g}) made parameters "
                                 "non-finite; parameters restored to the last finite state", beta, beta_index)
            stats = _variational_stats(log_q.detach().to(torch.float64), energy, x, beta, n)
            now = time.perf_counter()
            record = {
                "step": step, "beta": beta, "beta_index": beta_index, "step_in_beta": step_in_beta,
                "phase": phase, **stats, "loss": loss_value, "grad_norm": grad_norm,
                "seconds": now - start_time, "step_seconds": now - t0,
                "samples_per_second": batch_size / max(now - t0, 1e-12),
                "free_energy_exact": f_exact,
                "relative_error": (abs(stats["free_energy"] - f_exact) / abs(f_exact)
                                   if f_exact is not None and f_exact != 0 else None),
                "status": "running",
            }
            last_good = {k: v for k, v in record.items() if k != "status"}
            converged = (std_threshold is not None and phase == "anneal"
                         and stats["free_energy_std"] < std_threshold)
            last_step = step_in_beta == n_steps or converged
            if last_step and beta_index == len(betas) - 1:
                record["status"] = "finished"
                record["message"] = f"finished {len(betas)} β value(s) in {step} step(s)"
            emit(record)
            if last_step:
                break
        if beta_index < len(betas) - 1:
            _maybe_checkpoint(checkpoint_dir, net, system, {**config, "status": "running"}, history)
    _maybe_checkpoint(checkpoint_dir, net, system, {**config, "status": "finished"}, history)
    return history


# ---------------------------------------------------------------------- likelihood training
def _as_spin_tensor(samples, n: int | None) -> torch.Tensor:
    if isinstance(samples, torch.Tensor):
        x = samples.detach().cpu()
    else:
        try:
            x = torch.as_tensor(np.asarray(samples))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"samples must be a numeric (M, N) array of ±1: {exc}") from None
    if x.ndim != 2:
        raise ValueError(f"samples must be a 2-D (M, N) array, got shape {tuple(x.shape)}")
    if x.dtype == torch.bool or not (torch.is_floating_point(x) or x.dtype in
                                     (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise ValueError(f"samples must be numeric ±1, got dtype {x.dtype}")
    x = x.to(torch.float64)
    if not bool(((x == 1) | (x == -1)).all()):
        bad = x[~((x == 1) | (x == -1))][0].item()
        raise ValueError(f"samples must contain only +1 and -1 spins, found {bad!r}")
    if n is not None and x.shape[1] != n:
        raise ValueError(f"samples have N = {x.shape[1]} spins but the network has N = {n}")
    return x


@torch.no_grad()
def _mean_nll(net, x: torch.Tensor, batch_size: int) -> float:
    total = 0.0
    for k in range(0, x.shape[0], batch_size):
        total += float(-net.log_prob(x[k:k + batch_size]).sum())
    return total / x.shape[0]


def train_likelihood(net, samples, epochs: int, batch_size: int = 100, lr: float = 1e-3,
                     validation_fraction: float = 0.1, on_step=None, stop: threading.Event | None = None,
                     seed=None, optimizer="adam", clip_grad: float | None = None, device=None,
                     checkpoint_dir=None, system=None) -> list[dict]:
    """Maximum likelihood on ±1 samples: minimise ``-mean log q(x)`` (physics.md §5).

    Parameters
    ----------
    net : ARNN
        A trainable architecture (e.g. ``sk_krsb`` with ``learn_first_layer=True`` for the
        paper's weights-vs-couplings experiment, physics.md §4).
    samples : (M, N) array-like of ±1
        Metropolis output or uploaded data (numpy, torch or nested lists).
    epochs, batch_size, lr, optimizer, clip_grad
        Passes over the training split, minibatch size, learning rate, optimiser (as in
        :func:`train_variational`) and optional gradient-norm clipping.
    validation_fraction : float in [0, 1)
        Fraction of the (shuffled) samples held out to measure the validation NLL.
    on_step, stop, seed, device
        As in :func:`train_variational`; ``stop`` is checked before every minibatch step.
    checkpoint_dir, system
        With both given, the run is saved there after each epoch (see :func:`arnn_core.save_run`).

    Returns
    -------
    list of dict
        One record per epoch, plus one for epoch 0 (the untrained network). Keys: ``epoch``,
        ``step`` (minibatch steps so far), ``train_nll`` and ``validation_nll`` (mean negative
        log-likelihood per sample, in nats; validation None without a held-out split),
        ``train_nll_per_spin``, ``validation_nll_per_spin``, ``grad_norm`` (mean over the epoch),
        ``seconds``, ``samples_per_second``, ``status`` and, on the last record, ``message``.
        ``train_nll`` is re-measured on the whole training split after the epoch's updates.

    Never prints. Raises ValueError on bad arguments.
    """
    _check_net_and_system(net, system)
    epochs = _check_positive_int(epochs, "epochs")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if not (isinstance(validation_fraction, (int, float)) and 0 <= validation_fraction < 1):
        raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction!r}")
    if clip_grad is not None and not (clip_grad > 0):
        raise ValueError(f"clip_grad must be positive or None, got {clip_grad!r}")
    callbacks = _callbacks(on_step)
    if device is not None:
        net.to(resolve_device(device))
    dev, dtype = net.device, net.dtype
    x_all = _as_spin_tensor(samples, net.n).to(device=dev, dtype=dtype)
    m = x_all.shape[0]
    n_val = int(round(validation_fraction * m))
    if m - n_val < 1:
        raise ValueError(f"{m} sample(s) leave no training data with validation_fraction={validation_fraction}")
    gen_cpu = torch.Generator()
    gen_cpu.manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**63))
    perm = torch.randperm(m, generator=gen_cpu).to(dev)
    x_val, x_train = x_all[perm[:n_val]], x_all[perm[n_val:]]
    m_train = x_train.shape[0]
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{getattr(net, 'arch_name', type(net).__name__)} has no trainable parameters")
    opt = make_optimizer(optimizer, params, lr)
    snapshot = _Snapshot(params, opt)
    eval_batch = max(batch_size, 1000)
    config = {"mode": "likelihood", "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "optimizer": optimizer if isinstance(optimizer, str) else type(optimizer).__name__.lower(),
              "validation_fraction": validation_fraction, "n_train": m_train, "n_validation": n_val,
              "clip_grad": clip_grad, "seed": seed}

    history: list[dict] = []
    start_time = time.perf_counter()
    step = 0

    def emit(record: dict) -> None:
        history.append(record)
        for cb in callbacks:
            cb(record)

    def measure(epoch: int, grad_norm, t_epoch: float, status: str) -> dict:
        train_nll = _mean_nll(net, x_train, eval_batch)
        val_nll = _mean_nll(net, x_val, eval_batch) if n_val else None
        return {"epoch": epoch, "step": step, "train_nll": train_nll, "validation_nll": val_nll,
                "train_nll_per_spin": train_nll / net.n,
                "validation_nll_per_spin": None if val_nll is None else val_nll / net.n,
                "grad_norm": grad_norm, "seconds": time.perf_counter() - start_time,
                "samples_per_second": (m_train / t_epoch) if t_epoch > 0 else None, "status": status}

    def final(status: str, message: str, epoch: int) -> list[dict]:
        record = measure(epoch, None, 0.0, status)
        record["message"] = message
        emit(record)
        if checkpoint_dir is not None and system is not None:
            _maybe_checkpoint(checkpoint_dir, net, system, {**config, "status": status}, history)
        return history

    emit(measure(0, None, 0.0, "running"))
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(m_train, generator=gen_cpu).to(dev)
        norms = []
        for k in range(0, m_train, batch_size):
            if stop is not None and stop.is_set():
                return final("stopped", f"stopped by request in epoch {epoch} after {step} step(s)", epoch - 1)
            batch = x_train[order[k:k + batch_size]]
            loss = -net.log_prob(batch).mean()
            opt.zero_grad(set_to_none=True)
            finite = _all_finite([loss.detach()])
            if finite:
                loss.backward()
                gn = _grad_norm(params, clip_grad)
                finite = math.isfinite(gn) and _all_finite(p.grad for p in params)
            if not finite:
                snapshot.restore()
                opt.zero_grad(set_to_none=True)
                return final("diverged", f"non-finite loss or gradient at step {step + 1} (epoch {epoch}); "
                             "parameters restored to the last finite state", epoch - 1)
            snapshot.save()
            opt.step()
            step += 1
            norms.append(gn)
            if not _all_finite(p.detach() for p in params):
                snapshot.restore()
                return final("diverged", f"the update at step {step} (epoch {epoch}) made parameters "
                             "non-finite; parameters restored to the last finite state", epoch - 1)
        status = "finished" if epoch == epochs else "running"
        record = measure(epoch, float(np.mean(norms)) if norms else None, time.perf_counter() - t0, status)
        if status == "finished":
            record["message"] = f"finished {epochs} epoch(s) in {step} step(s)"
        emit(record)
        if checkpoint_dir is not None and system is not None:
            _maybe_checkpoint(checkpoint_dir, net, system, {**config, "status": status}, history)
    return history


# ---------------------------------------------------------------------- loggers
class JsonLinesLogger:
    """An ``on_step`` callback that appends each record as one JSON line to ``path``.

    Non-finite floats are written as null so that any JSON reader accepts the file.
    """

    def __init__(self, path, every: int = 1):
        self.path = os.fspath(path)
        self.every = _check_positive_int(every, "every")
        self._count = 0
        self._lock = threading.Lock()

    def __call__(self, record: dict) -> None:
        import json

        from .io import to_jsonable

        self._count += 1
        if self._count % self.every and record.get("status") == "running":
            return
        line = json.dumps(to_jsonable(record))
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
