"""Exact references: enumeration of all 2^N states and the Curie–Weiss closed form (physics.md §2).

* :func:`exact_enumeration` visits every state of a small system (N ≲ 26) in chunks of bounded
  memory and returns log Z, the free-energy, energy and entropy densities, ⟨|m|⟩, the exact
  distribution of the magnetisation, ⟨x_i⟩, ⟨x_i x_j⟩ and the ground state.
* :func:`curie_weiss_exact` is the closed form for the Curie–Weiss model at any N, and
  :func:`curie_weiss_mean_field` its N → ∞ limit.
* :func:`exact_kl_divergence` gives KL(q‖P_B) from an ARNN's log q on every state, and
  :func:`exact_free_energy` the exact free-energy density whenever one is known (cached, for the
  trainer's relative-error records).

State order (used by :func:`all_states`, :func:`iter_states`, :func:`all_energies` and
:func:`exact_kl_divergence`): row k holds the binary digits of k, spin 0 is the most significant
bit, and bit 1 means spin +1. So k = 0 is all spins -1 and k = 2^N - 1 is all spins +1.

How enumeration is fast: the spins are split into a "high" block (the first spins, the most
significant bits) and a "low" block. With H = H_hi(x_hi) + H_lo(x_lo) - x_hiᵀ J_hl x_lo, the energies
of a chunk of high states against *all* low states form a (rows × 2^n_lo) matrix built from one
small matmul, so there is no per-state work in Python and no full x @ J per state. Correlations are
accumulated as Xᵀ diag(p) X blocks, also as matmuls.
"""

from __future__ import annotations

import hashlib
import math
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from .device import resolve_device
from .systems import SpinSystem

__all__ = [
    "all_states",
    "iter_states",
    "all_energies",
    "ExactResult",
    "exact_enumeration",
    "CurieWeissResult",
    "curie_weiss_exact",
    "MeanFieldResult",
    "curie_weiss_mean_field",
    "exact_kl_divergence",
    "exact_free_energy",
]

#: Largest N that :func:`all_states` materialises by default (2^22 × 22 float64 ≈ 0.7 GB).
ALL_STATES_MAX_N = 22


# ---------------------------------------------------------------------- validation helpers
def _check_int(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_beta(beta) -> float:
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a number, got {beta!r}") from None
    if not math.isfinite(b) or b <= 0.0:
        raise ValueError(f"beta (inverse temperature) must be finite and > 0, got {beta!r}")
    return b


def _check_system(system) -> SpinSystem:
    if not isinstance(system, SpinSystem):
        raise ValueError(f"expected a SpinSystem, got {type(system).__name__}")
    return system


# ---------------------------------------------------------------------- states
def _states_from_indices(index: torch.Tensor, n: int, dtype, device) -> torch.Tensor:
    """Rows of ±1 spins for integer state indices (spin 0 = most significant bit, 1 → +1)."""
    shifts = torch.arange(n - 1, -1, -1, device=device, dtype=torch.int64)
    bits = (index.to(device=device, dtype=torch.int64).unsqueeze(1) >> shifts) & 1
    return (2 * bits - 1).to(dtype)


def iter_states(n: int, chunk_size: int = 1 << 16, dtype=torch.float64, device=None
                ) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start_index, states)`` over all 2^n states in order, ``states`` of shape
    (≤ chunk_size, n) with ±1 entries (see the module docstring for the order). Memory is bounded
    by ``chunk_size × n``; use it to evaluate a model's log q on every state of larger systems."""
    n = _check_int(n, "n", 1)
    chunk_size = _check_int(chunk_size, "chunk_size", 1)
    if n > 40:
        raise ValueError(f"enumerating 2^{n} states is not feasible; use Monte Carlo (arnn_core.metropolis)")
    dev = resolve_device(device) if device is not None else torch.device("cpu")
    total = 1 << n
    for start in range(0, total, chunk_size):
        stop = min(total, start + chunk_size)
        index = torch.arange(start, stop, device=dev, dtype=torch.int64)
        yield start, _states_from_indices(index, n, dtype, dev)


