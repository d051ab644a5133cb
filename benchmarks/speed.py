"""Speed of the architectures against a straightforward reference (physics.md §3 fact 3, §4).

One command:

    python benchmarks/speed.py                 # N ∈ {50, 100, 200, 400, 800}, batch 2000 (~10 min on 2 cores)
    python benchmarks/speed.py --quick         # N ∈ {50, 100, 200}, batch 1000 (~2 min)
    python benchmarks/speed.py --sizes 200 --archs sk1,made23 --json out.json
    python benchmarks/speed.py --variants      # SK_1RSB: torch ops vs torch.compile vs fused C kernels
    python benchmarks/speed.py --sparse        # SK_1RSB on 2D EA: frontier vs dense hidden units

For every N and architecture it prints the time of ``sample(batch)`` and of one REINFORCE step
(sample + log_prob + energy + backward + Adam step, physics.md §5), for our implementation
(``arnn_core``) and for a reference written here in the common research style:

* **SK family**: one ``nn.Module`` per site in an ``nn.ModuleList`` (as in the paper's original
  code). Site i's module recomputes its first layer ``F.linear(x_<i, J[i:, :i])`` from scratch,
  both when sampling (site by site) and in ``log_prob`` (a Python loop over the N modules); the
  + and − branches are separate tensors. Its parameters are copied from ours and the two
  ``log_prob`` are checked equal first, so both compute the same function.
* **Every other architecture**: the same network, sampled by N full forward passes
  (``logits`` of the whole configuration at every site) — the way an autoregressive model is
  sampled when no cache is written.

The reference's training step accumulates gradients over batch chunks when its autograd graph
would not fit in memory (N ≥ 400 for the SK family); ours chunks automatically (checkpointed
batch chunks in ``SKkRSB.logits``). Both are said in the output.

Goals (issue 3), on 2 CPU cores at N = 200: SK_1RSB sampling ≤ 0.5× and one training step
≤ 0.33× the reference; MADE_23 sampling ≤ 0.1× the reference; SK-family cost ∝ N² (fitted
exponent ≤ 2.2 from N = 200 to 800). Times are the best of ``--repeats`` runs (other processes
share the machine; the best run is the least disturbed one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import arnn_core as ac  # noqa: E402

#: benchmark label → (registry name, options, label used in the paper)
ARCHS = {
    "sk0": ("sk_krsb", {"k": 0}, "SK_RS"),
    "sk1": ("sk_krsb", {"k": 1}, "SK_1RSB"),
    "made23": ("made", {"depth": 2, "width": 3}, "MADE_23"),
    "sl": ("sl", {}, "SL"),
    "1p": ("1p", {}, "1P"),
    "cw_inf": ("cw_inf", {}, "CW_inf"),
    "h2arnn": ("h2arnn", {}, "H2ARNN"),
}
H2ARNN_MAX_N = 16  # exact enumeration of 2^(N-1-i) future states: small N only

#: the reference's autograd graph holds 1 + 6(k+1) floats per (sample, pair); above this many bytes its
#: training step accumulates gradients over batch chunks
REFERENCE_MEMORY_BYTES = 3 * 2**30


# ---------------------------------------------------------------------- reference: SK per site
class ReferenceSKSite(nn.Module):
    """Site i of SK_kRSB in the paper's code style: its own first layer slice and parameters."""

    def __init__(self, J: torch.Tensor, i: int, k: int):
        super().__init__()
        n = J.shape[0]
        self.i, self.k = i, k
        m = n - i - 1
        # rows: this site (φ'_i) and the m future sites (c_il), columns: the drawn spins s < i
        self.register_buffer("J_in", J[i:, :i].clone())
        self.weight_p = nn.Parameter(torch.zeros(k + 1, m))
        self.bias_p = nn.Parameter(torch.zeros(k + 1, m))
        self.weight_m = nn.Parameter(torch.zeros(k + 1, m))
        self.bias_m = nn.Parameter(torch.zeros(k + 1, m))
        self.weight_0p = nn.Parameter(torch.zeros(m))
        self.weight_0m = nn.Parameter(torch.zeros(m))
        self.weight_0 = nn.Parameter(torch.zeros(1))
        self.bias_0 = nn.Parameter(torch.zeros(1))

    def forward(self, x_before: torch.Tensor) -> torch.Tensor:
        """x_<i (B, i) → logit_i (B,)."""
        h = F.linear(x_before, self.J_in)          # first layer, recomputed from scratch
        phi, c = h[:, 0], h[:, 1:]
        res_p = F.logsigmoid(self.bias_p[self.k] + self.weight_p[self.k] * c)
        res_m = F.logsigmoid(self.bias_m[self.k] + self.weight_m[self.k] * c)
        for j in range(self.k - 1, -1, -1):
            res_p = F.logsigmoid(self.bias_p[j] + self.weight_p[j] * res_p)
            res_m = F.logsigmoid(self.bias_m[j] + self.weight_m[j] * res_m)
        out = (self.weight_0p * res_p).sum(1) + (self.weight_0m * res_m).sum(1)
        return self.bias_0 + self.weight_0 * phi + out


