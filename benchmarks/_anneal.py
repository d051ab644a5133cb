"""One annealing run of the paper's protocol, as a sweep run function (spec → result dict).

A run trains one architecture on one system along the whole β schedule (annealing is
sequential, so the schedule cannot be split across workers) and, after finishing each β, takes
the final estimates there (variational and importance-sampled f on ``n_estimate`` fresh
samples), exactly as the paper reports one number per (architecture, N, β).

Spec keys (all JSON):

    system:    {"family": "curie_weiss", "n", "J", "h"} or {"family": "sk", "n", "J", "J0", "h", "seed"}
    arch:      registry name ("cw_n", "cw_inf", "1p", "sl", "made", "sk_krsb", ...)
    label:     the paper's name ("MADE_22", "SK_1RSB", ...)
    options:   registry options ({"depth": 2, "width": 2}, {"k": 1}, ...)
    betas, steps_per_beta, init_steps, batch_size, lr, std_threshold, n_estimate, seed
    hist_betas: β values at which the overlap and magnetisation histograms are kept
    exact_max_n: enumerate 2^N states for the exact f up to this N (Curie–Weiss is exact at any N)
"""

from __future__ import annotations

import math
import sys
import time

import torch

import arnn_core as ac

#: Types of the estimate values stored per β (arrays and histograms are kept only at hist_betas).
_SCALAR_TYPES = (int, float, bool)


def build_system(desc: dict):
    """The SpinSystem a spec describes (deterministic: same spec, same couplings)."""
    family = desc["family"]
    if family == "curie_weiss":
        return ac.curie_weiss(int(desc["n"]), J=float(desc.get("J", 1.0)), h=float(desc.get("h", 0.0)))
    if family == "sk":
        return ac.sherrington_kirkpatrick(int(desc["n"]), J=float(desc.get("J", 1.0)), J0=float(desc.get("J0", 0.0)),
                                          h=float(desc.get("h", 0.0)), seed=int(desc["seed"]))
    raise ValueError(f"unknown system family {family!r}")


def exact_free_energy_density(system, desc: dict, beta: float, exact_max_n: int) -> float | None:
    """Exact f: Curie–Weiss closed form at any N, enumeration up to ``exact_max_n``, else None."""
    if desc["family"] == "curie_weiss":
        return float(ac.curie_weiss_exact(int(desc["n"]), float(desc.get("J", 1.0)), float(desc.get("h", 0.0)),
                                          beta).free_energy)
    if system.n <= exact_max_n:
        value = ac.exact_free_energy(system, beta, max_n=exact_max_n)
        return None if value is None else float(value)
    return None


def _relative_error(value, reference):
    if value is None or reference is None or reference == 0 or not math.isfinite(value):
        return None
    return abs(value - reference) / abs(reference)


def _scalars(estimates: dict) -> dict:
    return {k: (float(v) if isinstance(v, float) else v) for k, v in estimates.items()
            if isinstance(v, _SCALAR_TYPES) or v is None}


def annealing_run(spec: dict) -> dict:
    """Train ``spec['arch']`` along ``spec['betas']`` and estimate f after each β (see module doc)."""
    seed = int(spec.get("seed", 0))
    torch.manual_seed(seed)
    system = build_system(spec["system"])
    net = ac.make_arnn(spec["arch"], system, **spec.get("options", {}))
    tag = f"{spec.get('label', spec['arch'])} N={system.n}" + (
        f" inst={spec['system']['seed']}" if "seed" in spec["system"] else "")
    betas = [float(b) for b in spec["betas"]]
    hist_betas = {round(float(b), 10) for b in spec.get("hist_betas", [])}
    exact_max_n = int(spec.get("exact_max_n", 20))
    analytic = bool(getattr(net, "analytic", False))
    optimizer = None
    if not analytic:
        params = [p for p in net.parameters() if p.requires_grad]
        # One optimiser for the whole schedule: Adam's moments carry from one β to the next, as in
        # a single annealing loop.
        optimizer = ac.make_optimizer("adam", params, float(spec["lr"]))
    rows = []
    histograms = {}
    run_start = time.perf_counter()
    for index, beta in enumerate(betas):
        t0 = time.perf_counter()
        if analytic:
            net.set_beta(beta)
            steps, status, last = 0, "analytic", {}
        else:
            history = ac.train_variational(
                net, system, [beta], steps_per_beta=int(spec["steps_per_beta"]),
                batch_size=int(spec["batch_size"]), lr=float(spec["lr"]), optimizer=optimizer,
                init_steps=int(spec["init_steps"]) if index == 0 else 0,
                std_threshold=spec.get("std_threshold"), seed=seed * 1000 + index, exact_max_n=0)
            last = history[-1]
            steps, status = len(history), last.get("status")
            if status == "diverged":
                print(f"[{tag}] β={beta:g}: training diverged ({last.get('message')})", file=sys.stderr, flush=True)
        t_train = time.perf_counter() - t0
        with torch.no_grad():
            estimates = ac.estimate(net, system, beta, n_samples=int(spec["n_estimate"]), seed=seed * 1000 + 500 + index,
                                    exact=False)
        t_est = time.perf_counter() - t0 - t_train
        f_exact = exact_free_energy_density(system, spec["system"], beta, exact_max_n)
        scalars = _scalars(estimates)
        f_var, f_is = scalars.get("free_energy"), scalars.get("free_energy_is")
        row = {
            "beta": beta, "steps": steps, "train_status": status,
            "train_last_free_energy": last.get("free_energy"), "train_last_std": last.get("free_energy_std"),
            **{f"est_{k}": v for k, v in scalars.items()},
            "f_exact": f_exact, "f_var": f_var, "f_is": f_is,
            "rel_error_var": _relative_error(f_var, f_exact), "rel_error_is": _relative_error(f_is, f_exact),
            "train_seconds": t_train, "estimate_seconds": t_est,
        }
        rows.append(row)
        if round(beta, 10) in hist_betas:
            histograms[f"{beta:g}"] = {k: estimates[k] for k in ("overlap_hist", "magnetization_hist")
                                       if k in estimates}
        if spec.get("verbose", True):
            err = row["rel_error_var"]
            print(f"[{tag}] β={beta:.3g}: {steps} steps, f_var={f_var:.6f}"
                  + (f", f_exact={f_exact:.6f}, rel.err={err:.2e}" if err is not None else "")
                  + f" ({t_train:.1f}s train, {t_est:.1f}s estimate)", file=sys.stderr, flush=True)
    return {
        "label": spec.get("label", spec["arch"]),
        "n": system.n,
        "trainable_params": int(net.num_params()),
        "fixed_params": int(net.num_fixed_params()),
        "rows": rows,
        "histograms": histograms,
        "seconds": time.perf_counter() - run_start,
        "torch_threads": torch.get_num_threads(),
    }