def all_states(n: int, dtype=torch.float64, device=None, max_n: int = ALL_STATES_MAX_N) -> torch.Tensor:
    """All 2^n spin configurations as a (2^n, n) tensor of ±1: row k = binary digits of k, spin 0 the
    most significant bit, bit 1 → +1. Refuses n > ``max_n`` (memory); use :func:`iter_states`."""
    n = _check_int(n, "n", 1)
    if n > max_n:
        raise ValueError(
            f"all_states({n}) would hold 2^{n} × {n} numbers; above max_n = {max_n} iterate in chunks "
            "with iter_states(), or use Monte Carlo (arnn_core.metropolis)")
    dev = resolve_device(device) if device is not None else torch.device("cpu")
    index = torch.arange(1 << n, device=dev, dtype=torch.int64)
    return _states_from_indices(index, n, dtype, dev)


class _SplitEnergies:
    """Energies of all states via the high/low split (module docstring); float64 on ``device``."""

    def __init__(self, system: SpinSystem, device, low_bits: int = 12):
        n = system.n
        self.n = n
        self.n_lo = min(low_bits, n - 1)
        self.n_hi = n - self.n_lo
        J, h = system.coupling_matrix(device, torch.float64)
        hi, lo = slice(0, self.n_hi), slice(self.n_hi, n)
        self.J_hh, self.h_hi = J[hi, hi], h[hi]
        self.J_hl = J[hi, lo]
        self.device = device
        idx_lo = torch.arange(1 << self.n_lo, device=device)
        self.X_lo = _states_from_indices(idx_lo, self.n_lo, torch.float64, device)  # (L, n_lo)
        self.X_lo_T = self.X_lo.T.contiguous()
        self.E_lo = -0.5 * ((self.X_lo @ J[lo, lo]) * self.X_lo).sum(1) - self.X_lo @ h[lo]
        # number of down spins of each low state, for the magnetisation histogram
        self.down_lo = ((1 - self.X_lo) / 2).sum(1).round().long()

    def rows(self, chunk_rows: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield ``(hi_start, X_hi, E)`` with E of shape (rows, 2^n_lo): E[r, k_lo] is the energy of
        state index (hi_start + r)·2^n_lo + k_lo."""
        n_hi_states = 1 << self.n_hi
        for start in range(0, n_hi_states, chunk_rows):
            stop = min(n_hi_states, start + chunk_rows)
            X_hi = _states_from_indices(torch.arange(start, stop, device=self.device), self.n_hi,
                                        torch.float64, self.device)
            E_hi = -0.5 * ((X_hi @ self.J_hh) * X_hi).sum(1) - X_hi @ self.h_hi
            E = (X_hi @ self.J_hl) @ self.X_lo_T  # cross term x_hiᵀ J_hl x_lo, one matmul
            E.neg_().add_(E_hi.unsqueeze(1)).add_(self.E_lo.unsqueeze(0))
            yield start, X_hi, E


def _chunk_rows(chunk_size: int, n_lo: int) -> int:
    return max(1, chunk_size >> n_lo)


def all_energies(system: SpinSystem, max_n: int = 26, device=None) -> torch.Tensor:
    """H(x) of every state, a (2^N,) float64 tensor in :func:`all_states` order (physics.md §1)."""
    system = _check_system(system)
    if system.n > max_n:
        raise ValueError(f"N = {system.n} > max_n = {max_n}: 2^N energies are too many; use Monte Carlo")
    dev = resolve_device(device)
    split = _SplitEnergies(system, dev)
    return torch.cat([E.reshape(-1) for _, _, E in split.rows(_chunk_rows(1 << 20, split.n_lo))])


# ---------------------------------------------------------------------- enumeration
@dataclass
class ExactResult:
    """Exact thermodynamics of a system at inverse temperature β by enumeration (physics.md §2).

    All "densities" are per spin. ``ground_energy`` is the ground-state energy *density* min_x H(x)/N
    (β-independent) and ``ground_state`` one minimising configuration (±1, int8).
    ``magnetization_hist`` is ``(m, P(m))``: the N+1 values m = M/N from -1 to +1 and their
    exact probabilities. ``mean_spin`` is ⟨x_i⟩ (N,), ``correlations`` ⟨x_i x_j⟩ (N, N) with unit
    diagonal. ``specific_heat`` is β²(⟨H²⟩ - ⟨H⟩²)/N.
    """

    n: int
    beta: float
    log_z: float
    free_energy: float
    energy: float
    entropy: float
    specific_heat: float
    magnetization: float
    abs_magnetization: float
    magnetization_hist: tuple[np.ndarray, np.ndarray]
    mean_spin: np.ndarray
    correlations: np.ndarray
    ground_energy: float
    ground_state: np.ndarray = field(repr=False)


def exact_enumeration(system: SpinSystem, beta: float, max_n: int = 26, chunk_size: int = 1 << 20,
                      device=None) -> ExactResult:
    """Exact observables of ``system`` at ``beta`` from all 2^N states (physics.md §2).

    Visits the states in chunks of about ``chunk_size`` states (memory O(chunk_size + N²)), in
    float64, with a running log-sum-exp so that nothing overflows at any β. Raises ``ValueError``
    above ``max_n`` spins: use Monte Carlo (:func:`arnn_core.metropolis`) there.
    """
    system = _check_system(system)
    beta = _check_beta(beta)
    max_n = _check_int(max_n, "max_n", 2)
    chunk_size = _check_int(chunk_size, "chunk_size", 1)
    n = system.n
    if n > max_n:
        raise ValueError(
            f"exact enumeration of N = {n} spins (2^{n} states) is above max_n = {max_n}; "
            "use Monte Carlo (arnn_core.metropolis / parallel_tempering) for systems this large")
    dev = resolve_device(device)
    split = _SplitEnergies(system, dev)
    n_hi, n_lo = split.n_hi, split.n_lo
    X_lo = split.X_lo
    onehot_lo = torch.nn.functional.one_hot(split.down_lo, n_lo + 1).to(torch.float64)  # (L, n_lo+1)
    offsets = torch.arange(n_lo + 1, device=dev)

    # Accumulators of Σ w·(...) with w = exp(-βE - ref); rescaled whenever ref grows.
    ref = -math.inf
    z = torch.zeros((), dtype=torch.float64, device=dev)
    e1 = torch.zeros_like(z)
    e2 = torch.zeros_like(z)
    col = torch.zeros(1 << n_lo, dtype=torch.float64, device=dev)
    hist = torch.zeros(n + 1, dtype=torch.float64, device=dev)  # index = number of down spins
    spin_hi = torch.zeros(n_hi, dtype=torch.float64, device=dev)
    corr_hh = torch.zeros(n_hi, n_hi, dtype=torch.float64, device=dev)
    corr_hl = torch.zeros(n_hi, n_lo, dtype=torch.float64, device=dev)
    ground = math.inf
    ground_index = 0

    for start, X_hi, E in split.rows(_chunk_rows(chunk_size, n_lo)):
        e_min, arg = E.reshape(-1).min(0)
        e_min = float(e_min)
        if e_min < ground:
            ground, ground_index = e_min, (start << n_lo) + int(arg)
        chunk_ref = -beta * e_min  # max of -βE in this chunk
        if chunk_ref > ref:
            if ref > -math.inf:
                scale = math.exp(ref - chunk_ref)
                for acc in (z, e1, e2, col, hist, spin_hi, corr_hh, corr_hl):
                    acc.mul_(scale)
            ref = chunk_ref
        w = torch.exp(-beta * E - ref)  # (rows, L)
        wE = w * E
        z += w.sum()
        e1 += wE.sum()
        e2 += (wE * E).sum()
        row = w.sum(1)
        col += w.sum(0)
        down_hi = ((1 - X_hi) / 2).sum(1).round().long()
        hist.index_add_(0, (down_hi.unsqueeze(1) + offsets).reshape(-1), (w @ onehot_lo).reshape(-1))
        spin_hi += row @ X_hi
        corr_hh += X_hi.T @ (row.unsqueeze(1) * X_hi)
        corr_hl += (X_hi.T @ w) @ X_lo

    log_z = math.log(float(z)) + ref
    mean_e = float(e1 / z)
    var_e = max(float(e2 / z) - mean_e ** 2, 0.0)
    p_lo = col / z
    mean_spin = torch.cat([spin_hi / z, p_lo @ X_lo])
    corr = torch.empty(n, n, dtype=torch.float64, device=dev)
    corr[:n_hi, :n_hi] = corr_hh / z
    corr[:n_hi, n_hi:] = corr_hl / z
    corr[n_hi:, :n_hi] = (corr_hl / z).T
    corr[n_hi:, n_hi:] = X_lo.T @ (p_lo.unsqueeze(1) * X_lo)
    corr.fill_diagonal_(1.0)
    p_down = (hist / z).cpu().numpy()
    m_values = (n - 2 * np.arange(n + 1)) / n
    # ascending m: k down spins from N to 0
    m_values, p_m = m_values[::-1].copy(), p_down[::-1].copy()
    ground_state = _states_from_indices(torch.tensor([ground_index]), n, torch.int8, "cpu")[0].numpy()
    return ExactResult(
        n=n, beta=beta, log_z=log_z,
        free_energy=-log_z / (beta * n),
        energy=mean_e / n,
        entropy=(beta * mean_e + log_z) / n,
        specific_heat=beta ** 2 * var_e / n,
        magnetization=float(np.dot(m_values, p_m)),
        abs_magnetization=float(np.dot(np.abs(m_values), p_m)),
        magnetization_hist=(m_values, p_m),
        mean_spin=mean_spin.cpu().numpy(),
        correlations=corr.cpu().numpy(),
        ground_energy=ground / n,
        ground_state=ground_state,
    )


# ---------------------------------------------------------------------- Curie–Weiss
@dataclass
class CurieWeissResult:
    """Exact Curie–Weiss thermodynamics at any N (physics.md §2), same names as :class:`ExactResult`.

    All sites are equivalent, so ``mean_spin`` is the scalar ⟨x_i⟩ (= ⟨m⟩) and ``correlations`` the
    scalar ⟨x_i x_j⟩ for i ≠ j; :meth:`mean_spin_vector` and :meth:`correlation_matrix` expand
    them. ``magnetization_hist`` is the exact ``(m, P(m))``; ``ground_energy`` is a density.
    """

    n: int
    beta: float
    J: float
    h: float
    log_z: float
    free_energy: float
    energy: float
    entropy: float
    specific_heat: float
    magnetization: float
    abs_magnetization: float
    magnetization_hist: tuple[np.ndarray, np.ndarray]
    mean_spin: float
    correlations: float
    ground_energy: float

    def mean_spin_vector(self) -> np.ndarray:
        """⟨x_i⟩ for every site, shape (N,)."""
        return np.full(self.n, self.mean_spin)

    def correlation_matrix(self) -> np.ndarray:
        """⟨x_i x_j⟩ as an (N, N) matrix with unit diagonal."""
        c = np.full((self.n, self.n), self.correlations)
        np.fill_diagonal(c, 1.0)
        return c


def _finite_float(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return v


def curie_weiss_exact(n: int, J: float, h: float, beta: float) -> CurieWeissResult:
    """Closed form for the Curie–Weiss model (J_ij = J/N, h_i = h) at any N (physics.md §2).

    With k spins down, M = N - 2k and H = -(J/2N)(M² - N) - hM, so
    Z = Σ_k C(N,k) exp(βJ(M² - N)/(2N) + βhM), summed as a log-sum-exp with log C(N,k) from lgamma.
    This gives the exact P(M) and every observable below in O(N).
    """
    n = _check_int(n, "n", 2)
    J = _finite_float(J, "J")
    h = _finite_float(h, "h")
    beta = _check_beta(beta)
    k = np.arange(n + 1, dtype=np.float64)
    M = n - 2 * k
    log_binom = math.lgamma(n + 1) - np.array([math.lgamma(kk + 1) + math.lgamma(n - kk + 1) for kk in k])
    H = -(J / (2 * n)) * (M ** 2 - n) - h * M
    log_w = log_binom - beta * H
    log_z = float(np.logaddexp.reduce(log_w))
    p = np.exp(log_w - log_z)
    mean_e = float(np.dot(p, H))
    var_e = max(float(np.dot(p, H ** 2)) - mean_e ** 2, 0.0)
    m = M / n
    mean_m = float(np.dot(p, m))
    corr = float((np.dot(p, M ** 2) - n) / (n * (n - 1)))  # ⟨M²⟩ = N + N(N-1)⟨x_i x_j⟩
    order = np.argsort(m)
    return CurieWeissResult(
        n=n, beta=beta, J=J, h=h, log_z=log_z,
        free_energy=-log_z / (beta * n),
        energy=mean_e / n,
        entropy=(beta * mean_e + log_z) / n,
        specific_heat=beta ** 2 * var_e / n,
        magnetization=mean_m,
        abs_magnetization=float(np.dot(p, np.abs(m))),
        magnetization_hist=(m[order], p[order]),
        mean_spin=mean_m,
        correlations=corr,
        ground_energy=float(H.min()) / n,
    )


@dataclass
class MeanFieldResult:
    """Curie–Weiss at N → ∞ (physics.md §2): the equilibrium solution of m = tanh(β(Jm + h)).

    ``magnetization`` is the solution with the lowest free-energy density (at h = 0 below the
    critical temperature the two symmetric ones tie and the positive one is reported);
    ``solutions`` lists every solution as (m, f), including unstable and metastable ones.
    """

    beta: float
    J: float
    h: float
    magnetization: float
    abs_magnetization: float
    free_energy: float
    energy: float
    entropy: float
    solutions: list[tuple[float, float]]


def _log2cosh(t: np.ndarray) -> np.ndarray:
    a = np.abs(t)
    return a + np.log1p(np.exp(-2 * a))


def curie_weiss_mean_field(J: float, h: float, beta: float) -> MeanFieldResult:
    """The N → ∞ Curie–Weiss solution (physics.md §2): m = tanh(β(Jm + h)),
    f = -(1/β)s(m) - Jm²/2 - hm with s the binary entropy of (1+m)/2.

    Solved in t = atanh(m), where the equation t = β(J tanh t + h) has all roots in
    |t| ≤ β(|J| + |h|) and stays well conditioned when m is within 1e-16 of ±1; s(m) =
    log(2 cosh t) - t·m. All roots are bracketed on a fine grid and refined with Brent's method.
    """
    from scipy.optimize import brentq

    J = _finite_float(J, "J")
    h = _finite_float(h, "h")
    beta = _check_beta(beta)

    def g(t):
        return t - beta * (J * np.tanh(t) + h)

    bound = beta * (abs(J) + abs(h)) + 1.0
    grid = np.linspace(-bound, bound, 40001)
    values = g(grid)
    roots = []
    for a, b, ga, gb in zip(grid[:-1], grid[1:], values[:-1], values[1:]):
        if ga == 0.0:
            roots.append(float(a))
        elif ga * gb < 0.0:
            roots.append(float(brentq(g, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)))
    if values[-1] == 0.0:
        roots.append(float(grid[-1]))

    solutions = []
    for t in roots:
        m = float(np.tanh(t))
        s = float(_log2cosh(np.array(t))) - t * m
        f = -s / beta - J * m * m / 2 - h * m
        solutions.append((m, f, s))
    solutions.sort(key=lambda r: r[0])
    # lowest f; ties (h = 0) resolved towards m > 0
    f_min = min(r[1] for r in solutions)
    tol = 1e-12 * max(1.0, abs(f_min))
    best = max((r for r in solutions if r[1] <= f_min + tol), key=lambda r: r[0])
    m, f, s = best
    return MeanFieldResult(beta=beta, J=J, h=h, magnetization=m, abs_magnetization=abs(m), free_energy=f,
                           energy=-J * m * m / 2 - h * m, entropy=s,
                           solutions=[(r[0], r[1]) for r in solutions])


# ---------------------------------------------------------------------- KL and cached free energy
def exact_kl_divergence(log_q_all_states, system: SpinSystem, beta: float, max_n: int = 26,
                        normalisation_tol: float = 1e-3) -> float:
    """KL(q‖P_B) = Σ_x q(x) [log q(x) + βH(x) + log Z] = β(F_q - F), in nats (total, not per spin)
    (physics.md §2, §5).

    ``log_q_all_states`` is log q on all 2^N states in :func:`all_states` order (numpy or torch,
    any device/dtype). q must be normalised: |log Σ_x q(x)| > ``normalisation_tol`` is refused,
    since a model that does not sum to one has no meaningful KL divergence.
    """
    system = _check_system(system)
    beta = _check_beta(beta)
    n = system.n
    if n > max_n:
        raise ValueError(f"N = {n} > max_n = {max_n}: exact KL needs all 2^N states; use estimators instead")
    log_q = torch.as_tensor(log_q_all_states)
    device = log_q.device
    log_q = log_q.to(torch.float64).reshape(-1)
    if log_q.numel() != (1 << n):
        raise ValueError(f"log q must have 2^N = {1 << n} entries (one per state), got {log_q.numel()}")
    if torch.isnan(log_q).any() or (log_q == math.inf).any():
        raise ValueError("log q contains NaN or +inf")
    log_norm = float(torch.logsumexp(log_q, 0))
    if abs(log_norm) > normalisation_tol:
        raise ValueError(f"q is not normalised: log Σ_x q(x) = {log_norm:.3g} (tolerance {normalisation_tol:g})")
    minus_beta_e = -beta * all_energies(system, max_n=max_n, device=device)
    log_z = torch.logsumexp(minus_beta_e, 0)
    q = torch.exp(log_q)
    terms = torch.where(q > 0, q * (log_q - (minus_beta_e - log_z)), torch.zeros_like(q))
    return max(float(terms.sum()), 0.0)


_fingerprints: "weakref.WeakKeyDictionary[SpinSystem, str]" = weakref.WeakKeyDictionary()
_free_energy_cache: "OrderedDict[tuple, float | None]" = OrderedDict()
_curie_weiss_cache: dict[str, tuple[float, float] | None] = {}
_FREE_ENERGY_CACHE_SIZE = 1024
_cache_lock = threading.Lock()  # training jobs run in threads; guard the dictionaries, not the maths


def _fingerprint(system: SpinSystem) -> str:
    """A hash of (J, h), computed once per system object (systems are treated as immutable)."""
    with _cache_lock:
        fp = _fingerprints.get(system)
    if fp is None:
        digest = hashlib.blake2b(digest_size=20)
        digest.update(np.ascontiguousarray(system.J.numpy()).tobytes())
        digest.update(np.ascontiguousarray(system.h.numpy()).tobytes())
        fp = digest.hexdigest()
        with _cache_lock:
            _fingerprints[system] = fp
    return fp


def exact_free_energy(system: SpinSystem, beta: float, max_n: int = 20) -> float | None:
    """The exact free-energy density f = -log Z / (βN) when it is known, else None (physics.md §2).

    Curie–Weiss systems (recognised by ``system.curie_weiss_parameters()``) use the closed form at
    any N; other systems are enumerated when N ≤ ``max_n``. Results are cached on a hash of
    (J, h), β and ``max_n``, so calling this at every training record is cheap.
    """
    system = _check_system(system)
    beta = _check_beta(beta)
    key = (_fingerprint(system), beta, int(max_n))
    with _cache_lock:
        if key in _free_energy_cache:
            _free_energy_cache.move_to_end(key)
            return _free_energy_cache[key]
        known = key[0] in _curie_weiss_cache
        cw = _curie_weiss_cache.get(key[0])
    if not known:  # an O(N²) check: once per system, not once per β
        cw = system.curie_weiss_parameters()
        with _cache_lock:
            if len(_curie_weiss_cache) > _FREE_ENERGY_CACHE_SIZE:
                _curie_weiss_cache.clear()
            _curie_weiss_cache[key[0]] = cw
    if cw is not None:
        value: float | None = curie_weiss_exact(system.n, cw[0], cw[1], beta).free_energy
    elif system.n <= max_n:
        value = exact_enumeration(system, beta, max_n=max_n, device="cpu").free_energy
    else:
        value = None
    with _cache_lock:
        _free_energy_cache[key] = value
        while len(_free_energy_cache) > _FREE_ENERGY_CACHE_SIZE:
            _free_energy_cache.popitem(last=False)
    return value
