"""Markov chain Monte Carlo for systems too large to enumerate (physics.md §2).

:func:`metropolis` runs many single-spin-flip Metropolis chains at once; :func:`parallel_tempering`
adds replica exchange between neighbouring temperatures for frustrated systems (spin glasses).
Both give reference observables with honest error bars and the training data for likelihood
training (physics.md §5).

How a sweep works (one sweep = N flip attempts per chain, every site visited once):

* Every chain keeps its local fields f_i = Σ_j J_ij x_j + h_i (float64). Flipping x_i costs
  ΔE = 2 x_i f_i and is accepted when u < exp(-β ΔE); an accepted flip changes f by
  -2 x_i J_{:,i}, so a flip costs O(degree), and every step is vectorised over chains.
* Dense systems (Curie–Weiss, SK) visit sites sequentially 0, 1, …, N-1; each step updates all
  chains' fields with one row of J (a rank-1 update).
* Sparse systems (lattices, graphs; ``system.is_sparse``) are coloured greedily so that no two
  coupled sites share a colour; all sites of one colour are independent given the others and are
  updated together ("checkerboard" on a bipartite lattice), with neighbour lists per colour.

A sequential or colour-by-colour sweep is a composition of single-site Metropolis kernels, each of
which satisfies detailed balance with respect to P_B, so P_B is stationary for the sweep.
Fields are recomputed from scratch at every recorded sample so round-off cannot drift.

The paper's protocol for the "weights vs couplings" experiment (physics.md §4), "10,000
Metropolis samples taken every 200·N flip attempts", is ``sweeps_between=200`` here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import torch

from .device import resolve_device
from .systems import SpinSystem

__all__ = [
    "MCResult",
    "PTResult",
    "metropolis",
    "parallel_tempering",
    "integrated_autocorrelation_time",
]

#: At most this many chains (per temperature) are traced sweep by sweep for the autocorrelation time.
TRACED_CHAINS = 64
#: Sites per block in the dense sequential sweep (see ``_Chains.sweep``).
DENSE_BLOCK = 64


# ---------------------------------------------------------------------- statistics
def integrated_autocorrelation_time(series, window_factor: float = 5.0) -> float:
    """Integrated autocorrelation time τ = 1 + 2 Σ_{t≥1} ρ(t) of a (T,) or (T, chains) series.

    ρ(t) is the normalised autocovariance, computed by FFT per chain (each chain's own mean
    removed) and averaged over chains; the sum is cut at Sokal's automatic window, the smallest
    M with M ≥ ``window_factor`` · τ(M). With this convention the variance of a mean of T
    correlated values is σ² τ / T. Returns ``nan`` for a constant series (τ undefined) and
    ``nan`` when fewer than 4 time steps are given.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"series must be (T,) or (T, chains), got shape {x.shape}")
    T = x.shape[0]
    if T < 4:
        return float("nan")
    x = x - x.mean(axis=0, keepdims=True)
    size = 1 << (2 * T - 1).bit_length()
    spectrum = np.fft.rfft(x, n=size, axis=0)
    acov = np.fft.irfft(np.abs(spectrum) ** 2, n=size, axis=0)[:T].mean(axis=1) / T
    if acov[0] <= 1e-300:
        return float("nan")
    rho = acov / acov[0]
    taus = 2.0 * np.cumsum(rho) - 1.0
    ok = np.arange(T) >= window_factor * taus
    M = int(np.argmax(ok)) if ok.any() else T - 1
    return float(max(taus[M], 1.0 / T))


