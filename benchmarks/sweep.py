"""Sweep machinery shared by the reproduction scripts: independent runs, resumable, local or Ray.

A *run* is a JSON-able spec (a dict) handed to a *run function* ``fn(spec) -> dict`` (JSON-able
result). A sweep is a list of specs. Each finished run is written at once to
``<out>/runs/<key>.json``, where ``key`` is a stable hash of the spec, so an interrupted sweep
(Ctrl-C, a killed job, a lost Ray node) resumes where it stopped: runs whose file exists are not
redone. The scripts build their tables and figures only from these stored per-run files.

Executors:

* in-process (``workers=1``, the default): simplest to debug and interrupt;
* a local process pool (``workers>1``): ``spawn`` workers with one torch thread each, so
  ``workers`` processes use ``workers`` cores instead of fighting over them;
* Ray (``ray_address`` given, e.g. ``"local"`` to start a local instance, ``"auto"`` or
  ``"ray://head:10001"`` for a cluster). ``ray`` is imported only then (``requirements-ray.txt``).

The run function is named by reference, ``"package.module:function"``, so that every executor
imports the same code (a spawn child or a Ray worker cannot unpickle a function defined in a
script's ``__main__``).

Progress (runs done / total, ETA) goes to stderr.

``python benchmarks/sweep.py --demo`` runs a small self-contained sweep (exact Curie–Weiss free
energies by the binomial sum) through the same machinery; the tests use it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import os
import platform
import socket
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Iterable

REPO_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["spec_key", "ResultStore", "run_sweep", "SweepReport", "add_sweep_arguments",
           "sweep_kwargs_from_args", "resolve_run_function", "curie_weiss_exact_run", "hardware_description"]


# ---------------------------------------------------------------------- keys and storage
def _canonical_json(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def spec_key(spec: dict) -> str:
    """A stable 20-hex-digit hash of ``spec`` (key order does not matter; values must be JSON)."""
    return hashlib.sha256(_canonical_json(spec).encode("ascii")).hexdigest()[:20]


def to_jsonable(value):
    """Convert tensors, numpy arrays and scalars (recursively) to plain JSON types."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy array / scalar
        return to_jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; None reads back as "missing"
    return value


class ResultStore:
    """One JSON file per finished run under ``<out_dir>/runs/``, written atomically."""

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.runs_dir = self.out_dir / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)

    def path(self, spec: dict) -> Path:
        return self.runs_dir / f"{spec_key(spec)}.json"

    def load(self, spec: dict) -> dict | None:
        """The stored record of ``spec`` (``{"spec", "result", "wall_s", ...}``), or None."""
        path = self.path(spec)
        try:
            with open(path, encoding="utf-8") as fh:
                record = json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:  # should not happen with atomic writes
            print(f"[sweep] ignoring unreadable result {path.name}: {exc}", file=sys.stderr)
            return None
        if record.get("spec") != json.loads(_canonical_json(spec)):
            print(f"[sweep] ignoring {path.name}: its spec differs (hash collision?)", file=sys.stderr)
            return None
        return record

    def save(self, spec: dict, result: dict, wall_s: float, worker: str) -> dict:
        record = {
            "key": spec_key(spec),
            "spec": spec,
            "result": to_jsonable(result),
            "wall_s": round(float(wall_s), 3),
            "worker": worker,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        path = self.path(spec)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh, allow_nan=False)
        os.replace(tmp, path)  # atomic: a killed sweep never leaves half a file
        return record

    def save_error(self, spec: dict, error: str) -> None:
        path = self.runs_dir / f"{spec_key(spec)}.error.txt"
        path.write_text(_canonical_json(spec) + "\n\n" + error, encoding="utf-8")

    def clear_error(self, spec: dict) -> None:
        (self.runs_dir / f"{spec_key(spec)}.error.txt").unlink(missing_ok=True)


