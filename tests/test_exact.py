"""Exact references (physics.md §2) against closed forms derived independently here."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import arnn_core as ac
import arnn_core.exact as exact_module


def _brute_force(system, beta):
    """Boltzmann weights over all_states with the system's own energy (no high/low split)."""
    X = ac.all_states(system.n)
    E = system.energy(X)
    log_w = -beta * E
    log_z = torch.logsumexp(log_w, 0)
    p = torch.exp(log_w - log_z)
    return X, E, p, float(log_z)


# ---------------------------------------------------------------------- states
def test_all_states_order_and_chunks():
    expected = [[-1, -1, -1], [-1, -1, 1], [-1, 1, -1], [-1, 1, 1],
                [1, -1, -1], [1, -1, 1], [1, 1, -1], [1, 1, 1]]
    assert ac.all_states(3).tolist() == expected
    assert ac.all_states(3, dtype=torch.int8).dtype == torch.int8
    chunks = list(ac.iter_states(10, chunk_size=100))
    assert [start for start, _ in chunks] == list(range(0, 1024, 100))
    assert torch.equal(torch.cat([s for _, s in chunks]), ac.all_states(10))
    with pytest.raises(ValueError, match="iter_states"):
        ac.all_states(30)
    with pytest.raises(ValueError, match="n must be an integer"):
        ac.all_states(0)
    with pytest.raises(ValueError, match="chunk_size"):
        next(ac.iter_states(4, chunk_size=0))


def test_all_energies_match_system_energy():
    system = ac.sherrington_kirkpatrick(14, h=0.3, seed=2)  # 14 > 12: the high/low split is active
    np.testing.assert_allclose(ac.all_energies(system).numpy(),
                               system.energy(ac.all_states(14)).numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="Monte Carlo"):
        ac.all_energies(ac.curie_weiss(30), max_n=26)


# ---------------------------------------------------------------------- enumeration
@pytest.mark.parametrize("n, beta", [(7, 0.8), (15, 1.3), (15, 6.0)])
def test_enumeration_matches_brute_force(n, beta):
    rng = np.random.default_rng(n)
    base = ac.sherrington_kirkpatrick(n, seed=n)
    system = ac.SpinSystem(base.J, rng.normal(scale=0.5, size=n))
    X, E, p, log_z = _brute_force(system, beta)
    result = ac.exact_enumeration(system, beta)
    assert result.n == n and result.beta == beta
    assert result.log_z == pytest.approx(log_z, abs=1e-10)
    assert result.free_energy == pytest.approx(-log_z / (beta * n), abs=1e-12)
    mean_e = float((p * E).sum())
    assert result.energy == pytest.approx(mean_e / n, abs=1e-12)
    assert result.entropy == pytest.approx(beta * (mean_e / n - result.free_energy), abs=1e-10)
    var_e = float((p * (E - mean_e) ** 2).sum())
    assert result.specific_heat == pytest.approx(beta ** 2 * var_e / n, rel=1e-8, abs=1e-12)
    m = X.mean(1)
    assert result.abs_magnetization == pytest.approx(float((p * m.abs()).sum()), abs=1e-12)
    assert result.magnetization == pytest.approx(float((p * m).sum()), abs=1e-12)
    np.testing.assert_allclose(result.mean_spin, (p @ X).numpy(), atol=1e-12)
    np.testing.assert_allclose(result.correlations, (X.T @ (p[:, None] * X)).numpy(), atol=1e-12)
    values, probs = result.magnetization_hist
    np.testing.assert_allclose(values, np.linspace(-1, 1, n + 1), atol=1e-15)
    expected_hist = [float(p[(m - v).abs() < 1e-9].sum()) for v in values]
    np.testing.assert_allclose(probs, expected_hist, atol=1e-12)
    assert result.ground_energy == pytest.approx(float(E.min()) / n, abs=1e-12)
    assert float(system.energy(torch.tensor(result.ground_state, dtype=torch.float64))) == \
        pytest.approx(float(E.min()), abs=1e-12)


def test_enumeration_does_not_depend_on_chunking():
    system = ac.SpinSystem(ac.sherrington_kirkpatrick(15, seed=4).J, h=np.linspace(-1, 1, 15))
    small = ac.exact_enumeration(system, 4.0, chunk_size=1)  # one high state per chunk: 8 chunks
    large = ac.exact_enumeration(system, 4.0)
    for name in ("log_z", "energy", "entropy", "specific_heat", "abs_magnetization", "ground_energy"):
        assert getattr(small, name) == pytest.approx(getattr(large, name), abs=1e-11), name
    np.testing.assert_allclose(small.correlations, large.correlations, atol=1e-12)
    np.testing.assert_allclose(small.magnetization_hist[1], large.magnetization_hist[1], atol=1e-12)


