"""Command line: ``python -m arnn_core {exact, mcmc, train, estimate}``.

The library never prints; this module does. Every subcommand accepts ``--json`` (one JSON
document on stdout, nothing else) and reports bad input as one line on stderr with exit code 2.
A progress bar (tqdm) is drawn on stderr only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import textwrap
import threading
import time

__all__ = ["main", "build_parser"]

PROG = "python -m arnn_core"

_SYSTEM_HELP = """\
system specification (shared by exact, mcmc and train):
  --system cw    Curie–Weiss, J_ij = J/N, h_i = h                       needs --n
  --system sk    Sherrington–Kirkpatrick, J_ij ~ Normal(J0/N, J²/N)     needs --n [--couplings pm1]
  --system ea    Edwards–Anderson lattice, L^dim sites, ±J or Normal    needs --L [--dim 2|3]
  --system rrg   random d-regular graph                                 needs --n --degree
  --system er    Erdős–Rényi G(n, p)                                    needs --n --p
  --system ba    Barabási–Albert, m edges per new node                  needs --n --m
  --system file  a saved system (.json / .npz) or an edge list (.txt)   needs --file
--save-system PATH writes the system (.json or .npz) for later use with --system file.
"""


class _CliError(Exception):
    """A user error to report as one line (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other user error here
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


# ---------------------------------------------------------------------- argument groups
def _add_system_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_argument_group("spin system (physics.md §1)")
    g.add_argument("--system", choices=["cw", "sk", "ea", "rrg", "er", "ba", "file"], required=required,
                   help="family of the system (see the list below)")
    g.add_argument("--n", type=int, help="number of spins N (cw, sk, rrg, er, ba)")
    g.add_argument("--J", type=float, default=1.0, help="coupling scale J (default 1)")
    g.add_argument("--J0", type=float, default=0.0, help="SK mean coupling J0 (default 0)")
    g.add_argument("--h", type=float, default=0.0, help="uniform external field h (default 0)")
    g.add_argument("--couplings", choices=["gaussian", "pm1", "ferro"], default=None,
                   help="coupling distribution: sk gaussian|pm1 (default gaussian); ea/rrg/er/ba "
                        "pm1|gaussian|ferro (default pm1)")
    g.add_argument("--L", type=int, help="lattice side (ea)")
    g.add_argument("--dim", type=int, default=2, choices=[1, 2, 3], help="lattice dimension (ea, default 2)")
    g.add_argument("--open", action="store_true", help="open instead of periodic boundaries (ea)")
    g.add_argument("--degree", type=int, help="degree d (rrg)")
    g.add_argument("--p", type=float, help="edge probability (er)")
    g.add_argument("--m", type=int, help="edges per new node (ba)")
    g.add_argument("--file", help="system file: .json/.npz (save_system) or an edge list 'i j J_ij' (system file)")
    g.add_argument("--seed", type=int, default=0, help="seed of the random couplings/graph (default 0)")
    g.add_argument("--save-system", metavar="PATH", help="also write the system to PATH (.json or .npz)")


def _need(args, name: str, family: str):
    value = getattr(args, name)
    if value is None:
        raise _CliError(f"--system {family} needs --{name}")
    return value


def build_system(args):
    """The SpinSystem described by the parsed system options (written to --save-system if given)."""
    import arnn_core as ac

    system = _build_system(args)
    if getattr(args, "save_system", None):
        ac.save_system(system, args.save_system)
    return system


def _build_system(args):
    import arnn_core as ac

    family = args.system
    cpl = args.couplings
    if family == "cw":
        return ac.curie_weiss(_need(args, "n", family), J=args.J, h=args.h)
    if family == "sk":
        return ac.sherrington_kirkpatrick(_need(args, "n", family), J=args.J, J0=args.J0, h=args.h,
                                          couplings=cpl or "gaussian", seed=args.seed)
    if family == "ea":
        return ac.edwards_anderson(_need(args, "L", family), dim=args.dim, periodic=not args.open,
                                   couplings=cpl or "pm1", J=args.J, h=args.h, seed=args.seed)
    if family == "rrg":
        return ac.random_regular(_need(args, "n", family), _need(args, "degree", family), couplings=cpl or "pm1",
                                 J=args.J, h=args.h, seed=args.seed)
    if family == "er":
        return ac.erdos_renyi(_need(args, "n", family), _need(args, "p", family), couplings=cpl or "pm1",
                              J=args.J, h=args.h, seed=args.seed)
    if family == "ba":
        return ac.barabasi_albert(_need(args, "n", family), _need(args, "m", family), couplings=cpl or "pm1",
                                  J=args.J, h=args.h, seed=args.seed)
    if family == "file":
        path = _need(args, "file", family)
        if not os.path.isfile(path):
            raise _CliError(f"no system file at {path!r}")
        if path.endswith((".json", ".npz")):
            return ac.load_system(path)
        return ac.from_edge_list(path)
    raise _CliError(f"unknown system family {family!r}")


def _parse_betas(args) -> list[float]:
    import arnn_core as ac

    if args.beta is not None and args.beta_stop is None:
        return [float(b) for b in args.beta]
    start = args.beta_start if args.beta_start is not None else (args.beta[0] if args.beta else None)
    if start is None or args.beta_stop is None:
        raise _CliError("give --beta B [B ...], or --beta-start, --beta-stop and --beta-step")
    return ac.beta_schedule(start, args.beta_stop, args.beta_step)


def _add_beta_args(g, default_step: float = 0.05) -> None:
    g.add_argument("--beta", type=float, nargs="+", help="inverse temperature(s) β")
    g.add_argument("--beta-start", type=float, help="first β of a schedule")
    g.add_argument("--beta-stop", type=float, help="last β of a schedule (inclusive)")
    g.add_argument("--beta-step", type=float, default=default_step, help=f"schedule step (default {default_step})")


def _parse_option(text: str):
    if "=" not in text:
        raise _CliError(f"--option expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    low = raw.strip().lower()
    if low in ("true", "yes", "on"):
        return key.strip(), True
    if low in ("false", "no", "off"):
        return key.strip(), False
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


# ---------------------------------------------------------------------- output helpers
def _emit_json(obj) -> None:
    from .io import to_jsonable

    sys.stdout.write(json.dumps(to_jsonable(obj), indent=1) + "\n")


def _fmt(value, spec: str = ".8g") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return format(value, spec)


def _system_summary(system) -> dict:
    return {"name": system.name, "n": system.n, "edges": system.num_edges, "family": system.family}


def _progress(total: int, desc: str, unit: str = "it"):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but the CLI works without it
        return None
    if not sys.stderr.isatty():
        return None
    return tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=True,
                bar_format="{l_bar}{bar}| {n:.4g}/{total_fmt} {unit} [{elapsed}<{remaining}{postfix}]",
                unit=unit)


class _StopOnSigint:
    """First Ctrl-C sets the stop event (training ends cleanly and the run is saved); a second one
    interrupts as usual."""

    def __init__(self):
        self.event = threading.Event()
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                if self.event.is_set():
                    signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
                    raise KeyboardInterrupt
                self.event.set()

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


# ---------------------------------------------------------------------- exact
def cmd_exact(args) -> int:
    import arnn_core as ac

    system = build_system(args)
    betas = _parse_betas(args)
    cw = system.curie_weiss_parameters()
    if cw is None and system.n > args.max_n:
        raise _CliError(f"N = {system.n} is too large to enumerate (limit --max-n {args.max_n}); "
                        "use the mcmc subcommand")
    rows = []
    t0 = time.perf_counter()
    for beta in betas:
        if cw is not None:
            r = ac.curie_weiss_exact(system.n, cw[0], cw[1], beta)
            method = "curie_weiss_closed_form"
        else:
            r = ac.exact_enumeration(system, beta, max_n=args.max_n)
            method = "enumeration"
        row = {"beta": beta, "method": method, "log_z": r.log_z, "free_energy": r.free_energy,
               "energy": r.energy, "entropy": r.entropy, "specific_heat": r.specific_heat,
               "abs_magnetization": r.abs_magnetization, "ground_energy": r.ground_energy}
        if args.hist:
            row["magnetization_hist"] = r.magnetization_hist
        rows.append(row)
    seconds = time.perf_counter() - t0
    if args.json:
        _emit_json({"command": "exact", "system": _system_summary(system), "results": rows, "seconds": seconds})
        return 0
    print(f"{system.name}: N = {system.n}, {system.num_edges} couplings; {rows[0]['method']}, {seconds:.2f} s")
    print(f"{'beta':>8} {'f = F/N':>14} {'e = <H>/N':>14} {'s = S/N':>12} {'<|m|>':>10} {'c':>10}")
    for r in rows:
        print(f"{r['beta']:8.4g} {r['free_energy']:14.8f} {r['energy']:14.8f} {r['entropy']:12.6f} "
              f"{r['abs_magnetization']:10.6f} {r['specific_heat']:10.5f}")
    return 0


# ---------------------------------------------------------------------- mcmc
def cmd_mcmc(args) -> int:
    import numpy as np
    import torch

    import arnn_core as ac

    system = build_system(args)
    if args.beta is None or len(args.beta) != 1:
        raise _CliError("mcmc needs exactly one --beta")
    beta = float(args.beta[0])
    t0 = time.perf_counter()
    res = ac.metropolis(system, beta, n_samples=args.samples, n_chains=args.chains,
                        sweeps_between=args.sweeps_between, burn_in=args.burn_in, seed=args.rng_seed)
    seconds = time.perf_counter() - t0
    x = res.samples
    energies = system.energy(x.to(torch.float64)).numpy() / system.n
    m = x.sum(-1).abs().numpy() / system.n
    summary = {"command": "mcmc", "system": _system_summary(system), "beta": beta,
               "n_samples": int(x.shape[0]), "n_chains": args.chains, "sweeps_between": args.sweeps_between,
               "burn_in": args.burn_in, "acceptance_rate": float(getattr(res, "acceptance_rate", float("nan"))),
               "energy": float(energies.mean()), "energy_stderr": float(energies.std(ddof=1) / math.sqrt(len(energies)))
               if len(energies) > 1 else None,
               "abs_magnetization": float(m.mean()), "seconds": seconds, "out": args.out}
    if args.out:
        ac.save_samples(args.out, x)
    if args.json:
        _emit_json(summary)
        return 0
    print(f"{system.name}: β = {beta:g}, {summary['n_samples']} samples from {args.chains} chains, "
          f"{args.sweeps_between} sweeps apart (burn-in {args.burn_in}); {seconds:.2f} s")
    print(f"  acceptance rate {summary['acceptance_rate']:.4f}")
    print(f"  <H>/N = {summary['energy']:.6f} ± {_fmt(summary['energy_stderr'], '.2g')}   <|m|> = {np.mean(m):.6f}")
    if args.out:
        print(f"  samples written to {args.out}")
    return 0


# ---------------------------------------------------------------------- train
def cmd_train(args) -> int:
    import arnn_core as ac

    system = build_system(args)
    options = dict(_parse_option(o) for o in (args.option or []))
    net = ac.make_arnn(args.arch, system, **options)
    if args.device is not None:
        net.to(ac.resolve_device(args.device))
    if args.dtype == "float64":
        import torch

        net.to(torch.float64)
    if args.samples:
        return _train_likelihood(args, ac, system, net)
    return _train_variational(args, ac, system, net)


def _train_variational(args, ac, system, net) -> int:
    protocol = {"paper": ac.PAPER_PROTOCOL, "quick": ac.QUICK_PROTOCOL}.get(args.protocol)

    def pick(value, key, default):
        if value is not None:
            return value
        return getattr(protocol, key) if protocol is not None else default

    if args.beta is None and args.beta_start is None and args.beta_stop is None:
        if protocol is None:
            raise _CliError("give --beta, a schedule (--beta-start/--beta-stop/--beta-step) or --protocol")
        betas = list(protocol.betas)
    else:
        betas = _parse_betas(args)
    kwargs = dict(betas=betas,
                  steps_per_beta=pick(args.steps_per_beta, "steps_per_beta", 200),
                  batch_size=pick(args.batch_size, "batch_size", 1000),
                  lr=pick(args.lr, "lr", 1e-3),
                  optimizer=pick(args.optimizer, "optimizer", "adam"),
                  init_steps=pick(args.init_steps, "init_steps", 0),
                  std_threshold=pick(args.std_threshold, "std_threshold", None),
                  clip_grad=args.clip_grad, seed=args.rng_seed)
    final_samples = pick(args.final_samples, "final_samples", 0)
    bar = _progress(len(betas), f"{net.arch_name} N={system.n}", unit="β")

    def on_step(record):
        if bar is None:
            return
        # β values completed, with the fraction of the current β's step budget (early leaves jump)
        budget = kwargs["steps_per_beta"] + (kwargs["init_steps"] if record["beta_index"] == 0 else 0)
        done = (len(betas) if record["status"] != "running"
                else record["beta_index"] + min(record["step_in_beta"] / budget, 1.0))
        post = {"β": f"{record['beta']:.3g}", "f": _fmt(record.get("free_energy"), ".6f")}
        if record.get("relative_error") is not None:
            post["rel.err"] = f"{record['relative_error']:.1e}"
        bar.set_postfix(post, refresh=False)
        if done > bar.n:
            bar.update(round(done - bar.n, 6))

    with _StopOnSigint() as sig:
        try:
            history = ac.train_variational(net, system, stop=sig.event, on_step=on_step,
                                           checkpoint_dir=args.run_dir, **kwargs)
        finally:
            if bar is not None:
                bar.close()
    last = history[-1]
    config = {"mode": "variational", **kwargs, "status": last["status"], "system_spec": _system_spec(args)}
    estimate = None
    if final_samples and last["status"] != "diverged":
        estimate = ac.estimate(net, system, last["beta"], n_samples=final_samples, seed=args.rng_seed)
        config["final_estimate"] = {k: v for k, v in estimate.items() if not hasattr(v, "__len__")}
    if args.run_dir:
        ac.save_run(args.run_dir, net, system, config, history)
    out = {"command": "train", "mode": "variational", "architecture": net.arch_name, "options": net.options,
           "num_params": net.num_params(), "system": _system_summary(system), "steps": last["step"],
           "status": last["status"], "message": last.get("message"), "final": last, "run_dir": args.run_dir,
           "estimate": estimate}
    if args.json:
        _emit_json(out)
    else:
        print(f"{net.arch_name} {net.options} on {system.name}: {net.num_params()} trainable parameters")
        print(f"{last['status']}: {last.get('message', '')} in {last['seconds']:.1f} s")
        print(f"  β = {last['beta']:g}: f_q = {_fmt(last['free_energy'], '.8f')} "
              f"(std {_fmt(last['free_energy_std'], '.2e')}), exact f = {_fmt(last['free_energy_exact'], '.8f')}, "
              f"relative error {_fmt(last['relative_error'], '.2e')}")
        if estimate is not None:
            print(f"  {estimate['n_samples']} samples: f_q = {estimate['free_energy']:.8f} ± "
                  f"{estimate['free_energy_stderr']:.1e}, f_IS = {estimate['free_energy_is']:.8f}, "
                  f"ESS = {estimate['ess']:.3f}")
        if args.run_dir:
            print(f"  run saved to {args.run_dir}")
    return 1 if last["status"] == "diverged" else 0


def _train_likelihood(args, ac, system, net) -> int:
    samples = ac.load_samples(args.samples)
    if samples.shape[1] != system.n:
        raise _CliError(f"the samples have N = {samples.shape[1]} spins but the system has N = {system.n}")
    kwargs = dict(epochs=args.epochs, batch_size=args.batch_size or 100, lr=args.lr or 1e-3,
                  validation_fraction=args.validation_fraction, seed=args.rng_seed,
                  optimizer=args.optimizer or "adam", clip_grad=args.clip_grad)
    bar = _progress(args.epochs, f"{net.arch_name} likelihood", unit="epochs")

    def on_step(record):
        if bar is None or record["epoch"] == 0:
            return
        bar.update(1)
        bar.set_postfix({"train": f"{record['train_nll_per_spin']:.5f}",
                         "val": _fmt(record.get("validation_nll_per_spin"), ".5f")}, refresh=False)

    with _StopOnSigint() as sig:
        try:
            history = ac.train_likelihood(net, samples, stop=sig.event, on_step=on_step,
                                          checkpoint_dir=args.run_dir, system=system, **kwargs)
        finally:
            if bar is not None:
                bar.close()
    last = history[-1]
    config = {"mode": "likelihood", **kwargs, "samples_file": os.path.abspath(args.samples),
              "n_samples": int(samples.shape[0]), "status": last["status"], "system_spec": _system_spec(args)}
    if args.beta:
        config["beta"] = float(args.beta[0])
    if args.run_dir:
        ac.save_run(args.run_dir, net, system, config, history)
    out = {"command": "train", "mode": "likelihood", "architecture": net.arch_name, "options": net.options,
           "num_params": net.num_params(), "system": _system_summary(system), "epochs": last["epoch"],
           "status": last["status"], "message": last.get("message"), "initial": history[0], "final": last,
           "run_dir": args.run_dir}
    W = net.first_layer_weights() if hasattr(net, "first_layer_weights") else None
    if W is not None:
        out["weights_vs_couplings"] = _weights_vs_couplings(W, system)
    if args.json:
        _emit_json(out)
    else:
        print(f"{net.arch_name} {net.options} on {system.name}: {net.num_params()} trainable parameters, "
              f"{samples.shape[0]} samples")
        print(f"{last['status']}: {last.get('message', '')} in {last['seconds']:.1f} s")
        print(f"  NLL per spin: train {history[0]['train_nll_per_spin']:.5f} → {last['train_nll_per_spin']:.5f}, "
              f"validation {_fmt(history[0]['validation_nll_per_spin'], '.5f')} → "
              f"{_fmt(last['validation_nll_per_spin'], '.5f')}")
        if "weights_vs_couplings" in out:
            wc = out["weights_vs_couplings"]
            print(f"  first layer vs couplings: Pearson r(|W|, |J|) = {_fmt(wc['r_abs'], '.3f')}, "
                  f"r(W, J) = {_fmt(wc['r'], '.3f')} over {wc['pairs']} pairs")
        if args.run_dir:
            print(f"  run saved to {args.run_dir}")
    return 1 if last["status"] == "diverged" else 0


def _weights_vs_couplings(W, system) -> dict:
    """Pearson r between first-layer weights and couplings over pairs i<j (symmetrised W)."""
    import numpy as np

    W = W.detach().cpu().double().numpy()
    J = system.J.numpy()
    iu = np.triu_indices(system.n, k=1)
    w = 0.5 * (W[iu] + W.T[iu])
    j = J[iu]

    def pearson(a, b):
        if a.std() == 0 or b.std() == 0:
            return None
        return float(np.corrcoef(a, b)[0, 1])

    return {"r": pearson(w, j), "r_abs": pearson(np.abs(w), np.abs(j)), "pairs": int(len(j))}


def _system_spec(args) -> dict:
    keys = ["system", "n", "J", "J0", "h", "couplings", "L", "dim", "open", "degree", "p", "m", "file", "seed"]
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


# ---------------------------------------------------------------------- estimate
def cmd_estimate(args) -> int:
    import arnn_core as ac

    if not os.path.exists(args.run):
        raise _CliError(f"no run at {args.run!r} (expected a run directory or .zip from 'train --run-dir')")
    run = ac.load_run(args.run)
    net, system = run.net, run.system
    if args.device is not None:
        net.to(ac.resolve_device(args.device))
    beta = args.beta if args.beta is not None else (run.last_beta if run.last_beta is not None
                                                     else (run.config.get("training") or {}).get("beta"))
    if beta is None:
        raise _CliError("the run records no β (likelihood training without --beta): give --beta")
    beta = float(beta)
    if getattr(net, "analytic", False):
        net.set_beta(beta)
    est = ac.estimate(net, system, beta, n_samples=args.samples, batch_size=args.batch_size,
                      seed=args.rng_seed)
    out = {"command": "estimate", "run": args.run, "architecture": run.config.get("architecture"),
           "options": run.config.get("options"), "system": _system_summary(system), **est}
    if args.exact_kl:
        if system.n > 20:
            raise _CliError(f"--exact-kl enumerates 2^N states; N = {system.n} > 20")
        out["exact_kl"] = ac.exact_kl(net, system, beta)
    if args.neural_mcmc:
        chain = ac.neural_mcmc(net, system, beta, n_steps=args.neural_mcmc, n_chains=args.chains,
                               seed=args.rng_seed)
        out["neural_mcmc"] = {"n_steps": args.neural_mcmc, "n_chains": args.chains,
                              "acceptance_rate": chain.acceptance_rate, "energy": chain.energy,
                              "abs_magnetization": chain.abs_magnetization, "seconds": chain.seconds}
    if args.json:
        if not args.hist:
            for key in [k for k, v in out.items() if k.endswith("_hist") or k.endswith("_hist_is")
                        or k in ("mean_spin", "mean_spin_is")]:
                out.pop(key)
        _emit_json(out)
        return 0
    print(f"{out['architecture']} {out['options']} on {system.name} at β = {beta:g}, "
          f"{est['n_samples']} samples ({est['seconds']:.1f} s)")
    print(f"  variational  f_q  = {est['free_energy']:.8f} ± {est['free_energy_stderr']:.1e}   "
          f"relative error {_fmt(est['relative_error'], '.2e')}")
    print(f"  importance   f_IS = {est['free_energy_is']:.8f} ± {est['free_energy_is_stderr']:.1e}   "
          f"relative error {_fmt(est['relative_error_is'], '.2e')}   ESS = {est['ess']:.4f}")
    if est["free_energy_exact"] is not None:
        print(f"  exact        f    = {est['free_energy_exact']:.8f}")
    print(f"  <H>/N = {est['energy']:.6f} (reweighted {est['energy_is']:.6f})   "
          f"<|m|> = {est['abs_magnetization']:.6f} (reweighted {est['abs_magnetization_is']:.6f})   "
          f"s = {est['entropy']:.6f}")
    if "exact_kl" in out:
        print(f"  exact KL(q‖P) = {out['exact_kl']:.6e} nats")
    if "neural_mcmc" in out:
        nm = out["neural_mcmc"]
        print(f"  neural MCMC: acceptance {nm['acceptance_rate']:.4f}, <H>/N = {nm['energy']:.6f}, "
              f"<|m|> = {nm['abs_magnetization']:.6f}")
    return 0


# ---------------------------------------------------------------------- parser
def _epilog(*blocks: str) -> str:
    """Join help blocks, each dedented on its own (so inserted multi-line text keeps its layout)."""
    return "\n\n".join(textwrap.dedent(b).strip("\n") for b in blocks) + "\n"


def _desc(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=96)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m arnn_core`` (all four subcommands)."""
    from .architectures import available_architectures

    parser = _Parser(
        prog=PROG, formatter_class=_formatter,
        description=_desc("ARNN Spin Lab: autoregressive neural networks for pairwise Ising systems "
                    "(Biazzo, Commun. Phys. 6, 296, 2023). Exact references, Monte Carlo, training "
                    "and estimates from the command line."),
        epilog=_epilog(f"""
            subcommands:
              exact     exact free energy and observables (enumeration, or closed form for Curie–Weiss)
              mcmc      Metropolis samples at one β (reference observables, training data)
              train     train an architecture: variational annealing, or likelihood on samples
              estimate  variational and importance-sampled free energies of a saved run

            examples:
              {PROG} exact --system sk --n 16 --beta 0.5 1.0 1.5
              {PROG} train --system sk --n 20 --arch sk_krsb --option k=1 --beta-start 0.1 --beta-stop 1.5 --beta-step 0.1 --run-dir runs/sk20
              {PROG} estimate runs/sk20 --samples 20000

            Run '{PROG} SUBCOMMAND --help' for the details of each."""))
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_Parser)
    sub.required = True

    # exact
    p = sub.add_parser("exact", formatter_class=_formatter, help="exact references (physics.md §2)",
                       description=_desc("Exact free-energy density f = -log Z/(βN), energy, entropy, <|m|> and "
                                   "specific heat by enumerating all 2^N states (N ≲ 26), or by the closed "
                                   "form for Curie–Weiss systems at any N (physics.md §2)."),
                       epilog=_epilog(_SYSTEM_HELP, f"""
                           examples:
                             {PROG} exact --system sk --n 16 --seed 3 --beta 1.0
                             {PROG} exact --system cw --n 1000 --beta-start 0.1 --beta-stop 2 --beta-step 0.1
                             {PROG} exact --system file --file my_system.json --beta 0.8 --json"""))
    _add_system_args(p)
    g = p.add_argument_group("temperatures and output")
    _add_beta_args(g)
    g.add_argument("--max-n", type=int, default=26, help="largest N to enumerate (default 26)")
    g.add_argument("--hist", action="store_true", help="include P(m) in the JSON output")
    g.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    p.set_defaults(func=cmd_exact)

    # mcmc
    p = sub.add_parser("mcmc", formatter_class=_formatter, help="Metropolis samples (physics.md §2)",
                       description=_desc("Draw samples of P_B at one β with many vectorised single-spin-flip "
                                   "Metropolis chains (physics.md §2): reference observables, and the "
                                   "training data of 'train --samples'."),
                       epilog=_epilog(_SYSTEM_HELP, f"""
                           The paper's inverse experiment takes samples 200·N flip attempts apart,
                           i.e. --sweeps-between 200 (a sweep is N attempted flips).

                           examples:
                             {PROG} mcmc --system sk --n 100 --seed 1 --beta 2 --samples 10000 --chains 500 --sweeps-between 200 --out sk100.npy
                             {PROG} mcmc --system ea --L 8 --beta 1 --samples 2000 --json"""))
    _add_system_args(p)
    g = p.add_argument_group("sampling")
    g.add_argument("--beta", type=float, nargs=1, required=True, help="inverse temperature β")
    g.add_argument("--samples", type=int, default=1000, help="number of samples to keep (default 1000)")
    g.add_argument("--chains", type=int, default=100, help="parallel chains (default 100)")
    g.add_argument("--sweeps-between", type=int, default=10,
                   help="sweeps (N attempted flips each) between kept samples (default 10)")
    g.add_argument("--burn-in", type=int, default=200, help="sweeps discarded first (default 200)")
    g.add_argument("--rng-seed", type=int, default=0, help="seed of the chains (default 0)")
    g.add_argument("--out", help="write the samples (.npy, .npz, .txt or .csv)")
    g.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_mcmc)

    # train
    arch_lines = "\n".join(f"  {s.name:<8} {s.label}" + (f"  options: {', '.join(o.name for o in s.options)}"
                                                         if s.options else "")
                           for s in available_architectures())
    p = sub.add_parser("train", formatter_class=_formatter, help="train an architecture (physics.md §5)",
                       description=_desc("Train an autoregressive network on a spin system (physics.md §5). "
                                   "Variational mode (default) minimises F_q = E_q[H + log q / β] with "
                                   "REINFORCE, annealing β along a schedule. With --samples FILE it "
                                   "maximises the likelihood of given ±1 samples instead. Ctrl-C stops "
                                   "cleanly and still saves the run."),
                       epilog=_epilog("architectures (--arch, options with --option KEY=VALUE):\n" + arch_lines,
                                      _SYSTEM_HELP, f"""
                           --protocol paper is the paper's protocol: β 0.1 → 2.0 by 0.05, ≤ 1000 Adam
                           steps per β (lr 1e-3, batch 2000), leave a β when std(L)/(βN) < 1e-4,
                           5000 initial steps, final estimates on 20,000 samples. Explicit options
                           override the protocol's values.

                           examples:
                             {PROG} train --system sk --n 16 --arch sk_krsb --option k=1 --beta-start 0.1 --beta-stop 1.5 --beta-step 0.1 --steps-per-beta 200 --batch-size 1000 --run-dir runs/sk16
                             {PROG} train --system cw --n 100 --arch cw_inf --protocol quick --json
                             {PROG} train --system file --file sk100.json --arch sk_krsb --option k=1 --option learn_first_layer=true --samples sk100.npy --epochs 50 --run-dir runs/inverse"""))
    _add_system_args(p)
    g = p.add_argument_group("architecture")
    g.add_argument("--arch", required=True, help="architecture name (see below)")
    g.add_argument("--option", action="append", metavar="KEY=VALUE", help="architecture option (repeatable)")
    g.add_argument("--device", help="cpu, cuda or cuda:K (default: the network's, CPU unless built elsewhere)")
    g.add_argument("--dtype", choices=["float32", "float64"], default=None, help="network precision")
    g = p.add_argument_group("variational training")
    _add_beta_args(g)
    g.add_argument("--protocol", choices=["paper", "quick"], help="a preset of the settings below")
    g.add_argument("--steps-per-beta", type=int, help="maximum Adam steps per β (default 200)")
    g.add_argument("--init-steps", type=int, help="extra steps at the first β (default 0)")
    g.add_argument("--std-threshold", type=float, help="leave a β when std(L)/(βN) falls below this")
    g.add_argument("--final-samples", type=int, help="samples for the final estimate (default 0: none)")
    g = p.add_argument_group("likelihood training (with --samples)")
    g.add_argument("--samples", metavar="FILE", help="±1 samples (.npy/.npz/.txt/.csv): train by maximum likelihood")
    g.add_argument("--epochs", type=int, default=20, help="passes over the samples (default 20)")
    g.add_argument("--validation-fraction", type=float, default=0.1, help="held-out fraction (default 0.1)")
    g = p.add_argument_group("both modes")
    g.add_argument("--batch-size", type=int, help="samples per step (default 1000 variational, 100 likelihood)")
    g.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    g.add_argument("--optimizer", choices=["adam", "adamw", "sgd", "rmsprop"], help="optimiser (default adam)")
    g.add_argument("--clip-grad", type=float, help="clip the gradient's 2-norm")
    g.add_argument("--rng-seed", type=int, default=0, help="seed of the training randomness (default 0)")
    g.add_argument("--run-dir", help="save the run here (config, history, system, weights); checkpointed as it goes")
    g.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_train)

    # estimate
    p = sub.add_parser("estimate", formatter_class=_formatter, help="estimates from a saved run (physics.md §6)",
                       description=_desc("Load a run saved by 'train --run-dir' (or by the app) and estimate, "
                                   "from fresh samples of q: the variational free energy f_q, the "
                                   "importance-sampled f_IS and its effective sample size, energy, entropy "
                                   "and magnetisation, optionally the exact KL(q‖P_B) (N ≤ 20) and a "
                                   "neural-MCMC chain (physics.md §6)."),
                       epilog=_epilog(f"""
                           examples:
                             {PROG} estimate runs/sk16 --samples 20000
                             {PROG} estimate runs/sk16 --beta 1.2 --exact-kl --json
                             {PROG} estimate run.zip --neural-mcmc 1000 --chains 32"""))
    p.add_argument("run", help="run directory or .zip archive")
    p.add_argument("--beta", type=float, help="inverse temperature (default: the run's last β)")
    p.add_argument("--samples", type=int, default=20000, help="number of samples of q (default 20000)")
    p.add_argument("--batch-size", type=int, default=None, help="sampling batch (default min(samples, 5000))")
    p.add_argument("--exact-kl", action="store_true", help="also the exact KL(q‖P_B) by enumeration (N ≤ 20)")
    p.add_argument("--neural-mcmc", type=int, metavar="STEPS", help="also run neural MCMC for STEPS steps")
    p.add_argument("--chains", type=int, default=16, help="neural-MCMC chains (default 16)")
    p.add_argument("--device", help="cpu, cuda or cuda:K")
    p.add_argument("--rng-seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument("--hist", action="store_true", help="include histograms and ⟨x_i⟩ in the JSON output")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_estimate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and return the exit code:
    0 success, 1 a training run that diverged, 2 bad input (one line on stderr)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except (_CliError, ValueError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.stderr.write(f"{PROG} {args.command}: error: {message}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG} {args.command}: interrupted\n")
        return 130
