"""SpinSystem, the builders, and reading/writing systems (physics.md §1)."""

from __future__ import annotations

import io
import json
import pickle

import networkx as nx
import numpy as np
import pytest
import torch

import arnn_core as ac


def _energy_by_pairs(J: np.ndarray, h: np.ndarray, x: np.ndarray) -> float:
    """H(x) = -Σ_{i<j} J_ij x_i x_j - Σ_i h_i x_i, summed pair by pair (physics.md §1)."""
    n = len(x)
    total = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            total -= J[i, j] * x[i] * x[j]
        total -= h[i] * x[i]
    return total


# ---------------------------------------------------------------------- SpinSystem
def test_energy_matches_pairwise_sum_for_every_input_kind():
    rng = np.random.default_rng(0)
    system = ac.sherrington_kirkpatrick(9, h=0.0, seed=1)
    h = rng.normal(size=9)
    system = ac.SpinSystem(system.J.numpy(), h)
    x = rng.choice([-1.0, 1.0], size=(20, 9))
    expected = np.array([_energy_by_pairs(system.J.numpy(), h, row) for row in x])
    np.testing.assert_allclose(system.energy(torch.tensor(x)).numpy(), expected, rtol=0, atol=1e-12)
    # float32, integer and single-configuration inputs
    np.testing.assert_allclose(system.energy(torch.tensor(x, dtype=torch.float32)).numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(system.energy(torch.tensor(x, dtype=torch.int64)).numpy(), expected, atol=1e-12)
    assert system.energy(torch.tensor(x[3])).ndim == 0
    assert float(system.energy(torch.tensor(x[3]))) == pytest.approx(expected[3], abs=1e-12)
    # -½ xᵀJx - hᵀx in matrix form gives the same numbers
    J = system.J.numpy()
    np.testing.assert_allclose(-0.5 * np.einsum("bi,ij,bj->b", x, J, x) - x @ h, expected, atol=1e-12)


def test_energy_rejects_wrong_width():
    system = ac.curie_weiss(5)
    with pytest.raises(ValueError, match=r"shape \(B, 5\)"):
        system.energy(torch.ones(3, 4))


def test_inputs_numpy_torch_lists_stored_as_float64():
    J = [[0, 1.5], [1.5, 0]]
    for value in (J, np.array(J), torch.tensor(J, dtype=torch.float32)):
        system = ac.SpinSystem(value, h=[0.1, -0.2])
        assert system.J.dtype == torch.float64 and system.h.dtype == torch.float64
        assert system.n == 2
        assert system.J[0, 1].item() == 1.5
    scalar_field = ac.SpinSystem(J, h=0.5)
    assert scalar_field.h.tolist() == [0.5, 0.5]


@pytest.mark.parametrize("J, h, message", [
    (np.zeros((3, 2)), 0.0, "square"),
    (np.zeros(4), 0.0, "square"),
    (np.zeros((1, 1)), 0.0, "at least N = 2"),
    (np.array([[0, 1.0], [2.0, 0]]), 0.0, "symmetric"),
    (np.array([[1.0, 0], [0, 0]]), 0.0, "zero diagonal"),
    (np.array([[0, np.nan], [np.nan, 0]]), 0.0, "NaN or inf"),
    (np.array([[0, np.inf], [np.inf, 0]]), 0.0, "NaN or inf"),
    (np.zeros((3, 3)), [1.0, 2.0], "length N = 3"),
    (np.zeros((3, 3)), [[1.0, 2.0, 3.0]], "length N = 3"),
    (np.zeros((3, 3)), [0.0, np.inf, 0.0], "h contains NaN or inf"),
    ([[0, "a"], ["a", 0]], 0.0, "numeric"),
    ([[0, 1], [1]], 0.0, "numeric"),
])
def test_spin_system_validation(J, h, message):
    with pytest.raises(ValueError, match=message):
        ac.SpinSystem(J, h)


def test_metadata_must_be_a_dict_and_is_made_json_safe():
    with pytest.raises(ValueError, match="metadata must be a dict"):
        ac.SpinSystem(np.zeros((2, 2)), metadata=[1, 2])
    system = ac.SpinSystem(np.zeros((2, 2)), metadata={"seed": np.int64(4), "h": np.arange(2.0), "obj": object()})
    json.dumps(system.metadata)  # must not raise
    assert system.metadata["seed"] == 4 and system.metadata["h"] == [0.0, 1.0]


def test_edges_graph_counts_and_coupling_cache():
    J = np.zeros((4, 4))
    J[0, 2] = J[2, 0] = -0.5
    J[1, 3] = J[3, 1] = 2.0
    system = ac.SpinSystem(J, h=[0, 1, 2, 3])
    assert system.edges() == [(0, 2, -0.5), (1, 3, 2.0)]
    assert system.num_edges == 2 and system.density == pytest.approx(2 / 6) and system.is_sparse
    G = system.graph()
    assert G.number_of_nodes() == 4 and G[1][3]["weight"] == 2.0 and G.nodes[2]["h"] == 2.0
    assert [list(nb) for nb in system.neighbours()] == [[2], [3], [0], [1]]
    J32, h32 = system.coupling_matrix("cpu", torch.float32)
    assert J32.dtype == torch.float32 and system.coupling_matrix("cpu", torch.float32)[0] is J32
    assert not ac.curie_weiss(6).is_sparse


def test_curie_weiss_parameters_recognises_only_curie_weiss():
    assert ac.curie_weiss(7, J=1.3, h=-0.2).curie_weiss_parameters() == pytest.approx((1.3, -0.2))
    assert ac.sherrington_kirkpatrick(7, seed=0).curie_weiss_parameters() is None
    non_uniform_field = ac.SpinSystem(ac.curie_weiss(4).J, h=[0, 0, 0, 0.1])
    assert non_uniform_field.curie_weiss_parameters() is None


# ---------------------------------------------------------------------- builders
def test_curie_weiss_builder():
    system = ac.curie_weiss(5, J=2.0, h=0.3)
    J = system.J.numpy()
    assert np.allclose(J[~np.eye(5, dtype=bool)], 2.0 / 5) and np.all(np.diag(J) == 0)
    assert np.allclose(system.h.numpy(), 0.3)
    assert system.family == "curie_weiss"


def test_sk_statistics_and_reproducibility():
    n = 300
    a = ac.sherrington_kirkpatrick(n, J=1.5, J0=2.0, seed=7)
    b = ac.sherrington_kirkpatrick(n, J=1.5, J0=2.0, seed=7)
    c = ac.sherrington_kirkpatrick(n, J=1.5, J0=2.0, seed=8)
    assert torch.equal(a.J, b.J) and not torch.equal(a.J, c.J)
    w = a.J.numpy()[np.triu_indices(n, 1)]
    # J_ij ~ Normal(J0/N, J²/N): 44,850 draws pin mean and variance tightly
    assert w.mean() == pytest.approx(2.0 / n, abs=5 * 1.5 / np.sqrt(n) / np.sqrt(w.size))
    assert w.var() * n == pytest.approx(1.5 ** 2, rel=0.03)
    pm = ac.sherrington_kirkpatrick(50, couplings="pm1", seed=1).J.numpy()[np.triu_indices(50, 1)]
    assert set(np.round(pm * np.sqrt(50), 12)) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="'gaussian' or 'pm1'"):
        ac.sherrington_kirkpatrick(10, couplings="ferro")