class ReferenceSK(nn.Module):
    """SK_kRSB as an ``nn.ModuleList`` of per-site modules (the paper's original layout)."""

    def __init__(self, system, k: int, dtype=torch.float32):
        super().__init__()
        J = system.J.to(dtype)
        self.n = system.n
        self.sites = nn.ModuleList(ReferenceSKSite(J, i, k) for i in range(self.n))

    @torch.no_grad()
    def copy_from(self, net) -> None:
        """Take the parameters of our ``SKkRSB`` (dense) so both compute the same function."""
        site, target = net.pairs()
        for i, mod in enumerate(self.sites):
            sel = (site == i).nonzero().flatten()
            order = target[sel].argsort()
            sel = sel[order]
            mod.weight_p.copy_(net.hidden_weight[0][:, sel])
            mod.bias_p.copy_(net.hidden_bias[0][:, sel])
            mod.weight_m.copy_(net.hidden_weight[1][:, sel])
            mod.bias_m.copy_(net.hidden_bias[1][:, sel])
            mod.weight_0p.copy_(net.out_weight[0][sel])
            mod.weight_0m.copy_(net.out_weight[1][sel])
            mod.weight_0.fill_(net.site_weight[i].item())
            mod.bias_0.fill_(net.site_bias[i].item())

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([mod(x[:, :i]) for i, mod in enumerate(self.sites)], dim=1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return F.logsigmoid(x * self.logits(x)).sum(1)

    @torch.no_grad()
    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        ref = self.sites[0].J_in
        x = torch.zeros(batch, self.n, device=ref.device, dtype=ref.dtype)
        log_q = torch.zeros(batch, device=ref.device, dtype=ref.dtype)
        for i, mod in enumerate(self.sites):
            logit = mod(x[:, :i])
            xi = torch.bernoulli(torch.sigmoid(logit)) * 2 - 1
            x[:, i] = xi
            log_q += F.logsigmoid(xi * logit)
        return x, log_q


# ---------------------------------------------------------------------- reference: N full passes
@torch.no_grad()
def sample_by_full_passes(net, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample any ARNN by evaluating all its logits N times (no cache)."""
    x = torch.zeros(batch, net.n, device=net.device, dtype=net.dtype)
    log_q = torch.zeros(batch, device=net.device, dtype=net.dtype)
    for i in range(net.n):
        logit = net.logits(x)[:, i]
        xi = torch.bernoulli(torch.sigmoid(logit)) * 2 - 1
        x[:, i] = xi
        log_q += F.logsigmoid(xi * logit)
    return x, log_q


# ---------------------------------------------------------------------- timing
def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def best_time(fn, repeats: int, device) -> float:
    best = math.inf
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def reinforce_step(sample, log_prob, optimizer, system, beta=1.0, chunk=None):
    """One REINFORCE step of physics.md §5 with the mean baseline: ∇ ≈ mean((L − mean L) ∇log q),
    L = log q + βH. The baseline uses the sampler's log q (equal to log_prob); ``chunk`` splits the
    backward into batch chunks whose gradients accumulate (same gradient, less memory)."""
    x, log_q = sample()
    optimizer.zero_grad(set_to_none=True)
    B = x.shape[0]
    with torch.no_grad():
        L = log_q + beta * system.energy(x)
        coef = (L - L.mean()) / B
    if chunk is None or chunk >= B:
        (coef * log_prob(x)).sum().backward()
    else:
        for start in range(0, B, chunk):
            (coef[start:start + chunk] * log_prob(x[start:start + chunk])).sum().backward()
    optimizer.step()


def fit_exponent(sizes, times) -> float | None:
    pts = [(math.log(n), math.log(t)) for n, t in zip(sizes, times) if t and t > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    num = sum((a - mx) * (b - my) for a, b in pts)
    den = sum((a - mx) ** 2 for a, _ in pts)
    return num / den


def bench_one(key, n, batch, repeats, device, with_reference, ref_max_n, log):
    name, options, label = ARCHS[key]
    torch.manual_seed(0)
    system = ac.sherrington_kirkpatrick(n, seed=0)
    row = {"arch": label, "key": key, "n": n, "batch": batch}
    try:
        net = ac.make_arnn(name, system, **options).to(device)
    except ValueError as exc:
        row["skipped"] = str(exc)
        return row
    row["params"] = net.num_params()
    trainable = row["params"] > 0
    if not trainable:
        net.set_beta(1.0)  # analytic (H2ARNN): parameters derived at β, nothing to train
    opt = torch.optim.Adam(net.parameters(), lr=1e-3) if trainable else None
    sample = lambda: net.sample(batch)
    row["sample_s"] = best_time(sample, repeats, device)
    row["train_s"] = (best_time(lambda: reinforce_step(sample, net.log_prob, opt, system), repeats, device)
                      if trainable else None)
    if not with_reference or n > ref_max_n.get(key, ref_max_n["default"]):
        row["reference"] = "skipped (too slow at this N; see --ref-max-n)" if with_reference else "off"
        return row
    if name == "sk_krsb":
        ref = ReferenceSK(system, options["k"]).to(device)
        ref.copy_from(net)
        with torch.no_grad():
            x, _ = net.sample(64)
            gap = (ref.log_prob(x) - net.log_prob(x)).abs().max().item()
        if gap > 1e-3:
            raise RuntimeError(f"reference and ours differ on {label} N={n}: max |Δ log q| = {gap:g}")
        pairs = n * (n - 1) / 2
        chunk = None
        need = (1 + 6 * (options["k"] + 1)) * 4 * pairs * batch  # saved activations: c and 3 per layer and branch
        if need > REFERENCE_MEMORY_BYTES:
            chunk = max(1, int(batch * REFERENCE_MEMORY_BYTES / need))
            row["reference_chunk"] = chunk
        ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
        ref_sample = lambda: ref.sample(batch)
        row["ref_sample_s"] = best_time(ref_sample, repeats, device)
        row["ref_train_s"] = best_time(
            lambda: reinforce_step(ref_sample, ref.log_prob, ref_opt, system, chunk=chunk), repeats, device)
    else:
        ref_sample = lambda: sample_by_full_passes(net, batch)
        row["ref_sample_s"] = best_time(ref_sample, repeats, device)
        row["ref_train_s"] = (best_time(lambda: reinforce_step(ref_sample, net.log_prob, opt, system),
                                        repeats, device) if trainable else None)
    row["sample_ratio"] = row["sample_s"] / row["ref_sample_s"]
    row["train_ratio"] = row["train_s"] / row["ref_train_s"] if trainable else None
    return row


def bench_variants(n, batch, repeats, device, log):
    """SK_1RSB implemented three ways at one N: torch ops (batch chunks, checkpointed), the same
    chunk function through ``torch.compile``, and the fused C kernels (the default on the CPU)."""
    system = ac.sherrington_kirkpatrick(n, seed=0)
    torch.manual_seed(0)
    net = ac.make_arnn("sk_krsb", system, k=1).to(device)
    x, _ = net.sample(batch)
    x = x.clone()  # a copy: no reuse of the sampler's pass, so log_prob does its full work
    rows = []
    plain = net._pair_sums
    for variant in ("torch", "torch.compile", "kernel"):
        net._pair_sums = plain
        net.backend = "kernel" if variant == "kernel" else "torch"
        if variant == "kernel" and not net._use_kernel():
            log(f"variant kernel unavailable: {ac.architectures.sk.kernel_status()}")
            continue
        row = {"variant": variant, "n": n, "batch": batch}
        if variant == "torch.compile":
            net._pair_sums = torch.compile(plain)
            start = time.perf_counter()
            net.log_prob(x).sum().backward()  # compiles forward and backward (and the last chunk's shape)
            with torch.no_grad():
                net.log_prob(x)               # and the no-grad graph (another compilation)
            row["compile_s"] = time.perf_counter() - start
        with torch.no_grad():
            row["forward_s"] = best_time(lambda: net.log_prob(x), repeats, device)

        def fwd_bwd():
            net.zero_grad(set_to_none=True)
            net.log_prob(x).sum().backward()

        row["forward_backward_s"] = best_time(fwd_bwd, repeats, device)
        row["sample_s"] = best_time(lambda: net.sample(batch), repeats, device)
        rows.append(row)
        log(f"{variant:14} N={n} batch={batch}: log_prob {row['forward_s']:.3g} s, log_prob+backward "
            f"{row['forward_backward_s']:.3g} s, sample {row['sample_s']:.3g} s"
            + (f", compile {row['compile_s']:.3g} s" if "compile_s" in row else ""))
    net._pair_sums = plain
    return rows


def bench_sparse(sides, batch, repeats, device, log):
    """SK_1RSB on 2D Edwards–Anderson lattices (periodic L×L): frontier vs dense hidden units
    (physics.md §4) — parameters and the time of sampling and of one REINFORCE step."""
    rows = []
    for L in sides:
        system = ac.edwards_anderson(L, dim=2, periodic=True, seed=0)
        for sparse in ("frontier", "dense"):
            torch.manual_seed(0)
            net = ac.make_arnn("sk_krsb", system, k=1, sparse=sparse).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            sample = lambda: net.sample(batch)
            row = {"L": L, "n": system.n, "sparse": sparse, "params": net.num_params(),
                   "sample_s": best_time(sample, repeats, device),
                   "train_s": best_time(lambda: reinforce_step(sample, net.log_prob, opt, system), repeats, device)}
            rows.append(row)
            log(f"EA 2D L={L:<3} N={system.n:<5} {sparse:9} params {row['params']:>9}  sample {row['sample_s']:.3g} s  "
                f"train step {row['train_s']:.3g} s")
    return rows


def fmt(v, digits=3):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if v < 1000 else f"{v:.0f}"
    return str(v)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N ∈ {50, 100, 200}, batch 1000, 1 repeat")
    parser.add_argument("--sizes", type=str, default=None, help="comma-separated N (default 50,100,200,400,800)")
    parser.add_argument("--archs", type=str, default=None,
                        help=f"comma-separated subset of {','.join(ARCHS)} (default: all)")
    parser.add_argument("--batch", type=int, default=None, help="samples per batch (default 2000; --quick 1000)")
    parser.add_argument("--repeats", type=int, default=None, help="best of this many runs (default 2; --quick 1)")
    parser.add_argument("--device", type=str, default="cpu", help="cpu, cuda, cuda:0 (default cpu)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--no-reference", action="store_true", help="time our implementation only")
    parser.add_argument("--ref-max-n", type=str, default="sk0=400,sk1=400,h2arnn=16,default=200",
                        help="largest N at which each reference runs (key=N,…; default: SK family 400, others 200; "
                             "the SK reference takes ~2 min per step at N = 800)")
    parser.add_argument("--json", type=str, default=None, help="write all rows and the summary here")
    parser.add_argument("--sparse", action="store_true",
                        help="instead: SK_1RSB frontier vs dense on 2D EA lattices L = 16, 24 (or --sizes as L)")
    parser.add_argument("--variants", action="store_true",
                        help="instead: SK_1RSB as torch ops / torch.compile / fused C kernels (at --sizes, default 200)")
    args = parser.parse_args(argv)

    device = ac.resolve_device(args.device)
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([50, 100, 200] if args.quick else [50, 100, 200, 400, 800])
    keys = args.archs.split(",") if args.archs else list(ARCHS)
    for key in keys:
        if key not in ARCHS:
            parser.error(f"unknown architecture {key!r}; choose from {', '.join(ARCHS)}")
    batch = args.batch or (1000 if args.quick else 2000)
    repeats = args.repeats or (1 if args.quick else 2)
    ref_max_n = {"default": 200}
    for item in args.ref_max_n.split(","):
        k, _, v = item.partition("=")
        ref_max_n[k.strip()] = int(v)

    def log(msg):
        print(msg, flush=True)

    if args.sparse:
        load = os.getloadavg()[0]
        log(f"# {ac.device_description(device)}; load average {load:.1f}; batch {batch}; frontier vs dense")
        rows = bench_sparse(sizes if args.sizes else [16, 24], batch, repeats, device, log)
        if args.json:
            Path(args.json).write_text(json.dumps({"sparse": rows, "load_average_start": load}, indent=1))
        return rows, {}

    if args.variants:
        load = os.getloadavg()[0]
        log(f"# {ac.device_description(device)}; load average {load:.1f}; SK_1RSB implementation variants")
        rows = [r for n in (sizes if args.sizes else [200]) for r in bench_variants(n, batch, repeats, device, log)]
        if args.json:
            Path(args.json).write_text(json.dumps({"variants": rows, "load_average_start": load}, indent=1))
        return rows, {}

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    log(f"# {ac.device_description(device)}; torch threads {torch.get_num_threads()}; batch {batch}; "
        f"best of {repeats}; load average at start {load:.1f} on {os.cpu_count()} CPUs")
    header = f"{'arch':9} {'N':>4} {'params':>9} | {'sample s':>9} {'ref':>9} {'ratio':>6} | {'train s':>9} {'ref':>9} {'ratio':>6} | note"
    log(header)
    log("-" * len(header))
    rows = []
    started = time.perf_counter()
    for n in sizes:
        for key in keys:
            if key == "h2arnn" and n > H2ARNN_MAX_N:
                continue
            row = bench_one(key, n, batch, repeats, device, not args.no_reference, ref_max_n, log)
            rows.append(row)
            if "skipped" in row:
                log(f"{row['arch']:9} {n:>4} skipped: {row['skipped']}")
                continue
            note = row.get("reference", "") if isinstance(row.get("reference"), str) else ""
            if "reference_chunk" in row:
                note += f"reference accumulates gradients over chunks of {row['reference_chunk']}"
            log(f"{row['arch']:9} {n:>4} {row['params']:>9} | {fmt(row['sample_s']):>9} {fmt(row.get('ref_sample_s')):>9} "
                f"{fmt(row.get('sample_ratio'), 2):>6} | {fmt(row['train_s']):>9} {fmt(row.get('ref_train_s')):>9} "
                f"{fmt(row.get('train_ratio'), 2):>6} | {note}")
    if "h2arnn" in keys and not any(r["key"] == "h2arnn" for r in rows):
        row = bench_one("h2arnn", H2ARNN_MAX_N, batch, repeats, device, not args.no_reference, {"default": H2ARNN_MAX_N}, log)
        rows.append(row)
        if "skipped" not in row:
            log(f"{row['arch']:9} {row['n']:>4} {row['params']:>9} | {fmt(row['sample_s']):>9} {fmt(row.get('ref_sample_s')):>9} "
                f"{fmt(row.get('sample_ratio'), 2):>6} | {fmt(row['train_s']):>9} {fmt(row.get('ref_train_s')):>9} "
                f"{fmt(row.get('train_ratio'), 2):>6} | exact H2ARNN (analytic, no training) at small N only")

    # ---- summary against the goals
    summary = {"exponents": {}, "goals": []}
    log("")
    for key in ("sk0", "sk1"):
        pts = [(r["n"], r) for r in rows if r["key"] == key and "skipped" not in r and 200 <= r["n"] <= 800]
        if len(pts) >= 2:
            ns = [p[0] for p in pts]
            for what in ("sample_s", "train_s"):
                e = fit_exponent(ns, [p[1][what] for p in pts])
                summary["exponents"][f"{ARCHS[key][2]} {what[:-2]}"] = e
                log(f"fitted exponent of {ARCHS[key][2]} {what[:-2]} time vs N over N = {ns}: {e:.2f} (goal ≤ 2.2)")

    def goal(desc, value, limit):
        ok = value is not None and value <= limit
        summary["goals"].append({"goal": desc, "value": value, "limit": limit, "met": ok})
        log(f"{'MET ' if ok else 'MISS'} {desc}: {fmt(value, 3)} (goal ≤ {limit})")

    at200 = {r["key"]: r for r in rows if r["n"] == 200 and "skipped" not in r}
    if "sk1" in at200 and "sample_ratio" in at200["sk1"]:
        goal("SK_1RSB sampling / reference at N=200", at200["sk1"]["sample_ratio"], 0.5)
        goal("SK_1RSB training step / reference at N=200", at200["sk1"]["train_ratio"], 0.33)
    if "made23" in at200 and "sample_ratio" in at200["made23"]:
        goal("MADE_23 sampling / reference at N=200", at200["made23"]["sample_ratio"], 0.1)
    for name, e in summary["exponents"].items():
        goal(f"{name} exponent (N = 200…800)", e, 2.2)
    log(f"# total {time.perf_counter() - started:.0f} s; load average at end {os.getloadavg()[0]:.1f}")
    if args.json:
        meta = {"device": ac.device_description(device), "threads": torch.get_num_threads(), "batch": batch,
                "repeats": repeats, "platform": platform.platform(), "torch": torch.__version__,
                "load_average_start": load, "load_average_end": os.getloadavg()[0]}
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows, "summary": summary}, indent=1))
        log(f"# wrote {args.json}")
    return rows, summary


if __name__ == "__main__":
    main()
