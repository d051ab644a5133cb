"""Estimators after training (physics.md §6) checked against exact enumeration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import arnn_core as ac


BETA = 1.0


@pytest.fixture(scope="module")
def sk10():
    return ac.sherrington_kirkpatrick(10, seed=5)


@pytest.fixture(scope="module")
def exact10(sk10):
    return ac.exact_enumeration(sk10, BETA)


@pytest.fixture(scope="module")
def rough_net(sk10):
    """A deliberately imperfect q: SL with random weights, a little trained."""
    torch.manual_seed(1)
    net = ac.make_arnn("sl", sk10)
    ac.train_variational(net, sk10, [0.5, BETA], steps_per_beta=15, batch_size=200, lr=1e-2, seed=0)
    return net


def _exact_boltzmann(system, beta):
    states = ac.all_states(system.n)
    logp = -beta * system.energy(states)
    return states, torch.softmax(logp, 0)


def test_exact_network_gives_exact_estimates(sk10, exact10):
    net = ac.make_arnn("h2arnn", sk10, beta=BETA)
    est = ac.estimate(net, sk10, BETA, n_samples=20000, seed=0)
    f = exact10.free_energy
    assert est["free_energy_exact"] == pytest.approx(f)
    # q = P_B: L is constant, so both estimates are exact and ESS = 1 (up to float32 rounding)
    assert est["relative_error"] < 1e-6 and est["relative_error_is"] < 1e-6
    assert est["ess"] == pytest.approx(1.0, abs=1e-6)
    assert est["free_energy_std"] < 1e-6
    # observables within sampling error of the exact ones
    assert est["energy"] == pytest.approx(exact10.energy, abs=5 * 0.5 / math.sqrt(20000))
    assert est["abs_magnetization"] == pytest.approx(exact10.abs_magnetization, abs=0.01)
    assert est["entropy"] == pytest.approx(exact10.entropy, abs=0.01)
    m_values, pm = est["magnetization_hist"]
    m_exact, pm_exact = exact10.magnetization_hist
    assert np.allclose(m_values, m_exact)
    assert pm.sum() == pytest.approx(1.0)
    assert 0.5 * np.abs(pm - pm_exact).sum() < 0.03           # total variation distance
    assert np.abs(est["mean_spin"] - exact10.mean_spin).max() < 0.05


def test_overlap_distribution_matches_exact(sk10):
    net = ac.make_arnn("h2arnn", sk10, beta=BETA)
    est = ac.estimate(net, sk10, BETA, n_samples=20000, seed=2)
    q_values, pq = est["overlap_hist"]
    states, p = _exact_boltzmann(sk10, BETA)
    # exact P(q) over pairs of independent replicas: Σ_ab p_a p_b δ(q - a·b/N)
    overlap = (states @ states.T).round().long()
    pq_exact = torch.zeros(sk10.n + 1, dtype=torch.float64)
    pq_exact.index_add_(0, ((overlap + sk10.n) // 2).reshape(-1), (p[:, None] * p[None, :]).reshape(-1))
    assert np.allclose(q_values, np.linspace(-1, 1, sk10.n + 1))
    assert pq.sum() == pytest.approx(1.0)
    assert 0.5 * np.abs(pq - pq_exact.numpy()).sum() < 0.03
    assert np.allclose(pq, pq[::-1], atol=0.02)  # h = 0: P(q) is symmetric


def test_importance_sampling_beats_variational_on_an_imperfect_q(sk10, exact10, rough_net):
    est = ac.estimate(rough_net, sk10, BETA, n_samples=20000, seed=3)
    f = exact10.free_energy
    assert est["free_energy"] > f  # F_q is an upper bound (here by far more than the error bar)
    assert est["free_energy"] - f > 10 * est["free_energy_stderr"]
    assert abs(est["free_energy_is"] - f) < abs(est["free_energy"] - f)
    assert abs(est["free_energy_is"] - f) < 5 * est["free_energy_is_stderr"] + 1e-4
    assert 0 < est["ess"] < 1
    # reweighted observables move towards the Boltzmann values
    assert abs(est["energy_is"] - exact10.energy) < abs(est["energy"] - exact10.energy)
    assert abs(est["energy_is"] - exact10.energy) < 0.01
    centres, pe = est["energy_hist"]
    assert len(centres) == 50 and pe.sum() == pytest.approx(1.0)


def test_estimate_is_reproducible_and_validates(sk10, rough_net):
    a = ac.estimate(rough_net, sk10, BETA, n_samples=1000, batch_size=300, seed=7)
    b = ac.estimate(rough_net, sk10, BETA, n_samples=1000, batch_size=300, seed=7)
    assert a["free_energy"] == b["free_energy"] and a["n_samples"] == 1000
    with pytest.raises(ValueError, match="beta"):
        ac.estimate(rough_net, sk10, -1.0)
    with pytest.raises(ValueError, match="n_samples"):
        ac.estimate(rough_net, sk10, BETA, n_samples=1)
    with pytest.raises(ValueError, match="N = 12"):
        ac.estimate(rough_net, ac.sherrington_kirkpatrick(12, seed=0), BETA)


def test_exact_kl_equals_beta_times_free_energy_gap(sk10, exact10, rough_net):
    kl = ac.exact_kl(rough_net, sk10, BETA)
    # F_q computed exactly over all states, independently of exact_kl (physics.md §2, §5)
    states = ac.all_states(sk10.n)
    with torch.no_grad():
        log_q = rough_net.log_prob(states.to(rough_net.dtype)).double()
    q = log_q.exp()
    assert float(q.sum()) == pytest.approx(1.0, abs=1e-5)
    F_q = float((q * (sk10.energy(states) + log_q / BETA)).sum())
    F = exact10.free_energy * sk10.n
    assert kl > 1e-3
    assert kl == pytest.approx(BETA * (F_q - F), rel=1e-5, abs=1e-7)
    # the sampled estimate of the same gap agrees within its error bar
    est = ac.estimate(rough_net, sk10, BETA, n_samples=20000, seed=4)
    gap = BETA * sk10.n * (est["free_energy"] - exact10.free_energy)
    assert gap == pytest.approx(kl, abs=5 * BETA * sk10.n * est["free_energy_stderr"])


def test_exact_kl_of_the_exact_network_vanishes(sk10):
    net = ac.make_arnn("h2arnn", sk10, beta=BETA)
    assert ac.exact_kl(net, sk10, BETA) < 1e-4
    with pytest.raises(ValueError, match="max_n"):
        ac.exact_kl(net, sk10, BETA, max_n=8)


def test_neural_mcmc_targets_the_boltzmann_distribution(sk10, exact10, rough_net):
    chain = ac.neural_mcmc(rough_net, sk10, BETA, n_steps=2000, n_chains=16, burn_in=50, seed=0)
    assert chain.samples.shape == (2000, 16, 10)
    assert set(torch.unique(chain.samples).tolist()) <= {-1.0, 1.0}
    assert 0.2 < chain.acceptance_rate < 1.0
    assert chain.acceptance_per_chain.shape == (16,)
    # energies match the samples, and their mean is the Boltzmann one (q's own mean is not)
    assert np.allclose(chain.energies, sk10.energy(chain.samples.double().reshape(-1, 10)).reshape(2000, 16))
    est = ac.estimate(rough_net, sk10, BETA, n_samples=5000, seed=5)
    assert abs(chain.energy - exact10.energy) < 0.015
    assert abs(chain.energy - exact10.energy) < abs(est["energy"] - exact10.energy)
    assert chain.abs_magnetization == pytest.approx(exact10.abs_magnetization, abs=0.02)


def test_neural_mcmc_with_the_exact_network_accepts_everything(sk10):
    net = ac.make_arnn("h2arnn", sk10, beta=BETA)
    chain = ac.neural_mcmc(net, sk10, BETA, n_steps=100, n_chains=4, seed=1)
    assert chain.acceptance_rate > 0.999
