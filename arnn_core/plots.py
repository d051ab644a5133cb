"""Plotly figure builders for the app (no Streamlit here).

Every builder takes plain numbers (numpy arrays, torch tensors or lists) and returns a
``plotly.graph_objects.Figure``. Data go to plotly as float32 numpy arrays, never Python lists:
plotly serialises numpy as compact typed arrays, so an 800×800 heatmap stays a few MB.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "as_f32",
    "coupling_heatmap",
    "side_by_side_heatmaps",
    "graph_figure",
    "graph_layout",
    "coupling_histogram",
    "training_curves",
    "likelihood_curves",
    "records_to_columns",
    "pair_statistics",
    "weights_vs_couplings",
    "distribution_comparison",
    "mean_spin_comparison",
    "lattice_samples",
    "compare_figure",
    "param_scaling",
    "site_terms",
    "downsample_indices",
]

DIVERGING = "RdBu_r"  # blue negative, red positive, white at 0
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def as_f32(values) -> np.ndarray:
    """Any array-like (torch, numpy, list) → contiguous float32 numpy."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(values, dtype=np.float32))


def _layout(fig: go.Figure, title: str | None = None, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=50, r=20, t=50 if title else 20, b=40),
                      legend=dict(yanchor="top", y=0.99, xanchor="left", x=0.01, bgcolor="rgba(255,255,255,0.7)"))
    return fig


def downsample_indices(n: int, max_points: int = 2000) -> np.ndarray:
    """At most ``max_points`` evenly spread indices of 0..n-1, always keeping the last one."""
    if n <= max_points:
        return np.arange(n)
    idx = np.linspace(0, n - 1, max_points).round().astype(np.int64)
    return np.unique(idx)