def test_edwards_anderson_lattices():
    periodic = ac.edwards_anderson(4, dim=2, seed=3)
    degrees = np.count_nonzero(periodic.J.numpy(), axis=1)
    assert periodic.n == 16 and np.all(degrees == 4) and periodic.num_edges == 32
    assert set(np.abs(periodic.J.numpy()[periodic.J.numpy() != 0])) == {1.0}
    # row-major layout: (r, c) ↔ r·L + c, so (1, 3) couples to (1, 0) across the boundary
    assert periodic.J[1 * 4 + 3, 1 * 4 + 0] != 0 and periodic.J[1 * 4 + 3, 2 * 4 + 3] != 0
    assert periodic.metadata["lattice_shape"] == [4, 4]
    open_ = ac.edwards_anderson(4, dim=2, periodic=False, seed=3)
    assert open_.num_edges == 2 * 4 * 3
    cube = ac.edwards_anderson(3, dim=3, couplings="gaussian", seed=0)
    assert cube.n == 27 and np.all(np.count_nonzero(cube.J.numpy(), axis=1) == 6)
    ring = ac.edwards_anderson(5, dim=1, couplings="ferro", J=0.7)
    assert ring.num_edges == 5 and np.allclose(ring.J.numpy()[ring.J.numpy() != 0], 0.7)
    assert torch.equal(ac.edwards_anderson(5, seed=11).J, ac.edwards_anderson(5, seed=11).J)
    with pytest.raises(ValueError, match="dim must be"):
        ac.edwards_anderson(3, dim=4)
    with pytest.raises(ValueError, match="L must be an integer"):
        ac.edwards_anderson(1)
    with pytest.raises(ValueError, match="couplings must be one of"):
        ac.edwards_anderson(3, couplings="uniform")


