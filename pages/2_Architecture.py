"""Architecture: the registry's networks, the conditional each implements, options and sizes."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

import arnn_core as ac  # noqa: E402
from arnn_core import jobs, plots  # noqa: E402
from pages._ui import common as ui  # noqa: E402

ui.page("Architecture", "🧠")

SCALING_N = (10, 20, 50, 100, 200, 400, 800)


def option_widgets(spec, current: dict) -> dict:
    values = {}
    if not spec.options:
        st.caption("No options.")
        return values
    cols = st.columns(min(len(spec.options), 4))
    for k, opt in enumerate(spec.options):
        col = cols[k % len(cols)]
        default = current.get(opt.name, opt.default)
        key = f"opt_{spec.name}_{opt.name}"
        if opt.type == "bool":
            values[opt.name] = col.checkbox(opt.name, bool(default), help=opt.help, key=key)
        elif opt.type == "choice":
            choices = list(opt.choices or [])
            values[opt.name] = col.selectbox(opt.name, choices, index=choices.index(default) if default in choices else 0,
                                             help=opt.help, key=key)
        elif opt.type == "int":
            values[opt.name] = int(col.number_input(opt.name, int(opt.min) if opt.min is not None else None,
                                                    int(opt.max) if opt.max is not None else None, int(default),
                                                    step=1, help=opt.help, key=key))
        else:
            values[opt.name] = float(col.number_input(opt.name, float(opt.min) if opt.min is not None else None,
                                                      float(opt.max) if opt.max is not None else None, float(default),
                                                      help=opt.help, key=key, format="%.4g"))
    return values


def counts(spec, system, options):
    if spec.param_count is None:
        return None
    try:
        return spec.param_count(system, **options)
    except Exception:
        return None


@st.cache_data(max_entries=64, show_spinner=False)
def scaling_counts(family_params_json: str, arch: str, options_json: str) -> tuple[list, list]:
    """Parameter counts (trainable + fixed) of ``arch`` on systems of the current family at several N."""
    import json
    params = json.loads(family_params_json)
    options = json.loads(options_json)
    spec = ac.get_architecture(arch)
    ns, ps = [], []
    for n in SCALING_N:
        p = dict(params)
        if p.get("family") in ("ea2d", "ea3d"):
            dim = 2 if p["family"] == "ea2d" else 3
            p["L"] = max(2, int(round(n ** (1 / dim))))
        elif p.get("family") in ("sk", "curie_weiss", "random_regular", "erdos_renyi", "barabasi_albert"):
            p["n"] = n
            if p["family"] == "random_regular" and (n * int(p.get("d", 3))) % 2:
                continue
        else:
            p = {"family": "sk", "n": n, "seed": 0}
        try:
            system = ui.build_system(p)
            if spec.check is not None:
                spec.check(system, **options)
            c = spec.param_count(system, **options)
        except Exception:
            continue
        if c is None:
            continue
        ns.append(system.n)
        ps.append(float(min(int(c[0]) + int(c[1]), 10**30)))
    return ns, ps


def body():
    import json
    ss = st.session_state
    system = ss.system
    st.title("Architecture")
    specs = ac.available_architectures()
    if not specs:
        st.error("No architecture is registered.")
        return
    names = [s.name for s in specs]

    rows = []
    for spec in specs:
        c = counts(spec, system, spec.defaults())
        problem = ui.architecture_problem(spec, system, spec.defaults())
        rows.append({"name": spec.name, "architecture": spec.label,
                     "trainable": ui.fmt_count(None if c is None else c[0]),
                     "fixed": ui.fmt_count(None if c is None else c[1]),
                     "exact": "yes" if spec.exact else "", "fits this system": "yes" if problem is None else "no",
                     "_why": problem})
    st.markdown(f"All architectures for **{system.name}** (N = {system.n}), default options:")
    st.dataframe(pd.DataFrame(rows).drop(columns="_why"), hide_index=True, width="stretch")
    for row in rows:
        if row["_why"]:
            st.caption(f"**{row['architecture']}** does not fit: {row['_why']}")

    current = ss.arch_name if ss.arch_name in names else names[0]
    name = st.selectbox("Architecture", names, index=names.index(current),
                        format_func=lambda n: ac.get_architecture(n).label, key="arch_pick")
    spec = ac.get_architecture(name)
    st.markdown(spec.description)
    if spec.latex:
        for line in ui.latex_lines(spec.latex):
            st.latex(line)
    tags = [t for t, on in (("exact", spec.exact), ("analytic in β (not trained)", spec.analytic)) if on]
    if tags:
        st.caption(" · ".join(tags))
    options = option_widgets(spec, ss.arch_options if name == ss.arch_name else {})
    problem = None
    try:
        for opt in spec.options:
            options[opt.name] = opt.validate(options[opt.name])
    except ValueError as exc:
        problem = str(exc)
    problem = problem or ui.architecture_problem(spec, system, options)
    c = counts(spec, system, options)
    m1, m2, m3 = st.columns(3)
    m1.metric("trainable parameters", ui.fmt_count(None if c is None else c[0]))
    m2.metric("fixed parameters", ui.fmt_count(None if c is None else c[1]))
    need = jobs.estimate_memory_bytes(spec, system, options, int(ss.w_batch))
    m3.metric(f"memory per step (batch {int(ss.w_batch)})", "—" if need is None else f"{need / 2**20:,.0f} MB")
    if problem:
        st.warning(f"{spec.label} does not fit {system.name}: {problem}")
    else:
        fit = jobs.check_fits_device(spec, system, options, int(ss.w_batch), ss.w_device)
        if fit:
            st.warning(fit)
    is_current = name == ss.arch_name and options == ss.arch_options
    if st.button("Use this architecture", type="primary", disabled=bool(problem) or is_current, key="use_arch"):
        ss.arch_name, ss.arch_options = name, dict(options)
        ss.net, ss.net_key = None, None
        st.success(f"{spec.label} selected. Train it on the Train page.")
    elif is_current:
        st.caption("This is the current architecture.")

    if spec.param_count is not None:
        ns, ps = scaling_counts(json.dumps(ss.system_params, sort_keys=True, default=str), name,
                                json.dumps(options, sort_keys=True))
        if ns:
            series = {spec.label: (np.asarray(ns, np.float32), np.asarray(ps, np.float32))}
            for other in specs:
                if other.name != name and other.param_count is not None:
                    o_ns, o_ps = scaling_counts(json.dumps(ss.system_params, sort_keys=True, default=str),
                                                other.name, json.dumps(other.defaults(), sort_keys=True))
                    if o_ns:
                        series[other.label] = (np.asarray(o_ns, np.float32), np.asarray(o_ps, np.float32))
            ui.show_plot(plots.param_scaling(series, current_n=system.n), key="scaling")
            st.caption("Counts on systems of the current family at each N (default options for the others); "
                       "missing points are sizes an architecture refuses.")


ui.guarded(body)
