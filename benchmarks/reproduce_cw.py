#!/usr/bin/env python
"""Reproduce the paper's Curie–Weiss results (Biazzo 2023, Fig. 2 A1–A3, B, C).

J = 1, h = 0; N ∈ {20, 50, 100, 200} (and 400, 800 with --full); architectures CW_N, CW_∞, 1P,
SL, MADE_21, MADE_22, trained with the paper's protocol (β 0.1 → 2.0 by 0.05, ≤ 1000 Adam steps
per β at lr 1e-3, batch 2000, leave a β once std(L)/(βN) < 1e-4, 5000 initial steps at the first
β; final estimates on 20,000 samples after each β). --quick runs a reduced version in minutes.

Each (N, architecture) is one independent run of the sweep (benchmarks/sweep.py): runs go to a
process pool (--workers) or a Ray cluster (--ray-address), every finished run is stored in
<out>/runs/, and rerunning the same command resumes. Outputs in <out>/:

    cw_results.csv           every (N, architecture, β): variational and importance-sampled f,
                             exact f (closed form), relative errors, steps, timings
    cw_summary.csv           mean / max relative error over β per (N, architecture), with the paper's
    cw_rel_error_vs_beta.*   relative error against β, one panel per N (the paper's A1–A3)
    cw_error_vs_n.*          mean and max error against N for 1P and CW_∞ (B)
    cw_overlap.*             P(q) at the largest N and β = 1.3 (C)

Progress goes to stderr, the summary table to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import _paper, _report  # noqa: E402
from benchmarks.sweep import (add_sweep_arguments, hardware_description, run_or_load,  # noqa: E402
                              sweep_kwargs_from_args)

RUN_FUNCTION = "benchmarks._anneal:annealing_run"

#: The paper's label → (registry name, options).
CW_ARCHITECTURES = {
    "CW_N": ("cw_n", {}),
    "CW_inf": ("cw_inf", {}),
    "1P": ("1p", {}),
    "SL": ("sl", {}),
    "MADE_21": ("made", {"depth": 2, "width": 1}),
    "MADE_22": ("made", {"depth": 2, "width": 2}),
}

#: Rough relative cost per sample, to start the longest runs first (better packing of workers).
_COST = {"CW_N": 0.2, "CW_inf": 1.0, "1P": 1.0, "SL": 2.0, "MADE_21": 4.0, "MADE_22": 6.0}

PRESETS = {
    "paper": dict(sizes=[20, 50, 100, 200], beta_start=0.1, beta_stop=2.0, beta_step=_paper.PAPER_BETA_STEP,
                  steps_per_beta=_paper.PAPER_STEPS_PER_BETA, init_steps=_paper.PAPER_INIT_STEPS,
                  batch_size=_paper.PAPER_BATCH, lr=_paper.PAPER_LR, std_threshold=_paper.PAPER_STD_THRESHOLD,
                  n_estimate=_paper.PAPER_N_ESTIMATE, overlap_beta=1.3),
    # Sized to finish in < 20 min on 2 CPU cores (measured: see docs/results.md).
    "quick": dict(sizes=[20, 50, 100], beta_start=0.1, beta_stop=2.0, beta_step=0.1,
                  steps_per_beta=250, init_steps=1000, batch_size=500, lr=_paper.PAPER_LR,
                  std_threshold=_paper.PAPER_STD_THRESHOLD, n_estimate=5000, overlap_beta=1.3),
}


def settings_from_args(args) -> dict:
    preset = "quick" if args.quick else "paper"
    settings = dict(PRESETS[preset], preset=preset + ("+full" if args.full else ""))
    if args.full:
        settings["sizes"] = sorted(set(settings["sizes"]) | {400, 800})
    for key in ("sizes", "beta_start", "beta_stop", "beta_step", "steps_per_beta", "init_steps", "batch_size",
                "lr", "n_estimate", "overlap_beta"):
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    if args.no_std_threshold:
        settings["std_threshold"] = None
    settings["architectures"] = args.archs or list(CW_ARCHITECTURES)
    settings["seed"] = args.seed
    settings["J"], settings["h"] = 1.0, 0.0
    return settings


def build_specs(settings: dict) -> list[dict]:
    """One spec per (N, architecture)."""
    betas = _paper.beta_grid(settings["beta_start"], settings["beta_stop"], settings["beta_step"])
    specs = []
    for n in settings["sizes"]:
        for label in settings["architectures"]:
            arch, options = CW_ARCHITECTURES[label]
            specs.append({
                "kind": "cw_anneal", "version": 1, "label": label, "arch": arch, "options": options,
                "system": {"family": "curie_weiss", "n": int(n), "J": settings["J"], "h": settings["h"]},
                "betas": betas, "steps_per_beta": settings["steps_per_beta"], "init_steps": settings["init_steps"],
                "batch_size": settings["batch_size"], "lr": settings["lr"],
                "std_threshold": settings["std_threshold"], "n_estimate": settings["n_estimate"],
                "hist_betas": [settings["overlap_beta"]], "seed": settings["seed"],
            })
    return specs


def collect_rows(records: list[dict | None]) -> list[dict]:
    """Flatten the stored runs into one row per (N, architecture, β)."""
    rows = []
    for record in records:
        if record is None:
            continue
        spec, result = record["spec"], record["result"]
        for r in result["rows"]:
            rows.append({"N": spec["system"]["n"], "architecture": spec["label"],
                         "trainable_params": result["trainable_params"], **r})
    return rows


def summarise(rows: list[dict], records: list[dict | None]) -> list[dict]:
    """Mean and max relative error over β per (N, architecture), with the paper's mean beside it."""
    wall = {(r["spec"]["system"]["n"], r["spec"]["label"]): r["wall_s"] for r in records if r is not None}
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["N"], row["architecture"]), []).append(row)
    summary = []
    for (n, label), group in sorted(groups.items(), key=lambda kv: (kv[0][0], list(CW_ARCHITECTURES).index(kv[0][1])
                                                                     if kv[0][1] in CW_ARCHITECTURES else 99)):
        var = [g["rel_error_var"] for g in group if g["rel_error_var"] is not None]
        imp = [g["rel_error_is"] for g in group if g["rel_error_is"] is not None]
        summary.append({
            "N": n, "architecture": label, "n_betas": len(group), "trainable_params": group[0]["trainable_params"],
            "mean_rel_error_var": sum(var) / len(var) if var else None, "max_rel_error_var": max(var) if var else None,
            "mean_rel_error_is": sum(imp) / len(imp) if imp else None, "max_rel_error_is": max(imp) if imp else None,
            "paper_mean_rel_error": _paper.CW_MEAN_REL_ERROR.get(n, {}).get(label),
            "total_steps": sum(g["steps"] for g in group), "wall_s": wall.get((n, label)),
        })
    return summary


