#!/usr/bin/env python
"""Reproduce the paper's "weights vs couplings" experiment (Biazzo 2023, Fig. 4).

SK (J = 1, h = 0) at N = 100 and 200, β = 2: 10,000 Metropolis samples taken 200·N flip attempts
(200 sweeps) apart, then SK_1RSB (sk_krsb, k = 1) with a *learnable* first layer, initialised
small and random rather than to J, trained by maximum likelihood on those samples. If the
architecture is right, the learned first-layer weights W_ij track the couplings: the scatter of
|W_ij| against |J_ij| (i < j) lies along a line. Reported: the least-squares line, Pearson r of
|W| vs |J| (and of the signed W vs J), the mean per-column |r(W_:l, J_:l)| (invariant under the
network's per-column sign/scale gauge) beside its value for unrelated weights, and the NLL.

Each (N, instance) is one run of the resumable sweep (benchmarks/sweep.py; --workers,
--ray-address, rerun to resume). Outputs in <out>/: weights_summary.csv, weights_pairs_N*.csv
(every pair i < j: J_ij, W_ij) and the figure weights_vs_couplings (HTML + PNG). Progress on
stderr, the table on stdout.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import _report  # noqa: E402
from benchmarks.sweep import (add_sweep_arguments, hardware_description, run_or_load,  # noqa: E402
                              sweep_kwargs_from_args)

RUN_FUNCTION = "benchmarks.reproduce_weights:weights_run"

PRESETS = {
    "paper": dict(sizes=[100, 200], instances=1, beta=2.0, n_samples=10_000, n_chains=100, sweeps_between=200,
                  burn_in=2000, epochs=100, batch_size=100, lr=1e-3, validation_fraction=0.1),
    # N = 100 only, 4000 samples from 100 chains 200 sweeps apart, fewer epochs.
    "quick": dict(sizes=[100], instances=1, beta=2.0, n_samples=4000, n_chains=100, sweeps_between=200,
                  burn_in=1000, epochs=30, batch_size=100, lr=1e-3, validation_fraction=0.1),
}


def _pearson(xs, ys) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def _line_fit(xs, ys) -> tuple[float, float]:
    """Least squares y = slope·x + intercept."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else 0.0
    return slope, my - slope * mx


