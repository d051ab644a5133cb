"""Train: variational (free energy, β annealing) or likelihood (Metropolis or uploaded samples),
in a background job, with live charts drawn by a fragment from the job's locked snapshot."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

import arnn_core as ac  # noqa: E402
from arnn_core import jobs, plots  # noqa: E402
from pages._ui import common as ui  # noqa: E402

ui.page("Train", "🏋️")

MODES = ("Variational (free energy)", "Likelihood on Metropolis samples", "Likelihood on uploaded samples")
PRESETS = ("Quick", "Paper's protocol", "Custom")
MAX_BETAS = 400
REFRESH_SECONDS = 1.0


def apply_preset() -> None:
    """on_change of the preset box: copy the protocol's numbers into the widgets."""
    ss = st.session_state
    for key, value in ui.preset_values(ss.w_preset, ss.system.n, ss.w_device).items():
        ss[key] = value


def mark_custom() -> None:
    st.session_state.w_preset = "Custom"


def settings() -> None:
    ss = st.session_state
    c1, c2 = st.columns([3, 1])
    c1.radio("Mode", MODES, key="w_mode", horizontal=True)
    c2.selectbox("Device", ac.available_devices(), key="w_device")
    if ss.w_mode == MODES[0]:
        st.selectbox("Preset", PRESETS, key="w_preset", on_change=apply_preset,
                     help="Quick: a preview of the annealing. Paper's protocol: β 0.1→2.0 by 0.05, ≤1000 Adam "
                          "steps per β, batch 2000, lr 1e-3, leave a β when std(L)/(βN) < 1e-4.")
        a, b, c, d = st.columns(4)
        a.number_input("β start", 0.001, 20.0, key="w_beta_start", step=0.05, format="%.3f", on_change=mark_custom)
        b.number_input("β stop", 0.001, 20.0, key="w_beta_stop", step=0.05, format="%.3f", on_change=mark_custom)
        c.number_input("β step", 0.001, 10.0, key="w_beta_step", step=0.01, format="%.3f", on_change=mark_custom)
        d.number_input("steps per β", 1, 100000, key="w_steps_per_beta", on_change=mark_custom)
        a, b, c, d = st.columns(4)
        a.number_input("batch size", 2, 100000, key="w_batch", on_change=mark_custom)
        b.number_input("learning rate", 1e-6, 1.0, key="w_lr", step=1e-4, format="%.1e", on_change=mark_custom)
        c.number_input("initial steps at first β", 0, 100000, key="w_init_steps", on_change=mark_custom)
        d.number_input("seed", 0, 2**31 - 1, key="w_seed")
        a, b, c, d = st.columns(4)
        a.checkbox("leave a β early", key="w_early_stop", on_change=mark_custom,
                   help="when std(L)/(βN) of a batch falls below the threshold")
        b.number_input("threshold", 0.0, 1.0, key="w_std_threshold", format="%.1e", on_change=mark_custom,
                       disabled=not ss.w_early_stop)
        c.number_input("clip gradient norm (0 = off)", 0.0, 1e6, key="w_clip")
        d.number_input("final estimate samples (0 = skip)", 0, 200000, key="w_final_samples", step=1000)
    elif ss.w_mode == MODES[1]:
        st.caption("Metropolis samples are drawn at β in the background, then the network is trained by maximum "
                   "likelihood. With sk_krsb and learn_first_layer on (Architecture page) this is the paper's "
                   "weights-vs-couplings experiment.")
        a, b, c, d = st.columns(4)
        a.number_input("β of the samples", 0.001, 20.0, key="w_lik_beta", step=0.1, format="%.3f")
        b.number_input("samples", 10, 200000, key="w_lik_samples", step=500)
        c.number_input("sweeps between samples", 1, 10000, key="w_lik_sweeps")
        d.number_input("burn-in sweeps", 0, 100000, key="w_lik_burn")
        likelihood_settings()
    else:
        up = st.file_uploader("Samples: CSV/TXT (one ±1 or 0/1 sample per row), NPY or NPZ",
                              type=["csv", "txt", "npy", "npz"], key="samples_upload")
        if up is not None:
            try:
                ss.uploaded_samples = ui.parse_samples_upload(up.getvalue(), up.name, ss.system.n)
                ss.uploaded_name = up.name
                st.success(f"{up.name}: {ss.uploaded_samples.shape[0]} samples of N = {ss.system.n}.")
            except ValueError as exc:
                ss.uploaded_samples = None
                st.error(f"Could not use {up.name}: {exc}")
        a, _, _, _ = st.columns(4)
        a.number_input("β of the samples (for estimates)", 0.001, 20.0, key="w_lik_beta", step=0.1, format="%.3f")
        likelihood_settings()


