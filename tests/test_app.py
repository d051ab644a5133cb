"""Every page through streamlit.testing.v1.AppTest: fresh state, the example state, bad input,
and a short training run whose chart has data."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = ["pages/1_System.py", "pages/2_Architecture.py", "pages/3_Train.py", "pages/4_Weights_vs_couplings.py",
         "pages/5_Samples.py", "pages/6_Compare.py"]
TIMEOUT = 120


def _clean(at):
    """No traceback and no error box on screen."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _charts(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _points(trace: dict) -> int:
    x = trace.get("x")
    if isinstance(x, dict):  # numpy arrays travel base64-encoded: {"dtype": "f4", "bdata": ...}
        import base64
        return len(base64.b64decode(x["bdata"])) // np.dtype(x["dtype"]).itemsize
    return len(x or [])


def _finish(at, attr="job", timeout=TIMEOUT):
    job = at.session_state[attr]
    assert job.join(timeout), "the background job did not finish"
    return job


@pytest.fixture
def app():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    yield at
    for attr in ("job", "compare_job"):  # never leave a worker running after a test
        job = at.session_state[attr] if attr in at.session_state else None
        if job is not None:
            job.stop()
            job.join(30)


def test_home_fresh_session_has_the_example(app):
    _clean(app)
    ss = app.session_state
    assert ss.system.n == 20 and ss.system.family == "sk"
    assert ss.arch_name == "sk_krsb" and ss.arch_options["k"] == 1
    assert len(app.latex) >= 1
    assert any("CPU" in c.value or "CUDA" in c.value for c in app.code)
    # the one-click example restores SK N=20 + SK_1RSB after a change
    ss.arch_name, ss.arch_options = "sl", {}
    app.button(key="load_example").click().run()
    _clean(app)
    assert app.session_state.arch_name == "sk_krsb" and app.session_state.system.n == 20
    assert app.success


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_a_fresh_session(page):
    """Deep-link equivalent: the page is the first script this session runs."""
    at = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT).run()
    _clean(at)
    assert at.session_state.system.n == 20
    assert at.title


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_example(app, page):
    app.button(key="load_example").click().run()
    app.switch_page(page).run()
    _clean(app)


def test_system_page_builds_each_family_and_keeps_the_previous_on_bad_input(app):
    app.switch_page("pages/1_System.py").run()
    _clean(app)
    assert len(_charts(app)) >= 2  # heatmap and histogram
    heat = _charts(app)[0]["data"][0]
    assert heat["type"] == "heatmap" and heat["zmid"] == 0
    for family in ("ea2d", "random_regular", "curie_weiss"):
        app.selectbox(key="system_family").set_value(family).run()
        app.button[0].click().run()
        _clean(app)
        assert app.success
    assert app.session_state.system.family == "curie_weiss"
    # an impossible graph (odd n·d) → error, previous system kept
    app.selectbox(key="system_family").set_value("random_regular").run()
    before = app.session_state.system_key
    app.number_input[0].set_value(5)
    app.number_input[1].set_value(3)
    app.button[0].click().run()
    assert app.error and "previous system is kept" in app.error[0].value
    assert app.session_state.system_key == before
    assert not app.exception


def test_sparse_system_draws_its_graph(app):
    app.switch_page("pages/1_System.py").run()
    app.selectbox(key="system_family").set_value("ea2d").run()
    app.button[0].click().run()
    _clean(app)
    types = [tr["type"] for fig in _charts(app) for tr in fig["data"]]
    assert "scatter" in types  # the interaction graph


def test_large_n_disables_exact_with_a_note(app):
    import arnn_core as ac
    app.session_state.system = ac.sherrington_kirkpatrick(40, seed=0)
    app.session_state.system_key = "sk40"
    app.switch_page("pages/1_System.py").run()
    _clean(app)
    assert any("exact enumeration" in w.value and "off" in w.value for w in app.warning)


