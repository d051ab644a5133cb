"""Metropolis and parallel tempering (physics.md §2) against exact results.

Error bars come from the spread of independent chains, so they include autocorrelation; every
comparison also bounds the error bar itself, so a test cannot pass by being vague. Seeds are
fixed: the tests are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import arnn_core as ac

Z_MAX = 4.0  # a fixed-seed run must land within 4 standard errors of the exact value


def _assert_close(estimate, error, exact, max_error, what):
    assert 0 < error < max_error, f"{what}: error bar {error:.2e} not in (0, {max_error:.0e})"
    z = (estimate - exact) / error
    assert abs(z) < Z_MAX, f"{what}: {estimate:.5f} ± {error:.5f} vs exact {exact:.5f} (z = {z:.2f})"


def _check_samples(result, system, n_samples):
    assert result.samples.shape == (n_samples, system.n)
    assert result.samples.dtype == torch.float32 and result.samples.device.type == "cpu"
    assert set(result.samples.unique().tolist()) <= {-1.0, 1.0}
    np.testing.assert_allclose(system.energy(result.samples.double()).numpy(), result.energies, atol=1e-9)
    np.testing.assert_allclose(result.samples.double().mean(1).numpy(), result.magnetizations, atol=1e-12)


# ---------------------------------------------------------------------- Metropolis vs exact
def test_metropolis_sk16_matches_enumeration():
    system = ac.sherrington_kirkpatrick(16, seed=3)
    exact = ac.exact_enumeration(system, 1.0)
    result = ac.metropolis(system, 1.0, 20000, n_chains=200, sweeps_between=2, burn_in=100, seed=11)
    assert result.update == "sequential" and result.n_chains == 200
    _check_samples(result, system, 20000)
    _assert_close(result.energy, result.energy_error, exact.energy, 3e-3, "SK16 energy")
    _assert_close(result.abs_magnetization, result.abs_magnetization_error, exact.abs_magnetization, 3e-3,
                  "SK16 |m|")
    assert 0.05 < result.acceptance_rate < 0.95
    assert 1.0 <= result.autocorrelation_time < 20
    assert result.energy_trace.shape == (result.n_sweeps, 64)
    assert result.n_sweeps == 100 + 100 * 2
    assert result.flips_per_second > 0 and result.elapsed > 0


@pytest.mark.parametrize("beta", [0.8, 1.3])
def test_metropolis_curie_weiss64_matches_closed_form(beta):
    system = ac.curie_weiss(64)
    exact = ac.curie_weiss_exact(64, 1.0, 0.0, beta)
    result = ac.metropolis(system, beta, 16000, n_chains=400, sweeps_between=2, burn_in=100, seed=5)
    _assert_close(result.energy, result.energy_error, exact.energy, 2e-3, f"CW64 β={beta} energy")
    _assert_close(result.abs_magnetization, result.abs_magnetization_error, exact.abs_magnetization, 4e-3,
                  f"CW64 β={beta} |m|")


@pytest.mark.parametrize("make_system, beta", [
    (lambda: ac.edwards_anderson(4, couplings="gaussian", h=0.2, seed=2), 0.8),
    (lambda: ac.random_regular(16, 3, couplings="pm1", h=-0.1, seed=4), 1.2),
])
def test_metropolis_sparse_colouring_matches_enumeration(make_system, beta):
    system = make_system()
    exact = ac.exact_enumeration(system, beta)
    # burn-in ≫ the slowest relaxation here: chains that start in the basin disfavoured by the field
    # take a few hundred sweeps to leave it, which ⟨x_i⟩ below sees even where E and |m| do not
    result = ac.metropolis(system, beta, 20000, n_chains=400, sweeps_between=2, burn_in=1000, seed=9)
    assert result.update.startswith("checkerboard")
    _check_samples(result, system, 20000)
    _assert_close(result.energy, result.energy_error, exact.energy, 3e-3, "sparse energy")
    _assert_close(result.abs_magnetization, result.abs_magnetization_error, exact.abs_magnetization, 4e-3,
                  "sparse |m|")
    # site-resolved: ⟨x_i⟩ with a field is not symmetric, so it checks the site order of the samples
    mean_spin = result.samples.double().mean(0).numpy()
    assert np.max(np.abs(mean_spin - exact.mean_spin)) < 0.04


def test_error_bars_are_calibrated():
    """Over independent seeds, (estimate - exact)/error behaves like a unit normal variable."""
    system = ac.sherrington_kirkpatrick(12, seed=7, h=0.1)
    exact = ac.exact_enumeration(system, 1.2)
    z = []
    for seed in range(12):
        result = ac.metropolis(system, 1.2, 2000, n_chains=40, sweeps_between=1, burn_in=50, seed=100 + seed)
        z.append((result.energy - exact.energy) / result.energy_error)
    mean_square = float(np.mean(np.square(z)))
    assert 0.25 < mean_square < 2.5, z


# ---------------------------------------------------------------------- parallel tempering
def test_parallel_tempering_sk16_every_temperature():
    system = ac.sherrington_kirkpatrick(16, seed=3)
    betas = [1.5, 0.3, 0.54, 0.78, 1.02, 1.26]  # any order: results come sorted
    result = ac.parallel_tempering(system, betas, 4000, n_chains=40, sweeps_between=2, burn_in=100, seed=21)
    np.testing.assert_allclose(result.betas, sorted(betas))
    assert result.swap_acceptance.shape == (5,) and np.all((result.swap_acceptance > 0.2) & (result.swap_acceptance <= 1))
    assert result.acceptance_rate.shape == (6,) and np.all(np.diff(result.acceptance_rate) < 0)  # colder: fewer flips
    for r, beta in enumerate(result.betas):
        exact = ac.exact_enumeration(system, beta)
        _assert_close(result.energy[r], result.energy_error[r], exact.energy, 5e-3, f"PT energy β={beta}")
        _assert_close(result.abs_magnetization[r], result.abs_magnetization_error[r], exact.abs_magnetization,
                      6e-3, f"PT |m| β={beta}")
        samples = result.samples_at(beta)
        assert samples.shape == (4000, 16)
        np.testing.assert_allclose(system.energy(samples.double()).numpy(), result.energies[r], atol=1e-9)


def test_parallel_tempering_curie_weiss64_target_only():
    system = ac.curie_weiss(64)
    betas = [0.6, 0.8, 1.0, 1.2]
    result = ac.parallel_tempering(system, betas, 4000, n_chains=40, sweeps_between=2, burn_in=100, seed=3,
                                   target_beta=1.2)
    assert [s is None for s in result.samples] == [True, True, True, False]
    assert result.samples_at(1.2).shape == (4000, 64)
    with pytest.raises(ValueError, match="not kept"):
        result.samples_at(0.6)
    for r, beta in enumerate(betas):
        exact = ac.curie_weiss_exact(64, 1.0, 0.0, beta)
        _assert_close(result.energy[r], result.energy_error[r], exact.energy, 5e-3, f"PT CW β={beta}")
        _assert_close(result.abs_magnetization[r], result.abs_magnetization_error[r], exact.abs_magnetization,
                      1e-2, f"PT CW |m| β={beta}")


def test_swaps_between_nearly_equal_temperatures_are_almost_always_accepted():
    result = ac.parallel_tempering(ac.sherrington_kirkpatrick(20, seed=1), [1.0, 1.0001], 200, n_chains=10,
                                   sweeps_between=1, burn_in=10, seed=0)
    assert result.swap_acceptance[0] > 0.98


# ---------------------------------------------------------------------- behaviour
def test_same_seed_same_samples_and_counts():
    system = ac.sherrington_kirkpatrick(30, seed=0)
    a = ac.metropolis(system, 1.0, 250, n_chains=64, sweeps_between=1, burn_in=5, seed=42, device="cpu")
    b = ac.metropolis(system, 1.0, 250, n_chains=64, sweeps_between=1, burn_in=5, seed=42)
    c = ac.metropolis(system, 1.0, 250, n_chains=64, sweeps_between=1, burn_in=5, seed=43)
    assert torch.equal(a.samples, b.samples) and not torch.equal(a.samples, c.samples)
    assert a.samples.shape == (250, 30) and a.n_sweeps == 5 + 4  # ⌈250 / 64⌉ = 4 rounds
    few = ac.metropolis(system, 1.0, 10, n_chains=64, sweeps_between=1, burn_in=0, seed=1)
    assert few.n_chains == 10 and few.samples.shape == (10, 30)  # chains capped at n_samples


def test_infinite_temperature_accepts_every_flip():
    system = ac.sherrington_kirkpatrick(20, seed=2)
    result = ac.metropolis(system, 0.0, 4000, n_chains=100, sweeps_between=1, burn_in=0, seed=0)
    assert result.acceptance_rate == 1.0
    assert abs(float(result.samples.mean())) < 0.02


def test_integrated_autocorrelation_time():
    rng = np.random.default_rng(0)
    assert ac.integrated_autocorrelation_time(rng.normal(size=(20000, 4))) == pytest.approx(1.0, abs=0.1)
    phi = 0.8  # AR(1): τ = (1 + φ) / (1 - φ) = 9
    noise = rng.normal(size=(20000, 8))
    series = np.empty_like(noise)
    series[0] = noise[0] / math.sqrt(1 - phi ** 2)
    for t in range(1, len(noise)):
        series[t] = phi * series[t - 1] + noise[t]
    assert ac.integrated_autocorrelation_time(series) == pytest.approx(9.0, rel=0.1)
    assert math.isnan(ac.integrated_autocorrelation_time(np.ones(100)))
    with pytest.raises(ValueError, match="shape"):
        ac.integrated_autocorrelation_time(np.ones((3, 3, 3)))


@pytest.mark.parametrize("make_system", [
    lambda: ac.sherrington_kirkpatrick(2000, seed=0),
    lambda: ac.random_regular(2000, 3, couplings="gaussian", seed=0),
    lambda: ac.edwards_anderson(45, seed=0),
])
def test_large_systems_run(make_system):
    system = make_system()
    result = ac.metropolis(system, 1.0, 8, n_chains=4, sweeps_between=1, burn_in=1, seed=0)
    _check_samples(result, system, 8)
    assert 0 < result.acceptance_rate < 1


def test_validation_errors():
    system = ac.curie_weiss(8)
    for kwargs, message in [
        (dict(beta=-1.0, n_samples=10), "beta"),
        (dict(beta=float("nan"), n_samples=10), "beta"),
        (dict(beta=1.0, n_samples=0), "n_samples"),
        (dict(beta=1.0, n_samples=10, n_chains=0), "n_chains"),
        (dict(beta=1.0, n_samples=10, sweeps_between=0), "sweeps_between"),
        (dict(beta=1.0, n_samples=10, burn_in=-1), "burn_in"),
        (dict(beta=1.0, n_samples=10, seed="abc"), "seed"),
    ]:
        with pytest.raises(ValueError, match=message):
            ac.metropolis(system, **kwargs)
    with pytest.raises(ValueError, match="SpinSystem"):
        ac.metropolis(np.zeros((4, 4)), 1.0, 10)
    with pytest.raises(ValueError, match="at least two"):
        ac.parallel_tempering(system, [1.0], 10)
    with pytest.raises(ValueError, match="distinct"):
        ac.parallel_tempering(system, [1.0, 0.5, 1.0], 10)
    with pytest.raises(ValueError, match="not one of betas"):
        ac.parallel_tempering(system, [0.5, 1.0], 10, target_beta=0.7)
    with pytest.raises(ValueError, match="beta"):
        ac.parallel_tempering(system, [0.5, -1.0], 10)
    with pytest.raises(ValueError, match="sequence"):
        ac.parallel_tempering(system, 1.0, 10)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            ac.metropolis(system, 1.0, 10, device="cuda")