def likelihood_settings() -> None:
    a, b, c, d = st.columns(4)
    a.number_input("epochs", 1, 10000, key="w_lik_epochs")
    b.number_input("batch size", 1, 100000, key="w_lik_batch")
    c.number_input("learning rate", 1e-6, 1.0, key="w_lik_lr", step=1e-4, format="%.1e")
    d.number_input("validation fraction", 0.0, 0.9, key="w_lik_val", step=0.05)


def start_training() -> None:
    """on_click of Start: validate, build a fresh network on the device, start the job."""
    ss = st.session_state
    ss.train_error = None
    try:
        _start_training()
    except ValueError as exc:
        ss.train_error = str(exc)
    except Exception as exc:  # e.g. CUDA OOM while building the network
        ss.train_error = jobs.friendly_error(exc, ss.w_device)


def _start_training() -> None:
    ss = st.session_state
    if ss.get("job") is not None and ss.job.alive:
        raise ValueError("a run is already in progress; stop it first")
    system = ss.system
    spec, options = ui.current_arch()
    problem = ui.architecture_problem(spec, system, options)
    if problem:
        raise ValueError(f"{spec.label} does not fit this system: {problem}")
    device = ss.w_device
    ac.resolve_device(device)
    variational = ss.w_mode == MODES[0]
    batch = int(ss.w_batch if variational else ss.w_lik_batch)
    too_big = jobs.check_fits_device(spec, system, options, batch, device)
    if too_big:
        raise ValueError(too_big)
    if variational:
        if ss.w_beta_stop < ss.w_beta_start:
            raise ValueError("β stop must be ≥ β start")
        betas = ac.beta_schedule(float(ss.w_beta_start), float(ss.w_beta_stop), float(ss.w_beta_step))
        if len(betas) > MAX_BETAS:
            raise ValueError(f"the schedule has {len(betas)} β values; at most {MAX_BETAS} (raise the β step)")
    net = ui.build_net(device=device)
    beta_final = float(ss.w_beta_stop if variational else ss.w_lik_beta)
    if variational:
        config = {"mode": "variational", "architecture": spec.name, "options": options, "betas": betas,
                  "steps_per_beta": int(ss.w_steps_per_beta), "batch_size": batch, "lr": float(ss.w_lr),
                  "init_steps": int(ss.w_init_steps),
                  "std_threshold": float(ss.w_std_threshold) if ss.w_early_stop else None,
                  "clip_grad": float(ss.w_clip) if ss.w_clip > 0 else None, "seed": int(ss.w_seed),
                  "final_samples": int(ss.w_final_samples), "device": device}
        job = jobs.variational_job(net, system, betas, config["steps_per_beta"], batch_size=batch, lr=config["lr"],
                                   init_steps=config["init_steps"], std_threshold=config["std_threshold"],
                                   clip_grad=config["clip_grad"], seed=config["seed"],
                                   final_samples=config["final_samples"],
                                   exact_kl=system.n <= ui.EXACT_MAX_N and ss.w_final_samples > 0,
                                   device=device, label=f"{spec.name} variational")
    else:
        config = {"mode": "likelihood", "architecture": spec.name, "options": options, "beta": beta_final,
                  "epochs": int(ss.w_lik_epochs), "batch_size": batch, "lr": float(ss.w_lik_lr),
                  "validation_fraction": float(ss.w_lik_val), "device": device}
        if ss.w_mode == MODES[1]:
            n_samples, sweeps, burn, seed = (int(ss.w_lik_samples), int(ss.w_lik_sweeps), int(ss.w_lik_burn),
                                             int(ss.w_seed))
            config.update(samples="metropolis", n_samples=n_samples, sweeps_between=sweeps, burn_in=burn, seed=seed)

            def make_samples():
                res = ac.metropolis(system, beta_final, n_samples=n_samples, n_chains=min(n_samples, 100),
                                    sweeps_between=sweeps, burn_in=burn, seed=seed)
                return res.samples
            job = jobs.likelihood_job(net, epochs=config["epochs"], batch_size=batch, lr=config["lr"],
                                      validation_fraction=config["validation_fraction"], make_samples=make_samples,
                                      device=device, label=f"{spec.name} likelihood")
        else:
            samples = ss.get("uploaded_samples")
            if samples is None:
                raise ValueError("upload a samples file first")
            config.update(samples=ss.get("uploaded_name", "upload"), n_samples=int(samples.shape[0]))
            job = jobs.likelihood_job(net, epochs=config["epochs"], batch_size=batch, lr=config["lr"],
                                      validation_fraction=config["validation_fraction"], samples=samples,
                                      device=device, label=f"{spec.name} likelihood")
    opts = ", ".join(f"{k}={v}" for k, v in options.items())
    ss.job = job.start()
    ss.model = {"net": net, "system": system, "system_key": ss.system_key, "arch": spec.name, "options": options,
                "mode": config["mode"], "beta": beta_final, "config": config, "job": job,
                "description": f"{spec.label}{' (' + opts + ')' if opts else ''}, {config['mode']} to β = {beta_final:g}"}
    ss.downloads = None