def test_architecture_page_explains_what_does_not_fit(app):
    app.switch_page("pages/2_Architecture.py").run()
    _clean(app)
    df = app.dataframe[0].value
    assert set(df["name"]) >= {"h2arnn", "cw_n", "sk_krsb", "made"}
    fits = dict(zip(df["name"], df["fits this system"]))
    assert fits["cw_n"] == "no" and fits["sk_krsb"] == "yes"
    assert any("cw_n" in c.value.lower() or "curie" in c.value.lower() for c in app.caption)
    app.selectbox(key="arch_pick").set_value("cw_n").run()
    _clean(app)
    assert app.warning and app.button(key="use_arch").disabled
    app.selectbox(key="arch_pick").set_value("made").run()
    app.button(key="use_arch").click().run()
    _clean(app)
    assert app.session_state.arch_name == "made"


def _quick_settings(at, steps=4, betas=(0.1, 0.3)):
    ss = at.session_state
    ss.w_preset = "Custom"
    ss.w_beta_start, ss.w_beta_stop, ss.w_beta_step = betas[0], betas[1], 0.1
    ss.w_steps_per_beta, ss.w_batch, ss.w_init_steps = steps, 32, 0
    ss.w_final_samples = 300


def test_short_training_run_fills_the_chart_and_results(app):
    app.switch_page("pages/3_Train.py").run()
    _clean(app)
    assert any("No run yet" in i.value for i in app.info)
    _quick_settings(app)
    app.run()
    app.button(key="start").click().run()
    _clean(app)
    job = _finish(app)
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    app.run()
    _clean(app)
    charts = _charts(app)
    assert charts, "no training chart"
    fq = [tr for tr in charts[0]["data"] if tr.get("name") == "f_q"][0]
    assert _points(fq) == len(snap.records) == 12
    assert any(tr.get("name") == "exact f" for tr in charts[0]["data"])
    assert any(s.value == "Finished." for s in app.success)
    quantities = list(app.dataframe[0].value["quantity"])
    assert "importance-sampled f_IS" in quantities and "exact f" in quantities
    labels = [m.label for m in app.metric]
    assert "exact KL(q‖P)" in labels and "ESS (fraction)" in labels
    assert {b.label for b in app.get("download_button")} >= {"Config + history (JSON)", "Run with weights (zip)"}
    # the trained network is what Weights and Samples now inspect (training survives page switches)
    app.switch_page("pages/4_Weights_vs_couplings.py").run()
    _clean(app)
    assert "untrained" not in app.markdown[0].value
    r = [m.value for m in app.metric if m.label == "Pearson r (W vs J)"][0]
    assert float(r) == pytest.approx(1.0, abs=1e-3)  # SK_1RSB's first layer is pinned to J
    app.switch_page("pages/5_Samples.py").run()
    app.button(key="draw").click().run()
    _clean(app)
    assert len(_charts(app)) >= 4


def test_stop_ends_a_long_run(app):
    app.switch_page("pages/3_Train.py").run()
    _quick_settings(app, steps=100_000, betas=(0.1, 0.1))
    app.run()
    app.button(key="start").click().run()
    job = app.session_state.job
    assert job.alive
    t0 = time.monotonic()
    app.button(key="stop").click().run()
    assert job.join(10)
    assert time.monotonic() - t0 < 3.0, "Stop took more than a step or two"
    assert job.snapshot().state == "stopped"
    app.run()
    _clean(app)
    assert app.warning and "Stopped" in app.warning[0].value


