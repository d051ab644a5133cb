"""Interface and exactness oracles shared by EVERY registered architecture (physics.md §3–4).

Parametrised over ``available_architectures()``, so an architecture registered later is covered
automatically. Each is built on a suitable small system (SK with fields, or Curie–Weiss where
the architecture refuses SK), its trainable parameters are perturbed at random so that nothing
holds by symmetry, and then, in float64:

* q sums to one over all 2^N states;
* ``sample()``'s log_q equals ``log_prob`` of the drawn states;
* flipping x_j never changes q(x_i | x_<i) for i ≤ j (autoregressive structure);
* ``conditionals`` and ``log_prob`` agree; ``.double()`` works; counts match the spec.
"""

from __future__ import annotations

import itertools

import pytest
import torch

import arnn_core as ac

N_SMALL = 8

# extra option sets exercised beside the defaults (only those whose keys the spec knows)
VARIANTS = {
    "made": [{"depth": 1, "width": 1}, {"depth": 3, "width": 2}],
    "sk_krsb": [{"k": 0}, {"k": 2}, {"learn_first_layer": True}],
    "h2arnn": [{"beta": 0.4}],
    "cw_n": [{"beta": 2.0}],
}


def brute_force_states(n: int) -> torch.Tensor:
    """All 2^n states, independent of the library's enumerators."""
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=torch.float64)


def _cases():
    cases = []
    for spec in ac.available_architectures():
        known = {o.name for o in spec.options}
        cases.append(pytest.param(spec.name, {}, id=f"{spec.name}-default"))
        for opts in VARIANTS.get(spec.name, []):
            if set(opts) <= known:
                label = ",".join(f"{k}={v}" for k, v in opts.items())
                cases.append(pytest.param(spec.name, opts, id=f"{spec.name}-{label}"))
    return cases


def suitable_system(name: str, n: int = N_SMALL, **options):
    """SK with random fields, or Curie–Weiss with a field when the architecture refuses SK."""
    spec = ac.get_architecture(name)
    values = {**spec.defaults(), **options}
    sk = ac.sherrington_kirkpatrick(n, seed=3, h=0.0)
    sk = ac.SpinSystem(sk.J, torch.linspace(-0.4, 0.5, n), name="SK with fields")
    try:
        if spec.check is not None:
            spec.check(sk, **values)
        return sk
    except ValueError:
        return ac.curie_weiss(n, J=1.0, h=0.2)


