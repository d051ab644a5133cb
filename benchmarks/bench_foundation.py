"""Speed of the foundation layer: exact enumeration and Metropolis, each beside a plain reference.

    python benchmarks/bench_foundation.py            # the full table (a minute or two on 2 cores)
    python benchmarks/bench_foundation.py --quick    # smaller sizes, for a smoke test

Enumeration: :func:`arnn_core.exact_enumeration` (high/low spin split, all observables) against
a straightforward chunked enumeration that computes H = -½xᵀJx - hᵀx with a full x @ J per chunk
and the same observables. Both are vectorised torch in float64; the difference is the algorithm.
Goal (issue 2): N = 22 in under 10 s on 2 CPU cores.

Metropolis: :func:`arnn_core.metropolis` (many chains at once, incremental local fields, colour
classes on sparse graphs) against one chain in numpy that recomputes ΔE = 2 x_i (J_i·x + h_i)
from scratch at every flip. Flips per second count attempted single-spin flips over all chains.

Timings on a shared machine are noisy: each row is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import arnn_core as ac  # noqa: E402


# ---------------------------------------------------------------------- references
def naive_enumeration(system: ac.SpinSystem, beta: float, chunk_size: int = 1 << 18) -> dict:
    """All states in chunks, H from a full x @ J per chunk; log Z, ⟨H⟩/N, ⟨|m|⟩, ⟨x_i⟩, ⟨x_i x_j⟩."""
    n = system.n
    J, h = system.coupling_matrix("cpu", torch.float64)
    # first pass for the largest weight, second pass for the sums (no running rescaling)
    ref = -math.inf
    for _, X in ac.iter_states(n, chunk_size):
        E = -0.5 * ((X @ J) * X).sum(1) - X @ h
        ref = max(ref, float((-beta * E).max()))
    z = e1 = abs_m = 0.0
    spin = torch.zeros(n, dtype=torch.float64)
    corr = torch.zeros(n, n, dtype=torch.float64)
    for _, X in ac.iter_states(n, chunk_size):
        E = -0.5 * ((X @ J) * X).sum(1) - X @ h
        w = torch.exp(-beta * E - ref)
        z += float(w.sum())
        e1 += float((w * E).sum())
        abs_m += float((w * X.mean(1).abs()).sum())
        spin += w @ X
        corr += X.T @ (w.unsqueeze(1) * X)
    return {"log_z": math.log(z) + ref, "energy": e1 / z / n, "abs_magnetization": abs_m / z,
            "mean_spin": (spin / z).numpy(), "correlations": (corr / z).numpy()}


def naive_metropolis_flips_per_second(system: ac.SpinSystem, beta: float, n_flips: int, seed: int = 0) -> float:
    """One chain, random sites, ΔE = 2 x_i (J_i·x + h_i) recomputed from scratch at every flip."""
    rng = np.random.default_rng(seed)
    J, h = system.J.numpy(), system.h.numpy()
    n = system.n
    x = rng.choice([-1.0, 1.0], size=n)
    sites = rng.integers(0, n, size=n_flips)
    log_u = np.log(rng.random(n_flips))
    start = time.perf_counter()
    for i, lu in zip(sites, log_u):
        delta_e = 2.0 * x[i] * (J[i] @ x + h[i])
        if lu < -beta * delta_e:
            x[i] = -x[i]
    return n_flips / (time.perf_counter() - start)


# ---------------------------------------------------------------------- table
def best_time(fn, repeat: int) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per row; the best is reported")
    parser.add_argument("--max-n", type=int, default=24, help="largest N to enumerate (default 24)")
    parser.add_argument("--naive-max-n", type=int, default=22, help="largest N for the naive enumeration")
    parser.add_argument("--chains", type=int, default=100, help="Metropolis chains (default 100)")
    parser.add_argument("--sweeps", type=int, default=20, help="Metropolis sweeps per measurement")
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.max_n, args.naive_max_n, args.sweeps, args.repeat = 18, 16, 3, 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# arnn_core foundation benchmark — {ac.device_description('cpu')}; "
          f"{os.cpu_count()} CPUs visible, load average {load:.1f}; best of {args.repeat}")
    print()

    print("## Exact enumeration (SK, β = 1, float64, all observables incl. ⟨x_i x_j⟩)")
    print(f"{'N':>3} {'states':>10} {'arnn_core [s]':>14} {'naive x@J [s]':>14} {'speed-up':>9} {'|Δ log Z|':>10}")
    sizes = list(range(16, args.max_n + 1, 2)) if args.quick else list(range(20, args.max_n + 1))
    for n in sizes:
        system = ac.sherrington_kirkpatrick(n, seed=0)
        t_fast, fast = best_time(lambda: ac.exact_enumeration(system, 1.0, device="cpu"), args.repeat)
        if n <= args.naive_max_n:
            t_naive, naive = best_time(lambda: naive_enumeration(system, 1.0), 1)
            diff = abs(naive["log_z"] - fast.log_z)
            print(f"{n:>3} {2 ** n:>10,} {t_fast:>14.2f} {t_naive:>14.2f} {t_naive / t_fast:>8.1f}× {diff:>10.1e}")
        else:
            print(f"{n:>3} {2 ** n:>10,} {t_fast:>14.2f} {'—':>14} {'—':>9} {'—':>10}")
    print()

    print(f"## Metropolis at β = 1: attempted flips per second ({args.chains} chains, {args.sweeps} sweeps)")
    print(f"{'system':<26} {'N':>5} {'update':<26} {'arnn_core':>12} {'naive 1-chain':>14} {'speed-up':>9}")
    small, large = (64, 256) if args.quick else (100, 1000)
    cases = [
        ("SK dense", lambda n: ac.sherrington_kirkpatrick(n, seed=0)),
        ("EA 2D ±1 periodic", lambda n: ac.edwards_anderson(int(round(math.sqrt(n))), seed=0)),
        ("random 3-regular ±1", lambda n: ac.random_regular(n, 3, seed=0)),
    ]
    for label, build in cases:
        for n in (small, large):
            system = build(n)

            def run():
                return ac.metropolis(system, 1.0, args.chains, n_chains=args.chains, sweeps_between=args.sweeps,
                                     burn_in=0, seed=0, device="cpu")

            runs = [run() for _ in range(args.repeat)]
            best = max(r.flips_per_second for r in runs)
            update = runs[0].update
            reference = naive_metropolis_flips_per_second(system, 1.0, 20000 if not args.quick else 5000)
            print(f"{label:<26} {system.n:>5} {update:<26} {best:>12,.0f} {reference:>14,.0f} "
                  f"{best / reference:>8.0f}×")


if __name__ == "__main__":
    main()