# ---------------------------------------------------------------------- couplings
def coupling_heatmap(J, title: str = "Couplings J", zmax: float | None = None, colorbar_title: str = "J") -> go.Figure:
    """J as a heatmap on a diverging scale centred on 0 (so sign is colour, magnitude is depth)."""
    Jf = as_f32(J)
    zmax = float(zmax if zmax is not None else max(float(np.abs(Jf).max()), 1e-12))
    fig = go.Figure(go.Heatmap(z=Jf, colorscale=DIVERGING, zmid=0.0, zmin=-zmax, zmax=zmax,
                               colorbar=dict(title=colorbar_title),
                               hovertemplate="i=%{y}, j=%{x}<br>value=%{z:.4g}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", title="i")
    fig.update_xaxes(constrain="domain", title="j")
    return _layout(fig, title, height=420)


def side_by_side_heatmaps(W, J, titles=("First-layer weights W", "Couplings J"), normalise: bool = True) -> go.Figure:
    """W and J side by side on one diverging colour scale; with ``normalise`` each is divided by
    its largest magnitude so shapes compare even when the scales differ (a trained W ∝ J)."""
    Wf, Jf = as_f32(W), as_f32(J)
    if normalise:
        Wf = Wf / max(float(np.abs(Wf).max()), 1e-12)
        Jf = Jf / max(float(np.abs(Jf).max()), 1e-12)
    zmax = max(float(np.abs(Wf).max()), float(np.abs(Jf).max()), 1e-12)
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.08)
    for col, z in ((1, Wf), (2, Jf)):
        fig.add_trace(go.Heatmap(z=z, colorscale=DIVERGING, zmid=0.0, zmin=-zmax, zmax=zmax,
                                 showscale=(col == 2), coloraxis=None,
                                 hovertemplate="i=%{y}, j=%{x}<br>%{z:.4g}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col)
    return _layout(fig, "Same colour scale" + (" (each divided by its max |·|)" if normalise else ""), height=420)


def coupling_histogram(J, title: str = "Non-zero couplings J_ij (i < j)") -> go.Figure:
    Jn = as_f32(J)
    iu = np.triu_indices(Jn.shape[0], k=1)
    values = Jn[iu]
    values = values[values != 0]
    # binned here, not in the browser: a dense N = 4000 system has 8 million couplings
    bins = min(80, max(10, int(math.sqrt(max(values.size, 1)))))
    counts, edges = np.histogram(values, bins=bins) if values.size else (np.zeros(1), np.array([-1.0, 1.0]))
    centres = (0.5 * (edges[1:] + edges[:-1])).astype(np.float32)
    fig = go.Figure(go.Bar(x=centres, y=counts.astype(np.float32), width=float(edges[1] - edges[0]),
                           marker_color=PALETTE[0], hovertemplate="J≈%{x:.3g}: %{y} pairs<extra></extra>"))
    fig.update_layout(bargap=0.02)
    fig.update_xaxes(title="J_ij")
    fig.update_yaxes(title="count")
    return _layout(fig, f"{title}: {values.size} pairs", height=320)


def graph_layout(edges: Sequence[tuple[int, int, float]], n: int, lattice_shape=None, seed: int = 0) -> np.ndarray:
    """(n, 2) node positions: the lattice itself for 2D lattices, else a networkx spring layout."""
    if lattice_shape is not None and len(lattice_shape) == 2:
        cols = int(lattice_shape[1])
        idx = np.arange(n)
        return np.stack([idx % cols, -(idx // cols)], axis=1).astype(np.float32)
    import networkx as nx
    G = nx.Graph()
    G.add_nodes_from(range(n))
    G.add_edges_from((i, j) for i, j, _ in edges)
    pos = nx.spring_layout(G, seed=seed, iterations=50 if n <= 300 else 25)
    return np.array([pos[i] for i in range(n)], dtype=np.float32)


def graph_figure(edges: Sequence[tuple[int, int, float]], n: int, h=None, lattice_shape=None, seed: int = 0,
                 title: str = "Interaction graph") -> go.Figure:
    """Nodes at a networkx layout, edges red (J > 0, ferromagnetic) or blue (J < 0); node colour = h."""
    pos = graph_layout(edges, n, lattice_shape, seed)
    if lattice_shape is not None and len(lattice_shape) == 2:
        # periodic wrap-around bonds would cross the whole drawing; draw nearest neighbours only
        kept = [(i, j, w) for i, j, w in edges if abs(pos[i] - pos[j]).sum() <= 1.0 + 1e-6]
        if len(kept) < len(edges):
            title += f" ({len(edges) - len(kept)} periodic wrap-around bonds not drawn)"
        edges = kept
    fig = go.Figure()
    for sign, colour, name in ((1, "#d62728", "J > 0"), (-1, "#1f77b4", "J < 0")):
        sel = [(i, j) for i, j, w in edges if (w > 0) == (sign > 0) and w != 0]
        if not sel:
            continue
        ij = np.asarray(sel, dtype=np.int64)
        # one trace per sign; segments separated by NaN (plotly breaks lines at gaps)
        xs = np.full((len(sel), 3), np.nan, dtype=np.float32)
        ys = np.full((len(sel), 3), np.nan, dtype=np.float32)
        xs[:, 0], xs[:, 1] = pos[ij[:, 0], 0], pos[ij[:, 1], 0]
        ys[:, 0], ys[:, 1] = pos[ij[:, 0], 1], pos[ij[:, 1], 1]
        fig.add_trace(go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="lines", name=name,
                                 line=dict(color=colour, width=1.2), hoverinfo="skip", opacity=0.7))
    hv = as_f32(h) if h is not None else np.zeros(n, dtype=np.float32)
    hmax = max(float(np.abs(hv).max()), 1e-12)
    has_field = bool(np.any(hv != 0))
    marker = dict(size=9 if n <= 100 else 6, line=dict(width=0.5, color="#333"))
    if has_field:  # node colour = h on the same diverging scale
        marker.update(color=hv, colorscale=DIVERGING, cmin=-hmax, cmax=hmax, showscale=True,
                      colorbar=dict(title="h", x=1.02))
    else:
        marker.update(color="#888")
    fig.add_trace(go.Scatter(x=pos[:, 0], y=pos[:, 1], mode="markers", name="spins", marker=marker,
                             text=np.arange(n).astype(str), hovertemplate="spin %{text}<extra></extra>"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return _layout(fig, title, height=460)


# ---------------------------------------------------------------------- training
def records_to_columns(records: Sequence[dict], keys: Iterable[str], max_points: int = 2000) -> dict[str, np.ndarray]:
    """Columns of a record list (downsampled to ``max_points``) as float32 arrays; missing → NaN."""
    idx = downsample_indices(len(records), max_points)
    out = {}
    for key in keys:
        col = np.full(len(idx), np.nan, dtype=np.float32)
        for k, i in enumerate(idx):
            v = records[i].get(key)
            if v is not None:
                try:
                    col[k] = float(v)
                except (TypeError, ValueError):
                    pass
        out[key] = col
    return out


def training_curves(records: Sequence[dict], max_points: int = 2000) -> go.Figure:
    """Four panels over training steps: free energy (with exact when known), relative error (log),
    energy density, |m|. β is on the hover of every point."""
    cols = records_to_columns(records, ["step", "beta", "free_energy", "free_energy_std", "free_energy_exact",
                                        "relative_error", "energy", "abs_magnetization"], max_points)
    x = cols["step"]
    if np.all(np.isnan(x)):
        x = np.arange(len(x), dtype=np.float32)
    fig = make_subplots(rows=2, cols=2, shared_xaxes=True, vertical_spacing=0.12, horizontal_spacing=0.1,
                        subplot_titles=("Variational free energy f_q", "Relative error |f_q − f| / |f|",
                                        "Energy density ⟨H⟩/N", "⟨|m|⟩"))
    hover = "step %{x}<br>β=%{customdata:.3g}<br>%{y:.6g}<extra></extra>"
    beta = cols["beta"]
    fig.add_trace(go.Scattergl(x=x, y=cols["free_energy"], name="f_q", mode="lines", customdata=beta,
                               line=dict(color=PALETTE[0]), hovertemplate=hover), row=1, col=1)
    if np.any(np.isfinite(cols["free_energy_exact"])):
        fig.add_trace(go.Scattergl(x=x, y=cols["free_energy_exact"], name="exact f", mode="lines",
                                   customdata=beta, line=dict(color="black", dash="dash"), hovertemplate=hover),
                      row=1, col=1)
    rel = cols["relative_error"]
    rel = np.where(rel > 0, rel, np.nan).astype(np.float32)
    if np.any(np.isfinite(rel)):
        fig.add_trace(go.Scattergl(x=x, y=rel, name="relative error", mode="lines", customdata=beta,
                                   line=dict(color=PALETTE[1]), hovertemplate=hover), row=1, col=2)
    else:
        fig.add_annotation(text="no exact reference at this N", showarrow=False, row=1, col=2,
                           xref="x2 domain", yref="y2 domain", x=0.5, y=0.5)
    fig.update_yaxes(type="log", dtick=1, exponentformat="power", row=1, col=2)
    fig.add_trace(go.Scattergl(x=x, y=cols["energy"], name="energy", mode="lines", customdata=beta,
                               line=dict(color=PALETTE[2]), hovertemplate=hover), row=2, col=1)
    fig.add_trace(go.Scattergl(x=x, y=cols["abs_magnetization"], name="|m|", mode="lines", customdata=beta,
                               line=dict(color=PALETTE[3]), hovertemplate=hover), row=2, col=2)
    fig.update_xaxes(title="step", row=2, col=1)
    fig.update_xaxes(title="step", row=2, col=2)
    fig.update_layout(showlegend=False)
    return _layout(fig, None, height=520)


def likelihood_curves(records: Sequence[dict], entropy_floor: float | None = None) -> go.Figure:
    """Train and validation negative log-likelihood per epoch (per spin when N is known).

    ``entropy_floor``: the exact entropy per spin of the distribution the samples come from —
    the lowest NLL any model can reach on them (cross-entropy ≥ entropy), drawn dashed."""
    keys = ["epoch", "step", "train_nll_per_spin", "validation_nll_per_spin", "train_nll", "validation_nll"]
    cols = records_to_columns(records, keys)
    x = cols["epoch"] if np.any(np.isfinite(cols["epoch"])) else cols["step"]
    if np.all(np.isnan(x)):
        x = np.arange(len(records), dtype=np.float32)
    fig = go.Figure()
    per_spin = np.any(np.isfinite(cols["train_nll_per_spin"]))
    train = cols["train_nll_per_spin"] if per_spin else cols["train_nll"]
    val = cols["validation_nll_per_spin"] if per_spin else cols["validation_nll"]
    fig.add_trace(go.Scatter(x=x, y=train, name="train NLL", mode="lines+markers", line=dict(color=PALETTE[0])))
    if np.any(np.isfinite(val)):
        fig.add_trace(go.Scatter(x=x, y=val, name="validation NLL", mode="lines+markers",
                                 line=dict(color=PALETTE[1])))
    if entropy_floor is not None and per_spin and len(x):
        xs = np.array([np.nanmin(x), np.nanmax(x)], dtype=np.float32)
        fig.add_trace(go.Scatter(x=xs, y=np.full(2, entropy_floor, np.float32), mode="lines",
                                 name="exact entropy S/N (lowest possible)", line=dict(color="black", dash="dash")))
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="−⟨log q(x)⟩ / N" if per_spin else "−⟨log q(x)⟩")
    _layout(fig, "Negative log-likelihood", height=380)
    fig.update_layout(legend=dict(xanchor="right", x=0.99))
    return fig


# ---------------------------------------------------------------------- weights vs couplings
def pair_statistics(W, J, absolute: bool = False, only_coupled: bool = False) -> dict:
    """Least-squares line and Pearson r of W_ij against J_ij over the pairs i < j.

    Returns dict(x, y (float32 arrays), slope, intercept, r, n_pairs). ``only_coupled`` keeps
    the pairs with J_ij ≠ 0 (sparse systems).
    """
    Wn, Jn = np.asarray(as_f32(W), dtype=np.float64), np.asarray(as_f32(J), dtype=np.float64)
    if Wn.shape != Jn.shape:
        raise ValueError(f"W and J must have one shape, got {Wn.shape} and {Jn.shape}")
    # symmetrise W: the network's weight of x_i for site j exists only for i < j
    iu = np.triu_indices(Jn.shape[0], k=1)
    Wsym = np.where(np.abs(Wn[iu]) >= np.abs(Wn.T[iu]), Wn[iu], Wn.T[iu])
    x, y = Jn[iu], Wsym
    if only_coupled:
        keep = x != 0
        x, y = x[keep], y[keep]
    if absolute:
        x, y = np.abs(x), np.abs(y)
    r = slope = intercept = math.nan
    if x.size >= 2 and np.std(x) > 0 and np.std(y) > 0:
        r = float(np.corrcoef(x, y)[0, 1])
        slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
    return {"x": x.astype(np.float32), "y": y.astype(np.float32), "slope": slope, "intercept": intercept,
            "r": r, "n_pairs": int(x.size)}


def weights_vs_couplings(W, J, absolute: bool = False, only_coupled: bool = False,
                         max_points: int = 200_000) -> tuple[go.Figure, dict]:
    """WebGL scatter of W_ij against J_ij (or |W| vs |J|) with the least-squares line and Pearson r."""
    stats = pair_statistics(W, J, absolute=absolute, only_coupled=only_coupled)
    x, y = stats["x"], stats["y"]
    if x.size > max_points:
        sel = np.random.default_rng(0).choice(x.size, max_points, replace=False)
        x, y = x[sel], y[sel]
    lab_x, lab_y = ("|J_ij|", "|W_ij|") if absolute else ("J_ij", "W_ij")
    fig = go.Figure(go.Scattergl(x=x, y=y, mode="markers", name="pairs i<j",
                                 marker=dict(size=4, opacity=0.5, color=PALETTE[0]),
                                 hovertemplate=f"{lab_x}=%{{x:.4g}}<br>{lab_y}=%{{y:.4g}}<extra></extra>"))
    if math.isfinite(stats["slope"]):
        xs = np.array([float(x.min()), float(x.max())], dtype=np.float32)
        fig.add_trace(go.Scatter(x=xs, y=(stats["slope"] * xs + stats["intercept"]).astype(np.float32),
                                 mode="lines", name=f"least squares: slope {stats['slope']:.3g}",
                                 line=dict(color=PALETTE[1], width=2)))
    r_text = "n/a" if not math.isfinite(stats["r"]) else f"{stats['r']:.3f}"
    fig.update_xaxes(title=lab_x)
    fig.update_yaxes(title=lab_y)
    return _layout(fig, f"{lab_y} vs {lab_x}: Pearson r = {r_text} over {stats['n_pairs']} pairs", height=420), stats


def site_terms(site: int, drawn_contrib, future_fields, logit_total: float | None = None,
               skip_term: float | None = None) -> go.Figure:
    """The pieces of spin ``site``'s conditional for one sample: the drawn spins' contributions
    J_si x_s to its field (s < i), and the fields c_il the drawn spins leave on the future spins."""
    dc, ff = as_f32(drawn_contrib), as_f32(future_fields)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"J_s{site}·x_s for drawn spins s < {site}",
                                                        f"c_{site}l on future spins l > {site}"))
    fig.add_trace(go.Bar(x=np.arange(dc.size, dtype=np.float32), y=dc, marker_color=PALETTE[0], name="J_si x_s"),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=np.arange(site + 1, site + 1 + ff.size, dtype=np.float32), y=ff,
                         marker_color=PALETTE[2], name="c_il"), row=1, col=2)
    fig.update_xaxes(title="s", row=1, col=1)
    fig.update_xaxes(title="l", row=1, col=2)
    title = None
    if logit_total is not None:
        title = f"logit_{site} = {logit_total:.4g}"
        if skip_term is not None:
            title += f" = skip 2βφ_i {skip_term:.4g} + future-spin terms {logit_total - skip_term:.4g}"
    fig.update_layout(showlegend=False)
    return _layout(fig, title, height=340)


# ---------------------------------------------------------------------- samples
def distribution_comparison(model: tuple | None, reference: tuple | None, xlabel: str, title: str,
                            reference_name: str = "exact", model_name: str = "ARNN") -> go.Figure:
    """Two distributions as (values, probabilities): model as bars, reference as a line with markers."""
    fig = go.Figure()
    if model is not None:
        xv, pv = as_f32(model[0]), as_f32(model[1])
        width = float(np.min(np.diff(np.unique(xv)))) * 0.9 if np.unique(xv).size > 1 else None
        fig.add_trace(go.Bar(x=xv, y=pv, name=model_name, marker_color=PALETTE[0], opacity=0.75, width=width))
    if reference is not None:
        xr, pr = as_f32(reference[0]), as_f32(reference[1])
        order = np.argsort(xr)
        fig.add_trace(go.Scatter(x=xr[order], y=pr[order], name=reference_name, mode="lines+markers",
                                 line=dict(color="black"), marker=dict(size=4)))
    fig.update_xaxes(title=xlabel)
    fig.update_yaxes(title="probability")
    fig.update_layout(bargap=0.05)
    return _layout(fig, title, height=340)


def mean_spin_comparison(model, reference, reference_name: str = "exact") -> go.Figure:
    """Per-site ⟨x_i⟩ of the model against the reference (points on the diagonal agree)."""
    mv, rv = as_f32(model), as_f32(reference)
    fig = go.Figure(go.Scatter(x=rv, y=mv, mode="markers", name="sites", text=np.arange(mv.size).astype(str),
                               marker=dict(size=7, color=PALETTE[0]),
                               hovertemplate="site %{text}<br>ref %{x:.3f}<br>ARNN %{y:.3f}<extra></extra>"))
    lim = float(max(np.abs(mv).max(initial=0), np.abs(rv).max(initial=0), 0.05)) * 1.05
    fig.add_trace(go.Scatter(x=np.array([-lim, lim], np.float32), y=np.array([-lim, lim], np.float32),
                             mode="lines", line=dict(color="grey", dash="dot"), name="y = x"))
    fig.update_xaxes(title=f"⟨x_i⟩ {reference_name}", range=[-lim, lim])
    fig.update_yaxes(title="⟨x_i⟩ ARNN", range=[-lim, lim], scaleanchor="x")
    return _layout(fig, "Per-site magnetisation", height=380)


def lattice_samples(samples, shape: Sequence[int], max_images: int = 8) -> go.Figure:
    """The first few samples of a 2D lattice as black/white images."""
    x = as_f32(samples)[:max_images]
    rows, cols = int(shape[0]), int(shape[1])
    k = x.shape[0]
    ncol = min(k, 4)
    nrow = int(math.ceil(k / ncol)) if k else 1
    fig = make_subplots(rows=nrow, cols=ncol, subplot_titles=[f"sample {i}" for i in range(k)],
                        horizontal_spacing=0.03, vertical_spacing=0.08)
    for i in range(k):
        fig.add_trace(go.Heatmap(z=x[i].reshape(rows, cols), colorscale=[[0, "#111"], [1, "#eee"]], zmin=-1, zmax=1,
                                 showscale=False, hovertemplate="(%{y},%{x}) = %{z}<extra></extra>"),
                      row=i // ncol + 1, col=i % ncol + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    for i in range(k):
        axis = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{axis}"].scaleanchor = f"x{axis}"
    return _layout(fig, "Lattice samples (white = +1)", height=220 * nrow + 60)


# ---------------------------------------------------------------------- comparison
def compare_figure(summary: dict) -> go.Figure:
    """Relative error against β (log scale), one line per architecture — the paper's figure."""
    fig = go.Figure()
    have_rel = any(r.get("relative_error") is not None for e in summary.values() for r in (e.get("per_beta") or []))
    key = "relative_error" if have_rel else "free_energy"
    for k, (label, entry) in enumerate(summary.items()):
        recs = entry.get("per_beta") or []
        beta = np.array([r.get("beta", np.nan) for r in recs], dtype=np.float32)
        y = np.array([r.get(key) if r.get(key) is not None else np.nan for r in recs], dtype=np.float32)
        if have_rel:
            y = np.where(y > 0, y, np.nan).astype(np.float32)
        params = entry.get("trainable")
        name = label if params is None else f"{label} ({params:,} params)"
        fig.add_trace(go.Scatter(x=beta, y=y, mode="lines+markers", name=name,
                                 line=dict(color=PALETTE[k % len(PALETTE)])))
    fig.update_xaxes(title="β")
    if have_rel:
        fig.update_yaxes(title="relative error of f", type="log", dtick=1, exponentformat="power")
        return _layout(fig, "Relative error of the variational free energy", height=420)
    fig.update_yaxes(title="variational f_q (lower is better)")
    return _layout(fig, "Variational free energy (no exact reference at this N)", height=420)


def param_scaling(counts: dict[str, tuple[np.ndarray, np.ndarray]], current_n: int | None = None) -> go.Figure:
    """Trainable-parameter counts against N (log–log), one line per architecture."""
    fig = go.Figure()
    for k, (label, (ns, ps)) in enumerate(counts.items()):
        ps = as_f32(ps)
        ps = np.where(ps > 0, ps, np.nan).astype(np.float32)
        fig.add_trace(go.Scatter(x=as_f32(ns), y=ps, mode="lines+markers", name=label,
                                 line=dict(color=PALETTE[k % len(PALETTE)])))
    if current_n is not None:
        # a two-point trace, not add_vline: shapes on log axes take log10 coordinates
        finite = [float(np.nanmax(as_f32(ps))) for _, ps in counts.values() if np.any(np.asarray(ps) > 0)]
        top = max(finite) if finite else 10.0
        fig.add_trace(go.Scatter(x=np.array([current_n, current_n], np.float32),
                                 y=np.array([1.0, top], np.float32), mode="lines", name=f"this system: N = {current_n}",
                                 line=dict(color="grey", dash="dot")))
    fig.update_xaxes(title="N", type="log")
    fig.update_yaxes(title="trainable + fixed parameters", type="log")
    _layout(fig, "How the parameter count scales with N", height=380)
    fig.update_layout(legend=dict(x=1.02, xanchor="left", y=1.0, yanchor="top"))
    return fig