def load_saved_run() -> None:
    """A run zip (downloaded here or written by the CLI) becomes the current system, architecture
    and trained network; its history is replayed into the charts."""
    ss = st.session_state
    up = ss.get("run_upload")
    ss.train_error = None
    if up is None:
        return
    if ss.get("job") is not None and ss.job.alive:
        ss.train_error = "stop the current run before loading another"
        return
    try:
        raw = up.getvalue()
        if len(raw) > ui.MAX_UPLOAD_BYTES:
            raise ValueError(f"the file is {len(raw) / 2**20:.1f} MB; the limit is {ui.MAX_UPLOAD_BYTES // 2**20} MB")
        run = ac.load_run_zip(raw, where=up.name)
        ui.set_system(run.system, {"family": "upload", "file": up.name})
        ss.arch_name, ss.arch_options = run.config["architecture"], dict(run.config.get("options") or {})
        training = dict(run.config.get("training") or {})
        mode = training.get("mode") or ("likelihood" if any("train_nll" in r for r in run.history) else "variational")
        beta = run.last_beta if run.last_beta is not None else float(training.get("beta", 1.0))
        job = jobs.replay_job(run.history, label=f"{run.config['architecture']} (loaded)").start()
        job.join(10)
        spec = ac.get_architecture(ss.arch_name)
        ss.job = job
        ss.model = {"net": run.net, "system": run.system, "system_key": ss.system_key, "arch": spec.name,
                    "options": ss.arch_options, "mode": mode, "beta": float(beta), "config": training, "job": job,
                    "description": f"{spec.label} loaded from {up.name}, {mode} to β = {float(beta):g}"}
        ss.downloads = None
    except ValueError as exc:
        ss.train_error = f"Could not load {up.name}: {exc}"


def stop_training() -> None:
    job = st.session_state.get("job")
    if job is not None:
        job.stop()