def test_low_temperature_no_overflow():
    system = ac.sherrington_kirkpatrick(10, seed=9)
    result = ac.exact_enumeration(system, 200.0)
    _, E, _, log_z = _brute_force(system, 200.0)
    assert math.isfinite(result.log_z) and result.log_z == pytest.approx(log_z, rel=1e-12)
    # h = 0: the ground state and its mirror image dominate, so log Z → -βE_0 + log 2
    assert result.log_z == pytest.approx(-200.0 * float(E.min()) + math.log(2), abs=1e-6)
    assert result.entropy == pytest.approx(math.log(2) / 10, abs=1e-6)


@pytest.mark.parametrize("n", [5, 13, 18])
@pytest.mark.parametrize("beta", [0.4, 1.0, 2.5])
@pytest.mark.parametrize("h", [0.0, 0.3, -0.7])
def test_curie_weiss_enumeration_matches_closed_form(n, beta, h):
    enum = ac.exact_enumeration(ac.curie_weiss(n, J=1.0, h=h), beta)
    closed = ac.curie_weiss_exact(n, 1.0, h, beta)
    for name in ("log_z", "free_energy", "energy", "entropy", "specific_heat", "magnetization",
                 "abs_magnetization", "ground_energy"):
        assert getattr(enum, name) == pytest.approx(getattr(closed, name), abs=1e-10), name
    np.testing.assert_allclose(enum.magnetization_hist[0], closed.magnetization_hist[0], atol=1e-14)
    np.testing.assert_allclose(enum.magnetization_hist[1], closed.magnetization_hist[1], atol=1e-12)
    np.testing.assert_allclose(enum.mean_spin, closed.mean_spin_vector(), atol=1e-12)
    np.testing.assert_allclose(enum.correlations, closed.correlation_matrix(), atol=1e-12)


def test_antiferromagnetic_curie_weiss_and_many_chunks_at_n20():
    enum = ac.exact_enumeration(ac.curie_weiss(20, J=-0.5, h=0.2), 1.7, chunk_size=1 << 16)
    closed = ac.curie_weiss_exact(20, -0.5, 0.2, 1.7)
    assert enum.log_z == pytest.approx(closed.log_z, abs=1e-9)
    assert enum.abs_magnetization == pytest.approx(closed.abs_magnetization, abs=1e-12)
    np.testing.assert_allclose(enum.magnetization_hist[1], closed.magnetization_hist[1], atol=1e-12)


def test_open_chain_with_random_couplings():
    """Open chain, h = 0: log Z = log 2 + Σ log 2cosh(βJ_i), ⟨H⟩ = -Σ J_i tanh(βJ_i),
    ⟨x_a x_b⟩ = Π_{bonds between} tanh(βJ_k); the sites are labelled in a shuffled order."""
    n, beta = 16, 0.9
    rng = np.random.default_rng(3)
    couplings = rng.normal(size=n - 1)
    label = rng.permutation(n)  # chain position k is spin label[k]
    text = "\n".join(f"{label[k]} {label[k + 1]} {float(couplings[k])!r}" for k in range(n - 1))
    result = ac.exact_enumeration(ac.from_edge_list(text), beta)
    t = np.tanh(beta * couplings)
    assert result.log_z == pytest.approx(math.log(2) + np.sum(np.log(2 * np.cosh(beta * couplings))), abs=1e-11)
    assert result.energy * n == pytest.approx(-np.sum(couplings * t), abs=1e-11)
    np.testing.assert_allclose(result.mean_spin, 0.0, atol=1e-12)
    for a, b in [(0, 1), (2, 9), (0, n - 1)]:
        assert result.correlations[label[a], label[b]] == pytest.approx(np.prod(t[a:b]), abs=1e-12)


