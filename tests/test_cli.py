"""The command line: ``python -m arnn_core {exact, mcmc, train, estimate}`` (smoke and errors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import arnn_core as ac
from arnn_core.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "arnn_core", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env, timeout=300)


# ---------------------------------------------------------------------- subprocess smoke tests
def test_exact_json_matches_the_library():
    proc = run_cli("exact", "--system", "sk", "--n", 10, "--seed", 4, "--beta", 0.5, 1.5, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    system = ac.sherrington_kirkpatrick(10, seed=4)
    assert [r["beta"] for r in out["results"]] == [0.5, 1.5]
    for r in out["results"]:
        assert r["free_energy"] == pytest.approx(ac.exact_enumeration(system, r["beta"]).free_energy, rel=1e-12)
    assert out["system"]["n"] == 10


def test_variational_train_then_estimate(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("train", "--system", "sk", "--n", 8, "--seed", 1, "--arch", "sl", "--beta-start", 0.5,
                   "--beta-stop", 1.0, "--beta-step", 0.5, "--steps-per-beta", 5, "--batch-size", 64,
                   "--lr", 0.01, "--run-dir", run_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "finished" and out["steps"] == 10 and out["final"]["beta"] == 1.0
    assert (run_dir / "weights.safetensors").exists()
    assert ac.load_run(run_dir).config["training"]["steps_per_beta"] == 5

    proc = run_cli("estimate", run_dir, "--samples", 2000, "--exact-kl", "--neural-mcmc", 50, "--json")
    assert proc.returncode == 0, proc.stderr
    est = json.loads(proc.stdout)
    assert est["beta"] == 1.0 and est["n_samples"] == 2000
    f = ac.exact_free_energy(ac.sherrington_kirkpatrick(8, seed=1), 1.0)
    assert est["free_energy_exact"] == pytest.approx(f)
    assert est["free_energy"] > f - 5 * est["free_energy_stderr"]
    assert est["exact_kl"] >= 0 and 0 < est["ess"] <= 1
    assert 0 < est["neural_mcmc"]["acceptance_rate"] <= 1
    assert "magnetization_hist" not in est  # only with --hist


def test_mcmc_then_likelihood_training(tmp_path, capsys):
    """In-process (main(argv)): a subprocess costs an interpreter start on a busy machine."""
    samples = tmp_path / "samples.npy"
    system_file = tmp_path / "system.json"
    code = main(["mcmc", "--system", "sk", "--n", "12", "--seed", "2", "--beta", "1.0", "--samples", "400",
                 "--chains", "40", "--sweeps-between", "2", "--burn-in", "20", "--out", str(samples),
                 "--save-system", str(system_file), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    assert out["n_samples"] == 400 and 0 < out["acceptance_rate"] < 1
    x = np.load(samples)
    assert x.shape == (400, 12) and set(np.unique(x)) == {-1, 1}
    exact = ac.exact_enumeration(ac.sherrington_kirkpatrick(12, seed=2), 1.0)
    assert out["energy"] == pytest.approx(exact.energy, abs=0.05)

    code = main(["train", "--system", "file", "--file", str(system_file), "--arch", "sk_krsb", "--option", "k=0",
                 "--option", "learn_first_layer=true", "--samples", str(samples), "--epochs", "3",
                 "--batch-size", "50", "--lr", "0.01", "--run-dir", str(tmp_path / "lik"), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    assert out["mode"] == "likelihood" and out["status"] == "finished" and out["epochs"] == 3
    assert out["final"]["train_nll"] < out["initial"]["train_nll"]
    assert out["options"]["learn_first_layer"] is True
    assert -1 <= out["weights_vs_couplings"]["r_abs"] <= 1
    assert ac.load_run(tmp_path / "lik").config["training"]["mode"] == "likelihood"


def test_error_in_a_subprocess_is_one_line_with_exit_code_2():
    proc = run_cli("exact", "--system", "sk", "--n", 40, "--beta", 1.0)  # too large to enumerate
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "python -m arnn_core exact: error: N = 40 is too large to enumerate (limit --max-n 26); use the mcmc subcommand"]
    assert proc.stdout == ""


@pytest.mark.parametrize("args", [
    ["exact", "--system", "sk", "--beta", "1.0"],                                   # missing --n
    ["exact", "--system", "sk", "--n", "8", "--beta", "-1"],                        # bad β
    ["train", "--system", "sk", "--n", "8", "--arch", "nonsense", "--beta", "1.0"],
    ["train", "--system", "sk", "--n", "8", "--arch", "made", "--option", "depth=-3", "--beta", "1.0"],
    ["train", "--system", "sk", "--n", "8", "--arch", "sl"],                        # no β, no protocol
    ["estimate", "{tmp}/nowhere"],
    ["train", "--system", "file", "--file", "{tmp}/missing.json", "--arch", "sl", "--beta", "1.0"],
    ["train", "--system", "sk", "--n", "8", "--arch", "sl", "--samples", "{tmp}/missing.npy"],
])
def test_errors_are_one_line_with_exit_code_2(args, tmp_path, capsys):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in args])
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert "error:" in lines[-1] and "Traceback" not in captured.err
    assert len([line for line in lines if "error:" in line]) == 1
    assert captured.out == ""


# ---------------------------------------------------------------------- in-process main(argv)
@pytest.mark.parametrize("command", ["exact", "mcmc", "train", "estimate"])
def test_every_subcommand_has_documented_help(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "python -m arnn_core " + command in text
    assert "physics.md" in text


def test_top_level_help_and_usage_errors(capsys):
    assert main(["--help"]) == 0
    assert "exact" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["exact", "--system", "sk", "--n", "8"]) == 2  # no β
    err = capsys.readouterr().err
    assert "--beta" in err and "Traceback" not in err


def test_main_in_process_text_output(tmp_path, capsys):
    assert main(["exact", "--system", "cw", "--n", "200", "--beta", "1.2"]) == 0
    out = capsys.readouterr().out
    f = ac.curie_weiss_exact(200, 1.0, 0.0, 1.2).free_energy
    assert f"{f:14.8f}".strip() in out
    assert main(["train", "--system", "cw", "--n", "12", "--arch", "cw_n", "--beta", "0.8", "1.1",
                 "--run-dir", str(tmp_path / "cw")]) == 0
    out = capsys.readouterr().out
    assert "finished" in out and "relative error" in out
    assert main(["estimate", str(tmp_path / "cw"), "--samples", "500", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert est["beta"] == 1.1 and est["relative_error"] < 1e-5  # CW_N is exact (physics.md §4)
