"""System: build a spin system (or upload one), look at J, its graph and histogram, download it."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

import arnn_core as ac  # noqa: E402
from arnn_core import plots  # noqa: E402
from pages._ui import common as ui  # noqa: E402

ui.page("System", "🧩")

FAMILIES = {
    "sk": "Sherrington–Kirkpatrick (dense spin glass)",
    "curie_weiss": "Curie–Weiss (dense ferromagnet)",
    "ea2d": "Edwards–Anderson 2D lattice",
    "ea3d": "Edwards–Anderson 3D lattice",
    "random_regular": "Random regular graph",
    "erdos_renyi": "Erdős–Rényi graph",
    "barabasi_albert": "Barabási–Albert graph",
    "upload": "Upload (edge list / JSON / NPZ)",
}
COUPLING_LABELS = {"pm1": "±J", "gaussian": "Gaussian", "ferro": "ferromagnetic (+J)"}


def build_form(family: str) -> None:
    ss = st.session_state
    prev = ss.system_params if ss.system_params.get("family") == family else {}
    with st.form(f"build_{family}"):
        params: dict = {"family": family}
        cols = st.columns(4)
        if family in ("ea2d", "ea3d"):
            params["L"] = cols[0].number_input("L (side)", 2, 64 if family == "ea2d" else 16,
                                               int(prev.get("L", 4 if family == "ea2d" else 3)))
            params["periodic"] = cols[1].checkbox("periodic", bool(prev.get("periodic", True)))
        else:
            params["n"] = cols[0].number_input("N (spins)", 2, ui.MAX_N, int(prev.get("n", 20)))
        if family == "random_regular":
            params["d"] = cols[1].number_input("degree d", 1, 50, int(prev.get("d", 3)))
        if family == "erdos_renyi":
            params["p"] = cols[1].number_input("edge probability p", 0.0, 1.0, float(prev.get("p", 0.2)), 0.01)
        if family == "barabasi_albert":
            params["m"] = cols[1].number_input("edges per new node m", 1, 50, int(prev.get("m", 2)))
        if family == "sk":
            params["J0"] = cols[1].number_input("J0 (mean J0/N)", -5.0, 5.0, float(prev.get("J0", 0.0)), 0.1)
        params["J"] = cols[2].number_input("J (scale)", -10.0, 10.0, float(prev.get("J", 1.0)), 0.1)
        params["h"] = cols[3].number_input("h (uniform field)", -10.0, 10.0, float(prev.get("h", 0.0)), 0.1)
        if family != "curie_weiss":
            c2 = st.columns(4)
            kinds = ["gaussian", "pm1"] if family == "sk" else list(ac.COUPLING_KINDS)
            default = prev.get("couplings", "gaussian" if family == "sk" else "pm1")
            params["couplings"] = c2[0].selectbox("couplings", kinds, index=kinds.index(default) if default in kinds else 0,
                                                  format_func=lambda k: COUPLING_LABELS.get(k, k))
            params["seed"] = int(c2[1].number_input("seed", 0, 2**31 - 1, int(prev.get("seed") or 0)))
        submitted = st.form_submit_button("Build system", type="primary")
    if submitted:
        n = ui.expected_n(params)
        if n > ui.MAX_N:
            st.error(f"N = {n} is above the app's limit of {ui.MAX_N} spins; the previous system is kept.")
            return
        try:
            with st.spinner("Building…"):
                system = ui.build_system(params)
            ui.set_system(system, params)
            st.success(f"Built {system.name}.")
        except ValueError as exc:
            st.error(f"Could not build this system: {exc}. The previous system is kept.")


def upload_form() -> None:
    st.markdown("Edge list: lines `i j J_ij` (0-based) and optional `i h_i`; `#` comments. "
                "JSON/NPZ: as downloaded from this page. Pickle is never read.")
    up = st.file_uploader("System file", type=["txt", "edges", "csv", "tsv", "json", "npz"], key="system_upload")
    if up is not None and st.button("Load this file", type="primary"):
        raw = up.getvalue()
        try:
            if len(raw) > ui.MAX_UPLOAD_BYTES:
                raise ValueError(f"the file is {len(raw) / 2**20:.1f} MB; the limit is {ui.MAX_UPLOAD_BYTES // 2**20} MB")
            name = up.name.lower()
            if name.endswith(".json"):
                system = ac.load_system(raw, format="json")
            elif name.endswith(".npz"):
                system = ac.load_system(raw, format="npz")
            else:
                system = ac.from_edge_list(raw, name=Path(up.name).stem)
            if system.n > ui.MAX_N:
                raise ValueError(f"N = {system.n} is above the app's limit of {ui.MAX_N} spins")
            ui.set_system(system, {"family": "upload", "file": up.name})
            st.success(f"Loaded {system.name} (N = {system.n}).")
        except ValueError as exc:
            st.error(f"Could not load {up.name}: {exc}. The previous system is kept.")


def summary(system) -> None:
    n = system.n
    cols = st.columns(4)
    cols[0].metric("N (spins)", n)
    cols[1].metric("couplings (i<j)", system.num_edges)
    cols[2].metric("density", f"{system.density:.3g}")
    cols[3].metric("family", ui.FAMILY_SHORT.get(system.family, system.family))
    if n <= ui.EXACT_MAX_N:
        st.info(f"Exact enumeration is on: 2^{n} = {2 ** n:,} states (a fraction of a second to a few seconds).")
    elif system.curie_weiss_parameters() is not None:
        st.info("Curie–Weiss: the exact free energy is a sum over N+1 magnetisations, available at any N.")
    else:
        st.warning(f"N = {n} > {ui.EXACT_MAX_N}: exact enumeration (2^{n} states) is off in the app; "
                   "references come from Metropolis Monte Carlo instead.")


def body():
    ss = st.session_state
    st.title("Spin system")
    st.latex(r"H(x) = -\sum_{i<j} J_{ij}\,x_i x_j - \sum_i h_i x_i,\qquad x_i\in\{-1,+1\}")
    family = st.selectbox("Family", list(FAMILIES), format_func=FAMILIES.get, key="system_family",
                          index=list(FAMILIES).index(ss.system_params.get("family", "sk"))
                          if ss.system_params.get("family") in FAMILIES else 0)
    if family == "upload":
        upload_form()
    else:
        build_form(family)

    system = ss.system
    st.subheader(system.name)
    summary(system)
    J = system.J.numpy()
    left, right = st.columns(2)
    with left:
        if system.n <= ui.HEATMAP_MAX_N:
            ui.show_plot(plots.coupling_heatmap(J, "Couplings J (diverging, centred on 0)"), key="heat")
        else:
            k = ui.HEATMAP_MAX_N
            ui.show_plot(plots.coupling_heatmap(J[:k, :k], f"J[:{k}, :{k}] (first {k} spins of {system.n})"), key="heat")
    with right:
        ui.show_plot(plots.coupling_histogram(J), key="hist")
    if system.is_sparse:
        if system.n <= ui.GRAPH_MAX_N:
            shape = system.metadata.get("lattice_shape")
            ui.show_plot(plots.graph_figure(system.edges(), system.n, system.h.numpy(), lattice_shape=shape),
                         key="graph")
        else:
            st.caption(f"The interaction graph is drawn up to N = {ui.GRAPH_MAX_N}.")
    d1, d2, _ = st.columns([1, 1, 3])
    if system.num_edges <= 200_000:
        d1.download_button("Download JSON", ui.system_json_bytes(ss.system_key, system), file_name="system.json",
                           mime="application/json")
    d2.download_button("Download NPZ", ui.system_npz_bytes(ss.system_key, system), file_name="system.npz",
                       mime="application/octet-stream")


ui.guarded(body)