def _transfer_matrix_log_z(system, L, beta):
    """Periodic L×L lattice, row-major sites r·L + c: Z = trace(Π_r T_r) with
    T_r[a, b] = exp(-β [E_row r(a) + E_vertical(a, b)]), a, b the 2^L states of a row."""
    J, h = system.J.numpy(), system.h.numpy()
    rows = np.array(list(itertools.product([-1.0, 1.0], repeat=L)))
    product = np.eye(len(rows))
    log_scale = 0.0
    for r in range(L):
        site = [r * L + c for c in range(L)]
        below = [((r + 1) % L) * L + c for c in range(L)]
        e_row = -sum(J[site[c], site[(c + 1) % L]] * rows[:, c] * rows[:, (c + 1) % L] for c in range(L))
        e_row = e_row - rows @ h[site]
        e_vert = -sum(J[site[c], below[c]] * np.outer(rows[:, c], rows[:, c]) for c in range(L))
        product = product @ np.exp(-beta * (e_row[:, None] + e_vert))
        scale = np.abs(product).max()
        product /= scale
        log_scale += math.log(scale)
    return math.log(np.trace(product)) + log_scale


@pytest.mark.parametrize("L, couplings, h, beta", [(3, "pm1", 0.0, 1.2), (4, "gaussian", 0.25, 0.7),
                                                   (4, "pm1", 0.0, 2.0)])
def test_periodic_lattice_against_transfer_matrix(L, couplings, h, beta):
    system = ac.edwards_anderson(L, dim=2, periodic=True, couplings=couplings, h=h, seed=L)
    result = ac.exact_enumeration(system, beta)
    assert result.log_z == pytest.approx(_transfer_matrix_log_z(system, L, beta), abs=1e-10)


def test_enumeration_refuses_large_systems_and_bad_beta():
    with pytest.raises(ValueError, match="Monte Carlo"):
        ac.exact_enumeration(ac.sherrington_kirkpatrick(27, seed=0), 1.0)
    with pytest.raises(ValueError, match="max_n = 10"):
        ac.exact_enumeration(ac.curie_weiss(12), 1.0, max_n=10)
    for beta in (0.0, -1.0, float("nan"), float("inf"), "hot"):
        with pytest.raises(ValueError, match="beta"):
            ac.exact_enumeration(ac.curie_weiss(4), beta)
    with pytest.raises(ValueError, match="SpinSystem"):
        ac.exact_enumeration(np.zeros((3, 3)), 1.0)


# ---------------------------------------------------------------------- Curie–Weiss
def test_curie_weiss_exact_small_n_by_hand():
    # N = 2, J, h: states (++), (+-), (-+), (--) with H = -J/2·x1x2 - h(x1+x2)
    J, h, beta = 1.4, 0.3, 0.9
    energies = np.array([-J / 2 - 2 * h, J / 2, J / 2, -J / 2 + 2 * h])
    result = ac.curie_weiss_exact(2, J, h, beta)
    assert result.log_z == pytest.approx(np.log(np.exp(-beta * energies).sum()), abs=1e-14)
    w = np.exp(-beta * energies) / np.exp(-beta * energies).sum()
    assert result.correlations == pytest.approx(w[0] - w[1] - w[2] + w[3], abs=1e-14)
    np.testing.assert_allclose(result.magnetization_hist[1], [w[3], w[1] + w[2], w[0]], atol=1e-14)
    assert result.ground_energy == pytest.approx(min(energies) / 2)


def test_curie_weiss_large_n_approaches_mean_field():
    for beta, h in [(0.5, 0.0), (1.5, 0.0), (1.2, 0.1)]:
        finite = ac.curie_weiss_exact(20000, 1.0, h, beta)
        infinite = ac.curie_weiss_mean_field(1.0, h, beta)
        assert finite.free_energy == pytest.approx(infinite.free_energy, abs=1e-3)
        assert finite.abs_magnetization == pytest.approx(infinite.abs_magnetization, abs=0.01)
        assert finite.energy == pytest.approx(infinite.energy, abs=0.01)


def test_curie_weiss_mean_field_solutions():
    para = ac.curie_weiss_mean_field(1.0, 0.0, 0.5)
    assert para.magnetization == pytest.approx(0.0, abs=1e-12)
    assert para.free_energy == pytest.approx(-math.log(2) / 0.5, abs=1e-12)
    ordered = ac.curie_weiss_mean_field(1.0, 0.0, 1.5)
    m = ordered.magnetization
    assert m > 0.8 and m == pytest.approx(math.tanh(1.5 * m), abs=1e-13)
    p = (1 + m) / 2
    entropy = -p * math.log(p) - (1 - p) * math.log(1 - p)
    assert ordered.entropy == pytest.approx(entropy, abs=1e-12)
    assert ordered.free_energy == pytest.approx(-entropy / 1.5 - m * m / 2, abs=1e-12)
    assert [round(s[0], 9) for s in ordered.solutions] == [round(-m, 9), 0.0, round(m, 9)]
    # a small positive field: the positive branch is stable, the negative one metastable
    tilted = ac.curie_weiss_mean_field(1.0, 0.05, 1.5)
    assert tilted.magnetization > 0 and len(tilted.solutions) == 3
    assert tilted.solutions[0][1] > tilted.free_energy
    frozen = ac.curie_weiss_mean_field(1.0, 0.1, 60.0)
    assert frozen.magnetization == pytest.approx(1.0, abs=1e-12)
    assert frozen.free_energy == pytest.approx(-0.6, abs=1e-9)
    with pytest.raises(ValueError, match="beta"):
        ac.curie_weiss_mean_field(1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="J must be finite"):
        ac.curie_weiss_mean_field(float("nan"), 0.0, 1.0)
    with pytest.raises(ValueError, match="n must be an integer"):
        ac.curie_weiss_exact(1, 1.0, 0.0, 1.0)