def test_graph_families():
    rr = ac.random_regular(20, 3, seed=2)
    assert np.all(np.count_nonzero(rr.J.numpy(), axis=1) == 3)
    assert torch.equal(rr.J, ac.random_regular(20, 3, seed=2).J)
    assert ac.erdos_renyi(12, 0.0, seed=0).num_edges == 0
    assert ac.erdos_renyi(12, 1.0, seed=0).num_edges == 66
    ba = ac.barabasi_albert(30, 2, couplings="gaussian", seed=5)
    assert ba.num_edges == 2 * (30 - 2)
    assert ba.family == "barabasi_albert"
    for call, message in [
        (lambda: ac.random_regular(5, 3), "n·d even"),
        (lambda: ac.random_regular(4, 4), "d < n"),
        (lambda: ac.erdos_renyi(10, 1.5), r"\[0, 1\]"),
        (lambda: ac.erdos_renyi(10, "x"), "must be a number"),
        (lambda: ac.barabasi_albert(5, 5), "m < n"),
        (lambda: ac.random_regular(10, 3, couplings="nope"), "couplings must be one of"),
        (lambda: ac.curie_weiss(1), "n must be an integer ≥ 2"),
        (lambda: ac.curie_weiss(2.5), "n must be an integer"),
        (lambda: ac.sherrington_kirkpatrick(True), "n must be an integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()


def test_from_graph_node_order_weights_and_fields():
    G = nx.Graph()
    G.add_node("b", field=0.5)
    G.add_node("a")
    G.add_edge("a", "b", weight=-2.0)
    G.add_edge("b", ("c", 1))  # no weight → default
    system = ac.from_graph(G, default=0.25, h="field")
    assert system.metadata["node_labels"] == ["b", "a", ["c", 1]]
    assert system.J[0, 1] == -2.0 and system.J[0, 2] == 0.25 and system.J[1, 2] == 0
    assert system.h.tolist() == [0.5, 0.0, 0.0]
    assert ac.from_graph(nx.path_graph(3), h=[1, 2, 3]).h.tolist() == [1.0, 2.0, 3.0]
    loop = nx.Graph([(0, 1), (1, 1)])
    multi = nx.MultiGraph([(0, 1), (0, 1)])
    bad_weight = nx.Graph()
    bad_weight.add_edge(0, 1, weight="strong")
    for graph, message in [(nx.DiGraph([(0, 1)]), "undirected"), (loop, "self-loop"), (multi, "multigraph"),
                           (bad_weight, "non-numeric"), (nx.empty_graph(1), "at least 2"),
                           ([(0, 1)], "networkx Graph")]:
        with pytest.raises(ValueError, match=message):
            ac.from_graph(graph)


# ---------------------------------------------------------------------- edge lists
EDGE_TEXT = """# a 4-spin example
0 1 1.5
1, 2, -0.5   # commas are fine
2 3 2
3 0 1.5

1 0.25
"""


def test_from_edge_list_text_path_bytes(tmp_path):
    system = ac.from_edge_list(EDGE_TEXT)
    assert system.n == 4
    assert system.J[0, 1] == 1.5 and system.J[2, 1] == -0.5 and system.J[0, 3] == 1.5
    assert system.h.tolist() == [0.0, 0.25, 0.0, 0.0]
    path = tmp_path / "couplings.txt"
    path.write_text(EDGE_TEXT)
    for source in (path, str(path), EDGE_TEXT.encode()):
        assert torch.equal(ac.from_edge_list(source).J, system.J)
    bigger = ac.from_edge_list("0 1 1\n", n=5, fields=[0, 1, 2, 3, 4])
    assert bigger.n == 5 and bigger.h.tolist() == [0, 1, 2, 3, 4]
    assert ac.from_edge_list("0 1 1\n0 1 1\n").num_edges == 1  # a repeated identical line is harmless


@pytest.mark.parametrize("text, message", [
    ("0 1 1\n0 1 2 3\n", "line 2: expected"),
    ("0 1 1\n\n# c\n1 2 abc\n", "line 4: expected"),
    ("0 1 1\n1 2 nan\n", "line 2: value is NaN"),
    ("0 1 1\n-1 2 1\n", "line 2: site indices are 0-based"),
    ("0 1 1\n-3 0.5\n", "line 2: site indices are 0-based"),
    ("0 1 1\n2 2 1\n", "line 2: self-coupling"),
    ("0 1 1\n1 0 2\n", "line 2: coupling \\(1, 0\\) already set to 1 on line 1"),
    ("# nothing\n\n", "empty"),
    ("0 1.5 1\n", "line 1: expected"),
    ("missing_file.txt", "no such edge-list file"),
])
def test_from_edge_list_errors_name_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        ac.from_edge_list(text)


def test_from_edge_list_other_errors():
    with pytest.raises(ValueError, match="out of range for n = 3"):
        ac.from_edge_list("0 5 1\n", n=3)
    with pytest.raises(ValueError, match="at least 2"):
        ac.from_edge_list("0 0.5\n")
    with pytest.raises(ValueError, match="fields must be a scalar or a vector of length N = 2"):
        ac.from_edge_list("0 1 1\n", fields=[1, 2, 3])
    with pytest.raises(ValueError, match="text, bytes or a path"):
        ac.from_edge_list(12)


# ---------------------------------------------------------------------- JSON / NPZ
@pytest.mark.parametrize("suffix", ["json", "npz"])
def test_save_load_round_trip(tmp_path, suffix):
    system = ac.edwards_anderson(3, couplings="gaussian", h=0.1, seed=4)
    system = ac.SpinSystem(system.J, np.linspace(-1, 1, 9), name="EA test", metadata=system.metadata)
    path = tmp_path / f"system.{suffix}"
    ac.save_system(system, path)
    for loaded in (ac.load_system(path), ac.load_system(str(path)),
                   ac.load_system(path.read_bytes(), format=suffix)):
        assert torch.equal(loaded.J, system.J) and torch.equal(loaded.h, system.h)
        assert loaded.name == "EA test" and loaded.metadata == system.metadata
    assert torch.equal(ac.SpinSystem.from_dict(system.to_dict()).J, system.J)


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_npz_with_object_array_is_refused_without_unpickling(monkeypatch):
    def no_unpickling(*args, **kwargs):
        raise AssertionError("pickle must never be used to load a system")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    for arrays in ({"J": np.array([[0, 1], [1, 0]], dtype=object)},
                   {"J": np.zeros((2, 2)), "metadata": np.array([{"a": 1}], dtype=object)}):
        with pytest.raises(ValueError, match="pickle"):
            ac.load_system(_npz_bytes(**arrays), format="npz")


@pytest.mark.parametrize("raw, format, message", [
    (b"{not json", "json", "not valid JSON"),
    (b'{"n": 3}', "json", "not an ARNN spin-system"),
    (json.dumps({"format": "arnn-spin-system", "n": "three"}).encode(), "json", "integer 'n'"),
    (json.dumps({"format": "arnn-spin-system", "n": 3, "edges": [[0, 5, 1.0]]}).encode(), "json",
     "edge #0: site index out of range"),
    (json.dumps({"format": "arnn-spin-system", "n": 3, "edges": [[0, 1]]}).encode(), "json", "edge #0 must be"),
    (json.dumps({"format": "arnn-spin-system", "n": 3, "edges": [[0, 1.5, 1]]}).encode(), "json",
     "integer sites"),
    (json.dumps({"format": "arnn-spin-system", "n": 3, "edges": [[1, 1, 1]]}).encode(), "json", "self-coupling"),
    (json.dumps({"format": "arnn-spin-system", "n": 3, "h": [1, 2]}).encode(), "json", "length N = 3"),
    (b"PK\x03\x04 definitely not a zip", "npz", "not a readable NPZ"),
    (_npz_bytes(h=np.zeros(3)), "npz", "no array named 'J'"),
    (_npz_bytes(J=np.array([["a", "b"], ["c", "d"]])), "npz", "must be numeric"),
    (_npz_bytes(J=np.zeros((2, 2)), metadata=np.array("{oops")), "npz", "metadata' is not valid JSON"),
    (_npz_bytes(J=np.array([[0, 1.0], [0.5, 0]])), "npz", "symmetric"),
    (b"anything", None, "needs format='json' or 'npz'"),
])
def test_load_system_refuses_bad_files(raw, format, message):
    with pytest.raises(ValueError, match=message):
        ac.load_system(raw, format=format)


def test_unknown_extensions_are_refused(tmp_path):
    system = ac.curie_weiss(3)
    with pytest.raises(ValueError, match=".json or .npz"):
        ac.save_system(system, tmp_path / "system.pkl")
    (tmp_path / "system.txt").write_text("{}")
    with pytest.raises(ValueError, match=".json or .npz"):
        ac.load_system(tmp_path / "system.txt")
    # a bare .npy array is not a system archive
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not an NPZ archive"):
        ac.load_system(buffer.getvalue(), format="npz")
