"""SK_RS / SK_kRSB, dense and frontier (physics.md §4): counts, exactness oracles, equivalence.

All probability checks are in float64 against exact enumeration of the 2^N states.
"""

import itertools
import shutil

import networkx as nx
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import arnn_core as ac
from arnn_core.architectures import sk as sk_module


def all_states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=torch.float64)


def randomise(net, scale=0.7, seed=0):
    """Random O(1) parameters so that every branch matters (the init is nearly uniform)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * scale)
    return net


def open_chain(n=9, seed=3):
    G = nx.path_graph(n)
    rng = np.random.default_rng(seed)
    for u, v in G.edges:
        G.edges[u, v]["weight"] = float(rng.choice([-1.0, 1.0]))
    return ac.from_graph(G, h=list(rng.normal(0, 0.3, n)))


SPARSE_SYSTEMS = {
    "ea_3x3_periodic": lambda: ac.edwards_anderson(3, dim=2, periodic=True, couplings="gaussian", h=0.2, seed=1),
    "rrg_n10_d3": lambda: ac.random_regular(10, 3, couplings="gaussian", seed=2),
    "open_chain_9": open_chain,
}


# ---------------------------------------------------------------------- parameter counts
@pytest.mark.parametrize("k, expected", [(0, 29_900), (1, 49_700), (2, 69_500)])
def test_paper_parameter_counts_at_n100(k, expected):
    system = ac.sherrington_kirkpatrick(100, seed=0)
    spec = ac.get_architecture("sk_krsb")
    assert spec.param_count(system, k=k) == (expected, 100 * 99 // 2)
    assert (2 * k + 3) * 100 * 99 + 2 * 100 == expected
    # a learnt first layer adds its N(N−1)/2 weights to the trainable count
    assert spec.param_count(system, k=k, learn_first_layer=True) == (expected + 4950, 0)


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("system_name", ["sk", "ea_3x3_periodic", "rrg_n10_d3", "open_chain_9"])
@pytest.mark.parametrize("sparse", ["auto", "dense", "frontier"])
def test_param_count_matches_built_network(k, learn, system_name, sparse):
    system = ac.sherrington_kirkpatrick(11, seed=4) if system_name == "sk" else SPARSE_SYSTEMS[system_name]()
    spec = ac.get_architecture("sk_krsb")
    net = ac.make_arnn("sk_krsb", system, k=k, learn_first_layer=learn, sparse=sparse)
    assert spec.param_count(system, k=k, learn_first_layer=learn, sparse=sparse) == (
        net.num_params(), net.num_fixed_params())


def brute_force_frontier(J: np.ndarray) -> list[set]:
    n = J.shape[0]
    return [{l for l in range(i + 1, n) if any(J[s, l] != 0 for s in range(i))} for i in range(n)]


@pytest.mark.parametrize("make", [
    lambda: ac.edwards_anderson(16, dim=2, periodic=True, seed=0),
    lambda: ac.random_regular(256, 3, seed=0),
], ids=["ea2d_L16", "rrg_d3_n256"])
def test_frontier_counts_at_n256(make):
    system = make()
    n = system.n
    frontier = brute_force_frontier(system.J.numpy())
    sizes = sk_module.sk_frontier_sizes(system)
    assert [len(f) for f in frontier] == list(sizes)
    net = ac.make_arnn("sk_krsb", system, k=1)
    assert net.frontier  # "auto" picks the frontier on a sparse system
    pairs = int(sizes.sum())
    assert net.num_params() == 2 * 5 * pairs + 2 * n
    assert net.num_fixed_params() == system.num_edges
    dense = ac.get_architecture("sk_krsb").param_count(system, k=1, sparse="dense")[0]
    assert dense == 5 * n * (n - 1) + 2 * n
    assert net.num_params() < dense
    if system.family == "edwards_anderson":
        # row-major order on a periodic L×L lattice: the frontier is at most the next row plus the
        # wrapped last row (< 2L), so the count is N × O(L), a third of the dense one at L = 16
        L = system.metadata["L"]
        assert sizes.max() < 2 * L
        assert net.num_params() < dense / 3
    # the packed pairs are exactly the frontier
    site, target = net.pairs()
    got = [set() for _ in range(n)]
    for i, l in zip(site.tolist(), target.tolist()):
        got[i].add(l)
    assert got == frontier


# ---------------------------------------------------------------------- exactness oracles
def check_oracles(net, n, seed=0):
    X = all_states(n)
    lp = net.log_prob(X)
    assert torch.logsumexp(lp, 0).item() == pytest.approx(0.0, abs=1e-12)
    x, log_q = net.sample(400, generator=torch.Generator().manual_seed(seed))
    assert x.dtype == torch.float64 and set(x.unique().tolist()) <= {-1.0, 1.0}
    assert torch.allclose(log_q, net.log_prob(x.clone()), atol=1e-10, rtol=0)  # a copy: no sampler cache
    assert torch.allclose(log_q, net.log_prob(x), atol=1e-10, rtol=0)
    # autoregressive: flipping x_j never changes q(x_i | x_<i) for i ≤ j
    base = net.conditionals(X)
    for j in range(n):
        flipped = X.clone()
        flipped[:, j] *= -1
        cond = net.conditionals(flipped)
        assert torch.equal(cond[:, : j + 1], base[:, : j + 1]), f"site ≤ {j} depends on x_{j}"
        if j < n - 1:
            assert not torch.allclose(cond[:, j + 1:], base[:, j + 1:]), f"nothing depends on x_{j}"


@pytest.mark.parametrize("system_name", list(SPARSE_SYSTEMS))
@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_frontier_is_normalised_autoregressive_and_samples_its_log_prob(system_name, k, learn, backend):
    system = SPARSE_SYSTEMS[system_name]()
    net = ac.make_arnn("sk_krsb", system, k=k, learn_first_layer=learn, sparse="frontier").double()
    net.backend = backend
    randomise(net, seed=k)
    check_oracles(net, system.n, seed=k)


@pytest.mark.parametrize("k", [0, 1, 3])
@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("n", [8, 9])  # even and odd N fold differently
@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_dense_is_normalised_autoregressive_and_samples_its_log_prob(k, learn, n, backend):
    system = ac.sherrington_kirkpatrick(n, h=0.1, seed=n)
    net = ac.make_arnn("sk_krsb", system, k=k, learn_first_layer=learn).double()
    net.backend = backend
    randomise(net, seed=k)
    check_oracles(net, n, seed=k)


def nested_g(c, out_w, bias, weight):
    """g(c) = w0 · logσ(b1 + w1 · logσ(… logσ(b_{k+1} + w_{k+1} c))) straight from physics.md §4."""
    u = c
    for j in range(bias.shape[0] - 1, -1, -1):
        u = F.logsigmoid(bias[j] + weight[j] * u)
    return out_w * u


def test_logits_follow_the_formula_of_physics_md():
    """An independent, site-by-site evaluation of physics.md §4 on a dense SK system."""
    n, k = 7, 2
    system = ac.sherrington_kirkpatrick(n, seed=5)
    net = randomise(ac.make_arnn("sk_krsb", system, k=k).double(), seed=9)
    X = all_states(n)
    J = system.J
    site, target = net.pairs()
    expected = torch.zeros(len(X), n, dtype=torch.float64)
    for i in range(n):
        phi = X[:, :i] @ J[:i, i]
        expected[:, i] = net.site_bias[i] + net.site_weight[i] * phi
        for p in range(len(site)):
            if site[p] != i:
                continue
            c = X[:, :i] @ J[:i, target[p]]
            for br in range(2):
                expected[:, i] += nested_g(c, net.out_weight[br, p], net.hidden_bias[br, :, p],
                                           net.hidden_weight[br, :, p])
    assert (net.logits(X) - expected).abs().max().item() < 1e-12


@pytest.mark.parametrize("system_name", list(SPARSE_SYSTEMS))
@pytest.mark.parametrize("k", [0, 1])
def test_frontier_equals_dense_when_non_frontier_units_are_constants(system_name, k):
    """Any dense network on a sparse system is a frontier network: for l ∉ F_i the first layer
    gives c_il = 0, so g_il(0) is a constant that a_i absorbs (physics.md §4)."""
    system = SPARSE_SYSTEMS[system_name]()
    n = system.n
    dense = randomise(ac.make_arnn("sk_krsb", system, k=k, sparse="dense").double(), seed=11)
    front = ac.make_arnn("sk_krsb", system, k=k, sparse="frontier").double()
    assert front.num_params() < dense.num_params()
    d_site, d_target = dense.pairs()
    d_index = {(i, l): p for p, (i, l) in enumerate(zip(d_site.tolist(), d_target.tolist()))}
    f_site, f_target = front.pairs()
    with torch.no_grad():
        front.site_weight.copy_(dense.site_weight)
        bias = dense.site_bias.clone()
        in_frontier = set()
        for q, (i, l) in enumerate(zip(f_site.tolist(), f_target.tolist())):
            p = d_index[(i, l)]
            in_frontier.add(p)
            front.out_weight[:, q] = dense.out_weight[:, p]
            front.hidden_bias[:, :, q] = dense.hidden_bias[:, :, p]
            front.hidden_weight[:, :, q] = dense.hidden_weight[:, :, p]
        for p, i in enumerate(d_site.tolist()):
            if p not in in_frontier:
                zero = torch.zeros((), dtype=torch.float64)
                for br in range(2):
                    bias[i] += nested_g(zero, dense.out_weight[br, p], dense.hidden_bias[br, :, p],
                                        dense.hidden_weight[br, :, p])
        front.site_bias.copy_(bias)
    X = all_states(n)
    assert torch.allclose(front.logits(X), dense.logits(X), atol=1e-12, rtol=0)
    assert torch.allclose(front.log_prob(X), dense.log_prob(X), atol=1e-12, rtol=0)
    # and the constants are genuinely non-trivial: without absorbing them the nets differ
    with torch.no_grad():
        front.site_bias.copy_(dense.site_bias)
    assert not torch.allclose(front.logits(X), dense.logits(X), atol=1e-6)


# ---------------------------------------------------------------------- first layer
def test_fixed_first_layer_is_J():
    system = ac.sherrington_kirkpatrick(12, seed=1)
    net = ac.make_arnn("sk_krsb", system, k=1)
    assert not any(p.data_ptr() == net.first_layer.data_ptr() for p in net.parameters())
    assert torch.allclose(net.first_layer_weights().double(), system.J, atol=1e-6)
    # float32 → float64 re-reads J exactly instead of keeping float32 rounding
    assert torch.equal(net.double().first_layer_weights(), system.J)
    sparse_system = SPARSE_SYSTEMS["rrg_n10_d3"]()
    net = ac.make_arnn("sk_krsb", sparse_system, k=1).double()
    assert torch.equal(net.first_layer_weights(), sparse_system.J)


@pytest.mark.parametrize("sparse", ["dense", "frontier"])
def test_learnt_first_layer_starts_random_and_receives_gradients(sparse):
    system = SPARSE_SYSTEMS["ea_3x3_periodic"]() if sparse == "frontier" else ac.sherrington_kirkpatrick(10, seed=2)
    torch.manual_seed(0)
    net = ac.make_arnn("sk_krsb", system, k=1, learn_first_layer=True, sparse=sparse).double()
    W = net.first_layer_weights()
    assert torch.equal(W, W.T) and torch.all(W.diagonal() == 0)
    assert not torch.allclose(W, system.J, atol=0.1)
    assert 0 < W.abs().max() < 1.0  # small and random
    if sparse == "frontier":
        # restricted to the graph's edges
        assert torch.all(W[system.J == 0] == 0)
        assert net.first_layer.numel() == system.num_edges
    else:
        assert net.first_layer.numel() == 10 * 9 // 2
    randomise(net, seed=1)
    x = all_states(system.n)[::7]
    net.log_prob(x).sum().backward()
    grad = net.first_layer.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().max() > 0
    # gradient check of the first layer against finite differences
    loss = lambda: net.log_prob(x).sum()
    with torch.no_grad():
        for e in [0, net.first_layer.numel() // 2, net.first_layer.numel() - 1]:
            net.first_layer[e] += 1e-6
            up = loss()
            net.first_layer[e] -= 2e-6
            down = loss()
            net.first_layer[e] += 1e-6
            assert (up - down).item() / 2e-6 == pytest.approx(grad[e].item(), rel=1e-5, abs=1e-7)


# ---------------------------------------------------------------------- fused CPU kernels
@pytest.mark.skipif(shutil.which("gcc") is None, reason="the fused kernels are built with gcc")
def test_fused_kernels_build_here():
    assert sk_module.kernel_status() == "fused CPU kernels loaded"
    net = ac.make_arnn("sk_krsb", ac.sherrington_kirkpatrick(6, seed=0))
    assert net._use_kernel()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the fused kernels are built with gcc")
@pytest.mark.parametrize("case", ["sk_k2", "sk_learnt_k1", "rrg_frontier_k1", "ea_frontier_learnt_k3"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_kernels_equal_the_torch_path(case, dtype):
    """Values, every gradient (first layer included) and samples of the C kernels = torch ops."""
    system = {"sk_k2": lambda: ac.sherrington_kirkpatrick(9, seed=1), "sk_learnt_k1": lambda: ac.sherrington_kirkpatrick(10, seed=2),
              "rrg_frontier_k1": SPARSE_SYSTEMS["rrg_n10_d3"], "ea_frontier_learnt_k3": SPARSE_SYSTEMS["ea_3x3_periodic"]}[case]()
    k = int(case[-1])
    net = ac.make_arnn("sk_krsb", system, k=k, learn_first_layer="learnt" in case,
                       sparse="frontier" if "frontier" in case else "dense").to(dtype)
    randomise(net, seed=4)
    x = all_states(system.n)[::2].to(dtype)
    weights = torch.randn(len(x), dtype=dtype, generator=torch.Generator().manual_seed(1))
    out = {}
    for backend in ("kernel", "torch"):
        net.backend = backend
        net.zero_grad()
        lp = net.log_prob(x)
        (weights * lp).sum().backward()
        samples, log_q = net.sample(300, generator=torch.Generator().manual_seed(2))
        out[backend] = (lp.detach(), [p.grad.clone() for p in net.parameters()], samples, log_q)
    tol = 1e-10 if dtype == torch.float64 else 2e-3
    assert torch.allclose(out["kernel"][0], out["torch"][0], atol=tol, rtol=0)
    for a, b in zip(out["kernel"][1], out["torch"][1]):
        assert torch.allclose(a, b, atol=tol * 10, rtol=tol)
    same = (out["kernel"][2] == out["torch"][2]).all(dim=1)
    assert same.float().mean() > 0.98  # identical draws, bar a uniform number on a rounding boundary
    assert torch.allclose(out["kernel"][3][same], out["torch"][3][same], atol=tol * 10, rtol=0)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the fused kernels are built with gcc")
def test_log_prob_of_fresh_samples_reuses_the_samplers_pass_only_while_valid():
    system = ac.sherrington_kirkpatrick(9, seed=3)
    net = randomise(ac.make_arnn("sk_krsb", system, k=1, learn_first_layer=True).double(), seed=2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, log_q = net.sample(200, generator=torch.Generator().manual_seed(0))
    assert net._sampled_sums(x) is not None and net._sampled_sums(x.clone()) is None

    def grads(batch):
        net.zero_grad()
        lp = net.log_prob(batch)
        (lp * torch.linspace(-1, 1, len(batch), dtype=lp.dtype)).sum().backward()
        return lp.detach(), [p.grad.clone() for p in net.parameters()]

    lp_cached, g_cached = grads(x)
    lp_fresh, g_fresh = grads(x.clone())
    assert torch.allclose(lp_cached, lp_fresh, atol=1e-12) and torch.allclose(lp_cached, log_q, atol=1e-12)
    for a, b in zip(g_cached, g_fresh):
        assert torch.allclose(a, b, atol=1e-12)
    opt.step()  # parameters change in place: the cached pass is stale
    assert net._sampled_sums(x) is None
    assert torch.allclose(net.log_prob(x), net.log_prob(x.clone()), atol=1e-12)
    assert not torch.allclose(net.log_prob(x), log_q, atol=1e-6)
    x2, _ = net.sample(50)
    x2[:, 3] *= -1  # the samples change in place: stale too
    assert net._sampled_sums(x2) is None
    assert torch.allclose(net.log_prob(x2), net.log_prob(x2.clone()), atol=1e-12)


# ---------------------------------------------------------------------- dtype, device, chunking
def test_dtype_and_device_handling():
    system = ac.sherrington_kirkpatrick(9, seed=3)
    net = ac.make_arnn("sk_krsb", system, k=1)
    assert net.dtype == torch.float32 and net.device.type == "cpu"
    x, lq = net.sample(50, generator=torch.Generator().manual_seed(1))
    assert x.dtype == torch.float32 and lq.dtype == torch.float32
    assert torch.allclose(lq, net.log_prob(x), atol=1e-5)
    net64 = net.double()
    assert net64.dtype == torch.float64 and net64.first_layer.dtype == torch.float64
    assert net64.log_prob(x).dtype == torch.float64
    net_cpu = net64.to("cpu")
    x2, lq2 = net_cpu.sample(20)
    assert torch.allclose(lq2, net_cpu.log_prob(x2), atol=1e-10)
    direct = sk_module.SKkRSB(system, k=1, dtype=torch.float64, device="cpu")
    assert direct.dtype == torch.float64 and direct.device == torch.device("cpu")
    # the same generator seed gives the same samples
    a, _ = net_cpu.sample(30, generator=torch.Generator().manual_seed(5))
    b, _ = net_cpu.sample(30, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize("system_name", ["sk", "rrg_n10_d3"])
def test_batch_chunking_with_recomputation_is_exact(monkeypatch, system_name):
    system = ac.sherrington_kirkpatrick(10, seed=6) if system_name == "sk" else SPARSE_SYSTEMS[system_name]()
    net = randomise(ac.make_arnn("sk_krsb", system, k=2, learn_first_layer=True).double(), seed=3)
    net.backend = "torch"  # the chunked, checkpointed path is the torch one (CUDA, or no gcc)
    x = all_states(system.n)[::3]
    weights = torch.randn(len(x), dtype=torch.float64)

    def value_and_grads():
        net.zero_grad()
        lp = net.log_prob(x)
        (weights * lp).sum().backward()
        return lp.detach(), [p.grad.clone() for p in net.parameters()]

    lp_whole, g_whole = value_and_grads()
    per_sample = 2 * net.n_rows * net.width * (net.k + 2)
    monkeypatch.setattr(sk_module, "_CHUNK_ELEMENTS", 7 * per_sample)  # chunks of 7, a shorter last one
    lp_chunk, g_chunk = value_and_grads()
    assert torch.allclose(lp_whole, lp_chunk, atol=1e-12)
    for a, b in zip(g_whole, g_chunk):
        assert torch.allclose(a, b, atol=1e-11)


def test_variational_training_lowers_the_exact_kl():
    """A short exact-gradient run of physics.md §5 (KL by enumeration): finite gradients, and
    SK_1RSB learns the Boltzmann distribution of a small SK system."""
    torch.manual_seed(0)
    system = ac.sherrington_kirkpatrick(8, seed=7)
    beta = 1.0
    net = ac.make_arnn("sk_krsb", system, k=1).double()
    X = all_states(8)
    energy = system.energy(X)
    log_z = torch.logsumexp(-beta * energy, 0)

    def kl():
        lq = net.log_prob(X)
        return (lq.exp() * (lq + beta * energy)).sum() + log_z

    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    start = kl().item()
    for _ in range(150):
        opt.zero_grad()
        loss = kl()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in net.parameters())
        opt.step()
    end = kl().item()
    assert start > 0.05 and end < start / 10, (start, end)
    # and the REINFORCE estimator of physics.md §5 gives finite gradients on samples
    x, log_q = net.sample(256, generator=torch.Generator().manual_seed(0))
    lp = net.log_prob(x)
    L = (lp + beta * system.energy(x)).detach()
    net.zero_grad()
    ((L - L.mean()) * lp).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_bad_options_are_refused():
    system = ac.sherrington_kirkpatrick(6, seed=0)
    with pytest.raises(ValueError, match="k"):
        ac.make_arnn("sk_krsb", system, k=-1)
    with pytest.raises(ValueError, match="k"):
        ac.make_arnn("sk_krsb", system, k=sk_module.SK_MAX_K + 1)
    with pytest.raises(ValueError, match="sparse"):
        ac.make_arnn("sk_krsb", system, sparse="lattice")
    with pytest.raises(ValueError, match="init_scale"):
        sk_module.SKkRSB(system, init_scale=float("nan"))
    net = ac.make_arnn("sk_krsb", system)
    with pytest.raises(ValueError, match="shape"):
        net.log_prob(torch.ones(3, 5))
    with pytest.raises(ValueError, match="samples"):
        net.sample(0)
    with pytest.raises(ValueError, match="backend"):
        sk_module.SKkRSB(system, backend="cuda-graphs")


# ---------------------------------------------------------------------- the speed benchmark's reference
def _speed_module():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"
    spec = importlib.util.spec_from_file_location("arnn_speed_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("k", [0, 2])
def test_benchmark_reference_is_the_same_network(k):
    """The per-site reference of benchmarks/speed.py computes our function with our parameter count."""
    speed = _speed_module()
    system = ac.sherrington_kirkpatrick(9, seed=8)
    net = randomise(ac.make_arnn("sk_krsb", system, k=k).double(), seed=5)
    ref = speed.ReferenceSK(system, k, dtype=torch.float64)
    ref.copy_from(net)
    assert sum(p.numel() for p in ref.parameters()) == net.num_params()
    X = all_states(9)
    assert torch.allclose(ref.log_prob(X), net.log_prob(X), atol=1e-12)
    x, log_q = ref.sample(200)
    assert torch.allclose(log_q, net.log_prob(x), atol=1e-10)


def test_speed_benchmark_runs_end_to_end(tmp_path, capsys):
    speed = _speed_module()
    out = tmp_path / "speed.json"
    threads = torch.get_num_threads()
    try:
        rows, summary = speed.main(["--sizes", "8", "--batch", "16", "--repeats", "1", "--threads", "1",
                                    "--archs", "sk0,sk1,1p", "--json", str(out)])
    finally:
        torch.set_num_threads(threads)  # main() sets the process's thread count
    assert {r["arch"] for r in rows} == {"SK_RS", "SK_1RSB", "1P"}
    for r in rows:
        assert r["sample_s"] > 0 and r["ref_sample_s"] > 0 and r["train_s"] > 0 and r["ref_train_s"] > 0
    assert out.exists() and "SK_1RSB" in capsys.readouterr().out


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_extreme_parameters_stay_finite(backend):
    """Saturated logits (|logit| ~ 10³) and large hidden weights: no inf/NaN in samples, log q or gradients."""
    system = ac.sherrington_kirkpatrick(20, seed=1)
    net = ac.make_arnn("sk_krsb", system, k=2)
    net.backend = backend
    with torch.no_grad():
        net.hidden_weight.normal_(0, 50.0)
        net.hidden_bias.normal_(0, 50.0)
        net.out_weight.normal_(0, 20.0)
        net.site_bias.normal_(0, 300.0)
    x, log_q = net.sample(64, generator=torch.Generator().manual_seed(0))
    lp = net.log_prob(x.clone())
    assert torch.isfinite(log_q).all() and torch.isfinite(lp).all()
    assert torch.allclose(lp, log_q, atol=1e-2, rtol=1e-5)
    lp.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
