"""The sweep machinery (benchmarks/sweep.py): stable keys, resume after an interruption, the
process pool, failures, and a tiny sweep on a local Ray instance."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.sweep import ResultStore, curie_weiss_exact_run, run_sweep, spec_key  # noqa: E402

RUN = "benchmarks.sweep:curie_weiss_exact_run"


def _specs(betas, log, n=4, sleep=0.0):
    return [{"kind": "cw_exact_demo", "n": n, "beta": b, "J": 1.0, "h": 0.0, "sleep": sleep, "log": str(log)}
            for b in betas]


def _executions(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_spec_key_is_stable_and_order_independent():
    a = {"n": 20, "beta": 0.5, "arch": "1p", "opts": {"depth": 2, "width": 1}}
    b = {"opts": {"width": 1, "depth": 2}, "arch": "1p", "beta": 0.5, "n": 20}
    assert spec_key(a) == spec_key(b)
    assert spec_key(a) != spec_key({**a, "beta": 0.55})
    assert len(spec_key(a)) == 20 and int(spec_key(a), 16) >= 0


def test_run_function_is_exact_for_two_spins():
    # N = 2, J_12 = J/N = 1/2: Z = 2 e^{β/2} + 2 e^{-β/2}.
    beta = 0.7
    result = curie_weiss_exact_run({"n": 2, "beta": beta, "J": 1.0, "h": 0.0})
    assert result["log_z"] == pytest.approx(math.log(2 * math.exp(beta / 2) + 2 * math.exp(-beta / 2)), rel=1e-12)
    assert result["free_energy"] == pytest.approx(-result["log_z"] / (2 * beta))


def test_prepopulated_results_are_not_recomputed(tmp_path):
    log = tmp_path / "executions.log"
    first = run_sweep(RUN, _specs([0.5, 1.0], log), tmp_path / "out", progress=False)
    assert first.computed == 2 and first.cached == 0
    second = run_sweep(RUN, _specs([0.5, 1.0, 1.5, 2.0], log), tmp_path / "out", progress=False)
    assert second.cached == 2 and second.computed == 2
    executed = _executions(log)
    assert sorted(executed) == sorted(spec_key(s) for s in _specs([0.5, 1.0, 1.5, 2.0], log))  # each once
    # The stored results are returned in spec order and match a direct computation.
    for spec, record in zip(second.specs, second.records):
        assert record["result"]["free_energy"] == pytest.approx(curie_weiss_exact_run(
            {k: v for k, v in spec.items() if k != "log"})["free_energy"], rel=1e-12)
    forced = run_sweep(RUN, _specs([0.5], log), tmp_path / "out", progress=False, force=True)
    assert forced.computed == 1 and len(_executions(log)) == 5


def test_killed_sweep_resumes_without_redoing_finished_runs(tmp_path):
    out, log = tmp_path / "out", tmp_path / "executions.log"
    betas = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
    cmd = [sys.executable, str(REPO_ROOT / "benchmarks" / "sweep.py"), "--demo", "--sizes", "4",
           "--betas", *map(str, betas), "--sleep", "0.6", "--log", str(log), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs_dir = out / "runs"
    deadline = time.time() + 60
    try:
        while time.time() < deadline and len(list(runs_dir.glob("*.json"))) < 2:
            time.sleep(0.05)
    finally:
        proc.kill()  # a hard kill, as a lost job would be
        proc.wait()
    finished_before = {p.stem for p in runs_dir.glob("*.json")}
    assert 2 <= len(finished_before) < len(betas), "the sweep should have been killed midway"
    mtimes = {p.stem: p.stat().st_mtime_ns for p in runs_dir.glob("*.json")}

    rerun = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished_before)} already stored" in rerun.stderr
    assert "runs done" in rerun.stderr and "ETA" in rerun.stderr  # progress on stderr
    executed = _executions(log)
    for key in finished_before:
        assert executed.count(key) == 1, "a finished run was redone"
        assert (runs_dir / f"{key}.json").stat().st_mtime_ns == mtimes[key]
    assert len(list(runs_dir.glob("*.json"))) == len(betas)
    table = rerun.stdout.strip().splitlines()
    assert len(table) == 1 + len(betas) and "nan" not in rerun.stdout


def test_process_pool_runs_in_other_processes(tmp_path):
    log = tmp_path / "executions.log"
    report = run_sweep(RUN, _specs([0.5, 1.0, 1.5], log), tmp_path / "out", workers=2, progress=False)
    assert report.computed == 3 and not report.failures
    pids = {r["result"]["pid"] for r in report.records}
    assert os.getpid() not in pids
    assert all(r["worker"].endswith(str(r["result"]["pid"])) for r in report.records)


def test_a_failing_run_is_reported_stored_and_retried(tmp_path):
    log = tmp_path / "executions.log"
    specs = _specs([0.5], log) + [{"kind": "cw_exact_demo", "n": 4, "beta": "not a number", "log": str(log)}]
    report = run_sweep(RUN, specs, tmp_path / "out", progress=False)
    assert report.computed == 1 and len(report.failures) == 1
    assert report.records[1] is None and report.records[0] is not None
    error_file = tmp_path / "out" / "runs" / f"{spec_key(specs[1])}.error.txt"
    assert "ValueError" in error_file.read_text()
    again = run_sweep(RUN, specs, tmp_path / "out", progress=False)
    assert again.cached == 1 and len(again.failures) == 1  # the failed one is tried again


def test_store_ignores_a_file_whose_spec_differs(tmp_path):
    store = ResultStore(tmp_path)
    spec = {"n": 3, "beta": 1.0}
    store.save(spec, {"x": 1}, 0.1, "here")
    record = json.loads(store.path(spec).read_text())
    record["spec"] = {"n": 4, "beta": 1.0}
    store.path(spec).write_text(json.dumps(record))
    assert store.load(spec) is None


def test_tiny_sweep_on_a_local_ray_instance(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is optional (pip install -r requirements-ray.txt)")
    log = tmp_path / "executions.log"
    specs = _specs([0.5, 1.0], log)
    run_sweep(RUN, specs[:1], tmp_path / "out", progress=False)  # one stored beforehand: resume via Ray
    # ~15 s on an idle 2-core machine (mostly ray.init); no time assertion: shared CI CPUs vary.
    report = run_sweep(RUN, specs, tmp_path / "out", ray_address="local", workers=1, progress=False)
    assert not ray.is_initialized(), "the sweep shuts down the Ray instance it started"
    assert report.executor == "ray" and report.cached == 1 and report.computed == 1 and not report.failures
    ray_record = report.records[1]
    assert ray_record["result"]["pid"] != os.getpid()  # computed by a Ray worker process
    assert ray_record["result"]["free_energy"] == pytest.approx(
        curie_weiss_exact_run({"n": 4, "beta": 1.0})["free_energy"], rel=1e-12)
    assert sorted(_executions(log)) == sorted(spec_key(s) for s in specs)
