"""Output helpers for the reproduction scripts: CSV, stdout tables, plotly HTML + PNG figures."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

_PNG_WARNED = False


def write_csv(rows: list[dict], path, columns: list[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return path


def fmt(value, spec: str = ".2e") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def print_table(rows: list[list], header: list[str], file=None) -> None:
    """A plain aligned text table (stdout by default)."""
    file = file or sys.stdout
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    for i, row in enumerate(cells):
        print("  ".join(c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(row, widths))), file=file)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=file)


def save_figure(fig, out_dir, name: str, png: bool = True, width: int = 1000, height: int = 450) -> list[Path]:
    """Write ``name.html`` (plotly.js once, beside it, so the files work offline) and, when
    possible, ``name.png`` via kaleido (which drives a local Chrome/Chromium). A missing kaleido
    or browser only skips the PNG, with one clear message."""
    global _PNG_WARNED
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    html = out_dir / f"{name}.html"
    fig.write_html(html, include_plotlyjs="directory")
    written.append(html)
    if png:
        target = out_dir / f"{name}.png"
        try:
            fig.write_image(target, width=width, height=height, scale=1)
            written.append(target)
        except Exception as exc:  # kaleido absent, or no Chrome it can drive
            if not _PNG_WARNED:
                print(f"[figures] PNG export skipped ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
                      "HTML figures are written; for PNGs: pip install kaleido, with Chrome/Chromium installed "
                      "(kaleido finds /usr/bin/chromium, or set BROWSER_PATH).", file=sys.stderr)
                _PNG_WARNED = True
    return written


def histogram_xy(hist) -> tuple[list[float], list[float]] | None:
    """(q, density) from a stored ``(values, probabilities)`` pair (arnn_core.estimate's
    ``overlap_hist``: the N+1 values of q and their frequencies), as a density in q so that
    different N share one axis."""
    if not hist or len(hist) != 2 or not hist[0]:
        return None
    xs, probs = list(hist[0]), list(hist[1])
    total = sum(probs)
    if not total or len(xs) < 2:
        return None
    width = (xs[-1] - xs[0]) / (len(xs) - 1)
    return xs, [p / total / width for p in probs]


def overlap_figure(records, n: int, beta_key: str, title: str):
    """P(q) under each trained network at size ``n`` and β ``beta_key`` (the paper's panel C),
    from the stored per-run histograms; None when no run of that size stored one."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for record in records:
        if record is None or record["spec"]["system"]["n"] != n:
            continue
        xy = histogram_xy(record["result"].get("histograms", {}).get(beta_key, {}).get("overlap_hist"))
        if xy is None:
            continue
        label = record["spec"]["label"]
        fig.add_trace(go.Scatter(x=xy[0], y=xy[1], mode="lines", name=label,
                                 line=dict(color=ARCH_COLOURS.get(label), shape="hvh")))
    if not fig.data:
        return None
    fig.update_xaxes(title_text="q")
    fig.update_yaxes(title_text="P(q)")
    fig.update_layout(title=title, template="plotly_white")
    return fig


#: One colour per architecture label, shared by all figures.
ARCH_COLOURS = {
    "CW_N": "#000000", "CW_inf": "#1f77b4", "1P": "#d62728", "SL": "#2ca02c", "MADE_21": "#9467bd",
    "MADE_22": "#ff7f0e", "MADE_23": "#ff7f0e", "MADE_32": "#8c564b", "SK_RS": "#1f77b4",
    "SK_1RSB": "#e377c2", "SK_2RSB": "#000000",
}