RESULT_COLUMNS = ["N", "architecture", "beta", "f_exact", "f_var", "rel_error_var", "f_is", "rel_error_is",
                  "est_free_energy_stderr", "est_ess", "steps", "train_status", "trainable_params",
                  "train_seconds", "estimate_seconds"]
SUMMARY_COLUMNS = ["N", "architecture", "n_betas", "trainable_params", "mean_rel_error_var", "max_rel_error_var",
                   "mean_rel_error_is", "max_rel_error_is", "paper_mean_rel_error", "total_steps", "wall_s"]


def _first(label: str, shown: set) -> bool:
    """True the first time a label is drawn, so each appears once in a multi-panel legend."""
    if label in shown:
        return False
    shown.add(label)
    return True


def make_figures(rows, summary, records, settings, out_dir, png=True) -> list[Path]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    written = []
    labels = [a for a in settings["architectures"] if any(r["architecture"] == a for r in rows)]
    sizes = sorted({r["N"] for r in rows})
    if not sizes:
        return written
    # A1–A3: relative error against β, one panel per N.
    fig = make_subplots(rows=1, cols=len(sizes), shared_yaxes=True, subplot_titles=[f"N = {n}" for n in sizes])
    legend_shown: set[str] = set()
    for col, n in enumerate(sizes, start=1):
        for label in labels:
            pts = [r for r in rows if r["N"] == n and r["architecture"] == label and r["rel_error_var"]]
            fig.add_trace(go.Scatter(x=[p["beta"] for p in pts], y=[max(p["rel_error_var"], 1e-9) for p in pts],
                                     mode="lines+markers", name=label, legendgroup=label,
                                     showlegend=_first(label, legend_shown),
                                     line=dict(color=_report.ARCH_COLOURS.get(label))), row=1, col=col)
        fig.update_xaxes(title_text="β", row=1, col=col)
    fig.update_yaxes(type="log", title_text="|f_q − f| / |f|", row=1, col=1)
    fig.update_layout(title=f"Curie–Weiss (J=1, h=0): relative error of the variational f "
                            f"({settings['preset']} protocol)",
                      template="plotly_white")
    written += _report.save_figure(fig, out_dir, "cw_rel_error_vs_beta", png=png, width=min(1400, 350 * len(sizes) + 200))

    # B: mean and max error against N for 1P and CW_∞, with the paper's means.
    fig = go.Figure()
    for label, dash in (("1P", None), ("CW_inf", None)):
        pts = [s for s in summary if s["architecture"] == label and s["mean_rel_error_var"]]
        if not pts:
            continue
        colour = _report.ARCH_COLOURS.get(label)
        fig.add_trace(go.Scatter(x=[p["N"] for p in pts], y=[p["mean_rel_error_var"] for p in pts],
                                 mode="lines+markers", name=f"{label} mean (ours)", line=dict(color=colour)))
        fig.add_trace(go.Scatter(x=[p["N"] for p in pts], y=[p["max_rel_error_var"] for p in pts],
                                 mode="lines+markers", name=f"{label} max (ours)", line=dict(color=colour, dash="dash")))
        paper = [(n, v[label]) for n, v in sorted(_paper.CW_MEAN_REL_ERROR.items()) if label in v]
        fig.add_trace(go.Scatter(x=[p[0] for p in paper], y=[p[1] for p in paper], mode="markers",
                                 name=f"{label} mean (paper)", marker=dict(color=colour, symbol="x", size=10)))
    all_n = sorted(set(sizes) | set(_paper.CW_MEAN_REL_ERROR))
    fig.update_xaxes(type="log", title_text="N", tickvals=all_n, ticktext=[str(n) for n in all_n])
    fig.update_yaxes(type="log", title_text="relative error of f over β")
    fig.update_layout(title="Curie–Weiss: error against N (B)", template="plotly_white")
    written += _report.save_figure(fig, out_dir, "cw_error_vs_n", png=png, width=800)

    # C: P(q) at the largest N that has histograms, β = overlap_beta.
    key = f"{settings['overlap_beta']:g}"
    n_hist = max(sizes)
    fig = _report.overlap_figure(records, n_hist, key,
                                 f"Curie–Weiss N = {n_hist}, β = {key}: overlap distribution (C; CW_N is exact)")
    if fig is not None:
        written += _report.save_figure(fig, out_dir, "cw_overlap", png=png, width=800)
    return written


