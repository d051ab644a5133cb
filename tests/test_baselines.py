"""Baselines of the paper: 1P, SL, MADE_dw (physics.md §4) — counts, structure, sampler."""

from __future__ import annotations

import itertools

import pytest
import torch

import arnn_core as ac
from arnn_core.architectures.baselines import MADE, OneParameterARNN


def all_states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=torch.float64)


# ---------------------------------------------------------------------- parameter counts of the paper
@pytest.mark.parametrize("n", [10, 100, 300])
def test_1p_has_n_parameters(n):
    assert ac.make_arnn("1p", ac.curie_weiss(n)).num_params() == n


def test_made_23_at_n100_has_60700_parameters():
    """The paper's MADE_23 at N = 100: ≈ 60,700; VAN's dense convention gives exactly
    W1 300×100 + b1 300 + PReLU 300 + W2 100×300 + b2 100 = 60,700."""
    system = ac.sherrington_kirkpatrick(100, seed=0)
    net = ac.make_arnn("made", system, depth=2, width=3)
    assert net.num_params() == 60_700
    assert ac.get_architecture("made").param_count(system, depth=2, width=3) == (60_700, 0)
    # the defaults are MADE_23
    assert ac.make_arnn("made", system).num_params() == 60_700
    # of which the autoregressive masks leave 30,000 + 300 + 300 + 100 = 30,700 free to matter
    assert net.num_free_params() == 30_700


@pytest.mark.parametrize("depth,width,expected", [(1, 1, 100 * 100 + 100),
                                                   (2, 2, 200 * 100 + 200 + 200 + 100 * 200 + 100),
                                                   (3, 1, 2 * (100 * 100 + 100) + 100 * 100 + 100 + 2 * 100)])
def test_made_counts_follow_the_documented_formula(depth, width, expected):
    net = ac.make_arnn("made", ac.curie_weiss(100), depth=depth, width=width)
    assert net.num_params() == expected


def test_sl_is_made_with_depth_one():
    system = ac.curie_weiss(30)
    sl, made1 = ac.make_arnn("sl", system), ac.make_arnn("made", system, depth=1, width=1)
    assert isinstance(sl, MADE) and sl.depth == 1
    assert sl.num_params() == made1.num_params() == 30 * 30 + 30
    assert ac.get_architecture("sl").param_count(system) == (930, 0)


def test_made_refuses_absurd_sizes():
    with pytest.raises(ValueError, match="trainable parameters"):
        ac.make_arnn("made", ac.curie_weiss(2000), depth=8, width=16)
    with pytest.raises(ValueError, match="depth"):
        ac.make_arnn("made", ac.curie_weiss(10), depth=0)
    with pytest.raises(ValueError, match="width"):
        ac.make_arnn("made", ac.curie_weiss(10), width=2.5)


# ---------------------------------------------------------------------- structure
def _randomise(net, scale=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net


def test_1p_formula_and_first_layer():
    net = ac.make_arnn("1p", ac.curie_weiss(5)).double()
    with torch.no_grad():
        net.weight.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5], dtype=torch.float64))
    x = torch.tensor([[1.0, 1.0, -1.0, 1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(net.logits(x)[0], torch.tensor([0.0, 0.2, 0.6, 0.4, 1.0], dtype=torch.float64))
    W = net.first_layer_weights()
    assert W[1, 3].item() == pytest.approx(0.4) and W[3, 1].item() == 0.0 and W[2, 2].item() == 0.0


def test_sl_first_layer_orientation():
    """W[i, j] is the weight of x_i in site j's logit (i < j), as for J: logit_j is linear in x_i
    with exactly that slope, and W is zero on and below the diagonal."""
    n = 6
    net = _randomise(ac.make_arnn("sl", ac.curie_weiss(n)).double())
    W = net.first_layer_weights()
    assert torch.all(torch.tril(W) == 0)
    x = all_states(n)[13:14]
    for i in range(n):
        plus, minus = x.clone(), x.clone()
        plus[0, i], minus[0, i] = 1.0, -1.0
        slope = (net.logits(plus) - net.logits(minus))[0] / 2
        torch.testing.assert_close(slope, W[i], rtol=0, atol=1e-12)


def test_made_first_layer_analogue_is_the_linear_network():
    """With every PReLU slope at 1 MADE is linear and its analogue W is exactly d logit_j / d x_i."""
    n = 7
    net = _randomise(ac.make_arnn("made", ac.curie_weiss(n), depth=3, width=2).double())
    assert net.first_layer_analogue and not ac.make_arnn("sl", ac.curie_weiss(n)).first_layer_analogue
    with torch.no_grad():
        for act in net.activations:
            act.weight.fill_(1.0)
    W = net.first_layer_weights()
    assert torch.all(torch.tril(W) == 0)
    x = torch.zeros(1, n, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: net.logits(v)[0], x)[:, 0, :]  # (site j, input i)
    torch.testing.assert_close(W, jac.T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("depth,width", [(1, 1), (2, 3), (3, 2), (4, 1)])
def test_made_cached_sampler_matches_teacher_forcing(depth, width):
    """The incremental sampler computes the same conditionals as the full masked pass, and its
    samples follow q: the empirical marginals of the first spins match the exact ones."""
    n = 8
    net = _randomise(ac.make_arnn("made", ac.curie_weiss(n), depth=depth, width=width).double(), seed=depth)
    x, log_q = net.sample(4000, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(log_q, net.log_prob(x), rtol=0, atol=1e-10)
    X = all_states(n)
    p = net.log_prob(X).exp()
    exact_mag = (p[:, None] * X).sum(0)
    assert torch.allclose(x.mean(0), exact_mag, atol=0.06)


def test_made_sampling_cost_is_not_n_full_passes():
    """The cached sampler performs O(N) small products, not N masked passes: at N = 120 it must be
    several times cheaper than N teacher-forced passes (a generous bound, timing-robust)."""
    import time
    net = ac.make_arnn("made", ac.curie_weiss(120))
    x, _ = net.sample(500)
    start = time.perf_counter()
    net.sample(500)
    sample_time = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(10):
        net.log_prob(x)
    pass_time = (time.perf_counter() - start) / 10
    assert sample_time < 0.5 * 120 * pass_time


def test_one_parameter_class_and_gradients():
    net = ac.make_arnn("1p", ac.curie_weiss(12))
    assert isinstance(net, OneParameterARNN)
    x, _ = net.sample(50)
    net.log_prob(x).sum().backward()
    assert net.weight.grad is not None and net.weight.grad[0] == 0  # site 0 sees nothing
