#!/usr/bin/env python
"""The paper's inverse ("weights vs couplings") experiment in small (physics.md §4, §7; issue 4 §7).

1. An SK instance (J = 1, h = 0; N = 100 by default) and 10,000 Metropolis samples at β = 2 taken
   200·N flip attempts apart (``sweeps_between=200``; many chains in parallel, each after a
   burn-in).
2. SK_1RSB (``sk_krsb``, k = 1) with a *learnable* first layer, initialised small and random
   (not to J), trained by maximum likelihood on those samples (``train_likelihood``).
3. The learnt first-layer weights against the couplings over all pairs i < j: Pearson r of
   |W_ij| vs |J_ij| (the paper's picture) and of W_ij vs J_ij, with least-squares lines.

Everything goes through the public library (``import arnn_core as ac``). Prints a summary and,
with ``--out DIR``, writes ``inverse_summary.json`` (numbers, wall times, NLL history),
``inverse_pairs.csv`` (i, j, J_ij, W_ij) and the samples (``samples.npy``; reuse them with
``--samples-file`` to retrain without rerunning Monte Carlo). ``--quick`` is a small smoke run.

    python benchmarks/inverse_experiment.py --out benchmarks/out/inverse
    python benchmarks/inverse_experiment.py --instances 5 --out benchmarks/out/inverse5
    python benchmarks/inverse_experiment.py --quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import arnn_core as ac  # noqa: E402


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation coefficient of two equal-length vectors."""
    return float(np.corrcoef(a, b)[0, 1])


