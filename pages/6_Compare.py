"""Compare: several architectures on one system over one β schedule — the paper's figure in miniature."""

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

ui.page("Compare", "📊")


def fitting_architectures(system) -> list:
    return [s for s in ac.available_architectures() if ui.architecture_problem(s, system, s.defaults()) is None]


def start_compare() -> None:
    ss = st.session_state
    ss.compare_error = None
    try:
        if ss.get("compare_job") is not None and ss.compare_job.alive:
            raise ValueError("a comparison is already running")
        names = list(ss.w_cmp_archs)
        if not names:
            raise ValueError("choose at least one architecture")
        system, device = ss.system, ss.w_device
        ac.resolve_device(device)
        betas = ac.beta_schedule(0.1, float(ss.w_cmp_beta_stop), float(ss.w_cmp_beta_step))
        entries = []
        for name in names:
            spec = ac.get_architecture(name)
            problem = ui.architecture_problem(spec, system, spec.defaults())
            if problem:
                raise ValueError(f"{spec.label}: {problem}")
            too_big = jobs.check_fits_device(spec, system, spec.defaults(), int(ss.w_cmp_batch), device)
            if too_big:
                raise ValueError(too_big)
            entries.append((spec.label, lambda name=name: ac.make_arnn(name, system).to(ac.resolve_device(device))))
        job = jobs.compare_job(system, entries, betas, int(ss.w_cmp_steps), batch_size=int(ss.w_cmp_batch),
                               lr=float(ss.w_cmp_lr), seed=int(ss.w_seed), device=device)
        ss.compare_job = job.start()
        ss.compare_meta = {"system": system.name, "system_key": ss.system_key, "betas": betas, "archs": names}
    except ValueError as exc:
        ss.compare_error = str(exc)


def stop_compare() -> None:
    job = st.session_state.get("compare_job")
    if job is not None:
        job.stop()


def summary_from_records(records) -> dict:
    """Last record at every β for each architecture (works while the comparison runs)."""
    out: dict = {}
    for r in records:
        entry = out.setdefault(r.get("arch", "?"), {"per_beta": {}})
        entry["per_beta"][r.get("beta")] = r
    return {k: {"per_beta": [v["per_beta"][b] for b in sorted(v["per_beta"])]} for k, v in out.items()}


def live() -> None:
    ss = st.session_state
    job = ss.get("compare_job")
    if job is None:
        st.info("No comparison yet: choose architectures and press **Start comparison**.")
        return
    snap = job.snapshot()
    meta = ss.compare_meta
    st.markdown(f"**{meta['system']}** — {snap.state}" + (f" · {snap.phase}" if snap.running and snap.phase else ""))
    if snap.progress is not None:
        st.progress(snap.progress, text=f"{100 * snap.progress:.0f}% · {snap.elapsed_seconds:,.0f} s elapsed")
    if snap.state == "failed":
        st.error(snap.message)
    summary = summary_from_records(snap.records)
    final = snap.result or {}
    for label, entry in final.items():
        if label in summary:
            summary[label].update(trainable=entry.get("trainable"), fixed=entry.get("fixed"))
    if summary:
        ui.show_plot(plots.compare_figure(summary), key="cmp_chart")
        rows = []
        for label, entry in summary.items():
            last = entry["per_beta"][-1] if entry["per_beta"] else {}
            info = final.get(label, {})
            rows.append({"architecture": label, "trainable": info.get("trainable"), "fixed": info.get("fixed"),
                         "last β": last.get("beta"), "f_q": ui.fmt(last.get("free_energy"), 8),
                         "relative error": ui.fmt(last.get("relative_error"), 3),
                         "seconds": ui.fmt(info.get("seconds"), 3), "error": info.get("error") or ""})
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if snap.done and ss.get("_cmp_seen_done") is not job:
        ss._cmp_seen_done = job
        st.rerun()


def body():
    ss = st.session_state
    system = ss.system
    st.title("Compare architectures")
    st.markdown(f"On **{system.name}** (N = {system.n}), β from 0.1 in equal steps, each architecture trained in "
                "turn with the same settings. " + ("The relative error is against the exact free energy."
                                                   if ui.exact_possible(system) else
                                                   "N is above the exact limit: the chart shows f_q (lower is better)."))
    fits = fitting_architectures(system)
    names = [s.name for s in fits]
    ss.w_cmp_archs = [n for n in ss.w_cmp_archs if n in names]
    job = ss.get("compare_job")
    running = job is not None and job.alive
    st.multiselect("Architectures (those that fit this system)", names, key="w_cmp_archs",
                   format_func=lambda n: ac.get_architecture(n).label)
    a, b, c, d, e, f = st.columns(6)
    a.number_input("β stop", 0.1, 20.0, key="w_cmp_beta_stop", step=0.1, format="%.2f")
    b.number_input("β step", 0.01, 5.0, key="w_cmp_beta_step", step=0.05, format="%.2f")
    c.number_input("steps per β", 1, 10000, key="w_cmp_steps")
    d.number_input("batch", 2, 100000, key="w_cmp_batch")
    e.number_input("learning rate", 1e-6, 1.0, key="w_cmp_lr", step=1e-4, format="%.1e")
    f.selectbox("Device", ac.available_devices(), key="w_device")
    b1, b2, _ = st.columns([2, 1, 4])
    b1.button("Start comparison", type="primary", on_click=start_compare, disabled=running, key="cmp_start")
    b2.button("Stop", on_click=stop_compare, disabled=not running, key="cmp_stop")
    if ss.get("compare_error"):
        st.error(ss.compare_error)
    st.fragment(live, run_every=1.0 if running else None)()


ui.guarded(body)