def results(snap, model) -> None:
    ss = st.session_state
    res = snap.result or {}
    est = res.get("estimate") if isinstance(res, dict) else None
    exact = None
    if ui.exact_possible(model["system"]):
        try:
            exact = ui.exact_reference(model["system_key"], float(model["beta"]), model["system"])
        except Exception as exc:
            st.caption(f"(exact reference unavailable: {jobs.friendly_error(exc)})")
    rows = []
    if est:
        f_exact = est.get("free_energy_exact") or (exact or {}).get("free_energy")
        rows.append(("variational f_q", est.get("free_energy"), est.get("free_energy_stderr"),
                     est.get("relative_error")))
        rows.append(("importance-sampled f_IS", est.get("free_energy_is"), est.get("free_energy_is_stderr"),
                     est.get("relative_error_is")))
        if f_exact is not None:
            rows.append(("exact f", f_exact, None, None))
        rows.append(("energy ⟨H⟩/N", est.get("energy"), None, None))
        rows.append(("entropy", est.get("entropy"), None, None))
        rows.append(("⟨|m|⟩", est.get("abs_magnetization"), None, None))
        st.markdown(f"**Estimates at β = {model['beta']:g}** on {est.get('n_samples', '?')} samples")
        st.dataframe(pd.DataFrame([{"quantity": q, "value": ui.fmt(v, 8), "std. error": ui.fmt(e, 3),
                                    "relative error": ui.fmt(r, 3)} for q, v, e, r in rows]),
                     hide_index=True, width="content")
        m = st.columns(3)
        m[0].metric("ESS (fraction)", ui.fmt(est.get("ess"), 3))
        if res.get("exact_kl") is not None:
            m[1].metric("exact KL(q‖P)", ui.fmt(res.get("exact_kl"), 3))
    elif model["mode"] == "likelihood" and snap.records:
        last = snap.records[-1]
        st.markdown(f"Final NLL per spin: train {ui.fmt(last.get('train_nll_per_spin'))}, "
                    f"validation {ui.fmt(last.get('validation_nll_per_spin'))}. "
                    "Open **Weights vs couplings** to compare the first layer with J.")
    if ss.get("downloads") is None or ss.downloads.get("job") is not model["job"]:
        history = res.get("history") if isinstance(res, dict) and res.get("history") else snap.records
        payload = {"config": model["config"], "system": model["system"].name, "architecture": model["arch"],
                   "options": model["options"], "state": snap.state, "message": snap.message,
                   "estimate": {k: v for k, v in (est or {}).items() if not hasattr(v, "__len__") or isinstance(v, str)},
                   "exact_kl": res.get("exact_kl") if isinstance(res, dict) else None, "history": history}
        weights = None
        try:
            weights = ac.run_to_zip_bytes(model["net"], model["system"], ac.to_jsonable(model["config"]),
                                          ac.to_jsonable(history))
        except Exception as exc:
            st.caption(f"(weights archive unavailable: {jobs.friendly_error(exc)})")
        ss.downloads = {"job": model["job"], "json": ui.json_bytes(payload), "zip": weights}
    d1, d2, _ = st.columns([1, 1, 2])
    d1.download_button("Config + history (JSON)", ss.downloads["json"], file_name="run.json", mime="application/json")
    if ss.downloads["zip"] is not None:
        d2.download_button("Run with weights (zip)", ss.downloads["zip"], file_name="run.zip", mime="application/zip")


