"""ARNN Spin Lab — Home page (run with ``streamlit run app.py``).

The other pages live in ``pages/`` (Streamlit's file-based multipage discovery, so a deep link
such as ``/Train`` works on a fresh server); every page starts with the same idempotent state
initialiser, and a fresh session already holds a ready example (SK N = 20 with SK_1RSB).
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

import arnn_core as ac  # noqa: E402
from pages._ui import common as ui  # noqa: E402

ui.page("Home", "🧲")


def body():
    st.title("ARNN Spin Lab")
    st.markdown(
        "An **autoregressive neural network** writes a Boltzmann distribution as a product of "
        "conditionals, $q(x)=\\prod_i q(x_i\\mid x_{<i})$, so it can be sampled exactly and its free energy bounded "
        "from above. For pairwise spin systems the exact conditionals have a fixed structure "
        "(Biazzo, *Commun. Phys.* 6, 296, 2023): the **first layer is the Hamiltonian itself** — its weights "
        "are the couplings J and its biases the fields h — followed by a small non-linear head per future spin. "
        "Here you build a spin system, pick an architecture derived from that structure, train it live and "
        "check it against exact enumeration."
    )
    st.latex(r"q(x_i{=}{+}1\mid x_{<i}) = \sigma\!\Big(2\beta\,\underbrace{\big(h_i + \textstyle\sum_{s<i} J_{si}\,x_s\big)}_{\text{first layer: weights}=J,\ \text{bias}=h}"
             r" + \log\rho_i^{+} - \log\rho_i^{-}\Big)")
    st.latex(r"\rho_i^{\pm}=\sum_{x_{>i}} e^{\beta\sum_{l>i}(h_l \pm J_{il} + c_{il})x_l+\beta\sum_{i<l<l'}J_{ll'}x_lx_{l'}},"
             r"\qquad c_{il}=\sum_{s<i}J_{sl}\,x_s")
    ss = st.session_state
    c1, c2 = st.columns([2, 3])
    with c1:
        if st.button("Load the ready example: SK, N = 20, with SK_1RSB", type="primary", key="load_example"):
            ui.load_example()
            st.success("Loaded: SK N = 20 (seed 0) with SK_1RSB. Open **Train** and press Start.")
        st.markdown(f"**Current system:** {ss.system.name} (N = {ss.system.n})  \n"
                    f"**Architecture:** {ui.arch_label(ss.arch_name)}")
        st.page_link("pages/3_Train.py", label="Go to Train →")
    with c2:
        st.markdown("**Compute device**")
        try:
            st.code(ac.device_description(ss.w_device), language=None)
        except ValueError as exc:
            st.warning(str(exc))
        st.caption("Available: " + ", ".join(ac.available_devices()))
    st.markdown(
        "**Pages:** *System* (build or upload J and h) · *Architecture* (the networks and their parameter "
        "counts) · *Train* (variational or likelihood, live) · *Weights vs couplings* (does the first layer "
        "learn J?) · *Samples* (distributions against exact or Monte Carlo) · *Compare* (relative error vs β)."
    )


ui.guarded(body)
