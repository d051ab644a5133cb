"""Runs on disk (config/history/system JSON + safetensors, directory or zip) and sample files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

import arnn_core as ac


@pytest.fixture(scope="module")
def trained():
    system = ac.sherrington_kirkpatrick(9, seed=2)
    torch.manual_seed(0)
    net = ac.make_arnn("made", system, depth=2, width=2)
    history = ac.train_variational(net, system, [0.5, 1.0], steps_per_beta=4, batch_size=64, lr=1e-2, seed=0)
    config = {"mode": "variational", "lr": 1e-2, "note": "test"}
    return net, system, config, history


def _same_model(a, b, n):
    x = ac.all_states(n, dtype=a.dtype)
    with torch.no_grad():
        assert torch.equal(a.log_prob(x), b.log_prob(x.to(b.dtype)))


def test_save_and_load_round_trip(trained, tmp_path):
    net, system, config, history = trained
    path = ac.save_run(tmp_path / "run", net, system, config, history)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json", "history.json", "system.json", "weights.safetensors"]
    run = ac.load_run(path)
    assert isinstance(run, ac.Run)
    loaded_net, loaded_system, loaded_config, loaded_history = run  # unpacks like a tuple
    assert loaded_net.arch_name == "made" and loaded_net.options == net.options
    assert torch.equal(loaded_system.J, system.J) and torch.equal(loaded_system.h, system.h)
    assert loaded_config["architecture"] == "made" and loaded_config["training"] == config
    assert loaded_history == json.loads(json.dumps(history))
    assert run.last_beta == 1.0
    _same_model(net, loaded_net, system.n)
    # the weights are a safetensors file (no pickle anywhere)
    raw = (tmp_path / "run" / "weights.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert json.loads(raw[8:8 + header_len])["__metadata__"]["architecture"] == "made"


def test_zip_round_trip_bytes_and_path(trained, tmp_path):
    net, system, config, history = trained
    data = ac.run_to_zip_bytes(net, system, config, history)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["config.json", "history.json", "system.json", "weights.safetensors"]
    _same_model(net, ac.load_run_zip(data).net, system.n)
    path = ac.save_run(tmp_path / "run.zip", net, system, config, history)
    _same_model(net, ac.load_run(path).net, system.n)


def test_analytic_and_float64_networks_round_trip(tmp_path):
    system = ac.sherrington_kirkpatrick(8, seed=1)
    net = ac.make_arnn("h2arnn", system, beta=0.5)
    history = ac.train_variational(net, system, [0.5, 1.3], steps_per_beta=1, batch_size=16, seed=0)
    run = ac.load_run(ac.save_run(tmp_path / "h2", net, system, {}, history))
    _same_model(net, run.net, 8)  # set to β = 1.3, not the constructor's 0.5

    sl = ac.make_arnn("sl", system).to(torch.float64)
    run = ac.load_run(ac.save_run(tmp_path / "sl64", sl, system))
    assert run.net.dtype == torch.float64
    _same_model(sl, run.net, 8)


def test_non_finite_history_values_become_null(trained, tmp_path):
    net, system, _, _ = trained
    path = ac.save_run(tmp_path / "nan", net, system, {"x": float("inf")}, [{"free_energy": float("nan")}])
    text = (tmp_path / "nan" / "history.json").read_text()
    assert "NaN" not in text and json.loads(text) == [{"free_energy": None}]
    assert ac.load_run(path).config["training"] == {"x": None}


def test_broken_runs_are_refused_with_a_reason(trained, tmp_path):
    net, system, config, history = trained
    path = tmp_path / "run"
    ac.save_run(path, net, system, config, history)
    with pytest.raises(ValueError, match="no run"):
        ac.load_run(tmp_path / "missing")
    (path / "history.json").unlink()
    with pytest.raises(ValueError, match="history.json"):
        ac.load_run(path)
    ac.save_run(path, net, system, config, history)
    cfg = json.loads((path / "config.json").read_text())
    cfg["options"]["width"] = 3  # weights no longer fit
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not fit"):
        ac.load_run(path)
    cfg["format"] = "something-else"
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="not an ARNN run"):
        ac.load_run(path)
    (path / "weights.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    ac_cfg = dict(cfg, format="arnn-run", options=net.options)
    (path / "config.json").write_text(json.dumps(ac_cfg))
    with pytest.raises(ValueError, match="safetensors"):
        ac.load_run(path)
    with pytest.raises(ValueError, match="zip"):
        ac.load_run_zip(b"definitely not a zip")


def test_save_run_refuses_unregistered_networks_and_mismatches(trained, tmp_path):
    net, system, config, history = trained
    with pytest.raises(ValueError, match="N = 9"):
        ac.save_run(tmp_path / "x", net, ac.sherrington_kirkpatrick(5, seed=0))

    class Bare(ac.ARNN):
        pass

    with pytest.raises(ValueError, match="architecture name"):
        ac.save_run(tmp_path / "y", Bare(9), system)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".txt", ".csv"])
def test_samples_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    x = rng.choice([-1, 1], size=(50, 7))
    path = ac.save_samples(tmp_path / f"s{suffix}", torch.as_tensor(x, dtype=torch.float32))
    back = ac.load_samples(path)
    assert back.dtype == np.int8 and np.array_equal(back, x)
    fmt = suffix.lstrip(".")
    assert np.array_equal(ac.load_samples((tmp_path / f"s{suffix}").read_bytes(), format=fmt), x)


def test_bad_samples_are_refused(tmp_path):
    np.save(tmp_path / "binary.npy", np.array([[0, 1, 1], [1, 0, 0]]))
    with pytest.raises(ValueError, match="2\\*x - 1"):
        ac.load_samples(tmp_path / "binary.npy")
    np.save(tmp_path / "flat.npy", np.array([1, -1, 1]))
    with pytest.raises(ValueError, match="2-D"):
        ac.load_samples(tmp_path / "flat.npy")
    np.save(tmp_path / "objects.npy", np.array([[1, -1], [None, 1]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="could not read"):
        ac.load_samples(tmp_path / "objects.npy")  # would need pickle: refused
    with pytest.raises(ValueError, match="format"):
        ac.load_samples(b"1 -1\n-1 1\n")
    with pytest.raises(ValueError, match="limit"):
        ac.load_samples(b"1 -1\n-1 1\n", format="txt", max_bytes=4)