def test_refusals_are_messages(app, monkeypatch):
    import arnn_core.jobs
    # the memory refusal must not depend on the machine running the tests: pretend 16 GiB are free
    monkeypatch.setattr(arnn_core.jobs, "available_memory_bytes", lambda device: 16 * 2**30)
    app.switch_page("pages/3_Train.py").run()
    # β stop below β start
    _quick_settings(app)
    app.session_state.w_beta_stop = 0.05
    app.run()
    app.button(key="start").click().run()
    assert app.error and "β stop" in app.error[0].value
    assert app.session_state.job is None
    # an architecture that does not fit (CW_N on SK)
    app.session_state.arch_name, app.session_state.arch_options = "cw_n", {}
    _quick_settings(app)
    app.run()
    app.button(key="start").click().run()
    assert app.error and "does not fit" in app.error[0].value
    # a network and batch far beyond this machine's memory (SK_1RSB at N = 4000: 80M parameters,
    # batch 100,000; N = 400 would fit, SK_kRSB's working set is O(batch × N))
    import arnn_core as ac
    app.session_state.system = ac.sherrington_kirkpatrick(4000, seed=0)
    app.session_state.system_key = "sk4000"
    app.session_state.arch_name, app.session_state.arch_options = "sk_krsb", {"k": 1}
    app.session_state.w_batch = 100_000
    app.run()
    app.button(key="start").click().run()
    assert app.error and "GiB" in app.error[0].value
    assert not app.exception