# ---------------------------------------------------------------------- KL and free energy
def test_exact_kl_divergence_closed_forms():
    n, beta = 9, 1.1
    system = ac.SpinSystem(ac.sherrington_kirkpatrick(n, seed=5).J, h=np.linspace(-0.5, 0.5, n))
    X, E, p, log_z = _brute_force(system, beta)
    assert ac.exact_kl_divergence(torch.log(p), system, beta) == pytest.approx(0.0, abs=1e-12)
    # uniform q: ⟨H⟩_q = 0 for independent unbiased spins, so KL = log Z - N log 2
    uniform = torch.full((2 ** n,), -n * math.log(2), dtype=torch.float64)
    assert ac.exact_kl_divergence(uniform, system, beta) == pytest.approx(log_z - n * math.log(2), abs=1e-10)
    # product distribution with P(x_i = +1) = π_i, mean spin μ = 2π - 1:
    # KL = Σ_i [π log π + (1-π) log(1-π)] + β(-½ μᵀJμ - hᵀμ) + log Z
    pi = np.linspace(0.2, 0.9, n)
    log_q = torch.tensor(np.where(X.numpy() > 0, np.log(pi), np.log(1 - pi)).sum(1))
    mu = 2 * pi - 1
    J, h = system.J.numpy(), system.h.numpy()
    expected = np.sum(pi * np.log(pi) + (1 - pi) * np.log(1 - pi)) + beta * (-0.5 * mu @ J @ mu - h @ mu) + log_z
    assert ac.exact_kl_divergence(log_q.float(), system, beta) == pytest.approx(expected, abs=1e-5)
    assert ac.exact_kl_divergence(log_q.numpy(), system, beta) == pytest.approx(expected, abs=1e-10)
    with pytest.raises(ValueError, match="2\\^N = 512"):
        ac.exact_kl_divergence(log_q[:100], system, beta)
    with pytest.raises(ValueError, match="not normalised"):
        ac.exact_kl_divergence(log_q + 0.1, system, beta)
    with pytest.raises(ValueError, match="NaN"):
        ac.exact_kl_divergence(torch.full((512,), float("nan")), system, beta)


def test_exact_free_energy_sources_and_cache(monkeypatch):
    cw = ac.curie_weiss(3000, J=1.0, h=0.1)
    assert ac.exact_free_energy(cw, 1.3) == pytest.approx(ac.curie_weiss_exact(3000, 1.0, 0.1, 1.3).free_energy)
    sk = ac.sherrington_kirkpatrick(11, seed=123)
    assert ac.exact_free_energy(sk, 0.7) == pytest.approx(ac.exact_enumeration(sk, 0.7).free_energy, abs=1e-14)
    assert ac.exact_free_energy(ac.sherrington_kirkpatrick(24, seed=1), 1.0) is None
    assert ac.exact_free_energy(ac.sherrington_kirkpatrick(24, seed=1), 1.0, max_n=10) is None

    calls = []
    real = exact_module.exact_enumeration
    monkeypatch.setattr(exact_module, "exact_enumeration", lambda *a, **k: calls.append(1) or real(*a, **k))
    fresh = ac.sherrington_kirkpatrick(12, seed=98765)
    first = ac.exact_free_energy(fresh, 0.9)
    same_couplings = ac.SpinSystem(fresh.J.clone(), fresh.h.clone())
    assert ac.exact_free_energy(fresh, 0.9) == first
    assert ac.exact_free_energy(same_couplings, 0.9) == first
    assert len(calls) == 1
    ac.exact_free_energy(fresh, 1.9)
    assert len(calls) == 2
