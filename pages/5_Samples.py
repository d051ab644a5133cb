"""Samples: draw from the network and compare its distributions with the exact (or Monte Carlo) ones."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import io  # noqa: E402

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
import torch  # noqa: E402

from arnn_core import plots  # noqa: E402
from pages._ui import common as ui  # noqa: E402

ui.page("Samples", "🎲")

MAX_DRAW = 50_000


def draw(net, system, beta: float, n: int, seed: int) -> dict:
    if getattr(net, "analytic", False):
        net.set_beta(beta)
    gen = torch.Generator(device=net.device)
    gen.manual_seed(seed)
    with torch.no_grad():
        x, log_q = net.sample(n, generator=gen)
    x_np = x.detach().cpu().numpy().astype(np.int8)
    energy = system.energy(torch.from_numpy(x_np.astype(np.float64))).numpy() / system.n
    return {"x": x_np, "energy": energy, "log_q": log_q.detach().double().cpu().numpy()}


def body():
    ss = st.session_state
    system = ss.system
    st.title("Samples")
    if not ui.inspection_allowed():
        return
    net, description, trained = ui.network_for_inspection()
    model = ui.active_model()
    st.markdown(f"**{description}** on **{system.name}** (N = {system.n}).")
    c1, c2, c3, _ = st.columns([1, 1, 1, 2])
    if model is not None:
        beta = float(model["beta"])
        c1.metric("β (of the trained network)", f"{beta:g}")
    else:
        c1.number_input("β", 0.001, 20.0, key="w_sample_beta", step=0.1, format="%.3f")
        beta = float(ss.w_sample_beta)
        if not getattr(net, "analytic", False):
            st.caption("This network is untrained: train it first for meaningful samples (exact architectures "
                       "such as H2ARNN and CW_N need no training).")
    c2.number_input("samples", 100, MAX_DRAW, key="w_sample_n", step=500)
    seed = int(c3.number_input("seed", 0, 10**6, 0, key="sample_seed"))
    n_draw = int(ss.w_sample_n)
    cache_key = (id(net), ss.system_key, beta, n_draw, seed, model["job"] is not None if model else None)
    if st.button("Draw samples", type="primary", key="draw"):
        with st.spinner("Sampling…"):
            ss.samples_cache = {"key": cache_key, **draw(net, system, beta, n_draw, seed)}
    data = ss.get("samples_cache")
    if not data or data.get("key") != cache_key:
        st.info("Press **Draw samples** to sample the network and compare with the reference.")
        return
    x, e_model = data["x"], data["energy"]

    # reference: exact when N allows, else Metropolis at the same β
    ref_name, ref_x, exact = None, None, None
    if system.n <= ui.EXACT_MAX_N:
        exact = ui.exact_reference(ss.system_key, beta, system)
        ref_x = ui.exact_samples(ss.system_key, beta, n_draw, seed, system)
        ref_name = "exact"
    elif ui.exact_possible(system):
        exact = ui.exact_reference(ss.system_key, beta, system)
        ref_name = "exact"
    if ref_x is None:
        try:
            ref_x = ui.metropolis_reference(ss.system_key, beta, min(n_draw, 5000), seed, system)
            ref_name = ref_name or "Metropolis"
        except Exception as exc:
            st.warning(f"No Monte Carlo reference: {exc}")
    ref_mc_name = "exact" if system.n <= ui.EXACT_MAX_N else "Metropolis"
    e_ref = None if ref_x is None else system.energy(torch.from_numpy(ref_x.astype(np.float64))).numpy() / system.n

    m_model = ui.magnetization_hist(x)
    if exact is not None and "m_values" in exact:
        m_ref = (exact["m_values"], exact["m_probs"])
    elif ref_x is not None:
        m_ref = ui.magnetization_hist(ref_x)
    else:
        m_ref = None
    c1, c2 = st.columns(2)
    with c1:
        ui.show_plot(plots.distribution_comparison(m_model, m_ref, "m = M/N", "Magnetisation P(m)",
                                                   reference_name=ref_name or "reference"), key="pm")
    with c2:
        q_ref = ui.overlap_hist(ref_x) if ref_x is not None else None
        ui.show_plot(plots.distribution_comparison(ui.overlap_hist(x), q_ref, "q", "Overlap P(q)",
                                                   reference_name=ref_mc_name), key="pq")
    c1, c2 = st.columns(2)
    with c1:
        e_m, e_r = ui.energy_hist(e_model, e_ref)
        ui.show_plot(plots.distribution_comparison(e_m, e_r, "energy density H/N", "Energy",
                                                   reference_name=ref_mc_name), key="pe")
    with c2:
        mean_model = x.astype(np.float64).mean(0)
        if exact is not None and exact.get("mean_spin") is not None and np.all(np.isfinite(exact["mean_spin"])):
            mean_ref, name = exact["mean_spin"], "exact"
        elif ref_x is not None:
            mean_ref, name = ref_x.astype(np.float64).mean(0), ref_mc_name
        else:
            mean_ref, name = np.zeros_like(mean_model), "none"
        ui.show_plot(plots.mean_spin_comparison(mean_model, mean_ref, reference_name=name), key="meanspin")
    shape = system.metadata.get("lattice_shape")
    if shape and len(shape) >= 2:
        L = int(shape[-1])
        images = x.reshape(x.shape[0], -1, L * L)[:, 0, :] if len(shape) == 3 else x
        ui.show_plot(plots.lattice_samples(images, (int(shape[-2]), L)), key="lattice")
        if len(shape) == 3:
            st.caption("3D lattice: the first layer (z = 0) of each sample.")
    buf = io.StringIO()
    np.savetxt(buf, x, fmt="%d", delimiter=",")
    st.download_button("Download samples (CSV)", buf.getvalue().encode("ascii"), file_name="samples.csv",
                       mime="text/csv")


ui.guarded(body)
