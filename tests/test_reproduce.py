"""Smoke runs of the three reproduction scripts' core functions at tiny sizes (N = 8, two β, a
few steps): the CSVs have their columns, and the errors are computed against exact values that
the test recomputes independently."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import arnn_core as ac  # noqa: E402
from benchmarks import reproduce_cw, reproduce_sk, reproduce_weights  # noqa: E402


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _num(value: str) -> float | None:
    return None if value == "" else float(value)


def _tiny(settings: dict, **overrides) -> dict:
    settings = dict(settings)
    settings.update(beta_start=0.5, beta_stop=1.0, beta_step=0.5, steps_per_beta=5, init_steps=5, batch_size=64,
                    n_estimate=256, **overrides)
    return settings


def _cw_exact_f(n: int, beta: float) -> float:
    # Independent of arnn_core.exact: brute force over all 2^n states (physics.md §1).
    states = np.array([[1 if (k >> (n - 1 - i)) & 1 else -1 for i in range(n)] for k in range(2 ** n)], dtype=float)
    J = np.full((n, n), 1.0 / n)
    np.fill_diagonal(J, 0.0)
    energy = -0.5 * np.einsum("ki,ij,kj->k", states, J, states)
    a = -beta * energy
    log_z = a.max() + math.log(np.exp(a - a.max()).sum())
    return -log_z / (beta * n)


def test_reproduce_cw_tiny(tmp_path):
    parser = reproduce_cw.build_parser()
    settings = _tiny(reproduce_cw.settings_from_args(parser.parse_args(["--quick"])), sizes=[8], overlap_beta=1.0)
    out = reproduce_cw.reproduce(settings, tmp_path, png=False, progress=False)
    assert not out["report"].failures
    rows = _read_csv(tmp_path / "cw_results.csv")
    assert list(rows[0]) == reproduce_cw.RESULT_COLUMNS
    assert len(rows) == len(reproduce_cw.CW_ARCHITECTURES) * 2  # every (arch, β)
    for row in rows:
        beta = float(row["beta"])
        f_exact = _cw_exact_f(8, beta)
        assert float(row["f_exact"]) == pytest.approx(f_exact, rel=1e-10)
        for kind in ("var", "is"):
            f = float(row[f"f_{kind}"])
            assert float(row[f"rel_error_{kind}"]) == pytest.approx(abs(f - f_exact) / abs(f_exact), rel=1e-9)
        # The variational f is an upper bound: a few steps cannot beat the exact f.
        assert float(row["f_var"]) >= f_exact - 5 * float(row["est_free_energy_stderr"]) - 1e-12
        if row["architecture"] == "CW_N":  # exact architecture: float error only
            assert float(row["rel_error_var"]) < 1e-6 and row["steps"] == "0"
        else:
            assert int(row["steps"]) >= 5
    summary = _read_csv(tmp_path / "cw_summary.csv")
    assert list(summary[0]) == reproduce_cw.SUMMARY_COLUMNS and len(summary) == len(reproduce_cw.CW_ARCHITECTURES)
    assert (tmp_path / "cw_rel_error_vs_beta.html").exists() and (tmp_path / "cw_overlap.html").exists()

    # Resume: a second call computes nothing and rebuilds the same table from the stored runs.
    again = reproduce_cw.reproduce(settings, tmp_path, png=False, progress=False)
    assert again["report"].computed == 0 and again["report"].cached == len(reproduce_cw.CW_ARCHITECTURES)
    assert _read_csv(tmp_path / "cw_results.csv") == rows


def test_reproduce_sk_tiny(tmp_path):
    args = reproduce_sk.build_parser().parse_args(["--quick", "--archs", "SK_RS", "SL"])
    settings = _tiny(reproduce_sk.settings_from_args(args), sizes=[8], instances=1, overlap_beta=1.0)
    assert settings["architectures"] == ["SK_RS", "SL", "SK_2RSB"]  # the reference is added
    out = reproduce_sk.reproduce(settings, tmp_path, png=False, progress=False)
    assert not out["report"].failures
    rows = _read_csv(tmp_path / "sk_results.csv")
    assert list(rows[0]) == reproduce_sk.RESULT_COLUMNS and len(rows) == 3 * 2
    system = ac.sherrington_kirkpatrick(8, seed=0)
    by_key = {(r["architecture"], float(r["beta"])): r for r in rows}
    for row in rows:
        beta = float(row["beta"])
        f_exact = ac.exact_enumeration(system, beta).free_energy
        assert float(row["f_exact"]) == pytest.approx(f_exact, rel=1e-9)
        assert float(row["rel_error_var"]) == pytest.approx(abs(float(row["f_var"]) - f_exact) / abs(f_exact), rel=1e-9)
        ref = float(by_key[("SK_2RSB", beta)]["f_var"])
        assert float(row["rel_diff_2rsb"]) == pytest.approx((float(row["f_var"]) - ref) / abs(ref), rel=1e-9, abs=1e-15)
    assert all(float(r["rel_diff_2rsb"]) == 0.0 for r in rows if r["architecture"] == "SK_2RSB")
    counts = _read_csv(tmp_path / "sk_param_counts.csv")
    sl_100 = next(c for c in counts if c["architecture"] == "SL" and c["N"] == "100")
    assert int(sl_100["trainable_params"]) == 100 * 100 + 100
    rs_100 = next(c for c in counts if c["architecture"] == "SK_RS" and c["N"] == "100")
    assert int(rs_100["trainable_params"]) == 3 * 100 * 99 + 2 * 100  # (2k+3) N(N-1) + 2N, physics.md §4
    summary = _read_csv(tmp_path / "sk_summary.csv")
    assert list(summary[0]) == reproduce_sk.SUMMARY_COLUMNS and len(summary) == 3 * 2


def test_reproduce_weights_tiny(tmp_path):
    args = reproduce_weights.build_parser().parse_args(
        ["--quick", "--sizes", "8", "--n-samples", "200", "--n-chains", "20", "--sweeps-between", "2",
         "--burn-in", "20", "--epochs", "2", "--batch-size", "50"])
    settings = reproduce_weights.settings_from_args(args)
    out = reproduce_weights.reproduce(settings, tmp_path, png=False, progress=False)
    assert not out["report"].failures
    (summary,) = _read_csv(tmp_path / "weights_summary.csv")
    assert list(summary) == reproduce_weights.SUMMARY_COLUMNS
    assert int(summary["mc_samples"]) == 200 and int(summary["epochs"]) == 2
    # The Metropolis energy density agrees with exact enumeration (200 samples: loose tolerance).
    exact_e = ac.exact_enumeration(ac.sherrington_kirkpatrick(8, seed=0), 2.0).energy
    assert float(summary["mc_energy_density"]) == pytest.approx(exact_e, abs=0.1)
    pairs = _read_csv(tmp_path / "weights_pairs_N8_inst0.csv")
    assert len(pairs) == 8 * 7 // 2
    J = ac.sherrington_kirkpatrick(8, seed=0).J.numpy()
    for p in pairs:
        assert float(p["J_ij"]) == pytest.approx(J[int(p["i"]), int(p["j"])], rel=1e-5)
    abs_j = np.abs([float(p["J_ij"]) for p in pairs])
    abs_w = np.abs([float(p["W_ij"]) for p in pairs])
    assert float(summary["pearson_abs"]) == pytest.approx(np.corrcoef(abs_j, abs_w)[0, 1], abs=1e-4)
    slope, intercept = np.polyfit(abs_j, abs_w, 1)
    assert float(summary["fit_slope"]) == pytest.approx(slope, rel=1e-3, abs=1e-6)