def test_bad_sample_upload_is_refused():
    import importlib
    import sys
    sys.path.insert(0, str(ROOT))
    common = importlib.import_module("pages._ui.common")
    good = common.parse_samples_upload(b"0,1,1\n1,0,1\n" * 10, "s.csv", 3)
    assert good.shape == (20, 3) and set(np.unique(good)) == {-1.0, 1.0}
    for raw, name, why in ((b"1,2,3\n" * 20, "s.csv", "±1"), (b"1,1\n" * 20, "s.csv", "N = 3"),
                           (b"nan,1,1\n" * 20, "s.csv", "NaN"), (b"\x80\x81", "s.csv", "not text"),
                           (b"x" * (common.MAX_UPLOAD_BYTES + 1), "s.csv", "limit")):
        with pytest.raises(ValueError, match=why):
            common.parse_samples_upload(raw, name, 3)
    buf = io.BytesIO()
    np.save(buf, np.ones((20, 3), dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        common.parse_samples_upload(buf.getvalue(), "s.npy", 3)  # never unpickled


def test_likelihood_on_metropolis_samples_with_a_learnable_first_layer(app):
    ss = app.session_state
    ss.arch_name, ss.arch_options = "sk_krsb", {"k": 0, "learn_first_layer": True}
    app.switch_page("pages/3_Train.py").run()
    ss.w_mode = "Likelihood on Metropolis samples"
    ss.w_lik_samples, ss.w_lik_sweeps, ss.w_lik_burn, ss.w_lik_epochs, ss.w_lik_batch = 300, 1, 20, 2, 50
    app.run()
    app.button(key="start").click().run()
    job = _finish(app)
    assert job.snapshot().state == "finished", job.snapshot().message
    app.run()
    _clean(app)
    fig = _charts(app)[0]
    assert fig["data"][0]["name"] == "train NLL" and _points(fig["data"][0]) == 3
    assert fig["data"][-1]["name"].startswith("exact entropy")
    app.switch_page("pages/4_Weights_vs_couplings.py").run()
    _clean(app)
    r = [m.value for m in app.metric if m.label == "Pearson r (W vs J)"][0]
    assert -1.0 <= float(r) <= 1.0 and float(r) < 0.999  # learnt, not pinned


def test_compare_runs_in_the_background(app):
    app.switch_page("pages/6_Compare.py").run()
    _clean(app)
    ss = app.session_state
    ss.w_cmp_archs = ["sl", "1p"]
    ss.w_cmp_beta_stop, ss.w_cmp_beta_step, ss.w_cmp_steps, ss.w_cmp_batch = 0.2, 0.1, 3, 32
    app.run()
    app.button(key="cmp_start").click().run()
    job = _finish(app, "compare_job")
    assert job.snapshot().state == "finished"
    app.run()
    _clean(app)
    fig = _charts(app)[0]
    assert len(fig["data"]) == 2 and fig["layout"]["yaxis"]["type"] == "log"
    assert len(app.dataframe[0].value) == 2


def test_two_sessions_are_independent():
    a = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    b = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    a.switch_page("pages/3_Train.py").run()
    _quick_settings(a, steps=100_000, betas=(0.1, 0.1))
    a.run()
    a.button(key="start").click().run()
    b.switch_page("pages/3_Train.py").run()
    assert b.session_state.job is None
    assert any("No run yet" in i.value for i in b.info)
    a.session_state.job.stop()
    assert a.session_state.job.join(10)


def test_quick_preset_batch_shrinks_for_large_n_on_cpu(app):
    assert app.session_state.w_batch == 500 and app.session_state.w_preset == "Quick"
    app.switch_page("pages/1_System.py").run()
    app.number_input[0].set_value(200)
    app.button[0].click().run()
    _clean(app)
    assert app.session_state.system.n == 200
    if app.session_state.w_device == "cpu":
        assert app.session_state.w_batch == 125  # 500·(100/200)²: a step of SK_1RSB stays well under 1 s
    app.switch_page("pages/3_Train.py").run()
    _clean(app)
    assert any("no exact reference" in m.value for m in app.markdown)


def test_exact_architecture_and_lattice_samples(app):
    import arnn_core as ac
    ss = app.session_state
    ss.system = ac.sherrington_kirkpatrick(10, seed=4)
    ss.system_key = "sk10"
    ss.arch_name, ss.arch_options = "h2arnn", {}
    app.switch_page("pages/4_Weights_vs_couplings.py").run()
    _clean(app)
    app.switch_page("pages/5_Samples.py").run()
    app.button(key="draw").click().run()
    _clean(app)
    # the exact network reproduces the exact P(m): bars and exact line agree
    pm = _charts(app)[0]["data"]
    assert [tr["name"] for tr in pm] == ["ARNN", "exact"]
    # a 2D lattice shows its samples as images
    app.switch_page("pages/1_System.py").run()
    app.selectbox(key="system_family").set_value("ea2d").run()
    app.button[0].click().run()
    app.session_state.arch_name, app.session_state.arch_options = "sl", {}
    app.switch_page("pages/5_Samples.py").run()
    app.button(key="draw").click().run()
    _clean(app)
    types = [tr["type"] for fig in _charts(app) for tr in fig["data"]]
    assert types.count("heatmap") >= 4


def test_long_formulas_are_split_at_top_level_separators():
    import sys
    sys.path.insert(0, str(ROOT))
    from pages._ui.common import latex_lines
    assert latex_lines(r"a = b,\quad c = \left(d \quad e\right),\ f = \Big(g,\ h\Big)") == [
        "a = b", r"c = \left(d \quad e\right)", r"f = \Big(g,\ h\Big)"]
    assert latex_lines(r"x^{a \quad b}") == [r"x^{a \quad b}"]


def test_unfit_architecture_is_a_warning_on_inspection_pages(app):
    app.session_state.arch_name, app.session_state.arch_options = "cw_n", {}
    for page in ("pages/4_Weights_vs_couplings.py", "pages/5_Samples.py"):
        app.switch_page(page).run()
        assert not app.exception and not app.error
        assert any("does not fit" in w.value for w in app.warning)


def test_large_system_pages_stay_light(app):
    """N = 2000: every page renders quickly; nothing builds a 20-million-parameter network on load."""
    app.switch_page("pages/1_System.py").run()
    app.number_input[0].set_value(2000)
    app.button[0].click().run()
    _clean(app)
    assert app.session_state.system.n == 2000
    for page in PAGES:
        t0 = time.monotonic()
        app.switch_page(page).run()
        _clean(app)
        assert time.monotonic() - t0 < 30
    app.switch_page("pages/2_Architecture.py").run()
    df = app.dataframe[0].value
    assert dict(zip(df["name"], df["fits this system"]))["h2arnn"] == "no"
    app.selectbox(key="arch_pick").set_value("h2arnn").run()
    _clean(app)
    app.switch_page("pages/4_Weights_vs_couplings.py").run()
    _clean(app)
    assert app.button(key="inspect_build") is not None
    assert app.session_state.net is None
