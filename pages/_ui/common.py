"""Shared UI plumbing for every page: state initialiser, page frame, cached references.

Streamlit's ``pages/`` discovery ignores Python files in subfolders of ``pages/``, so this
package is imported by the pages but never shown as one. Every page (and ``app.py``) starts
with :func:`page`, which calls the idempotent :func:`init_state` — so a deep link such as
``/Train`` on a fresh server works, because no page relies on another having run first.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import traceback
from typing import Any, Callable

import numpy as np
import streamlit as st
import torch

import arnn_core as ac
from arnn_core import jobs

log = logging.getLogger("arnn_app")

#: Largest N for exact enumeration in the app (2^20 states ≈ 1 s); Curie–Weiss is exact at any N.
EXACT_MAX_N = 20
#: Largest system the app accepts (J is dense N×N in float64: 4000 → 128 MB).
MAX_N = 4000
#: Largest N for which the interaction graph is drawn.
GRAPH_MAX_N = 300
#: Largest N for which the full J heatmap is sent to the browser (800² float32 = 2.5 MB).
HEATMAP_MAX_N = 800
#: Uploads larger than this are refused before parsing (config.toml also caps them at 20 MB).
MAX_UPLOAD_BYTES = 20 * 2**20

DEFAULT_SYSTEM = {"family": "sk", "n": 20, "J": 1.0, "J0": 0.0, "h": 0.0, "couplings": "gaussian", "seed": 0}
DEFAULT_ARCH = ("sk_krsb", {"k": 1, "learn_first_layer": False})

# Widget keys start with "w_"; init_state re-assigns them on every page so that their values
# survive page switches (Streamlit drops the state of widgets not drawn on the current page).
WIDGET_DEFAULTS: dict[str, Any] = {
    "w_device": None,  # filled with the default device at first init
    "w_mode": "Variational (free energy)",
    "w_preset": "Quick",
    "w_beta_start": 0.1,
    "w_beta_stop": 1.0,
    "w_beta_step": 0.1,
    "w_steps_per_beta": 50,
    "w_batch": 256,
    "w_lr": 3e-3,
    "w_std_threshold": 1e-4,
    "w_early_stop": True,
    "w_init_steps": 0,
    "w_clip": 0.0,
    "w_seed": 0,
    "w_final_samples": 5000,
    "w_lik_beta": 1.0,
    "w_lik_samples": 2000,
    "w_lik_sweeps": 10,
    "w_lik_burn": 200,
    "w_lik_epochs": 20,
    "w_lik_batch": 100,
    "w_lik_lr": 3e-3,
    "w_lik_val": 0.1,
    "w_sample_beta": 1.0,
    "w_sample_n": 2000,
    "w_cmp_archs": ["sk_krsb", "sl", "1p"],
    "w_cmp_beta_stop": 1.0,
    "w_cmp_beta_step": 0.1,
    "w_cmp_steps": 40,
    "w_cmp_batch": 256,
    "w_cmp_lr": 3e-3,
}


def preset_values(name: str, n: int | None = None, device: str = "cpu") -> dict:
    """Widget values of a training preset ("Quick" or "Paper's protocol"); {} for "Custom".

    On the CPU the quick preset shrinks its batch like 1/N² above N = 100, so that one step of
    the SK family stays well under a second (Stop acts between steps)."""
    proto = {"Quick": getattr(ac, "QUICK_PROTOCOL", None), "Paper's protocol": getattr(ac, "PAPER_PROTOCOL", None)}.get(name)
    if proto is None:
        return {}
    betas = list(proto.betas)
    return {"w_beta_start": float(betas[0]), "w_beta_stop": float(betas[-1]),
            "w_beta_step": float(round(betas[1] - betas[0], 10)) if len(betas) > 1 else 0.1,
            "w_steps_per_beta": int(proto.steps_per_beta), "w_batch": int(proto.batch_size), "w_lr": float(proto.lr),
            "w_init_steps": int(proto.init_steps), "w_early_stop": proto.std_threshold is not None,
            "w_std_threshold": float(proto.std_threshold or 1e-4),
            "w_final_samples": int(getattr(proto, "final_samples", 5000) or 0),
            **({"w_batch": int(min(proto.batch_size, max(64, proto.batch_size * (100 / n) ** 2)))}
               if name == "Quick" and n is not None and n > 100 and str(device).startswith("cpu") else {})}


# ---------------------------------------------------------------------- state
def system_key(system: ac.SpinSystem) -> str:
    """A content hash of (J, h): the cache key of everything computed from a system."""
    digest = hashlib.sha1()
    digest.update(np.ascontiguousarray(system.J.numpy()).tobytes())
    digest.update(np.ascontiguousarray(system.h.numpy()).tobytes())
    return digest.hexdigest()[:16]


def build_system(params: dict) -> ac.SpinSystem:
    """Build a system from plain parameters (what the System page's form produces)."""
    family = params["family"]
    seed = params.get("seed")
    couplings = params.get("couplings", "pm1")
    J, h = float(params.get("J", 1.0)), float(params.get("h", 0.0))
    n = int(params.get("n", 2))
    if family == "curie_weiss":
        return ac.curie_weiss(n, J=J, h=h)
    if family == "sk":
        return ac.sherrington_kirkpatrick(n, J=J, J0=float(params.get("J0", 0.0)), h=h, couplings=couplings, seed=seed)
    if family in ("ea2d", "ea3d"):
        return ac.edwards_anderson(int(params["L"]), dim=2 if family == "ea2d" else 3,
                                   periodic=bool(params.get("periodic", True)), couplings=couplings, J=J, h=h, seed=seed)
    if family == "random_regular":
        return ac.random_regular(n, int(params["d"]), couplings=couplings, J=J, h=h, seed=seed)
    if family == "erdos_renyi":
        return ac.erdos_renyi(n, float(params["p"]), couplings=couplings, J=J, h=h, seed=seed)
    if family == "barabasi_albert":
        return ac.barabasi_albert(n, int(params["m"]), couplings=couplings, J=J, h=h, seed=seed)
    raise ValueError(f"unknown family {family!r}")


def expected_n(params: dict) -> int:
    """N that ``params`` will produce, checked before building (lattices: L^dim)."""
    family = params["family"]
    if family == "ea2d":
        return int(params["L"]) ** 2
    if family == "ea3d":
        return int(params["L"]) ** 3
    return int(params.get("n", 0))


def set_system(system: ac.SpinSystem, params: dict | None = None) -> None:
    """Make ``system`` the current one; networks built for the previous one are dropped."""
    if system.n > MAX_N:
        raise ValueError(f"N = {system.n} is above the app's limit of {MAX_N} spins")
    ss = st.session_state
    ss.system = system
    ss.system_key = system_key(system)
    ss.system_params = dict(params) if params else {"family": system.family}
    ss.net = None
    ss.net_key = None
    if ss.get("w_preset") == "Quick":
        for key, value in preset_values("Quick", system.n, ss.get("w_device") or "cpu").items():
            ss[key] = value


def init_state() -> None:
    """Idempotent: a fresh session gets the ready example (SK N=20 + SK_1RSB), the default
    device and every widget default; later calls only keep widget values alive."""
    ss = st.session_state
    if not ss.get("_arnn_ready"):
        params = dict(DEFAULT_SYSTEM)
        set_system(build_system(params), params)
        ss.arch_name, ss.arch_options = default_arch()
        ss.job = None          # the current background Job (train or compare)
        ss.model = None        # dict describing the last trained network (see start_training)
        ss.compare_job = None
        ss.samples_cache = None
        for key, value in {**WIDGET_DEFAULTS, **preset_values(WIDGET_DEFAULTS["w_preset"])}.items():
            if key not in ss:
                ss[key] = value
        ss.w_device = str(ac.default_device()) if str(ac.default_device()) in ac.available_devices() else "cpu"
        ss._arnn_ready = True
    else:
        for key in WIDGET_DEFAULTS:
            if key in ss:
                ss[key] = ss[key]  # re-assign: keeps the value across page switches


def default_arch() -> tuple[str, dict]:
    """SK_1RSB; if a registry lacks it, its first architecture with default options."""
    try:
        spec = ac.get_architecture(DEFAULT_ARCH[0])
        return DEFAULT_ARCH[0], {**spec.defaults(), **DEFAULT_ARCH[1]}
    except ValueError:
        specs = ac.available_architectures()
        trainable = [s for s in specs if not s.analytic] or specs
        return trainable[0].name, trainable[0].defaults()


def load_example() -> None:
    """The Home page's one-click example: SK N=20 (seed 0) with SK_1RSB, untrained."""
    ss = st.session_state
    params = dict(DEFAULT_SYSTEM)
    set_system(build_system(params), params)
    ss.arch_name, ss.arch_options = default_arch()
    ss.model = None


def current_arch():
    spec = ac.get_architecture(st.session_state.arch_name)
    return spec, dict(st.session_state.arch_options)


def architecture_problem(spec, system, options) -> str | None:
    """Why ``spec`` cannot be built for ``system`` (registry check), or None."""
    if spec.check is None:
        return None
    try:
        spec.check(system, **options)
    except ValueError as exc:
        return str(exc)
    except Exception as exc:  # a check must never crash a page
        return f"{type(exc).__name__}: {exc}"
    return None


def build_net(device: str | None = None, arch: str | None = None, options: dict | None = None):
    """A fresh network of the chosen (or given) architecture for the current system, on ``device``."""
    ss = st.session_state
    name = arch or ss.arch_name
    opts = dict(ss.arch_options if options is None else options)
    net = ac.make_arnn(name, ss.system, **opts)
    if device is not None:
        net = net.to(ac.resolve_device(device))
    return net


class ArchitectureUnfit(ValueError):
    """The chosen architecture cannot be built for the current system (said to the user as a warning)."""


def active_model() -> dict | None:
    """The last trained network if it belongs to the current system, else None."""
    model = st.session_state.get("model")
    if model and model.get("system_key") == st.session_state.system_key:
        if model.get("mode") == "variational" and model.get("job") is not None:
            # a stopped run sits at the last β it reached, not at the schedule's end
            records = model["job"].snapshot().records
            if records and records[-1].get("beta") is not None:
                return dict(model, beta=float(records[-1]["beta"]))
        return model
    return None


def network_for_inspection():
    """(net, description, trained?) for Weights and Samples: the trained net of this system,
    else a freshly built one of the chosen architecture (analytic ones set to β = 1)."""
    model = active_model()
    if model is not None:
        return model["net"], model["description"], True
    ss = st.session_state
    key = (ss.system_key, ss.arch_name, json.dumps(ss.arch_options, sort_keys=True))
    if ss.get("net") is None or ss.get("net_key") != key:
        spec, options = current_arch()
        problem = architecture_problem(spec, ss.system, options)
        if problem:
            raise ArchitectureUnfit(f"{spec.label} does not fit {ss.system.name}: {problem} "
                                    "Choose another architecture on the Architecture page.")
        too_big = jobs.check_fits_device(spec, ss.system, options, 1, "cpu")
        if too_big:
            raise ArchitectureUnfit(too_big)
        ss.net = build_net(device="cpu")
        ss.net_key = key
    spec = ac.get_architecture(ss.arch_name)
    return ss.net, f"{spec.label} (untrained, as built)", False


# ---------------------------------------------------------------------- references (cached)
def exact_possible(system: ac.SpinSystem) -> bool:
    return system.n <= EXACT_MAX_N or system.curie_weiss_parameters() is not None


@st.cache_data(max_entries=64, show_spinner="Exact enumeration…")
def exact_reference(key: str, beta: float, _system: ac.SpinSystem) -> dict | None:
    """Exact observables at β as plain numpy (enumeration up to EXACT_MAX_N, Curie–Weiss at any N)."""
    system = _system
    if system.n <= EXACT_MAX_N:
        res = ac.exact_enumeration(system, beta, max_n=EXACT_MAX_N)
        m_vals, m_probs = res.magnetization_hist
        return {"free_energy": float(res.free_energy), "energy": float(res.energy), "entropy": float(res.entropy),
                "abs_magnetization": float(res.abs_magnetization),
                "m_values": _np(m_vals), "m_probs": _np(m_probs), "mean_spin": _np(res.mean_spin),
                "correlations": _np(res.correlations), "source": "exact enumeration"}
    cw = system.curie_weiss_parameters()
    if cw is not None:
        res = ac.curie_weiss_exact(system.n, cw[0], cw[1], beta)
        out = {"free_energy": float(getattr(res, "free_energy", math.nan)), "source": "Curie–Weiss exact sum"}
        for name in ("energy", "entropy", "abs_magnetization"):
            if getattr(res, name, None) is not None:
                out[name] = float(getattr(res, name))
        hist = getattr(res, "magnetization_hist", None)
        if hist is not None:
            out["m_values"], out["m_probs"] = _np(hist[0]), _np(hist[1])
        out["mean_spin"] = np.full(system.n, float(getattr(res, "mean_spin", math.nan)))
        return out
    return None


@st.cache_data(max_entries=16, show_spinner="Metropolis reference…")
def metropolis_reference(key: str, beta: float, n_samples: int, seed: int, _system: ac.SpinSystem) -> np.ndarray:
    """Metropolis samples at β (int8 ±1), as the reference when N is too large to enumerate."""
    sweeps = 10 if _system.n <= 200 else 4
    res = ac.metropolis(_system, beta, n_samples=n_samples, n_chains=min(n_samples, 100),
                        sweeps_between=sweeps, burn_in=200, seed=seed)
    return np.asarray(_np(res.samples), dtype=np.int8)


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


# ---------------------------------------------------------------------- page frame
def page(title: str, icon: str = "🧲") -> None:
    """Common start of every page: config, state, sidebar status."""
    st.set_page_config(page_title=f"{title} · ARNN Spin Lab", page_icon=icon, layout="wide")
    init_state()


def guarded(body: Callable[[], None]) -> None:
    """Run a page body; an unexpected error becomes one st.error line, never a traceback. The
    sidebar is drawn afterwards, so it shows what the body just changed (a new system, a run)."""
    try:
        body()
    except ArchitectureUnfit as exc:
        st.warning(str(exc))
    except Exception as exc:  # Streamlit's rerun/stop are BaseExceptions and pass through
        log.error("page error: %s", traceback.format_exc())
        st.error(f"Something went wrong: {jobs.friendly_error(exc)}")
    sidebar_status()


def arch_label(name: str) -> str:
    try:
        return ac.get_architecture(name).label
    except ValueError:
        return name


def sidebar_status() -> None:
    try:
        _sidebar_status()
    except Exception as exc:  # the sidebar is informative only; never let it break a page
        log.error("sidebar: %s", traceback.format_exc())
        st.sidebar.caption(f"(status unavailable: {jobs.friendly_error(exc)})")


PAGES = (("app.py", "Home"), ("pages/1_System.py", "System"), ("pages/2_Architecture.py", "Architecture"),
         ("pages/3_Train.py", "Train"), ("pages/4_Weights_vs_couplings.py", "Weights vs couplings"),
         ("pages/5_Samples.py", "Samples"), ("pages/6_Compare.py", "Compare"))


def _sidebar_status() -> None:
    ss = st.session_state
    with st.sidebar:
        for path, label in PAGES:
            st.page_link(path, label=label)
        st.divider()
        st.caption("Current system")
        st.markdown(f"**{ss.system.name}**  \nN = {ss.system.n}, {ss.system.num_edges} couplings")
        opts = ", ".join(f"{k}={v}" for k, v in ss.arch_options.items())
        st.caption("Architecture")
        st.markdown(f"**{arch_label(ss.arch_name)}**" + (f"  \n{opts}" if opts else ""))
        for attr, title in (("job", "Training job"), ("compare_job", "Comparison")):
            job = ss.get(attr)
            if job is not None:
                snap = job.snapshot()
                st.caption(title)
                st.markdown(f"{snap.label}: **{snap.state}**, {len(snap.records)} records")


FAMILY_SHORT = {"sk": "SK", "curie_weiss": "Curie–Weiss", "edwards_anderson": "EA", "random_regular": "RRG",
                "erdos_renyi": "Erdős–Rényi", "barabasi_albert": "BA", "edge_list": "edge list", "graph": "graph"}


def fmt_count(n) -> str:
    """A parameter count for a table cell; astronomically large ones (H2ARNN at large N) as 10^k."""
    if n is None:
        return "—"
    n = int(n)
    return f"{n:,}" if n < 10**12 else f"≈10^{math.log10(n):.0f}"


#: Above this many parameters an untrained network is built for inspection only on request.
INSPECT_MAX_PARAMS = 2_000_000


def inspection_allowed() -> bool:
    """False (after drawing a note and a button) when inspecting would first build a big untrained
    network: pages do no heavy work on load."""
    ss = st.session_state
    if active_model() is not None:
        return True
    spec, options = current_arch()
    try:
        counts = spec.param_count(ss.system, **options) if spec.param_count else None
    except Exception:
        counts = None
    total = 0 if counts is None else int(counts[0]) + int(counts[1])
    key = (ss.system_key, ss.arch_name, json.dumps(ss.arch_options, sort_keys=True))
    if total <= INSPECT_MAX_PARAMS or ss.get("inspect_ok") == key:
        return True
    st.info(f"No trained network for this system yet, and building an untrained {spec.label} here means "
            f"{fmt_count(total)} parameters. Train one first, or build it anyway.")
    if st.button("Build the untrained network", key="inspect_build"):
        ss.inspect_ok = key
        return True
    return False


def fmt(x, digits: int = 6) -> str:
    if x is None:
        return "—"
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(xf):
        return "—"
    return f"{xf:.{digits}g}"


def latex_lines(latex: str) -> list[str]:
    """Split a long display formula at its top-level ``\\quad`` separators, so each piece gets
    its own st.latex line instead of being cut off at the page edge."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(latex):
        ch = latex[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif latex.startswith(("\\left", "\\Big(", "\\big(", "\\Bigg(", "\\bigg("), i):
            depth += 1
        elif latex.startswith(("\\right", "\\Big)", "\\big)", "\\Bigg)", "\\bigg)"), i):
            depth -= 1
        elif depth == 0:
            sep = next((t for t in ("\\qquad", "\\quad", ",\\ ") if latex.startswith(t, i)), None)
            if sep:
                parts.append(latex[start:i])
                i += len(sep)
                start = i
                continue
        i += 1
    parts.append(latex[start:])
    parts = [p.strip().rstrip(",;").strip() for p in parts]
    return [p for p in parts if p]


def show_plot(fig, key: str | None = None) -> None:
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


def json_bytes(obj) -> bytes:
    """JSON of records/configs; NaN and inf become null so any reader accepts it."""
    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (np.floating, float)):
            return float(v) if math.isfinite(float(v)) else None
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, np.ndarray):
            return clean(v.tolist())
        if isinstance(v, torch.Tensor):
            return clean(v.detach().cpu().tolist())
        if isinstance(v, (str, int, bool)) or v is None:
            return v
        return str(v)
    return json.dumps(clean(obj), indent=1).encode("utf-8")


@st.cache_data(max_entries=4, show_spinner=False)
def system_json_bytes(key: str, _system: ac.SpinSystem) -> bytes:
    return json_bytes(_system.to_dict())


@st.cache_data(max_entries=4, show_spinner=False)
def system_npz_bytes(key: str, _system: ac.SpinSystem) -> bytes:
    """The NPZ that ``load_system(..., format="npz")`` reads back (same layout as save_system)."""
    system = _system
    buf = io.BytesIO()
    np.savez_compressed(buf, J=system.J.numpy(), h=system.h.numpy(), name=np.array(system.name),
                        metadata=np.array(json.dumps(system.metadata)))
    return buf.getvalue()


def parse_samples_upload(raw: bytes, filename: str, n: int) -> np.ndarray:
    """Uploaded spin samples → (M, N) float32 ±1. CSV/TXT (one sample a row), NPY or NPZ (first
    array); 0/1 is mapped to ±1. Never unpickles."""
    if len(raw) > MAX_UPLOAD_BYTES:
        raise ValueError(f"the file is {len(raw) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    name = filename.lower()
    try:
        if name.endswith(".npy"):
            arr = np.load(io.BytesIO(raw), allow_pickle=False)
        elif name.endswith(".npz"):
            with np.load(io.BytesIO(raw), allow_pickle=False) as data:
                if not data.files:
                    raise ValueError("the NPZ file holds no array")
                arr = data[data.files[0]]
        else:
            text = raw.decode("utf-8", errors="strict")
            rows = [line.replace(",", " ").split() for line in text.splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
            arr = np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    except UnicodeDecodeError:
        raise ValueError("the file is not text (CSV) nor NPY/NPZ") from None
    except ValueError as exc:
        raise ValueError(f"could not read the samples: {exc}") from None
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"samples must be a 2-D table (one sample per row), got shape {arr.shape}")
    if arr.shape[1] != n:
        raise ValueError(f"each sample must have N = {n} spins, got {arr.shape[1]} columns")
    if not np.all(np.isfinite(arr)):
        raise ValueError("the samples contain NaN or inf")
    values = set(np.unique(arr).tolist())
    if values <= {0.0, 1.0}:
        arr = 2 * arr - 1
    elif not values <= {-1.0, 1.0}:
        raise ValueError(f"spins must be ±1 (or 0/1), found values such as {sorted(values)[:5]}")
    if arr.shape[0] < 10:
        raise ValueError(f"at least 10 samples are needed, got {arr.shape[0]}")
    return arr.astype(np.float32)


# ---------------------------------------------------------------------- model inspection helpers
def response_matrix(net, n_samples: int = 256, seed: int = 0) -> np.ndarray:
    """R[s, i] = ½⟨logit_i(x_s=+1) − logit_i(x_s=−1)⟩ over samples of q, for s < i: how much spin s
    moves site i's logit. The nearest analogue of a first layer for networks without one (for the
    exact H2ARNN at small β it approaches 2βJ)."""
    n = net.n
    gen = torch.Generator(device=net.device)
    gen.manual_seed(seed)
    with torch.no_grad():
        x, _ = net.sample(n_samples, generator=gen)
        x = x.to(net.dtype)
        R = torch.zeros(n, n, dtype=torch.float64)
        for s in range(n - 1):
            xp, xm = x.clone(), x.clone()
            xp[:, s], xm[:, s] = 1.0, -1.0
            diff = 0.5 * (net.logits(xp) - net.logits(xm)).mean(0).double().cpu()
            R[s, s + 1:] = diff[s + 1:]
    return R.numpy()


@st.cache_data(max_entries=16, show_spinner="Exact sampling…")
def exact_samples(key: str, beta: float, n_samples: int, seed: int, _system: ac.SpinSystem) -> np.ndarray:
    """Independent samples of the Boltzmann distribution by enumeration (N ≤ EXACT_MAX_N), int8 ±1."""
    system = _system
    E = ac.all_energies(system, max_n=EXACT_MAX_N)
    logp = -beta * E
    p = torch.softmax(logp, 0)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.multinomial(p, n_samples, replacement=True, generator=gen)
    shifts = torch.arange(system.n - 1, -1, -1, dtype=torch.int64)
    bits = (idx.unsqueeze(1) >> shifts) & 1  # spin 0 is the most significant bit (exact.py order)
    return (2 * bits - 1).to(torch.int8).numpy()


def magnetization_hist(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[1]
    M = x.astype(np.int64).sum(1)
    counts = np.bincount((M + n) // 2, minlength=n + 1)
    return (2 * np.arange(n + 1) - n) / n, counts / max(counts.sum(), 1)


def overlap_hist(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(q) over pairs of independent samples (first half against second half)."""
    n = x.shape[1]
    half = x.shape[0] // 2
    q = (x[:half].astype(np.int64) * x[half:2 * half].astype(np.int64)).sum(1)
    counts = np.bincount((q + n) // 2, minlength=n + 1)
    return (2 * np.arange(n + 1) - n) / n, counts / max(counts.sum(), 1)


def energy_hist(e_model: np.ndarray, e_ref: np.ndarray | None, bins: int = 40):
    both = e_model if e_ref is None else np.concatenate([e_model, e_ref])
    edges = np.linspace(both.min(), both.max() + 1e-9, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    hm = np.histogram(e_model, edges)[0]
    out_m = (centres, hm / max(hm.sum(), 1))
    out_r = None
    if e_ref is not None:
        hr = np.histogram(e_ref, edges)[0]
        out_r = (centres, hr / max(hr.sum(), 1))
    return out_m, out_r
