"""CW_N is exact on Curie–Weiss at any N; CW_∞ has N + 1 parameters (physics.md §4)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import arnn_core as ac
from arnn_core.architectures.curie_weiss import CurieWeissInfinity, CurieWeissN


def cw_log_z(n: int, J: float, h: float, beta: float) -> float:
    """log Z of Curie–Weiss from exact integer binomials (physics.md §2), independent of the library."""
    terms = [math.log(math.comb(n, k)) + beta * J * ((n - 2 * k) ** 2 - n) / (2 * n) + beta * h * (n - 2 * k)
             for k in range(n + 1)]
    top = max(terms)
    return top + math.log(math.fsum(math.exp(t - top) for t in terms))


@pytest.mark.parametrize("J,h,beta", [(1.0, 0.0, 1.0), (1.0, 0.0, 2.0), (1.0, 0.15, 0.6), (-0.8, 0.3, 1.5)])
def test_cw_n_zero_variance_at_n200(J, h, beta):
    """log q(x) + βH(x) = −log Z on every sample, to 1e-10 (float64, N = 200)."""
    n = 200
    system = ac.curie_weiss(n, J=J, h=h)
    net = ac.make_arnn("cw_n", system, beta=beta).double()
    x, log_q = net.sample(1000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(log_q, net.log_prob(x), rtol=0, atol=1e-10)
    log_z = cw_log_z(n, J, h, beta)
    assert abs(log_z - ac.curie_weiss_exact(n, J, h, beta).log_z) < 1e-9  # our oracle and exact.py agree
    residual = net.log_prob(x) + beta * system.energy(x) + log_z
    assert residual.abs().max().item() < 1e-10
    # samples are not degenerate: the magnetisation varies
    assert x.sum(-1).unique().numel() > 5


def test_cw_n_equals_boltzmann_on_every_state_small_n():
    n, J, h, beta = 10, 1.3, -0.25, 1.1
    system = ac.curie_weiss(n, J=J, h=h)
    X = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=torch.float64)
    log_w = -beta * system.energy(X)
    net = ac.make_arnn("cw_n", system, beta=beta).double()
    torch.testing.assert_close(net.log_prob(X), log_w - torch.logsumexp(log_w, 0), rtol=0, atol=1e-12)


def test_cw_n_agrees_with_h2arnn():
    system = ac.curie_weiss(12, J=0.9, h=0.1)
    X, _ = ac.make_arnn("h2arnn", system).double().sample(200, generator=torch.Generator().manual_seed(3))
    a = ac.make_arnn("cw_n", system, beta=1.0).double().conditionals(X)
    b = ac.make_arnn("h2arnn", system, beta=1.0).double().conditionals(X)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_cw_n_set_beta_and_counts():
    n = 50
    system = ac.curie_weiss(n, J=1.0, h=0.05)
    net = ac.make_arnn("cw_n", system, beta=0.5).double()
    net.set_beta(1.7)
    assert net.options["beta"] == 1.7
    x, _ = net.sample(200, generator=torch.Generator().manual_seed(0))
    residual = net.log_prob(x) + 1.7 * system.energy(x) + cw_log_z(n, 1.0, 0.05, 1.7)
    assert residual.abs().max().item() < 1e-10
    assert net.num_params() == 0
    assert net.num_fixed_params() == 2 * n * n + 2 * n + 2  # the paper's 2N² + O(N)
    W = net.first_layer_weights()
    assert W.shape == (n, n) and W[0, 1].item() == pytest.approx(1.0 / n) and W[3, 3].item() == 0.0


def test_cw_n_float32_build_then_double_is_exact():
    n = 120
    system = ac.curie_weiss(n)
    net = ac.make_arnn("cw_n", system, beta=1.2).float()
    x32, _ = net.sample(100, generator=torch.Generator().manual_seed(0))
    spread = (net.log_prob(x32).double() + 1.2 * system.energy(x32.double())).std()
    assert spread < 1e-3  # float32 noise only
    net = net.double()
    x, _ = net.sample(100, generator=torch.Generator().manual_seed(0))
    assert (net.log_prob(x) + 1.2 * system.energy(x) + cw_log_z(n, 1.0, 0.0, 1.2)).abs().max() < 1e-10


def test_cw_n_refuses_non_curie_weiss():
    with pytest.raises(ValueError, match="Curie–Weiss"):
        ac.make_arnn("cw_n", ac.edwards_anderson(4, seed=0))
    # Curie–Weiss couplings with one pair changed are no longer Curie–Weiss
    J = ac.curie_weiss(6).J.clone()
    J[0, 1] = J[1, 0] = 0.5
    with pytest.raises(ValueError, match="couplings from"):
        ac.make_arnn("cw_n", ac.SpinSystem(J, 0.0))


# ---------------------------------------------------------------------- CW_∞
@pytest.mark.parametrize("n", [10, 100, 257])
def test_cw_inf_has_n_plus_one_parameters(n):
    net = ac.make_arnn("cw_inf", ac.curie_weiss(n))
    assert net.num_params() == n + 1
    assert ac.get_architecture("cw_inf").param_count(ac.curie_weiss(n)) == (n + 1, 1)


def test_cw_inf_formula_and_sign_convention():
    n, J, h, beta = 6, 1.0, 0.2, 1.5
    net = ac.make_arnn("cw_inf", ac.curie_weiss(n, J=J, h=h), beta=beta).double()
    assert net.b0.item() == pytest.approx(2 * beta * h)
    assert net.omega0.item() == pytest.approx(2 * beta * J / n)
    assert torch.all(net.omega1 == 0)
    with torch.no_grad():
        net.omega1.copy_(torch.arange(1.0, n + 1))
    x = torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
    m = [0, 1, 0, 1, 2, 1]  # m_<i
    sign = [0, 1, 0, 1, 1, 1]  # sign(0) = 0
    expected = [2 * beta * h + 2 * beta * J / n * m[i] + (i + 1) * sign[i] for i in range(n)]
    torch.testing.assert_close(net.logits(x)[0], torch.tensor(expected, dtype=torch.float64))


def test_cw_inf_set_beta_moves_only_the_field_term():
    net = ac.make_arnn("cw_inf", ac.curie_weiss(8, h=0.5), beta=1.0).double()
    with torch.no_grad():
        net.omega1.fill_(-0.3)
    net.set_beta(2.0)
    assert net.b0.item() == pytest.approx(2.0)
    assert net.omega0.item() == pytest.approx(2 * 1.0 / 8)  # trained weight untouched
    assert torch.all(net.omega1 == -0.3)


def test_cw_inf_on_other_systems_uses_mean_field_parameters():
    system = ac.sherrington_kirkpatrick(30, J0=3.0, seed=0, h=0.1)
    net = ac.make_arnn("cw_inf", system, beta=1.0)
    n = system.n
    J_eff = float(system.J.sum()) / (n - 1)
    assert isinstance(net, CurieWeissInfinity)
    assert net.omega0.item() == pytest.approx(2 * J_eff / n, rel=1e-5)
    assert net.b0.item() == pytest.approx(0.2, rel=1e-5)


def test_cw_inf_trains_towards_the_curie_weiss_distribution():
    """A few REINFORCE steps on CW (β = 1.5, ordered phase) lower the variational free energy, and
    ω¹ of the early sites grows positive, as the exact CW_N ratio log ρ⁺ − log ρ⁻ ≈
    2βJ|m_β|(N−1−i)/N · sign(m_<i) says it should."""
    n, beta = 40, 1.5
    system = ac.curie_weiss(n)
    torch.manual_seed(0)
    net = ac.make_arnn("cw_inf", system, beta=beta).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)

    def free_energy_estimate(samples=2000, seed=0):
        x, log_q = net.sample(samples, generator=torch.Generator().manual_seed(seed))
        return float((log_q + beta * system.energy(x)).mean())

    before = free_energy_estimate()
    for step in range(60):
        x, _ = net.sample(400, generator=torch.Generator().manual_seed(100 + step))
        log_q = net.log_prob(x)
        with torch.no_grad():
            L = log_q + beta * system.energy(x)
        loss = ((L - L.mean()) * log_q).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = free_energy_estimate()
    log_z = cw_log_z(n, 1.0, 0.0, beta)
    assert after < before
    assert after + log_z > -1e-9  # variational bound: E[log q + βH] ≥ −log Z
    assert net.omega1[1 : n // 4].mean().item() > 0.5


def test_cw_n_class_is_registered_constructor():
    assert isinstance(ac.make_arnn("cw_n", ac.curie_weiss(5)), CurieWeissN)


def test_cw_n_samples_follow_the_exact_magnetisation_distribution():
    """Chi-square of the sampled M = Σ x_i against P(M) ∝ C(N,k) e^{-βH} (N = 50, ordered phase)."""
    n, J, h, beta = 50, 1.0, 0.02, 1.4
    net = ac.make_arnn("cw_n", ac.curie_weiss(n, J=J, h=h), beta=beta).double()
    samples = 50_000
    x, _ = net.sample(samples, generator=torch.Generator().manual_seed(9))
    k_down = ((n - x.sum(-1)) / 2).round().long()
    counts = torch.bincount(k_down, minlength=n + 1).double()
    log_w = torch.tensor([math.log(math.comb(n, k)) + beta * J * ((n - 2 * k) ** 2 - n) / (2 * n)
                          + beta * h * (n - 2 * k) for k in range(n + 1)], dtype=torch.float64)
    expected = samples * torch.softmax(log_w, 0)
    keep = expected >= 5

    def chi2(reference):
        return float(((counts[keep] - reference[keep]) ** 2 / reference[keep]).sum())

    dof = int(keep.sum()) - 1
    bound = dof + 5 * math.sqrt(2 * dof)  # ≈ the 0.9999 quantile
    assert chi2(expected) < bound, (chi2(expected), dof)
    assert counts[~keep].sum() <= 5 * max(1, int((~keep).sum()))
    # the statistic has the power to see a 5 % distortion of the log-weights
    assert chi2(samples * torch.softmax(0.95 * log_w, 0)) > bound
