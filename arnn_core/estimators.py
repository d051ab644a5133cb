"""Estimates after training: variational and importance-sampled free energies, observables,
neural MCMC and the exact KL divergence (physics.md §6).

With samples x ~ q and ``L(x) = log q(x) + β H(x)``:

* variational:  ``f_q = mean(L) / (βN)`` — an upper bound of f up to sampling error;
* importance sampling (Nicoli et al., PRE 2020): ``log w = -βH - log q = -L``,
  ``F_IS = -(1/β)(logsumexp(log w) - log n)``, ``ESS = (Σw)² / (n Σw²)`` as a fraction of n;
  self-normalised weights ``w / Σw`` give observables under P_B, unbiased in the limit n → ∞;
* neural MCMC: independent Metropolis–Hastings with q as the proposal, acceptance
  ``min(1, w(x')/w(x))``, whose chain targets P_B exactly;
* ``KL(q‖P_B) = β(F_q - F)`` by enumeration of all states for N ≤ 20.

Everything runs under ``torch.no_grad()`` in batches on the network's device; results are
numpy arrays and Python floats (``arnn_core.to_jsonable`` makes them JSON).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["estimate", "neural_mcmc", "NeuralMCMCResult", "exact_kl"]


def _check_beta(beta) -> float:
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a positive number, got {beta!r}") from None
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    return beta


def _check_count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_pair(net, system) -> None:
    if not isinstance(net, torch.nn.Module) or not hasattr(net, "sample") or not hasattr(net, "log_prob"):
        raise ValueError(f"net must be an ARNN (a torch Module with sample and log_prob), got {type(net).__name__}")
    if getattr(net, "n", system.n) != system.n:
        raise ValueError(f"the network has N = {net.n} spins but the system has N = {system.n}")


def _generator(seed, device) -> torch.Generator | None:
    if seed is None:
        return None
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def _weighted_hist(index: np.ndarray, size: int, log_weights: np.ndarray | None) -> np.ndarray:
    """Normalised histogram of integer bins, plain or with weights exp(log_weights)."""
    if log_weights is None:
        counts = np.bincount(index, minlength=size).astype(np.float64)
    else:
        w = np.exp(log_weights - log_weights.max())
        counts = np.bincount(index, weights=w, minlength=size)
    total = counts.sum()
    return counts / total if total > 0 else counts


def _logsumexp(a: np.ndarray) -> float:
    m = float(np.max(a))
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.sum(np.exp(a - m))))


@torch.no_grad()
def estimate(net, system, beta: float, n_samples: int = 20000, batch_size: int | None = None, seed=None,
             energy_bins: int = 50, exact: bool = True, exact_max_n: int = 20) -> dict:
    """Free energies and observables of a trained network at ``beta`` from ``n_samples`` samples of q
    (physics.md §6).

    Returns a dict (densities are per spin):

    * ``free_energy`` — variational f_q = mean(L)/(βN), with ``free_energy_stderr`` (standard error
      of the mean) and ``free_energy_std`` (std of L/(βN), the paper's convergence measure);
    * ``free_energy_is`` — importance-sampled f_IS = -(logsumexp(log w) - log n)/(βN), with
      ``free_energy_is_stderr`` (delta-method estimate, ≈ sqrt((1/ess - 1)/n)/(βN)) and
      ``log_z_is``;
    * ``ess`` — effective sample size (Σw)²/(nΣw²), a fraction in (0, 1];
    * ``energy``, ``entropy`` (-mean log q / N), ``abs_magnetization``, ``magnetization`` under q, and
      ``energy_is``, ``abs_magnetization_is``, ``magnetization_is`` reweighted towards P_B;
    * ``magnetization_hist`` — ``(m, P_q(m))`` over the N+1 values m = M/N (as in
      :class:`arnn_core.ExactResult`), and ``magnetization_hist_is``;
    * ``overlap_hist`` — ``(q, P(q))`` over the N+1 values of q_ab = (1/N)Σ a_i b_i, for pairs of
      independent samples (each batch split in two halves, paired in order), and
      ``overlap_hist_is`` with pair weights w_a w_b;
    * ``energy_hist`` — ``(centres, P)`` of the energy density in ``energy_bins`` bins;
    * ``mean_spin`` and ``mean_spin_is`` — ⟨x_i⟩ (N,);
    * when ``exact`` and an exact f is known (:func:`arnn_core.exact_free_energy`, N ≤
      ``exact_max_n`` or Curie–Weiss): ``free_energy_exact``, ``relative_error`` (variational) and
      ``relative_error_is``, else these are None;
    * ``n_samples``, ``beta``, ``seconds``.
    """
    _check_pair(net, system)
    beta = _check_beta(beta)
    n_samples = _check_count(n_samples, "n_samples", minimum=2)
    batch_size = _check_count(batch_size if batch_size is not None else min(n_samples, 5000), "batch_size", 2)
    energy_bins = _check_count(energy_bins, "energy_bins")
    t0 = time.perf_counter()
    dev = net.device
    n = system.n
    J64, h64 = system.coupling_matrix(dev, torch.float64)
    generator = _generator(seed, dev)

    L_parts, e_parts, m_parts, logq_parts = [], [], [], []
    q_parts, pair_logw_parts = [], []
    spin_sum = torch.zeros(n, dtype=torch.float64, device=dev)
    spin_wsum_parts: list[tuple[float, torch.Tensor]] = []  # (shift, Σ exp(log w - shift) x) per batch
    done = 0
    while done < n_samples:
        b = min(batch_size, n_samples - done)
        if b < 2 and done > 0:
            b = 2  # overlaps need pairs; one extra sample is harmless
        x, log_q = net.sample(b, generator=generator)
        x64 = x.detach().to(torch.float64)
        log_q = log_q.detach().to(torch.float64)
        energy = -0.5 * ((x64 @ J64) * x64).sum(-1) - x64 @ h64   # H in float64 (physics.md §1)
        L = log_q + beta * energy
        log_w = -L
        L_parts.append(L.cpu())
        e_parts.append(energy.cpu())
        logq_parts.append(log_q.cpu())
        m_parts.append(x64.sum(-1).round().to(torch.int64).cpu())
        spin_sum += x64.sum(0)
        shift = float(log_w.max())
        spin_wsum_parts.append((shift, (torch.exp(log_w - shift).unsqueeze(1) * x64).sum(0).cpu()))
        half = b // 2
        overlap = (x64[:half] * x64[half:2 * half]).sum(-1).round().to(torch.int64)  # N q_ab
        q_parts.append(overlap.cpu())
        pair_logw_parts.append((log_w[:half] + log_w[half:2 * half]).cpu())
        done += b

    L = torch.cat(L_parts).numpy()
    energy = torch.cat(e_parts).numpy()
    log_q = torch.cat(logq_parts).numpy()
    M = torch.cat(m_parts).numpy()
    total = L.shape[0]
    if not np.all(np.isfinite(L)):
        raise ValueError("log q or the energy is not finite on some samples: the network has diverged")
    log_w = -L
    lse = _logsumexp(log_w)
    ess = math.exp(2 * lse - _logsumexp(2 * log_w)) / total
    w_norm = np.exp(log_w - lse)  # self-normalised weights, Σ = 1

    f_q = float(L.mean()) / (beta * n)
    std = float(L.std(ddof=1)) / (beta * n)
    log_z_is = lse - math.log(total)
    f_is = -log_z_is / (beta * n)
    f_is_stderr = math.sqrt(max(1.0 / ess - 1.0, 0.0) / total) / (beta * n)

    m_values = np.linspace(-1.0, 1.0, n + 1)
    m_index = (M + n) // 2
    overlaps = torch.cat(q_parts).numpy()
    q_index = (overlaps + n) // 2
    pair_logw = torch.cat(pair_logw_parts).numpy()
    e_density = energy / n
    lo, hi = float(e_density.min()), float(e_density.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 / n, hi + 0.5 / n
    counts, edges = np.histogram(e_density, bins=energy_bins, range=(lo, hi))
    energy_centres = 0.5 * (edges[1:] + edges[:-1])

    global_shift = max(s for s, _ in spin_wsum_parts)
    spin_wsum = sum(v.to(torch.float64) * math.exp(s - global_shift) for s, v in spin_wsum_parts)
    mean_spin_is = (spin_wsum / float(np.exp(log_w - global_shift).sum())).numpy()
    abs_m = np.abs(M) / n

    result = {
        "beta": beta,
        "n": n,
        "n_samples": int(total),
        "free_energy": f_q,
        "free_energy_std": std,
        "free_energy_stderr": std / math.sqrt(total),
        "free_energy_is": f_is,
        "free_energy_is_stderr": f_is_stderr,
        "log_z_is": log_z_is,
        "ess": ess,
        "energy": float(energy.mean()) / n,
        "energy_is": float(np.dot(w_norm, energy)) / n,
        "entropy": -float(log_q.mean()) / n,
        "magnetization": float(M.mean()) / n,
        "magnetization_is": float(np.dot(w_norm, M)) / n,
        "abs_magnetization": float(abs_m.mean()),
        "abs_magnetization_is": float(np.dot(w_norm, abs_m)),
        "magnetization_hist": (m_values, _weighted_hist(m_index, n + 1, None)),
        "magnetization_hist_is": (m_values, _weighted_hist(m_index, n + 1, log_w)),
        "overlap_hist": (m_values.copy(), _weighted_hist(q_index, n + 1, None)),
        "overlap_hist_is": (m_values.copy(), _weighted_hist(q_index, n + 1, pair_logw)),
        "energy_hist": (energy_centres, counts / counts.sum()),
        "mean_spin": (spin_sum / total).cpu().numpy(),
        "mean_spin_is": mean_spin_is,
        "free_energy_exact": None,
        "relative_error": None,
        "relative_error_is": None,
    }
    if exact:
        from .exact import exact_free_energy

        f_exact = exact_free_energy(system, beta, max_n=exact_max_n)
        if f_exact is not None:
            result["free_energy_exact"] = float(f_exact)
            if f_exact != 0:
                result["relative_error"] = abs(f_q - f_exact) / abs(f_exact)
                result["relative_error_is"] = abs(f_is - f_exact) / abs(f_exact)
    result["seconds"] = time.perf_counter() - t0
    return result


@dataclass
class NeuralMCMCResult:
    """A neural-MCMC chain (physics.md §6): independent Metropolis–Hastings with q as the proposal.

    ``samples`` is (n_steps, n_chains, N) float32 ±1 after burn-in, ``energies`` the matching
    energies H (float64, total, not per spin), ``acceptance_rate`` the fraction of accepted moves
    over all chains and steps (burn-in included), ``acceptance_per_chain`` per chain.
    """

    samples: torch.Tensor
    energies: np.ndarray
    acceptance_rate: float
    acceptance_per_chain: np.ndarray
    beta: float
    seconds: float = 0.0
    n: int = field(init=False)

    def __post_init__(self):
        self.n = int(self.samples.shape[-1])

    @property
    def energy(self) -> float:
        """Chain average of the energy density H/N."""
        return float(self.energies.mean()) / self.n

    @property
    def abs_magnetization(self) -> float:
        """Chain average of |Σ x_i| / N."""
        return float(self.samples.sum(-1).abs().mean()) / self.n

    def flat_samples(self) -> torch.Tensor:
        """All chain states as one (n_steps · n_chains, N) batch."""
        return self.samples.reshape(-1, self.n)


@torch.no_grad()
def neural_mcmc(net, system, beta: float, n_steps: int, n_chains: int = 16, burn_in: int = 0, seed=None,
                proposals_per_batch: int = 8192) -> NeuralMCMCResult:
    """Independent Metropolis–Hastings with the network q as the proposal (physics.md §6).

    Each chain proposes x' ~ q independently of its state x and accepts with probability
    ``min(1, w(x')/w(x))``, ``log w = -βH - log q``; its stationary law is P_B exactly, whatever q.
    Chains start from a sample of q. Proposals are drawn in batches of about
    ``proposals_per_batch``, so the cost is that of sampling ``(burn_in + n_steps)·n_chains``
    configurations. Returns a :class:`NeuralMCMCResult`.
    """
    _check_pair(net, system)
    beta = _check_beta(beta)
    n_steps = _check_count(n_steps, "n_steps")
    n_chains = _check_count(n_chains, "n_chains")
    burn_in = _check_count(burn_in, "burn_in", minimum=0)
    proposals_per_batch = _check_count(proposals_per_batch, "proposals_per_batch")
    t0 = time.perf_counter()
    dev = net.device
    n = system.n
    J64, h64 = system.coupling_matrix(dev, torch.float64)
    generator = _generator(seed, dev)

    def propose(count: int):
        x, log_q = net.sample(count, generator=generator)
        x64 = x.detach().to(torch.float64)
        energy = -0.5 * ((x64 @ J64) * x64).sum(-1) - x64 @ h64
        log_w = -beta * energy - log_q.detach().to(torch.float64)
        if not bool(torch.isfinite(log_w).all()):
            raise ValueError("log q or the energy is not finite on a proposal: the network has diverged")
        return x.detach().to(torch.float32), energy, log_w

    state, state_energy, state_logw = propose(n_chains)
    samples = torch.empty(n_steps, n_chains, n, dtype=torch.float32, device=dev)
    energies = torch.empty(n_steps, n_chains, dtype=torch.float64, device=dev)
    accepted = torch.zeros(n_chains, dtype=torch.float64, device=dev)
    steps_per_batch = max(1, proposals_per_batch // n_chains)
    total_steps = burn_in + n_steps
    t = 0
    while t < total_steps:
        k = min(steps_per_batch, total_steps - t)
        xs, es, lws = propose(k * n_chains)
        xs, es, lws = xs.view(k, n_chains, n), es.view(k, n_chains), lws.view(k, n_chains)
        u = torch.rand(k, n_chains, dtype=torch.float64, device=dev, generator=generator)
        for s in range(k):
            accept = torch.log(u[s]) < lws[s] - state_logw
            state = torch.where(accept.unsqueeze(1), xs[s], state)
            state_energy = torch.where(accept, es[s], state_energy)
            state_logw = torch.where(accept, lws[s], state_logw)
            accepted += accept.to(torch.float64)
            if t + s >= burn_in:
                samples[t + s - burn_in] = state
                energies[t + s - burn_in] = state_energy
        t += k
    per_chain = (accepted / total_steps).cpu().numpy()
    return NeuralMCMCResult(samples=samples, energies=energies.cpu().numpy(),
                            acceptance_rate=float(per_chain.mean()), acceptance_per_chain=per_chain,
                            beta=beta, seconds=time.perf_counter() - t0)


@torch.no_grad()
def exact_kl(net, system, beta: float, max_n: int = 20, chunk_size: int = 1 << 16) -> float:
    """KL(q‖P_B) = Σ_x q(x) [log q(x) + βH(x) + log Z] = β(F_q - F) in nats (total, not per spin),
    by enumerating all 2^N states (physics.md §2, §5). Refuses N > ``max_n`` with a ValueError."""
    from .exact import exact_kl_divergence, iter_states

    _check_pair(net, system)
    beta = _check_beta(beta)
    if system.n > max_n:
        raise ValueError(f"exact KL enumerates 2^N states: N = {system.n} > max_n = {max_n}; "
                         "use estimate() (importance sampling) instead")
    parts = []
    for _, states in iter_states(system.n, chunk_size=chunk_size, dtype=net.dtype, device=net.device):
        parts.append(net.log_prob(states).to(torch.float64).cpu())
    return exact_kl_divergence(torch.cat(parts), system, beta, max_n=max_n)