def build(name: str, options: dict, seed: int = 0, dtype=torch.float64):
    system = suitable_system(name, **options)
    torch.manual_seed(seed)
    net = ac.make_arnn(name, system, **options)
    net = net.to(dtype)
    with torch.no_grad():  # random, non-trivial parameters
        g = torch.Generator().manual_seed(seed + 1)
        for p in net.parameters():
            if p.requires_grad:
                p.add_(0.4 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return system, net


@pytest.mark.parametrize("name,options", _cases())
def test_normalised_over_all_states(name, options):
    _, net = build(name, options)
    lq = net.log_prob(brute_force_states(N_SMALL))
    assert lq.shape == (2 ** N_SMALL,) and lq.dtype == torch.float64
    assert torch.isfinite(lq).all()
    assert abs(torch.logsumexp(lq, 0).item()) < 1e-10


@pytest.mark.parametrize("name,options", _cases())
def test_sample_log_q_equals_log_prob(name, options):
    _, net = build(name, options)
    x, log_q = net.sample(300, generator=torch.Generator().manual_seed(5))
    assert x.shape == (300, N_SMALL) and log_q.shape == (300,)
    assert x.dtype == torch.float64
    assert set(x.unique().tolist()) <= {-1.0, 1.0}
    torch.testing.assert_close(log_q, net.log_prob(x), rtol=0, atol=1e-10)
    # the same generator seed gives the same samples
    x2, _ = net.sample(300, generator=torch.Generator().manual_seed(5))
    assert torch.equal(x, x2)


@pytest.mark.parametrize("name,options", _cases())
def test_autoregressive_structure(name, options):
    _, net = build(name, options)
    g = torch.Generator().manual_seed(11)
    x = torch.where(torch.rand(64, N_SMALL, generator=g, dtype=torch.float64) < 0.5, -1.0, 1.0).double()
    base = net.conditionals(x)
    for j in range(N_SMALL):
        flipped = x.clone()
        flipped[:, j] *= -1
        cond = net.conditionals(flipped)
        torch.testing.assert_close(cond[:, : j + 1], base[:, : j + 1], rtol=0, atol=1e-12)
    # and x_j does influence some later conditional for a generic architecture with random weights
    # (1P and CW_∞ see only Σ x_s, still a dependence); the last spin influences nothing by design
    flipped = x.clone()
    flipped[:, 0] *= -1
    assert not torch.allclose(net.conditionals(flipped)[:, 1:], base[:, 1:])


@pytest.mark.parametrize("name,options", _cases())
def test_conditionals_agree_with_log_prob(name, options):
    _, net = build(name, options)
    x = brute_force_states(N_SMALL)[::7]
    p_plus = net.conditionals(x)
    assert ((p_plus > 0) & (p_plus < 1)).all()
    by_hand = torch.where(x > 0, p_plus, 1 - p_plus).log().sum(-1)
    torch.testing.assert_close(by_hand, net.log_prob(x), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name,options", _cases())
def test_double_and_device_moves(name, options):
    system = suitable_system(name, **options)
    torch.manual_seed(0)
    net32 = ac.make_arnn(name, system, **options).float()
    x = brute_force_states(N_SMALL)[::5]
    lq32 = net32.log_prob(x)
    assert lq32.dtype == torch.float32
    net64 = net32.double()
    assert net64.dtype == torch.float64
    lq64 = net64.log_prob(x)
    assert lq64.dtype == torch.float64
    torch.testing.assert_close(lq32.double(), lq64, rtol=1e-4, atol=1e-4)
    net64 = net64.to("cpu")
    assert net64.device.type == "cpu"
    xs, lqs = net64.sample(10)
    assert xs.dtype == torch.float64 and lqs.dtype == torch.float64
    if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        netc = net64.to("cuda")
        xc, lc = netc.sample(10, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(lc, netc.log_prob(xc), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name,options", _cases())
def test_param_count_matches_spec(name, options):
    system, net = build(name, options)
    spec = ac.get_architecture(name)
    assert spec.param_count is not None, f"{name} has no param_count"
    values = {**spec.defaults(), **options}
    assert spec.param_count(system, **values) == (net.num_params(), net.num_fixed_params())
    assert net.arch_name == name and net.options == values


@pytest.mark.parametrize("name,options", _cases())
def test_gradients_reach_trainable_parameters(name, options):
    _, net = build(name, options)
    trainable = [p for p in net.parameters() if p.requires_grad]
    spec = ac.get_architecture(name)
    if spec.analytic:
        assert net.analytic and net.num_params() == 0
        return
    assert trainable, f"{name} is not analytic but has no trainable parameter"
    x, _ = net.sample(64, generator=torch.Generator().manual_seed(2))
    net.log_prob(x).mean().backward()
    grads = [p.grad for p in trainable]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name,options", _cases())
def test_first_layer_weights_shape(name, options):
    _, net = build(name, options)
    W = net.first_layer_weights()
    if W is not None:
        assert W.shape == (N_SMALL, N_SMALL)
        assert torch.isfinite(W).all()


@pytest.mark.parametrize("spec", ac.available_architectures(), ids=lambda s: s.name)
def test_spec_is_complete(spec):
    assert spec.label and spec.description and spec.latex
    assert "\n" not in spec.description
    for opt in spec.options:
        assert opt.validate(opt.default) == opt.default
        assert opt.help
    assert spec.analytic == bool(getattr(spec.constructor(suitable_system(spec.name), **spec.defaults()),
                                         "analytic", False))


@pytest.mark.parametrize("spec", ac.available_architectures(), ids=lambda s: s.name)
def test_make_arnn_refuses_bad_options(spec):
    system = suitable_system(spec.name)
    with pytest.raises(ValueError, match="no_such_option"):
        ac.make_arnn(spec.name, system, no_such_option=1)
    for opt in spec.options:
        if opt.min is not None:
            with pytest.raises(ValueError, match=opt.name):
                ac.make_arnn(spec.name, system, **{opt.name: opt.min - 1})
        if opt.max is not None:
            with pytest.raises(ValueError, match=opt.name):
                ac.make_arnn(spec.name, system, **{opt.name: opt.max + 1})


def test_unknown_architecture_lists_the_names():
    with pytest.raises(ValueError, match="h2arnn"):
        ac.make_arnn("no_such_net", ac.curie_weiss(4))


def test_cw_n_refuses_sk_saying_why():
    with pytest.raises(ValueError, match="Curie–Weiss"):
        ac.make_arnn("cw_n", ac.sherrington_kirkpatrick(10, seed=0))
    # a Curie–Weiss coupling matrix with non-uniform fields is not Curie–Weiss either
    cw = ac.curie_weiss(6)
    with pytest.raises(ValueError, match="field"):
        ac.make_arnn("cw_n", ac.SpinSystem(cw.J, torch.arange(6.0)))


def test_h2arnn_refuses_large_n_saying_why():
    with pytest.raises(ValueError, match=r"N ≤ 18"):
        ac.make_arnn("h2arnn", ac.sherrington_kirkpatrick(100, seed=0))
    with pytest.raises(ValueError, match="2\\^N"):
        ac.make_arnn("h2arnn", ac.curie_weiss(19))


def test_every_family_is_registered():
    names = {s.name for s in ac.available_architectures()}
    assert {"h2arnn", "cw_n", "cw_inf", "1p", "sl", "made"} <= names


@pytest.mark.parametrize("name,options", _cases())
def test_normalised_and_autoregressive_on_a_sparse_system(name, options):
    """The same oracles on a 3×3 periodic EA lattice with fields (sparse: frontier code paths)."""
    spec = ac.get_architecture(name)
    system = ac.edwards_anderson(3, dim=2, couplings="gaussian", h=0.2, seed=8)
    values = {**spec.defaults(), **options}
    try:
        if spec.check is not None:
            spec.check(system, **values)
    except ValueError:
        pytest.skip(f"{name} does not accept a lattice (by design)")
    torch.manual_seed(0)
    net = ac.make_arnn(name, system, **options).double()
    with torch.no_grad():
        g = torch.Generator().manual_seed(4)
        for p in net.parameters():
            if p.requires_grad:
                p.add_(0.4 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    X = brute_force_states(9)
    assert abs(torch.logsumexp(net.log_prob(X), 0).item()) < 1e-10
    x, log_q = net.sample(200, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(log_q, net.log_prob(x), rtol=0, atol=1e-10)
    base = net.conditionals(X[::3])
    for j in range(9):
        flipped = X[::3].clone()
        flipped[:, j] *= -1
        torch.testing.assert_close(net.conditionals(flipped)[:, : j + 1], base[:, : j + 1], rtol=0, atol=1e-12)