def live() -> None:
    """Drawn by a fragment: progress, metrics and charts from the job's snapshot."""
    ss = st.session_state
    job = ss.get("job")
    model = ss.get("model")
    if job is None or model is None:
        st.info("No run yet: choose the settings above and press **Start**.")
        return
    snap = job.snapshot()
    state_text = {"running": "running", "stopping": "stopping…", "finished": "finished", "stopped": "stopped",
                  "diverged": "diverged", "failed": "failed", "created": "starting"}.get(snap.state, snap.state)
    st.markdown(f"**{model['description']}** — {state_text}" + (f" · {snap.phase}" if snap.phase and snap.running else ""))
    if snap.progress is not None:
        eta = "" if snap.eta_seconds is None else f", about {snap.eta_seconds:,.0f} s left"
        st.progress(snap.progress, text=f"{100 * snap.progress:.0f}% · {snap.elapsed_seconds:,.0f} s elapsed{eta}")
    if snap.state == "failed":
        st.error(snap.message)
    elif snap.state == "diverged":
        st.error(snap.message)
    elif snap.state == "stopped":
        st.warning(snap.message)
    elif snap.state == "finished":
        st.success("Finished.")
    recs = snap.records
    if recs:
        last = recs[-1]
        if model["mode"] == "variational":
            m = st.columns(3)
            m[0].metric("step", last.get("step"))
            m[1].metric("β", ui.fmt(last.get("beta"), 4))
            m[2].metric("samples / s", ui.fmt(last.get("samples_per_second"), 3))
            m = st.columns(3)
            m[0].metric("f_q", ui.fmt(last.get("free_energy"), 7))
            m[1].metric("exact f", ui.fmt(last.get("free_energy_exact"), 7))
            m[2].metric("relative error", ui.fmt(last.get("relative_error"), 3))
            ui.show_plot(plots.training_curves(recs), key="train_chart")
            if snap.running and (last.get("step_seconds") or 0) > 1.0:
                st.caption(f"One step takes {last['step_seconds']:.1f} s; Stop acts between steps — lower the "
                           "batch size for a quicker response.")
        else:
            m = st.columns(4)
            m[0].metric("epoch", last.get("epoch"))
            m[1].metric("train NLL / N", ui.fmt(last.get("train_nll_per_spin"), 6))
            m[2].metric("validation NLL / N", ui.fmt(last.get("validation_nll_per_spin"), 6))
            m[3].metric("samples / s", ui.fmt(last.get("samples_per_second"), 3))
            floor = None
            if model["config"].get("samples") == "metropolis" and ui.exact_possible(model["system"]):
                try:  # the samples' own entropy bounds the NLL from below (if they are equilibrated)
                    ref = ui.exact_reference(model["system_key"], float(model["beta"]), model["system"])
                    floor = ref.get("entropy") if ref else None
                except Exception:
                    floor = None
            ui.show_plot(plots.likelihood_curves(recs, entropy_floor=floor), key="train_chart")
    elif snap.running:
        st.caption("Waiting for the first step…")
    if snap.done:
        results(snap, model)
        if ss.get("_train_seen_done") is not job:
            ss._train_seen_done = job
            st.rerun()  # once, so the Start/Stop buttons outside the fragment update


def body():
    ss = st.session_state
    st.title("Train")
    spec, options = ui.current_arch()
    st.markdown(f"**{spec.label}** on **{ss.system.name}** (N = {ss.system.n}). "
                f"{'Exact references are on.' if ui.exact_possible(ss.system) else 'N is above the exact limit: no exact reference.'}")
    job = ss.get("job")
    running = job is not None and job.alive
    with st.expander("Settings", expanded=job is None):
        settings()
    b1, b2, _ = st.columns([1, 1, 4])
    b1.button("Start", type="primary", on_click=start_training, disabled=running, key="start")
    b2.button("Stop", on_click=stop_training, disabled=not running, key="stop")
    with st.expander("Load a saved run (zip from this page or the CLI)"):
        st.file_uploader("Run archive", type=["zip"], key="run_upload")
        st.button("Load run", on_click=load_saved_run, disabled=running, key="load_run")
    if ss.get("train_error"):
        st.error(ss.train_error)
    st.fragment(live, run_every=REFRESH_SECONDS if running else None)()


ui.guarded(body)