# ---------------------------------------------------------------------- running one spec
def resolve_run_function(ref: str) -> Callable[[dict], dict]:
    """Import ``"package.module:function"``."""
    if not isinstance(ref, str) or ":" not in ref:
        raise ValueError(f"a run function is named 'package.module:function', got {ref!r}")
    module_name, func_name = ref.split(":", 1)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    func = getattr(importlib.import_module(module_name), func_name)
    if not callable(func):
        raise ValueError(f"{ref} is not callable")
    return func


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_run(func_ref: str, spec: dict) -> tuple[dict, float, str]:
    """Run one spec (in whatever process this is) → (result, wall seconds, worker name)."""
    func = resolve_run_function(func_ref)
    start = time.perf_counter()
    result = func(dict(spec))
    if not isinstance(result, dict):
        raise TypeError(f"{func_ref} must return a dict, got {type(result).__name__}")
    return to_jsonable(result), time.perf_counter() - start, _worker_name()


def _pool_initializer(threads: int) -> None:
    # One torch thread per worker: N workers on N cores, not N×N threads thrashing.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


# ---------------------------------------------------------------------- progress
def _fmt_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class _Progress:
    """Counts and a cost-weighted ETA: with the longest runs first, a plain average of the
    first run times would overestimate the rest."""

    def __init__(self, total: int, cached: int, pending_cost: float, label: str, enabled: bool):
        self.total, self.done, self.cached = total, cached, cached
        self.label = label
        self.enabled = enabled
        self.start = time.perf_counter()
        self.pending_cost = pending_cost
        self.done_cost = 0.0
        self.failed = 0

    def log(self, message: str) -> None:
        if self.enabled:
            print(f"[{self.label}] {message}", file=sys.stderr, flush=True)

    def eta(self) -> float:
        if self.total - self.done - self.failed <= 0:
            return 0.0
        if self.done_cost <= 0:
            return float("nan")
        # Throughput so far (cost per second) includes the parallelism actually achieved.
        return (time.perf_counter() - self.start) / self.done_cost * max(self.pending_cost - self.done_cost, 0.0)

    def finished(self, spec_label: str, wall_s: float, ok: bool, cost: float = 1.0) -> None:
        self.done_cost += cost
        if ok:
            self.done += 1
        else:
            self.failed += 1
        status = f"{wall_s:.1f}s" if ok else "FAILED"
        self.log(f"{self.done}/{self.total} runs done ({self.cached} from cache"
                 f"{f', {self.failed} failed' if self.failed else ''}) | {spec_label}: {status} | "
                 f"elapsed {_fmt_seconds(time.perf_counter() - self.start)}, ETA {_fmt_seconds(self.eta())}")


def _spec_label(spec: dict) -> str:
    """A short human label: the paper's label and N when the spec has them, else its scalars."""
    parts = []
    if "label" in spec:
        parts.append(str(spec["label"]))
    system = spec.get("system")
    if isinstance(system, dict):
        parts += [f"N={system['n']}"] if "n" in system else []
        parts += [f"instance={system['seed']}"] if system.get("seed") is not None else []
    if not parts:
        keys = [k for k in spec if k not in ("kind", "version", "log", "sleep")
                and spec[k] is not None and not isinstance(spec[k], (list, dict))]
        parts = [f"{k}={spec[k]}" for k in keys[:5]]
    return " ".join(parts) or spec_key(spec)


# ---------------------------------------------------------------------- the sweep
class SweepReport:
    """What :func:`run_sweep` did: stored records in spec order (None where a run failed)."""

    def __init__(self, specs, records, computed, cached, failures, wall_s, executor):
        self.specs = specs
        self.records = records
        self.computed = computed
        self.cached = cached
        self.failures = failures  # list of (spec, error text)
        self.wall_s = wall_s
        self.executor = executor

    @property
    def results(self) -> list[dict | None]:
        return [r["result"] if r is not None else None for r in self.records]

    def ok_records(self) -> list[dict]:
        return [r for r in self.records if r is not None]

    def summary(self) -> str:
        return (f"{len(self.specs)} runs: {self.computed} computed, {self.cached} from cache, "
                f"{len(self.failures)} failed; {self.wall_s:.1f}s wall ({self.executor})")


