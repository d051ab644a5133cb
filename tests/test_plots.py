"""Plotly builders: right data, float32 numpy (never lists), correct statistics."""

import json
import math

import numpy as np
import plotly.graph_objects as go
import pytest

import arnn_core as ac
from arnn_core import plots


def _arrays(fig):
    """(name, array) of every x/y/z of every trace, as plotly holds them."""
    out = []
    for tr in fig.data:
        for key in ("x", "y", "z"):
            v = getattr(tr, key, None)
            if v is not None:
                out.append((f"{tr.type}.{key}", v))
    return out


def _assert_float32_numpy(fig):
    for name, v in _arrays(fig):
        assert isinstance(v, np.ndarray), f"{name} is {type(v).__name__}, not numpy"
        if v.dtype.kind == "f":
            assert v.dtype == np.float32, f"{name} is {v.dtype}"


def test_heatmap_is_diverging_centred_and_float32():
    J = ac.sherrington_kirkpatrick(30, seed=0).J
    fig = plots.coupling_heatmap(J)
    hm = fig.data[0]
    assert hm.zmid == 0 and hm.zmin == -hm.zmax
    assert hm.zmax == pytest.approx(float(J.abs().max()), rel=1e-6)
    _assert_float32_numpy(fig)
    # typed arrays serialise compactly (base64), not as a list of 900 numbers
    spec = json.loads(fig.to_json())
    assert isinstance(spec["data"][0]["z"], dict) and "bdata" in spec["data"][0]["z"]


def test_pair_statistics_recovers_a_linear_relation():
    rng = np.random.default_rng(0)
    J = rng.normal(size=(40, 40))
    J = np.triu(J, 1)
    J = J + J.T
    W = np.triu(2.5 * J + 0.1 + 0.01 * rng.normal(size=J.shape), 1)  # only i<j entries, like a first layer
    st = plots.pair_statistics(W, J)
    assert st["n_pairs"] == 40 * 39 // 2
    assert st["r"] > 0.999
    assert st["slope"] == pytest.approx(2.5, rel=1e-2) and st["intercept"] == pytest.approx(0.1, abs=1e-2)
    st_abs = plots.pair_statistics(-W, J, absolute=True)
    assert st_abs["r"] > 0.99
    assert plots.pair_statistics(-W, J)["r"] < -0.999
    noise = plots.pair_statistics(rng.normal(size=J.shape), J)
    assert abs(noise["r"]) < 0.15


def test_pair_statistics_handles_constant_weights():
    J = ac.sherrington_kirkpatrick(10, seed=1).J.numpy()
    st = plots.pair_statistics(np.zeros_like(J), J)
    assert math.isnan(st["r"]) and math.isnan(st["slope"])


def test_weights_vs_couplings_scatter_is_webgl_with_a_fit_line():
    system = ac.sherrington_kirkpatrick(25, seed=2)
    fig, st = plots.weights_vs_couplings(system.J, system.J)
    assert fig.data[0].type == "scattergl"
    assert len(fig.data[0].x) == 25 * 24 // 2
    assert fig.data[1].mode == "lines"
    assert "Pearson r = 1.000" in fig.layout.title.text
    _assert_float32_numpy(fig)


def test_training_curves_show_exact_and_log_relative_error():
    recs = [{"step": k, "beta": 0.1 * (1 + k // 10), "free_energy": -1 - 1 / (k + 1), "free_energy_exact": -2.0,
             "relative_error": 1 / (k + 1), "energy": -0.5, "abs_magnetization": 0.2} for k in range(50)]
    fig = plots.training_curves(recs)
    names = [t.name for t in fig.data]
    assert "exact f" in names and "relative error" in names
    assert fig.layout.yaxis2.type == "log"
    assert len(fig.data[0].x) == 50
    _assert_float32_numpy(fig)


def test_training_curves_downsample_long_runs():
    recs = [{"step": k, "beta": 1.0, "free_energy": -1.0} for k in range(10_000)]
    fig = plots.training_curves(recs, max_points=500)
    assert len(fig.data[0].x) <= 500 and fig.data[0].x[-1] == 9999


def test_training_curves_without_exact_value():
    recs = [{"step": k, "beta": 1.0, "free_energy": -1.0, "relative_error": None} for k in range(5)]
    fig = plots.training_curves(recs)
    assert "exact f" not in [t.name for t in fig.data]
    assert any("no exact reference" in a.text for a in fig.layout.annotations)


def test_graph_figure_colours_edges_by_sign_and_uses_lattice_positions():
    system = ac.edwards_anderson(4, dim=2, periodic=False, seed=0)
    fig = plots.graph_figure(system.edges(), system.n, system.h.numpy(),
                             lattice_shape=system.metadata["lattice_shape"])
    edge_traces = [t for t in fig.data if t.mode == "lines"]
    assert {t.name for t in edge_traces} == {"J > 0", "J < 0"}
    n_segments = sum(int(np.isfinite(t.x).sum()) // 2 for t in edge_traces)
    assert n_segments == system.num_edges == 24
    nodes = fig.data[-1]
    assert len(nodes.x) == 16 and set(np.unique(nodes.x)) == {0, 1, 2, 3}
    _assert_float32_numpy(fig)
    periodic = ac.edwards_anderson(4, dim=2, periodic=True, seed=0)
    fig = plots.graph_figure(periodic.edges(), periodic.n, lattice_shape=periodic.metadata["lattice_shape"])
    drawn = sum(int(np.isfinite(t.x).sum()) // 2 for t in fig.data if t.mode == "lines")
    assert drawn == 24 and "8 periodic wrap-around bonds not drawn" in fig.layout.title.text


def test_distribution_and_other_builders_render():
    m = (np.linspace(-1, 1, 11), np.full(11, 1 / 11))
    for fig in (plots.distribution_comparison(m, m, "m", "P(m)"),
                plots.mean_spin_comparison(np.zeros(5), np.zeros(5)),
                plots.lattice_samples(np.ones((3, 16)), (4, 4)),
                plots.coupling_histogram(ac.sherrington_kirkpatrick(10, seed=0).J),
                plots.side_by_side_heatmaps(np.eye(4), np.eye(4)),
                plots.site_terms(3, np.ones(3), np.ones(5), 0.5, 0.2),
                plots.likelihood_curves([{"epoch": 0, "train_nll_per_spin": 0.7, "validation_nll_per_spin": 0.71},
                                         {"epoch": 1, "train_nll_per_spin": 0.6, "validation_nll_per_spin": 0.65}]),
                plots.param_scaling({"a": (np.array([10, 20]), np.array([100, 400]))}, current_n=10),
                plots.compare_figure({"SL": {"per_beta": [{"beta": 0.1, "relative_error": 1e-3}], "trainable": 5}})):
        assert isinstance(fig, go.Figure) and len(fig.data) >= 1
        _assert_float32_numpy(fig)
        fig.to_json()


def test_compare_figure_falls_back_to_free_energy():
    fig = plots.compare_figure({"SL": {"per_beta": [{"beta": 0.1, "free_energy": -3.0, "relative_error": None}]}})
    assert fig.layout.yaxis.type != "log"
    assert fig.data[0].y[0] == np.float32(-3.0)


def test_coupling_histogram_is_binned_in_python():
    J = ac.sherrington_kirkpatrick(300, seed=0).J
    fig = plots.coupling_histogram(J)
    bar = fig.data[0]
    assert bar.type == "bar" and len(bar.x) <= 80
    assert float(bar.y.sum()) == 300 * 299 / 2
    _assert_float32_numpy(fig)