def _mean_and_error(values: np.ndarray) -> tuple[float, float]:
    """Mean of a (rounds, chains) array and its standard error.

    Independent chains make the spread of per-chain means an honest error bar that already
    includes autocorrelation; with fewer than 8 chains, batch means along each chain are used.
    """
    R, K = values.shape
    mean = float(values.mean())
    if K >= 8:
        chain_means = values.mean(axis=0)
        return mean, float(chain_means.std(ddof=1) / math.sqrt(K))
    blocks = min(R, 16)
    if blocks * K < 2:
        return mean, float("nan")
    usable = (R // blocks) * blocks
    block_means = values[:usable].reshape(blocks, R // blocks, K).mean(axis=1).reshape(-1)
    return mean, float(block_means.std(ddof=1) / math.sqrt(block_means.size))


# ---------------------------------------------------------------------- validation
def _check_int(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_beta(beta, what="beta") -> float:
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {beta!r}") from None
    if not math.isfinite(b) or b < 0.0:
        raise ValueError(f"{what} (inverse temperature) must be finite and ≥ 0, got {beta!r}")
    return b


def _make_generator(seed, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer or None, got {seed!r}")
        gen.manual_seed(int(seed) % (2 ** 63))
    return gen


# ---------------------------------------------------------------------- the chains
class _Chains:
    """K Metropolis chains (columns) of one system, each with its own β.

    Spins are stored site-major, ``x`` of shape (N + 1, K) in an internal site order (colour
    classes contiguous for sparse systems); row N is a zero padding row that absorbs nothing.
    """

    def __init__(self, system: SpinSystem, beta_col: torch.Tensor, device: torch.device,
                 generator: torch.Generator):
        n = system.n
        self.n = n
        self.device = device
        self.gen = generator
        self.beta_col = beta_col
        self.sparse = system.is_sparse
        J = system.J.numpy()
        if self.sparse:
            colour = nx.greedy_color(system.graph(), strategy="largest_first")
            colours = np.array([colour[i] for i in range(n)])
            perm = np.argsort(colours, kind="stable")  # internal site k is original site perm[k]
        else:
            perm = np.arange(n)
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        self.perm = torch.as_tensor(perm, device=device)
        self.inv = torch.as_tensor(inv, device=device)
        J_int = J[np.ix_(perm, perm)]
        self.h = system.h.numpy()[perm]
        self.h_col = torch.as_tensor(self.h, device=device, dtype=torch.float64).unsqueeze(1)
        if self.sparse:
            counts = np.bincount(colours, minlength=colours.max() + 1)
            bounds = np.concatenate([[0], np.cumsum(counts)])
            self.classes = []
            for a, b in zip(bounds[:-1], bounds[1:]):
                rows, cols = np.nonzero(J_int[a:b])  # rows: local index in the class, cols: target site
                self.classes.append((int(a), int(b),
                                     torch.as_tensor(rows, device=device),
                                     torch.as_tensor(cols, device=device),
                                     torch.as_tensor(J_int[a:b][rows, cols], device=device).unsqueeze(1)))
            src, tgt = np.nonzero(J_int)
            self.all_src = torch.as_tensor(src, device=device)
            self.all_tgt = torch.as_tensor(tgt, device=device)
            self.all_w = torch.as_tensor(J_int[src, tgt], device=device).unsqueeze(1)
        else:
            self.J = torch.as_tensor(J_int, device=device, dtype=torch.float64)
            self.blocks = []
            for a in range(0, n, DENSE_BLOCK):
                e = min(n, a + DENSE_BLOCK)
                # J[:, a:e] as the transpose of the contiguous rows a:e (J is symmetric)
                self.blocks.append((a, e, self.J[a:e, a:e].unbind(0), self.J[a:e].T))
        K = beta_col.numel()
        bits = torch.randint(0, 2, (n + 1, K), generator=generator, device=device)
        self.x = (2 * bits - 1).to(torch.float64)
        self.x[n] = 0.0
        self.f = torch.zeros(n + 1, K, dtype=torch.float64, device=device)
        self.recompute_fields()
        self.x_rows = self.x.unbind(0)
        self.f_rows = self.f.unbind(0)

    def recompute_fields(self) -> None:
        """f = J x + h from scratch (removes accumulated round-off)."""
        n = self.n
        if self.sparse:
            self.f.zero_()
            self.f.index_add_(0, self.all_tgt, self.all_w * self.x[self.all_src])
            self.f[:n] += self.h_col
            self.f[n] = 0.0
        else:
            self.f[:n].copy_(torch.addmm(self.h_col, self.J, self.x[:n]))

    def sweep(self) -> None:
        """N flip attempts per chain: sequential (dense) or colour by colour (sparse)."""
        n = self.n
        u = torch.rand(n, self.beta_col.numel(), generator=self.gen, device=self.device, dtype=torch.float64)
        # accept iff u < exp(-2β x_i f_i)  ⇔  x_i f_i < -log(u) / (2β)   (β = 0: always)
        threshold = -torch.log(u) / (2.0 * self.beta_col)
        x, f = self.x, self.f
        if self.sparse:
            for a, b, rows, cols, w in self.classes:
                xs = x[a:b]
                accepted = xs * f[a:b] < threshold[a:b]
                flipped = torch.where(accepted, xs, 0.0)  # old value of each flipped spin, else 0
                xs.sub_(flipped, alpha=2.0)
                if rows.numel():
                    f.index_add_(0, cols, w * flipped[rows], alpha=-2.0)
        else:
            # Blocked sequential sweep: inside a block of sites the fields of the block's own sites
            # are updated flip by flip (small rank-1 updates); the rest of the system receives the
            # block's flips at once with one matrix product, which moves far less memory than a
            # rank-1 update of all N fields after every flip.
            thr_rows = threshold.unbind(0)
            x_rows = self.x_rows
            f_body = f[:n]
            for a, e, J_block_rows, J_rows_T in self.blocks:
                x_old = x[a:e].clone()
                f_block = f[a:e].clone()
                f_block_rows = f_block.unbind(0)
                for k in range(e - a):
                    xi = x_rows[a + k]
                    flipped = torch.where(xi * f_block_rows[k] < thr_rows[a + k], xi, 0.0)
                    xi.sub_(flipped, alpha=2.0)
                    f_block.addr_(J_block_rows[k], flipped, alpha=-2.0)
                # f += J[:, a:e] (x_new - x_old); this also brings rows a:e to what f_block holds
                f_body.addmm_(J_rows_T, x_old - x[a:e], alpha=-1.0)

    def energies(self) -> torch.Tensor:
        """H of every chain: -½ Σ x_i (f_i + h_i) with f the full local field (K,)."""
        n = self.n
        return -0.5 * (self.x[:n] * (self.f[:n] + self.h_col)).sum(0)

    def spins(self, columns: torch.Tensor | None = None) -> torch.Tensor:
        """(K', N) spins in the original site order."""
        x = self.x[:self.n] if columns is None else self.x[:self.n, columns]
        return x[self.inv].T


# ---------------------------------------------------------------------- results
@dataclass
class MCResult:
    """Output of :func:`metropolis`.

    ``samples`` (n_samples, N) float32 ±1 on the CPU, ordered round by round: rows
    r·n_chains … (r+1)·n_chains - 1 are the n_chains chains at recording round r.
    ``energies`` H(x) of each sample (total, not per spin), ``magnetizations`` m = Σx/N.
    ``energy``, ``abs_magnetization``: densities ⟨H⟩/N and ⟨|m|⟩ with standard errors from the
    spread of independent chains (or batch means with < 8 chains).
    ``energy_trace`` (n_sweeps, ≤ 64): energy density of the first chains after every sweep,
    burn-in included; ``autocorrelation_time``: integrated τ of the energy in sweeps, measured
    after burn-in (:func:`integrated_autocorrelation_time`); samples ``sweeps_between`` apart are
    roughly independent when sweeps_between ≫ τ. ``acceptance_rate``: accepted / attempted flips
    after burn-in. ``elapsed``: wall seconds of the whole call; ``flips_per_second``: attempted
    flips (all chains, burn-in included) per second of sweeping (set-up and colouring excluded).
    """

    samples: torch.Tensor
    beta: float
    n_chains: int
    sweeps_between: int
    burn_in: int
    n_sweeps: int
    update: str
    acceptance_rate: float
    energy: float
    energy_error: float
    abs_magnetization: float
    abs_magnetization_error: float
    autocorrelation_time: float
    energies: np.ndarray = field(repr=False)
    magnetizations: np.ndarray = field(repr=False)
    energy_trace: np.ndarray = field(repr=False)
    elapsed: float = 0.0
    flips_per_second: float = 0.0


@dataclass
class PTResult:
    """Output of :func:`parallel_tempering`; per-temperature arrays follow ``betas`` (ascending).

    ``samples[r]`` (n_samples, N) float32 on the CPU at ``betas[r]``, or None when only the
    ``target_beta`` samples were kept (:meth:`samples_at`). ``swap_acceptance[r]``: accepted
    fraction of exchanges between ``betas[r]`` and ``betas[r+1]``. Other fields as in
    :class:`MCResult`, one entry per temperature; ``energy_trace`` is (n_sweeps, R, ≤ 64) and
    follows temperatures, not walkers.
    """

    betas: np.ndarray
    samples: list
    n_chains: int
    sweeps_between: int
    burn_in: int
    n_sweeps: int
    update: str
    swap_acceptance: np.ndarray
    acceptance_rate: np.ndarray
    energy: np.ndarray
    energy_error: np.ndarray
    abs_magnetization: np.ndarray
    abs_magnetization_error: np.ndarray
    autocorrelation_time: np.ndarray
    energies: np.ndarray = field(repr=False)
    magnetizations: np.ndarray = field(repr=False)
    energy_trace: np.ndarray = field(repr=False)
    elapsed: float = 0.0
    flips_per_second: float = 0.0

    def samples_at(self, beta: float) -> torch.Tensor:
        """The samples at the temperature closest to ``beta`` (must have been kept)."""
        r = int(np.argmin(np.abs(self.betas - float(beta))))
        if self.samples[r] is None:
            raise ValueError(f"samples at beta = {self.betas[r]:g} were not kept (target_beta was set)")
        return self.samples[r]


# ---------------------------------------------------------------------- the driver
def _run(system, betas: np.ndarray, n_samples: int, n_chains: int, sweeps_between: int, burn_in: int,
         seed, device, swaps: bool, keep: np.ndarray) -> dict:
    """Shared engine: R temperatures × K chains as R·K columns; temperatures move between columns
    when a swap is accepted (cheaper than moving configurations)."""
    if not isinstance(system, SpinSystem):
        raise ValueError(f"expected a SpinSystem, got {type(system).__name__}")
    n_samples = _check_int(n_samples, "n_samples", 1)
    n_chains = _check_int(n_chains, "n_chains", 1)
    sweeps_between = _check_int(sweeps_between, "sweeps_between", 1)
    burn_in = _check_int(burn_in, "burn_in", 0)
    dev = resolve_device(device)
    gen = _make_generator(seed, dev)
    start_time = time.perf_counter()

    n = system.n
    R = len(betas)
    K = min(n_chains, n_samples)
    rounds = -(-n_samples // K)
    n_sweeps = burn_in + rounds * sweeps_between
    traced = min(K, TRACED_CHAINS)
    beta_t = torch.as_tensor(betas, dtype=torch.float64, device=dev)
    column_of = torch.arange(R * K, device=dev).reshape(R, K)  # column holding (temperature r, chain c)
    beta_col = beta_t.repeat_interleave(K).clone()
    chains = _Chains(system, beta_col, dev, gen)
    sweep_start = time.perf_counter()  # flips per second exclude the set-up (colouring, fields)

    trace = np.empty((n_sweeps, R, traced), dtype=np.float32)  # float32: long runs stay small
    sample_store = [[] for _ in range(R)]
    energy_rounds = np.empty((rounds, R, K))
    mag_rounds = np.empty((rounds, R, K))
    flips_per_temp = torch.zeros(R, dtype=torch.float64, device=dev)
    swap_tries = np.zeros(max(R - 1, 0))
    swap_accepts = torch.zeros(max(R - 1, 0), dtype=torch.float64, device=dev)
    record = 0
    for sweep in range(n_sweeps):
        measuring = sweep >= burn_in
        before = chains.x[:n].clone() if measuring else None
        chains.sweep()
        if measuring:
            flips_col = (chains.x[:n] != before).sum(0).to(torch.float64)
            flips_per_temp += flips_col[column_of].sum(1)
        recording = measuring and (sweep - burn_in + 1) % sweeps_between == 0
        if recording:
            chains.recompute_fields()
        E = chains.energies()
        trace[sweep] = (E[column_of[:, :traced]] / n).cpu().numpy()
        if recording:
            for r in range(R):
                cols = column_of[r]
                spins = chains.spins(cols)
                energy_rounds[record, r] = E[cols].cpu().numpy()
                mag_rounds[record, r] = (spins.sum(1) / n).cpu().numpy()
                if keep[r]:
                    sample_store[r].append(spins.to(torch.int8).cpu())
            record += 1
        if swaps and R > 1:
            # alternate even and odd pairs so that every pair is tried every second sweep
            pairs = torch.arange(sweep % 2, R - 1, 2, device=dev)
            if pairs.numel():
                a, b = column_of[pairs], column_of[pairs + 1]
                log_ratio = (beta_t[pairs] - beta_t[pairs + 1]).unsqueeze(1) * (E[a] - E[b])
                u = torch.rand(a.shape, generator=gen, device=dev, dtype=torch.float64)
                accept = torch.log(u) < log_ratio
                column_of[pairs] = torch.where(accept, b, a)
                column_of[pairs + 1] = torch.where(accept, a, b)
                chains.beta_col.scatter_(0, column_of.reshape(-1), beta_t.repeat_interleave(K))
                if measuring:
                    swap_tries[pairs.cpu().numpy()] += K
                    swap_accepts.index_add_(0, pairs, accept.sum(1).to(torch.float64))

    end_time = time.perf_counter()
    elapsed = end_time - start_time
    measured_sweeps = n_sweeps - burn_in
    samples = [torch.cat(s)[:n_samples].to(torch.float32) if keep[r] else None
               for r, s in enumerate(sample_store)]
    flat_E = energy_rounds.transpose(1, 0, 2).reshape(R, rounds * K)[:, :n_samples]
    flat_m = mag_rounds.transpose(1, 0, 2).reshape(R, rounds * K)[:, :n_samples]
    stats = [(_mean_and_error(energy_rounds[:, r] / n), _mean_and_error(np.abs(mag_rounds[:, r])))
             for r in range(R)]
    return dict(
        samples=samples,
        K=K,
        n_sweeps=n_sweeps,
        update=(f"checkerboard ({len(chains.classes)} colours)" if chains.sparse else "sequential"),
        acceptance=(flips_per_temp / max(measured_sweeps * n * K, 1)).cpu().numpy(),
        swap_acceptance=swap_accepts.cpu().numpy() / np.maximum(swap_tries, 1),
        energy=np.array([s[0][0] for s in stats]), energy_error=np.array([s[0][1] for s in stats]),
        abs_m=np.array([s[1][0] for s in stats]), abs_m_error=np.array([s[1][1] for s in stats]),
        tau=np.array([integrated_autocorrelation_time(trace[burn_in:, r]) for r in range(R)]),
        energies=flat_E, magnetizations=flat_m, trace=trace,
        elapsed=elapsed, flips_per_second=n_sweeps * n * K * R / max(end_time - sweep_start, 1e-12),
    )


def metropolis(system: SpinSystem, beta: float, n_samples: int, n_chains: int = 64, sweeps_between: int = 10,
               burn_in: int = 200, seed=None, device=None) -> MCResult:
    """Metropolis sampling of P_B(x) ∝ exp(-βH(x)) with single-spin flips (physics.md §2).

    ``n_chains`` independent chains start from random states, run ``burn_in`` sweeps, then record
    their state every ``sweeps_between`` sweeps (one sweep = N flip attempts per chain; see the
    module docstring) until ``n_samples`` samples exist; n_chains is capped at n_samples.
    ``seed`` makes the run reproducible on a given device; ``device`` as in
    :func:`arnn_core.resolve_device`. The paper's "every 200·N flips" is ``sweeps_between=200``.
    """
    beta = _check_beta(beta)
    raw = _run(system, np.array([beta]), n_samples, n_chains, sweeps_between, burn_in, seed, device,
               swaps=False, keep=np.array([True]))
    return MCResult(
        samples=raw["samples"][0], beta=beta, n_chains=raw["K"], sweeps_between=sweeps_between,
        burn_in=burn_in, n_sweeps=raw["n_sweeps"], update=raw["update"],
        acceptance_rate=float(raw["acceptance"][0]),
        energy=float(raw["energy"][0]), energy_error=float(raw["energy_error"][0]),
        abs_magnetization=float(raw["abs_m"][0]), abs_magnetization_error=float(raw["abs_m_error"][0]),
        autocorrelation_time=float(raw["tau"][0]),
        energies=raw["energies"][0], magnetizations=raw["magnetizations"][0],
        energy_trace=raw["trace"][:, 0], elapsed=raw["elapsed"], flips_per_second=raw["flips_per_second"],
    )


def parallel_tempering(system: SpinSystem, betas, n_samples: int, n_chains: int = 16, sweeps_between: int = 10,
                       burn_in: int = 200, seed=None, device=None, target_beta: float | None = None) -> PTResult:
    """Parallel tempering (replica exchange) over the inverse temperatures ``betas`` (physics.md §2).

    ``n_chains`` independent replica sets each hold one configuration per temperature. Every
    sweep updates all of them (Metropolis, as in :func:`metropolis`); then neighbouring
    temperatures r, r+1 (even pairs on even sweeps, odd pairs on odd sweeps) exchange
    configurations with probability min(1, exp((β_r - β_{r+1})(H_r - H_{r+1}))), which keeps
    the product of Boltzmann distributions stationary. ``n_samples`` samples are kept per
    temperature, or only at ``target_beta`` (one of ``betas``) when it is given, to save memory.
    Results are ordered by ascending β.
    """
    try:
        betas_arr = np.array([_check_beta(b, "each beta") for b in betas], dtype=np.float64)
    except TypeError:
        raise ValueError(f"betas must be a sequence of numbers, got {betas!r}") from None
    if betas_arr.size < 2:
        raise ValueError("parallel tempering needs at least two temperatures")
    betas_arr = np.sort(betas_arr)
    if np.any(np.diff(betas_arr) <= 0):
        raise ValueError(f"betas must be distinct, got {sorted(betas_arr.tolist())}")
    keep = np.ones(betas_arr.size, dtype=bool)
    if target_beta is not None:
        target = _check_beta(target_beta, "target_beta")
        hit = np.flatnonzero(np.isclose(betas_arr, target, rtol=1e-12, atol=1e-12))
        if hit.size == 0:
            raise ValueError(f"target_beta = {target_beta!r} is not one of betas {betas_arr.tolist()}")
        keep[:] = False
        keep[hit[0]] = True
    raw = _run(system, betas_arr, n_samples, n_chains, sweeps_between, burn_in, seed, device,
               swaps=True, keep=keep)
    return PTResult(
        betas=betas_arr, samples=raw["samples"], n_chains=raw["K"], sweeps_between=sweeps_between,
        burn_in=burn_in, n_sweeps=raw["n_sweeps"], update=raw["update"],
        swap_acceptance=raw["swap_acceptance"], acceptance_rate=raw["acceptance"],
        energy=raw["energy"], energy_error=raw["energy_error"],
        abs_magnetization=raw["abs_m"], abs_magnetization_error=raw["abs_m_error"],
        autocorrelation_time=raw["tau"], energies=raw["energies"], magnetizations=raw["magnetizations"],
        energy_trace=raw["trace"], elapsed=raw["elapsed"], flips_per_second=raw["flips_per_second"],
    )