def run_sweep(run_function: str, specs: Iterable[dict], out_dir, *, workers: int = 1,
              ray_address: str | None = None, ray_upload_code: bool = False, threads_per_worker: int = 1,
              force: bool = False, progress: bool = True, label: str = "sweep",
              cost: Callable[[dict], float] | None = None) -> SweepReport:
    """Run every spec not already stored in ``out_dir`` and return all records in spec order.

    ``run_function`` is ``"package.module:function"``; ``workers`` > 1 uses a spawn process
    pool, ``ray_address`` (``"local"``, ``"auto"``, ``"ray://…"``) uses Ray with ``workers`` as
    the local instance's CPU count when it starts one. ``force`` recomputes stored runs.
    ``cost`` (spec → relative cost, e.g. N² × per-sample cost) starts the costliest runs first
    (better packing of workers) and weights the ETA; the returned records stay in spec order. A failing run is reported (and its traceback written next to
    the results) without stopping the others; it is retried on the next call.
    """
    specs = [json.loads(_canonical_json(s)) for s in specs]  # validates JSON-ability, copies
    keys = [spec_key(s) for s in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("the sweep has duplicate specs")
    resolve_run_function(run_function)  # fail fast on a bad reference, before any work
    store = ResultStore(out_dir)
    records: list[dict | None] = [None] * len(specs)
    pending: list[int] = []
    for idx, spec in enumerate(specs):
        record = None if force else store.load(spec)
        if record is not None:
            records[idx] = record
        else:
            pending.append(idx)
    cost_of = (lambda spec: max(float(cost(spec)), 1e-9)) if cost is not None else (lambda spec: 1.0)
    pending.sort(key=lambda i: -cost_of(specs[i]))  # stable: spec order when costs tie

    executor = "ray" if ray_address else ("process pool" if workers > 1 else "in-process")
    prog = _Progress(len(specs), len(specs) - len(pending), sum(cost_of(specs[i]) for i in pending), label, progress)
    prog.log(f"{len(specs)} runs, {len(specs) - len(pending)} already stored in {store.runs_dir}; "
             f"{len(pending)} to compute ({executor}{f', {workers} workers' if workers > 1 else ''})")
    failures: list[tuple[dict, str]] = []
    start = time.perf_counter()

    def on_done(idx: int, result: dict, wall_s: float, worker: str) -> None:
        records[idx] = store.save(specs[idx], result, wall_s, worker)
        store.clear_error(specs[idx])
        prog.finished(_spec_label(specs[idx]), wall_s, ok=True, cost=cost_of(specs[idx]))

    def on_error(idx: int, error: str) -> None:
        store.save_error(specs[idx], error)
        failures.append((specs[idx], error))
        prog.finished(_spec_label(specs[idx]), 0.0, ok=False, cost=cost_of(specs[idx]))
        prog.log(f"run failed: {error.strip().splitlines()[-1] if error.strip() else error}")

    if pending:
        if ray_address:
            _run_ray(run_function, specs, pending, ray_address, workers, ray_upload_code, threads_per_worker,
                     on_done, on_error)
        elif workers > 1:
            _run_pool(run_function, specs, pending, workers, threads_per_worker, on_done, on_error)
        else:
            _run_in_process(run_function, specs, pending, threads_per_worker, on_done, on_error)
    report = SweepReport(specs, records, len(pending) - len(failures), len(specs) - len(pending), failures,
                         time.perf_counter() - start, executor)
    prog.log(report.summary())
    return report


def _run_in_process(run_function, specs, pending, threads, on_done, on_error) -> None:
    try:
        import torch
    except ImportError:
        torch = None
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)  # as a pool worker would; restored afterwards
    try:
        for idx in pending:
            try:
                result, wall_s, worker = execute_run(run_function, specs[idx])
            except Exception:
                on_error(idx, traceback.format_exc())
            else:
                on_done(idx, result, wall_s, worker)
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def _run_pool(run_function, specs, pending, workers, threads, on_done, on_error) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # fork + torch threads can deadlock
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pool_initializer,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(execute_run, run_function, specs[idx]): idx for idx in pending}
        try:
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for fut in done:
                    idx = futures[fut]
                    try:
                        result, wall_s, worker = fut.result()
                    except Exception:
                        on_error(idx, traceback.format_exc())
                    else:
                        on_done(idx, result, wall_s, worker)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _import_ray():
    try:
        import ray  # noqa: WPS433 — optional dependency, imported only for --ray-address
    except ImportError:
        raise RuntimeError("--ray-address needs Ray, which is not installed: "
                           "pip install -r requirements-ray.txt") from None
    return ray