def line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares y ≈ slope·x + intercept."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def weights_vs_couplings(net, system) -> dict:
    """Correlation of the learnt first layer with J over pairs i < j (physics.md §4)."""
    W = net.first_layer_weights().detach().cpu().double().numpy()
    J = system.J.numpy()
    iu = np.triu_indices(system.n, k=1)
    w, j = W[iu], J[iu]
    slope_abs, icpt_abs = line_fit(np.abs(j), np.abs(w))
    slope, icpt = line_fit(j, w)
    return {"pairs": int(len(j)), "r_abs": pearson(np.abs(w), np.abs(j)), "r": pearson(w, j),
            "fit_abs": {"slope": slope_abs, "intercept": icpt_abs}, "fit": {"slope": slope, "intercept": icpt},
            "_i": iu[0], "_j": iu[1], "_J": j, "_W": w}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="number of spins (default 100)")
    parser.add_argument("--beta", type=float, default=2.0, help="inverse temperature (default 2)")
    parser.add_argument("--instance-seed", type=int, default=0, help="seed of the SK couplings")
    parser.add_argument("--samples", type=int, default=10_000, help="Metropolis samples (default 10,000)")
    parser.add_argument("--chains", type=int, default=1000, help="parallel Metropolis chains (default 1000)")
    parser.add_argument("--sweeps-between", type=int, default=200, help="sweeps (N flips) between samples")
    parser.add_argument("--burn-in", type=int, default=1000, help="burn-in sweeps per chain (default 1000)")
    parser.add_argument("--samples-file", help="reuse samples saved by a previous run (skips Monte Carlo)")
    parser.add_argument("--epochs", type=int, default=40, help="likelihood epochs (default 40)")
    parser.add_argument("--batch-size", type=int, default=100, help="minibatch (default 100)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    parser.add_argument("--init-scale", type=float, default=1.0, help="sk_krsb init_scale (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling and training")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--out", help="directory for the summary JSON, pair CSV and samples")
    parser.add_argument("--quick", action="store_true", help="N=30, 2000 samples, 10 epochs (smoke run)")
    parser.add_argument("--instances", type=int, default=1,
                        help="run this many SK instances (seeds instance-seed, instance-seed+1, …)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.samples, args.chains, args.burn_in, args.epochs = 30, 2000, 200, 200, 10
        args.sweeps_between = min(args.sweeps_between, 50)
    if args.instances < 1:
        parser.error("--instances must be ≥ 1")
    if args.samples_file and args.instances > 1:
        parser.error("--samples-file holds the samples of one instance; use --instances 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else None
    results = []
    for k in range(args.instances):
        seed = args.instance_seed + k
        inst_out = (out / f"instance_{seed}") if (out and args.instances > 1) else out
        results.append(run_instance(args, seed, inst_out))
    if args.instances > 1:
        r_abs = np.array([r["pearson_r_abs"] for r in results])
        print(f"{args.instances} instances: Pearson r(|W|, |J|) = {r_abs.mean():.3f} ± "
              f"{r_abs.std(ddof=1) / math.sqrt(len(r_abs)):.3f} (mean ± s.e.; min {r_abs.min():.3f}, "
              f"max {r_abs.max():.3f})")
        if out:
            (out / "inverse_instances.json").write_text(json.dumps(ac.to_jsonable(
                [{k: v for k, v in r.items() if k != "history"} for r in results]), indent=1))
    return 0 if all(math.isfinite(r["pearson_r_abs"]) for r in results) else 1


def run_instance(args, instance_seed: int, out: Path | None) -> dict:
    """Monte Carlo data, likelihood training and the weights-vs-couplings numbers for one instance."""
    if out:
        out.mkdir(parents=True, exist_ok=True)
    system = ac.sherrington_kirkpatrick(args.n, seed=instance_seed)
    device = ac.default_device()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"{system.name}, β = {args.beta:g}, device {ac.device_description(device)}")

    # 1. Monte Carlo data
    t0 = time.perf_counter()
    if args.samples_file:
        samples = ac.load_samples(args.samples_file)
        if samples.shape[1] != system.n:
            raise SystemExit(f"{args.samples_file} has N = {samples.shape[1]}, expected {system.n}")
        mc_info = {"reused": os.path.abspath(args.samples_file)}
    else:
        log(f"Metropolis: {args.samples} samples from {args.chains} chains, {args.sweeps_between} sweeps apart, "
            f"burn-in {args.burn_in} sweeps ({args.samples * args.sweeps_between * args.n + args.chains * args.burn_in * args.n:.2e} flip attempts)")
        mc = ac.metropolis(system, args.beta, n_samples=args.samples, n_chains=args.chains,
                           sweeps_between=args.sweeps_between, burn_in=args.burn_in, seed=args.seed,
                           device=device)
        samples = mc.samples.cpu().numpy()
        mc_info = {"n_chains": mc.n_chains, "sweeps_between": mc.sweeps_between, "burn_in": mc.burn_in,
                   "n_sweeps": mc.n_sweeps, "acceptance_rate": mc.acceptance_rate, "energy": mc.energy,
                   "energy_error": mc.energy_error, "abs_magnetization": mc.abs_magnetization,
                   "autocorrelation_time_sweeps": mc.autocorrelation_time,
                   "flips_per_second": mc.flips_per_second}
        if out:
            ac.save_samples(out / "samples.npy", samples)
    mc_seconds = time.perf_counter() - t0
    log(f"  {samples.shape[0]} samples in {mc_seconds:.1f} s")

    # 2. likelihood training of SK_1RSB with a learnable first layer
    torch.manual_seed(args.seed)
    net = ac.make_arnn("sk_krsb", system, k=1, learn_first_layer=True, init_scale=args.init_scale)
    net.to(device)
    before = weights_vs_couplings(net, system)
    log(f"sk_krsb k=1, learnt first layer: {net.num_params()} trainable parameters; "
        f"r(|W|,|J|) at initialisation {before['r_abs']:.3f}")
    t0 = time.perf_counter()

    def progress(record):
        if record["epoch"] % 5 == 0 or record["status"] != "running":
            wc = weights_vs_couplings(net, system)
            record["r_abs"], record["r"] = wc["r_abs"], wc["r"]
            log(f"  epoch {record['epoch']:4d}: NLL/N train {record['train_nll_per_spin']:.5f} "
                f"validation {record['validation_nll_per_spin']:.5f}   r(|W|,|J|) = {wc['r_abs']:.3f}   "
                f"r(W,J) = {wc['r']:.3f}   {record['seconds']:.0f} s")

    history = ac.train_likelihood(net, samples, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                  validation_fraction=0.1, seed=args.seed, on_step=progress)
    train_seconds = time.perf_counter() - t0
    wc = weights_vs_couplings(net, system)

    summary = {
        "system": {"name": system.name, "n": system.n, "instance_seed": instance_seed},
        "beta": args.beta, "n_samples": int(samples.shape[0]), "monte_carlo": mc_info,
        "architecture": {"name": "sk_krsb", "options": net.options, "trainable_params": net.num_params()},
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                     "status": history[-1]["status"],
                     "nll_per_spin_initial": history[0]["validation_nll_per_spin"],
                     "nll_per_spin_final": history[-1]["validation_nll_per_spin"]},
        "pearson_r_abs": wc["r_abs"], "pearson_r": wc["r"], "pearson_r_abs_at_init": before["r_abs"],
        "fit_abs": wc["fit_abs"], "fit": wc["fit"], "pairs": wc["pairs"],
        "seconds": {"monte_carlo": mc_seconds, "training": train_seconds},
        "hardware": ac.device_description(device), "torch_threads": torch.get_num_threads(),
        "history": history,
    }
    if out:
        (out / "inverse_summary.json").write_text(json.dumps(ac.to_jsonable(summary), indent=1))
        with open(out / "inverse_pairs.csv", "w", encoding="utf-8") as fh:
            fh.write("i,j,J_ij,W_ij\n")
            for i, j, Jij, Wij in zip(wc["_i"], wc["_j"], wc["_J"], wc["_W"]):
                fh.write(f"{i},{j},{Jij:.8g},{Wij:.8g}\n")
    print(f"SK N={system.n} β={args.beta:g}: {samples.shape[0]} Metropolis samples in {mc_seconds:.1f} s; "
          f"likelihood training {args.epochs} epochs in {train_seconds:.1f} s")
    print(f"  NLL/N validation {summary['training']['nll_per_spin_initial']:.5f} → "
          f"{summary['training']['nll_per_spin_final']:.5f}")
    print(f"  Pearson r(|W|, |J|) = {wc['r_abs']:.4f}   r(W, J) = {wc['r']:.4f}   over {wc['pairs']} pairs "
          f"(at initialisation {before['r_abs']:.3f})")
    print(f"  |W| ≈ {wc['fit_abs']['slope']:.3f}·|J| + {wc['fit_abs']['intercept']:.4f};   "
          f"W ≈ {wc['fit']['slope']:.3f}·J + {wc['fit']['intercept']:.4f}")
    return summary


if __name__ == "__main__":
    sys.exit(main())