def weights_run(spec: dict) -> dict:
    """Metropolis samples → likelihood training of SK_1RSB with a learnable first layer → W vs J."""
    import numpy as np
    import torch

    import arnn_core as ac

    seed = int(spec.get("seed", 0))
    torch.manual_seed(seed)
    n, instance, beta = int(spec["n"]), int(spec["instance"]), float(spec["beta"])
    system = ac.sherrington_kirkpatrick(n, J=1.0, J0=0.0, h=0.0, seed=instance)
    tag = f"weights N={n} inst={instance}"
    t0 = time.perf_counter()
    mc = ac.metropolis(system, beta, n_samples=int(spec["n_samples"]), n_chains=int(spec["n_chains"]),
                       sweeps_between=int(spec["sweeps_between"]), burn_in=int(spec["burn_in"]), seed=seed)
    t_mc = time.perf_counter() - t0
    print(f"[{tag}] Metropolis: {mc.samples.shape[0]} samples, acceptance {mc.acceptance_rate:.3f}, "
          f"e={mc.energy:.4f}, τ_int={mc.autocorrelation_time:.1f} ({t_mc:.0f}s)", file=sys.stderr, flush=True)

    net = ac.make_arnn("sk_krsb", system, k=1, learn_first_layer=True)

    def on_step(record):
        if record.get("epoch", 0) % max(1, int(spec["epochs"]) // 10) == 0 or record.get("status") != "running":
            print(f"[{tag}] epoch {record['epoch']}: train NLL/N {record['train_nll_per_spin']:.5f}"
                  + (f", validation {record['validation_nll_per_spin']:.5f}" if record.get("validation_nll_per_spin")
                     is not None else ""), file=sys.stderr, flush=True)

    t1 = time.perf_counter()
    history = ac.train_likelihood(net, mc.samples, epochs=int(spec["epochs"]), batch_size=int(spec["batch_size"]),
                                  lr=float(spec["lr"]), validation_fraction=float(spec["validation_fraction"]),
                                  on_step=on_step, seed=seed)
    t_train = time.perf_counter() - t1
    W = net.first_layer_weights()
    if W is None:
        raise RuntimeError("sk_krsb with learn_first_layer=True exposes no first-layer weights")
    W = W.detach().cpu().to(torch.float64).numpy()
    J = system.J.numpy()
    iu = np.triu_indices(n, k=1)  # W_ij is the weight of x_i in site j's first layer: defined for i < j
    w_pairs, j_pairs = W[iu], J[iu]
    abs_w, abs_j = np.abs(w_pairs), np.abs(j_pairs)
    r_abs = float(np.corrcoef(abs_j, abs_w)[0, 1])
    r_signed = float(np.corrcoef(j_pairs, w_pairs)[0, 1])
    slope, intercept = np.polyfit(abs_j, abs_w, 1)
    first, last = history[0], history[-1]
    return {
        "n": n, "instance": instance, "beta": beta,
        "mc": {"samples": int(mc.samples.shape[0]), "acceptance": mc.acceptance_rate, "energy_density": mc.energy,  # MCResult.energy is already ⟨H⟩/N
               "abs_magnetization": mc.abs_magnetization, "autocorrelation_time": mc.autocorrelation_time,
               "seconds": t_mc},
        "train": {"status": last.get("status"), "epochs": last.get("epoch"),
                  "initial_train_nll_per_spin": first.get("train_nll_per_spin"),
                  "final_train_nll_per_spin": last.get("train_nll_per_spin"),
                  "final_validation_nll_per_spin": last.get("validation_nll_per_spin"), "seconds": t_train,
                  "trainable_params": int(net.num_params())},
        "pearson_abs": r_abs, "pearson_signed": r_signed, "fit_slope": float(slope), "fit_intercept": float(intercept),
        # Rounded: the pairs are for the scatter plot and the CSV, not for further arithmetic.
        "pairs_J": [float(f"{v:.6g}") for v in j_pairs], "pairs_W": [float(f"{v:.6g}") for v in w_pairs],
    }


def settings_from_args(args) -> dict:
    preset = "quick" if args.quick else "paper"
    settings = dict(PRESETS[preset], preset=preset)
    for key in ("sizes", "instances", "beta", "n_samples", "n_chains", "sweeps_between", "burn_in", "epochs",
                "batch_size", "lr"):
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    settings["seed"] = args.seed
    return settings


def build_specs(settings: dict) -> list[dict]:
    return [{"kind": "weights_vs_couplings", "version": 1, "label": "SK_1RSB learnable W", "n": int(n),
             "system": {"family": "sk", "n": int(n), "seed": instance}, "instance": instance,
             **{k: settings[k] for k in ("beta", "n_samples", "n_chains", "sweeps_between", "burn_in", "epochs",
                                         "batch_size", "lr", "validation_fraction", "seed")}}
            for n in settings["sizes"] for instance in range(settings["instances"])]


SUMMARY_COLUMNS = ["N", "instance", "beta", "mc_samples", "mc_acceptance", "mc_energy_density", "mc_tau",
                   "epochs", "initial_nll_per_spin", "final_train_nll_per_spin", "final_validation_nll_per_spin",
                   "pearson_abs", "pearson_signed", "column_abs_r", "column_abs_r_unrelated", "fit_slope", "fit_intercept", "mc_seconds", "train_seconds"]


def column_correlation(n: int, pairs_J, pairs_W, min_entries: int = 10) -> tuple[float | None, float | None]:
    """Mean over target sites l of |Pearson r(W_:l, J_:l)| (over s < l), and its value expected
    for unrelated W (≈ mean of sqrt(2/(π(l−1))), the mean |r| of independent normal vectors).

    Why per column: the network is unchanged when column l of the first layer is multiplied by
    any a ≠ 0 and the weights that read it (w_l, w1_il) by 1/a, so the sign and scale of each
    column are a gauge; |r| within a column is the gauge-invariant measure of W tracking J.
    """
    import numpy as np

    iu = np.triu_indices(n, k=1)
    Wm, Jm = np.zeros((n, n)), np.zeros((n, n))
    Wm[iu], Jm[iu] = pairs_W, pairs_J
    values, noise = [], []
    for col in range(min_entries, n):
        w, j = Wm[:col, col], Jm[:col, col]
        if w.std() > 0 and j.std() > 0:
            values.append(abs(float(np.corrcoef(w, j)[0, 1])))
            noise.append(math.sqrt(2.0 / (math.pi * (col - 1))))
    if not values:
        return None, None
    return sum(values) / len(values), sum(noise) / len(noise)


def summarise(records) -> list[dict]:
    rows = []
    for record in records:
        if record is None:
            continue
        r = record["result"]
        col_r, col_noise = column_correlation(r["n"], r["pairs_J"], r["pairs_W"])
        rows.append({"N": r["n"], "instance": r["instance"], "beta": r["beta"], "mc_samples": r["mc"]["samples"],
                     "mc_acceptance": r["mc"]["acceptance"], "mc_energy_density": r["mc"]["energy_density"],
                     "mc_tau": r["mc"]["autocorrelation_time"], "epochs": r["train"]["epochs"],
                     "initial_nll_per_spin": r["train"]["initial_train_nll_per_spin"],
                     "final_train_nll_per_spin": r["train"]["final_train_nll_per_spin"],
                     "final_validation_nll_per_spin": r["train"]["final_validation_nll_per_spin"],
                     "pearson_abs": r["pearson_abs"], "pearson_signed": r["pearson_signed"],
                     "column_abs_r": col_r, "column_abs_r_unrelated": col_noise,
                     "fit_slope": r["fit_slope"], "fit_intercept": r["fit_intercept"],
                     "mc_seconds": r["mc"]["seconds"], "train_seconds": r["train"]["seconds"]})
    return rows


def make_figure(records, out_dir, png=True, max_points=4000) -> list[Path]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    shown = [r for r in records if r is not None and r["spec"]["instance"] == 0]
    if not shown:
        return []
    titles = []
    for r in shown:
        res = r["result"]
        col_r, _ = column_correlation(res["n"], res["pairs_J"], res["pairs_W"])
        titles.append(f"N = {res['n']}: r(|W|,|J|) = {res['pearson_abs']:.3f}"
                      + (f", column |r| = {col_r:.2f}" if col_r is not None else ""))
    fig = make_subplots(rows=1, cols=len(shown), subplot_titles=titles)
    for col, record in enumerate(shown, start=1):
        res = record["result"]
        pairs = list(zip(res["pairs_J"], res["pairs_W"]))
        if len(pairs) > max_points:  # keep the files small; the statistics use every pair
            pairs = random.Random(0).sample(pairs, max_points)
        xs = [abs(p[0]) for p in pairs]
        ys = [abs(p[1]) for p in pairs]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker=dict(size=3, opacity=0.4, color="#1f77b4"),
                                 name="pairs i<j", showlegend=col == 1), row=1, col=col)
        x_line = [0.0, max(xs)]
        fig.add_trace(go.Scatter(x=x_line, y=[res["fit_intercept"] + res["fit_slope"] * x for x in x_line],
                                 mode="lines", line=dict(color="#d62728"),
                                 name="least squares", showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(title_text="|J_ij|", row=1, col=col)
        fig.update_yaxes(title_text="|W_ij|" if col == 1 else None, row=1, col=col)
    fig.update_layout(title="SK β = 2: SK_1RSB's learnt first layer vs the couplings", template="plotly_white")
    return _report.save_figure(fig, out_dir, "weights_vs_couplings", png=png, width=500 * len(shown) + 200)


def reproduce(settings: dict, out_dir, sweep_kwargs: dict | None = None, report_only: bool = False,
              png: bool = True, progress: bool = True) -> dict:
    out_dir = Path(out_dir)
    specs = build_specs(settings)
    report = run_or_load(RUN_FUNCTION, specs, out_dir,
                         label="weights", cost=lambda s: s["n"] ** 2,
                         report_only=report_only, progress=progress, sweep_kwargs=sweep_kwargs)
    summary = summarise(report.records)
    files = [_report.write_csv(summary, out_dir / "weights_summary.csv", SUMMARY_COLUMNS)]
    for record in report.records:
        if record is None:
            continue
        res = record["result"]
        import numpy as np

        iu = np.triu_indices(res["n"], k=1)
        pair_rows = [{"i": int(i), "j": int(j), "J_ij": jv, "W_ij": wv}
                     for i, j, jv, wv in zip(iu[0], iu[1], res["pairs_J"], res["pairs_W"])]
        files.append(_report.write_csv(pair_rows, out_dir / f"weights_pairs_N{res['n']}_inst{res['instance']}.csv",
                                       ["i", "j", "J_ij", "W_ij"]))
    files += make_figure(report.records, out_dir, png=png)
    return {"summary": summary, "files": files, "report": report}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="N = 100 only, 4000 samples (100 chains, 200 sweeps apart, 1000 burn-in), 30 epochs")
    parser.add_argument("--sizes", type=int, nargs="+", help="override N values")
    parser.add_argument("--instances", type=int, help="coupling instances per N (seeds 0…k-1)")
    parser.add_argument("--beta", type=float)
    parser.add_argument("--n-samples", type=int, dest="n_samples")
    parser.add_argument("--n-chains", type=int, dest="n_chains")
    parser.add_argument("--sweeps-between", type=int, dest="sweeps_between",
                        help="sweeps (N flip attempts each) between stored samples; the paper: 200")
    parser.add_argument("--burn-in", type=int, dest="burn_in", help="sweeps before the first sample")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, dest="batch_size")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-png", action="store_true", help="write HTML figures only")
    add_sweep_arguments(parser, default_out="benchmarks/out/weights")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    start = time.perf_counter()
    print(f"[weights] {settings['preset']}: N={settings['sizes']}; {hardware_description()}", file=sys.stderr)
    out = reproduce(settings, args.out, sweep_kwargs_from_args(args), report_only=args.report_only,
                    png=not args.no_png)
    _report.print_table([[s["N"], s["instance"], s["mc_samples"], f"{s['mc_acceptance']:.3f}",
                          _report.fmt(s["final_validation_nll_per_spin"], ".4f"), f"{s['pearson_abs']:.3f}",
                          f"{s['pearson_signed']:.3f}", _report.fmt(s["column_abs_r"], ".3f"),
                          _report.fmt(s["column_abs_r_unrelated"], ".3f"), f"{s['fit_slope']:.3f}",
                          f"{s['fit_intercept']:+.4f}", f"{s['mc_seconds']:.0f}", f"{s['train_seconds']:.0f}"]
                         for s in out["summary"]],
                        ["N", "inst", "samples", "MC accept", "val NLL/N", "r(|W|,|J|)", "r(W,J)",
                         "column |r|", "(unrelated)", "slope", "intercept", "MC s", "train s"])
    print(f"[weights] wrote {', '.join(str(p) for p in out['files'])} in {time.perf_counter() - start:.0f}s",
          file=sys.stderr)
    return 1 if out["report"].failures else 0


if __name__ == "__main__":
    sys.exit(main())
