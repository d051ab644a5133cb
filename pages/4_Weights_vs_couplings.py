"""Weights vs couplings: does the network's first layer carry J? (the paper's key picture)."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import math  # noqa: E402

import streamlit as st  # noqa: E402
import torch  # noqa: E402

from arnn_core import plots  # noqa: E402
from pages._ui import common as ui  # noqa: E402

ui.page("Weights vs couplings", "🔍")

RESPONSE_MAX_N = 200


def site_section(net, system, beta: float) -> None:
    st.subheader("One site's conditional")
    n = system.n
    site = st.slider("site i", 1, n - 1, min(n // 2, n - 1), key="site_pick")
    seed = st.number_input("sample seed", 0, 10**6, 0, key="site_seed")
    gen = torch.Generator(device=net.device)
    gen.manual_seed(int(seed))
    with torch.no_grad():
        x, _ = net.sample(1, generator=gen)
        x = x.to(net.dtype)
        logit = float(net.logits(x)[0, site].double().cpu())
    xs = x[0].double().cpu().numpy()
    J = system.J.numpy()
    h = system.h.numpy()
    drawn = J[:site, site] * xs[:site]                # J_si x_s, s < i
    future = xs[:site] @ J[:site, site + 1:]          # c_il = Σ_{s<i} J_sl x_s, l > i
    phi = float(h[site] + drawn.sum())
    skip = 2.0 * beta * phi
    ui.show_plot(plots.site_terms(site, drawn, future, logit_total=logit, skip_term=skip), key="site_terms")
    p = 1.0 / (1.0 + math.exp(-logit))
    st.caption(f"For a sample of the network, spin {site} has field φ = h + Σ_s J_si x_s = {phi:.4g}; the exact "
               f"conditional is σ(2βφ + log ρ⁺ − log ρ⁻) (β = {beta:g}). The network gives logit {logit:.4g}, "
               f"q(x_{site} = +1 | x_<{site}) = {p:.3f}; the right panel shows the fields c_il that the drawn spins leave "
               "on the future spins — the inputs of the per-pair hidden units of SK_kRSB.")


def body():
    ss = st.session_state
    system = ss.system
    st.title("Weights vs couplings")
    if not ui.inspection_allowed():
        return
    net, description, trained = ui.network_for_inspection()
    model = ui.active_model()
    beta = float(model["beta"]) if model else float(ss.w_sample_beta)
    if model is None and getattr(net, "analytic", False):
        net.set_beta(beta)  # exact architectures: their weights are those of this β
    st.markdown(f"**{description}** on **{system.name}** (N = {system.n}).")
    job = ss.get("job")
    if model is not None and job is not None and job.alive:
        st.info("Training is still running: these are the weights at this moment (refresh to update).")
    with torch.no_grad():
        W = net.first_layer_weights()
    label = "First-layer weights W"
    if W is None:
        if system.n > RESPONSE_MAX_N:
            st.warning(f"This architecture has no first layer mapping to J, and its response matrix is computed "
                       f"up to N = {RESPONSE_MAX_N}.")
            return
        st.info("This architecture has no layer whose weights map to J. Shown instead is its nearest analogue, "
                "the response matrix R_si = ½⟨logit_i(x_s=+1) − logit_i(x_s=−1)⟩ over its own samples "
                "(for the exact network at small β it approaches 2βJ).")
        W = ui.response_matrix(net)
        label = "Response matrix R"
    else:
        W = W.detach().double().cpu().numpy()
        if getattr(net, "first_layer_analogue", False):
            st.info("This network has no genuine N×N first layer; shown is its nearest analogue (the end-to-end "
                    "linear map of its masked layers).")
            label = "First-layer analogue W"
        elif model is None or not trained:
            st.caption("Untrained network as built: a first layer pinned to J shows r = 1 by construction; train with "
                       "learn_first_layer on (likelihood mode) to see it learn J.")
    J = system.J.numpy()
    only_coupled = False
    if system.is_sparse:
        only_coupled = st.checkbox("only coupled pairs (J_ij ≠ 0)", value=True, key="only_coupled")
    stats = plots.pair_statistics(W, J, only_coupled=only_coupled)
    stats_abs = plots.pair_statistics(W, J, absolute=True, only_coupled=only_coupled)
    m = st.columns(4)
    m[0].metric("Pearson r (W vs J)", "n/a" if not math.isfinite(stats["r"]) else f"{stats['r']:.3f}")
    m[1].metric("Pearson r (|W| vs |J|)", "n/a" if not math.isfinite(stats_abs["r"]) else f"{stats_abs['r']:.3f}")
    m[2].metric("slope W/J", ui.fmt(stats["slope"], 4))
    m[3].metric("pairs", stats["n_pairs"])
    c1, c2 = st.columns(2)
    with c1:
        fig, _ = plots.weights_vs_couplings(W, J, absolute=True, only_coupled=only_coupled)
        ui.show_plot(fig, key="w_scatter_abs")
    with c2:
        fig, _ = plots.weights_vs_couplings(W, J, only_coupled=only_coupled)
        ui.show_plot(fig, key="w_scatter")
    st.caption("The sign of a learnt W_ij is a gauge freedom (the next layer can flip the sign of its input), so "
               "the paper's test is |W| against |J|; a first layer pinned to J gives r = 1 by construction.")
    if system.n <= ui.HEATMAP_MAX_N:
        ui.show_plot(plots.side_by_side_heatmaps(W, J, titles=(label, "Couplings J")), key="w_heat")
    site_section(net, system, beta)


ui.guarded(body)