def _run_ray(run_function, specs, pending, address, workers, upload_code, threads, on_done, on_error) -> None:
    ray = _import_ray()
    # Workers must import arnn_core and benchmarks: on one machine (or a shared filesystem) the
    # repository root on PYTHONPATH is enough; on a remote cluster, upload the code.
    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    runtime_env: dict = {"env_vars": {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": str(threads)}}
    if upload_code:
        runtime_env = {"working_dir": str(REPO_ROOT),
                       "excludes": [".git", ".venv", "benchmarks/out", "results", "runs", "**/__pycache__"],
                       "env_vars": {"OMP_NUM_THREADS": str(threads)}}
    started_here = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=max(1, workers), include_dashboard=False, runtime_env=runtime_env,
                     log_to_driver=True)
        else:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
        started_here = True

    @ray.remote(num_cpus=1)
    def ray_execute(func_ref, spec, n_threads):
        _pool_initializer(n_threads)
        return execute_run(func_ref, spec)

    try:
        refs = {ray_execute.remote(run_function, specs[idx], threads): idx for idx in pending}
        remaining = list(refs)
        while remaining:
            done, remaining = ray.wait(remaining, num_returns=1)
            for ref in done:
                idx = refs[ref]
                try:
                    result, wall_s, worker = ray.get(ref)
                except Exception:
                    on_error(idx, traceback.format_exc())
                else:
                    on_done(idx, result, wall_s, worker)
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


# ---------------------------------------------------------------------- CLI helpers
def add_sweep_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """The executor options every script shares."""
    group = parser.add_argument_group("sweep execution (resumable; see benchmarks/sweep.py)")
    group.add_argument("--out", default=default_out,
                       help="output directory: runs/<hash>.json per finished run, plus CSV and figures "
                            "(default: %(default)s). Rerunning with the same --out resumes.")
    group.add_argument("--workers", type=int, default=1,
                       help="parallel runs: 1 runs in this process; >1 uses a spawn process pool with "
                            "one torch thread per worker (default: %(default)s)")
    group.add_argument("--ray-address", default=None,
                       help="run on Ray instead: 'local' starts a local instance with --workers CPUs, "
                            "'auto' joins the running cluster, or ray://HOST:10001. Needs "
                            "`pip install -r requirements-ray.txt`.")
    group.add_argument("--ray-upload-code", action="store_true",
                       help="with --ray-address: ship this repository to the cluster's workers "
                            "(for nodes that do not share this filesystem)")
    group.add_argument("--threads-per-worker", type=int, default=1,
                       help="torch threads per run, in each worker process or in this one with "
                            "--workers 1 (default: %(default)s; workers × threads should not exceed the cores)")
    group.add_argument("--force", action="store_true", help="recompute runs that are already stored")
    group.add_argument("--report-only", action="store_true",
                       help="compute nothing: build the tables and figures from the runs already stored")


def sweep_kwargs_from_args(args) -> dict:
    if args.workers < 1:
        raise SystemExit("--workers must be ≥ 1")
    return dict(workers=args.workers, ray_address=args.ray_address, ray_upload_code=args.ray_upload_code,
                threads_per_worker=args.threads_per_worker, force=args.force)


def load_stored(specs: list[dict], out_dir) -> SweepReport:
    """The stored records for ``specs`` without computing anything (for --report-only)."""
    store = ResultStore(out_dir)
    records = [store.load(s) for s in specs]
    return SweepReport(specs, records, 0, sum(r is not None for r in records), [], 0.0, "none (report only)")


def run_or_load(run_function: str, specs: list[dict], out_dir, *, label: str, cost: Callable[[dict], float],
                report_only: bool = False, progress: bool = True, sweep_kwargs: dict | None = None) -> SweepReport:
    """The reproduction scripts' common step: with ``report_only`` read the stored records,
    else run (or resume) the sweep."""
    if report_only:
        return load_stored(specs, out_dir)
    return run_sweep(run_function, specs, out_dir, label=label, progress=progress, cost=cost,
                     **(sweep_kwargs or {}))


def hardware_description() -> str:
    """One line: CPU model, core count, torch version/threads (for docs/results.md)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        torch_info = f"torch {torch.__version__}"
    except ImportError:
        torch_info = "no torch"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {torch_info}"


# ---------------------------------------------------------------------- a self-contained run
def curie_weiss_exact_run(spec: dict) -> dict:
    """Exact Curie–Weiss free energy density by the binomial sum (physics.md §2), numpy only.

    A real but dependency-free run function, so the sweep machinery (executors, resume) can be
    tested and demonstrated without the rest of the library. ``spec``: ``n``, ``beta``, ``J``,
    ``h``; optional ``sleep`` (seconds, to make runs long enough to interrupt) and ``log`` (a
    file to which each execution appends its key — tests count re-executions with it).
    """
    import numpy as np
    from scipy.special import gammaln, logsumexp

    n, beta, J, h = int(spec["n"]), float(spec["beta"]), float(spec.get("J", 1.0)), float(spec.get("h", 0.0))
    if spec.get("log"):
        with open(spec["log"], "a", encoding="utf-8") as fh:
            fh.write(spec_key(spec) + "\n")
    if spec.get("sleep"):
        time.sleep(float(spec["sleep"]))
    k = np.arange(n + 1)
    M = n - 2 * k
    log_binom = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    log_z = float(logsumexp(log_binom + beta * J * (M ** 2 - n) / (2 * n) + beta * h * M))
    return {"log_z": log_z, "free_energy": -log_z / (beta * n), "pid": os.getpid()}


def _demo_main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Demonstrate/test the sweep machinery: exact Curie–Weiss free energies for N × β "
                    "through the chosen executor, resumable.")
    parser.add_argument("--demo", action="store_true", help="run the demo sweep (required)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.5, 1.0, 1.5])
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds each run sleeps (to test interrupts)")
    parser.add_argument("--log", default=None, help="file each execution appends its key to")
    add_sweep_arguments(parser, default_out="benchmarks/out/sweep_demo")
    args = parser.parse_args(argv)
    if not args.demo:
        parser.error("nothing to do: pass --demo")
    specs = [{"kind": "cw_exact_demo", "n": n, "beta": b, "J": 1.0, "h": 0.0, "sleep": args.sleep, "log": args.log}
             for n in args.sizes for b in args.betas]
    report = run_sweep("benchmarks.sweep:curie_weiss_exact_run", specs, args.out, label="demo",
                       **sweep_kwargs_from_args(args))
    print(f"{'N':>6} {'beta':>6} {'f':>12}")
    for spec, rec in zip(specs, report.records):
        f = rec["result"]["free_energy"] if rec else float("nan")
        print(f"{spec['n']:>6} {spec['beta']:>6.2f} {f:>12.6f}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    sys.exit(_demo_main())
