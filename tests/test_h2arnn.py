"""The exact H2ARNN equals the Boltzmann distribution (physics.md §3), checked against brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import arnn_core as ac
from arnn_core.architectures.h2arnn import H2ARNN, H2ARNN_MAX_N, spin_states


def brute_force_states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=torch.float64)


def brute_force_log_boltzmann(system, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(states, log P_B) by explicit sums over pairs: independent of SpinSystem.energy's matrix form."""
    X = brute_force_states(system.n)
    J, h = system.J, system.h
    iu = torch.triu_indices(system.n, system.n, offset=1)
    pair = (X[:, iu[0]] * X[:, iu[1]] * J[iu[0], iu[1]]).sum(-1)
    H = -pair - X @ h
    log_w = -beta * H
    return X, log_w - torch.logsumexp(log_w, 0)


def random_system(n: int, seed: int) -> ac.SpinSystem:
    rng = np.random.default_rng(seed)
    J = rng.normal(0, 1.0 / math.sqrt(n), (n, n))
    J = np.triu(J, 1)
    J = J + J.T
    return ac.SpinSystem(J, rng.normal(0, 0.5, n), name=f"random N={n}")


SYSTEMS = [
    pytest.param(lambda: random_system(12, 0), 1.0, id="random-N12-beta1"),
    pytest.param(lambda: random_system(10, 1), 2.5, id="random-N10-beta2.5"),
    pytest.param(lambda: ac.edwards_anderson(3, dim=2, couplings="gaussian", h=0.3, seed=2), 1.7, id="EA-3x3"),
    pytest.param(lambda: ac.curie_weiss(11, J=1.0, h=-0.2), 1.3, id="CW-N11"),
    pytest.param(lambda: ac.random_regular(12, 3, seed=4, h=0.1), 0.9, id="RRG-N12"),
]


@pytest.mark.parametrize("make_system,beta", SYSTEMS)
def test_equals_boltzmann_on_every_state(make_system, beta):
    system = make_system()
    X, log_p = brute_force_log_boltzmann(system, beta)
    net = ac.make_arnn("h2arnn", system, beta=beta).double()
    torch.testing.assert_close(net.log_prob(X), log_p, rtol=0, atol=1e-10)


def test_exact_after_set_beta_and_in_float64_after_float32_build():
    system = random_system(9, 7)
    net = ac.make_arnn("h2arnn", system, beta=0.3)  # default dtype (float32)
    assert net.dtype == torch.float32
    net = net.double()  # re-derives from float64: no float32 round-off left
    net.set_beta(1.9)
    assert net.options["beta"] == 1.9
    X, log_p = brute_force_log_boltzmann(system, 1.9)
    torch.testing.assert_close(net.log_prob(X), log_p, rtol=0, atol=1e-10)
    net.set_beta(0.0)  # infinite temperature: uniform
    torch.testing.assert_close(net.log_prob(X), torch.full_like(log_p, -9 * math.log(2)), rtol=0, atol=1e-12)


def test_float32_is_close():
    system = random_system(10, 3)
    X, log_p = brute_force_log_boltzmann(system, 1.0)
    net = ac.make_arnn("h2arnn", system, beta=1.0).float()
    torch.testing.assert_close(net.log_prob(X).double(), log_p, rtol=0, atol=1e-4)


def test_sampled_frequencies_match_boltzmann():
    """Chi-square of 40,000 samples against the exact probabilities of N = 6 (63 d.o.f.)."""
    system = random_system(6, 11)
    X, log_p = brute_force_log_boltzmann(system, 1.2)
    net = ac.make_arnn("h2arnn", system, beta=1.2).double()
    n = 40_000
    x, log_q = net.sample(n, generator=torch.Generator().manual_seed(2024))
    torch.testing.assert_close(log_q, net.log_prob(x), rtol=0, atol=1e-10)
    index = ((x > 0).long() * (2 ** torch.arange(5, -1, -1))).sum(-1)  # brute-force row order
    counts = torch.bincount(index, minlength=64).double()
    expected = n * log_p.exp()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # 63 degrees of freedom: mean 63, sd ≈ 11; 130 is beyond the 99.999th percentile
    assert chi2 < 130, chi2
    # and a systematically wrong distribution is rejected by the same statistic
    wrong = n * torch.softmax(log_p * 0.9, 0)
    assert float(((counts - wrong) ** 2 / wrong).sum()) > 130


def test_first_layer_is_the_coupling_matrix_and_no_trainable_parameters():
    system = random_system(8, 5)
    net = ac.make_arnn("h2arnn", system, beta=1.0).double()
    torch.testing.assert_close(net.first_layer_weights(), system.J)
    assert net.num_params() == 0 and net.analytic
    n = 8
    assert net.num_fixed_params() == n * n + n + (n + 2) * (2 ** n - 1)


def test_logits_follow_the_formula_at_one_site():
    """logit_i = 2βφ_i + log ρ_i⁺ − log ρ_i⁻ with ρ computed by explicit loops over future states."""
    system = random_system(7, 9)
    beta = 1.4
    net = ac.make_arnn("h2arnn", system, beta=beta).double()
    J, h = system.J, system.h
    x = torch.tensor([[1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0]], dtype=torch.float64)
    i = 3
    phi = h[i] + sum(J[s, i] * x[0, s] for s in range(i))
    c = [sum(J[s, l] * x[0, s] for s in range(i)) for l in range(7)]
    rho = {}
    for sign in (+1, -1):
        terms = []
        for fut in itertools.product([-1.0, 1.0], repeat=7 - 1 - i):
            xs = dict(zip(range(i + 1, 7), fut))
            e = sum((h[l] + sign * J[i, l] + c[l]) * xs[l] for l in xs)
            e += sum(J[l, m] * xs[l] * xs[m] for l in xs for m in xs if l < m)
            terms.append(beta * float(e))
        rho[sign] = math.log(sum(math.exp(t) for t in terms))
    expected = 2 * beta * float(phi) + rho[1] - rho[-1]
    assert abs(net.logits(x)[0, i].item() - expected) < 1e-12


def test_max_n_is_enforced_by_the_class_too():
    with pytest.raises(ValueError, match="N ≤ 18"):
        H2ARNN(ac.curie_weiss(H2ARNN_MAX_N + 1))


def test_sample_chunks_large_batches():
    """N = 14 (8192 states at site 0) with a batch larger than one chunk."""
    system = random_system(14, 2)
    net = ac.make_arnn("h2arnn", system, beta=1.0).double()
    x, log_q = net.sample(700, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(log_q, net.log_prob(x), rtol=0, atol=1e-10)
    with pytest.raises(ValueError):
        net.sample(0)


def test_spin_states_convention():
    S = spin_states(3)
    assert S.tolist()[0] == [-1, -1, -1] and S.tolist()[1] == [-1, -1, 1] and S.tolist()[4] == [1, -1, -1]
    torch.testing.assert_close(S, brute_force_states(3))
    assert spin_states(0).shape == (1, 0)