def reproduce(settings: dict, out_dir, sweep_kwargs: dict | None = None, report_only: bool = False,
              png: bool = True, progress: bool = True) -> dict:
    """Run (or resume) the sweep and write the CSVs and figures; returns rows, summary and paths."""
    out_dir = Path(out_dir)
    specs = build_specs(settings)
    report = run_or_load(RUN_FUNCTION, specs, out_dir,
                         label="cw", cost=lambda s: s["system"]["n"] * _COST.get(s["label"], 1.0),
                         report_only=report_only, progress=progress, sweep_kwargs=sweep_kwargs)
    rows = collect_rows(report.records)
    summary = summarise(rows, report.records)
    files = [_report.write_csv(rows, out_dir / "cw_results.csv", RESULT_COLUMNS),
             _report.write_csv(summary, out_dir / "cw_summary.csv", SUMMARY_COLUMNS)]
    files += make_figures(rows, summary, report.records, settings, out_dir, png=png)
    return {"rows": rows, "summary": summary, "files": files, "report": report}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="reduced run: N ∈ {20, 50, 100}, β 0.1→2.0 by 0.1, ≤250 steps/β (1000 initial), "
                           "batch 500, lr 1e-3, estimates on 5000 samples (< 20 min on 2 CPU cores)")
    mode.add_argument("--full", action="store_true", help="the paper's protocol with N up to 800")
    parser.add_argument("--sizes", type=int, nargs="+", help="override N values")
    parser.add_argument("--archs", nargs="+", choices=list(CW_ARCHITECTURES), help="subset of architectures")
    parser.add_argument("--beta-start", type=float, dest="beta_start")
    parser.add_argument("--beta-stop", type=float, dest="beta_stop")
    parser.add_argument("--beta-step", type=float, dest="beta_step")
    parser.add_argument("--steps-per-beta", type=int, dest="steps_per_beta")
    parser.add_argument("--init-steps", type=int, dest="init_steps")
    parser.add_argument("--batch-size", type=int, dest="batch_size")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--n-estimate", type=int, dest="n_estimate", help="samples for the final estimates at each β")
    parser.add_argument("--overlap-beta", type=float, dest="overlap_beta", help="β of the P(q) figure (default 1.3)")
    parser.add_argument("--no-std-threshold", action="store_true", help="never leave a β early")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-png", action="store_true", help="write HTML figures only")
    add_sweep_arguments(parser, default_out="benchmarks/out/cw")
    return parser


def print_summary(summary: list[dict], file=None) -> None:
    table = [[s["N"], s["architecture"], s["trainable_params"], s["n_betas"],
              _report.fmt(s["mean_rel_error_var"]), _report.fmt(s["max_rel_error_var"]),
              _report.fmt(s["mean_rel_error_is"]), _report.fmt(s["paper_mean_rel_error"]),
              s["total_steps"], _report.fmt(s["wall_s"], ".0f")] for s in summary]
    _report.print_table(table, ["N", "arch", "params", "#β", "mean err (var)", "max err (var)",
                                "mean err (IS)", "paper mean", "steps", "wall s"], file=file)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    start = time.perf_counter()
    print(f"[cw] {settings['preset']}: N={settings['sizes']}, archs={settings['architectures']}; "
          f"{hardware_description()}", file=sys.stderr)
    out = reproduce(settings, args.out, sweep_kwargs_from_args(args), report_only=args.report_only,
                    png=not args.no_png)
    print_summary(out["summary"])
    print(f"[cw] wrote {', '.join(str(p) for p in out['files'])} in {time.perf_counter() - start:.0f}s",
          file=sys.stderr)
    return 1 if out["report"].failures else 0


if __name__ == "__main__":
    sys.exit(main())
