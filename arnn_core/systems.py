"""Pairwise Ising spin systems (physics.md §1).

A :class:`SpinSystem` is a symmetric coupling matrix ``J`` with zero diagonal and a field
vector ``h``; its energy is

    H(x) = - Σ_{i<j} J_ij x_i x_j - Σ_i h_i x_i = - ½ xᵀ J x - hᵀ x      (physics.md §1)

for spins x_i ∈ {-1, +1}. The builders below make the standard families (Curie–Weiss,
Sherrington–Kirkpatrick, Edwards–Anderson lattices, networkx graph models) reproducibly from a
seed, and read/write systems as an edge list, JSON or NPZ (never pickle).
"""

from __future__ import annotations

import io
import json
import math
import os
from typing import Any

import networkx as nx
import numpy as np
import torch

__all__ = [
    "SpinSystem",
    "curie_weiss",
    "sherrington_kirkpatrick",
    "edwards_anderson",
    "random_regular",
    "erdos_renyi",
    "barabasi_albert",
    "from_graph",
    "from_edge_list",
    "save_system",
    "load_system",
    "COUPLING_KINDS",
]

#: Coupling distributions accepted by the sparse/graph builders.
COUPLING_KINDS = ("pm1", "gaussian", "ferro")


def _jsonable(value: Any) -> Any:
    """Metadata as plain JSON types: numpy scalars → Python numbers, arrays → lists, anything else
    unknown → its str, so that save_system(JSON) never fails on what a builder recorded."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return _jsonable(value.tolist())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _as_float64_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        arr = value.detach().cpu().to(torch.float64).numpy()
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what} must be numeric (numpy, torch or nested lists): {exc}") from None
    return np.array(arr, dtype=np.float64, copy=True)


class SpinSystem:
    """A pairwise Ising system ``H(x) = -½ xᵀJx - hᵀx`` (physics.md §1).

    Parameters
    ----------
    J : (N, N) array-like
        Symmetric couplings with zero diagonal (numpy, torch or nested lists).
    h : float or (N,) array-like
        External fields; a scalar means the same field on every site.
    name : str, optional
        A human-readable label ("SK N=100 seed=0").
    metadata : dict, optional
        JSON-serialisable facts about how the system was built (family, parameters, lattice
        shape, node labels). Builders fill it; nothing in the physics depends on it.

    Everything is stored in float64 on the CPU: ``J`` and ``h`` are torch tensors;
    :meth:`coupling_matrix` gives a cached copy on any device and dtype.
    """

    def __init__(self, J, h=0.0, name: str | None = None, metadata: dict | None = None):
        J_arr = _as_float64_array(J, "J")
        if J_arr.ndim != 2 or J_arr.shape[0] != J_arr.shape[1]:
            raise ValueError(f"J must be a square N×N matrix, got shape {J_arr.shape}")
        n = J_arr.shape[0]
        if n < 2:
            raise ValueError(f"a spin system needs at least N = 2 spins, got N = {n}")
        if not np.all(np.isfinite(J_arr)):
            bad = np.argwhere(~np.isfinite(J_arr))[0]
            raise ValueError(f"J contains NaN or inf (first at J[{bad[0]}, {bad[1]}])")
        diag = np.abs(np.diag(J_arr))
        if np.any(diag != 0.0):
            i = int(np.argmax(diag))
            raise ValueError(f"J must have a zero diagonal (no self-coupling), but J[{i}, {i}] = {J_arr[i, i]:g}")
        asym = np.abs(J_arr - J_arr.T)
        scale = max(1.0, float(np.abs(J_arr).max()))
        if asym.max() > 1e-12 * scale:
            i, j = np.unravel_index(int(np.argmax(asym)), asym.shape)
            raise ValueError(
                f"J must be symmetric, but J[{i}, {j}] = {J_arr[i, j]:g} differs from J[{j}, {i}] = {J_arr[j, i]:g}"
            )
        J_arr = 0.5 * (J_arr + J_arr.T)  # remove round-off asymmetry exactly

        h_arr = _as_float64_array(h, "h")
        if h_arr.ndim == 0:
            h_arr = np.full(n, float(h_arr))
        if h_arr.ndim != 1 or h_arr.shape[0] != n:
            raise ValueError(f"h must be a scalar or a vector of length N = {n}, got shape {h_arr.shape}")
        if not np.all(np.isfinite(h_arr)):
            raise ValueError(f"h contains NaN or inf (first at h[{int(np.argmax(~np.isfinite(h_arr)))}])")

        self.J = torch.from_numpy(J_arr)
        self.h = torch.from_numpy(h_arr)
        self.name = name or f"system N={n}"
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
        self.metadata = _jsonable(dict(metadata or {}))
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._neighbours: list[np.ndarray] | None = None

    # ------------------------------------------------------------------ basic facts
    @property
    def n(self) -> int:
        """Number of spins N."""
        return self.J.shape[0]

    @property
    def family(self) -> str:
        """The family recorded by the builder ("curie_weiss", "sk", ...), or "custom"."""
        return self.metadata.get("family", "custom")

    @property
    def num_edges(self) -> int:
        """Number of non-zero couplings J_ij with i < j."""
        return int(torch.count_nonzero(torch.triu(self.J, diagonal=1)))

    @property
    def density(self) -> float:
        """Fraction of the N(N-1)/2 pairs that are coupled."""
        return self.num_edges / (self.n * (self.n - 1) / 2)

    @property
    def is_sparse(self) -> bool:
        """True when fewer than half of the pairs are coupled (lattices, graphs; CW and SK are dense)."""
        return self.density < 0.5

    def __repr__(self) -> str:
        return f"SpinSystem(name={self.name!r}, n={self.n}, edges={self.num_edges})"

    def coupling_matrix(self, device=None, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        """``(J, h)`` on ``device`` in ``dtype``, cached so hot loops never copy twice."""
        key = (str(torch.device(device) if device is not None else "cpu"), dtype)
        if key not in self._cache:
            self._cache[key] = (self.J.to(device=device, dtype=dtype), self.h.to(device=device, dtype=dtype))
        return self._cache[key]

    def neighbours(self) -> list[np.ndarray]:
        """For each site i, the indices j with J_ij ≠ 0 (for sparse Monte Carlo)."""
        if self._neighbours is None:
            J = self.J.numpy()
            self._neighbours = [np.flatnonzero(J[i]) for i in range(self.n)]
        return self._neighbours

    def curie_weiss_parameters(self, tol: float = 1e-12) -> tuple[float, float] | None:
        """``(J, h)`` if this is a Curie–Weiss system (J_ij = J/N for all i≠j, uniform h), else None."""
        J = self.J.numpy()
        off = J[~np.eye(self.n, dtype=bool)]
        h = self.h.numpy()
        scale = max(1.0, float(np.abs(off).max()), float(np.abs(h).max()))
        if np.ptp(off) > tol * scale or np.ptp(h) > tol * scale:
            return None
        return float(off[0] * self.n), float(h[0])

    # ------------------------------------------------------------------ physics
    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``H(x) = -½ xᵀJx - hᵀx`` for a (B, N) batch of ±1 spins on any device/dtype → (B,)."""
        x = torch.as_tensor(x)
        if not torch.is_floating_point(x):
            x = x.to(torch.float64)
        squeeze = x.ndim == 1
        if squeeze:
            x = x.unsqueeze(0)
        if x.ndim != 2 or x.shape[1] != self.n:
            raise ValueError(f"x must have shape (B, {self.n}), got {tuple(x.shape)}")
        J, h = self.coupling_matrix(x.device, x.dtype)
        e = -0.5 * ((x @ J) * x).sum(-1) - x @ h
        return e[0] if squeeze else e

    def edges(self) -> list[tuple[int, int, float]]:
        """All couplings as ``(i, j, J_ij)`` with i < j."""
        J = self.J.numpy()
        ii, jj = np.nonzero(np.triu(J, k=1))
        return [(int(i), int(j), float(J[i, j])) for i, j in zip(ii, jj)]

    def graph(self) -> nx.Graph:
        """The interaction graph: node i has attribute ``h``, edge (i, j) attribute ``weight`` = J_ij."""
        G = nx.Graph()
        h = self.h.numpy()
        G.add_nodes_from((i, {"h": float(h[i])}) for i in range(self.n))
        G.add_weighted_edges_from(self.edges())
        return G

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """A JSON-ready description: edges and fields (compact for sparse systems)."""
        return {
            "format": "arnn-spin-system",
            "version": 1,
            "name": self.name,
            "n": self.n,
            "edges": [[i, j, w] for i, j, w in self.edges()],
            "h": self.h.tolist(),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SpinSystem":
        """Inverse of :meth:`to_dict`; validates every field."""
        if not isinstance(data, dict) or data.get("format") != "arnn-spin-system":
            raise ValueError("not an ARNN spin-system description (missing 'format': 'arnn-spin-system')")
        try:
            n = int(data["n"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("spin-system JSON needs an integer 'n'") from None
        if n < 2:
            raise ValueError(f"a spin system needs at least N = 2 spins, got N = {n}")
        J = np.zeros((n, n))
        for k, edge in enumerate(data.get("edges", [])):
            if not isinstance(edge, (list, tuple)) or len(edge) != 3:
                raise ValueError(f"edge #{k} must be [i, j, J_ij], got {edge!r}")
            try:
                i, j, w = _as_index(edge[0]), _as_index(edge[1]), float(edge[2])
            except (TypeError, ValueError):
                raise ValueError(f"edge #{k} must be [i, j, J_ij] with integer sites, got {edge!r}") from None
            _check_pair(i, j, n, f"edge #{k}")
            J[i, j] = J[j, i] = w
        return cls(J, data.get("h", 0.0), name=data.get("name"), metadata=data.get("metadata") or {})


def _as_index(value) -> int:
    """An integer site index; refuses 1.5, True and strings (int() would truncate or parse them)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(value)


def _check_pair(i: int, j: int, n: int, where: str) -> None:
    if not (0 <= i < n and 0 <= j < n):
        raise ValueError(f"{where}: site index out of range 0..{n - 1} in ({i}, {j})")
    if i == j:
        raise ValueError(f"{where}: self-coupling ({i}, {i}) is not allowed")


# ---------------------------------------------------------------------- builders
def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def _draw_couplings(kind: str, size: int, J: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "pm1":
        return J * rng.choice(np.array([-1.0, 1.0]), size=size)
    if kind == "gaussian":
        return J * rng.standard_normal(size)
    if kind == "ferro":
        return np.full(size, float(J))
    raise ValueError(f"couplings must be one of {COUPLING_KINDS}, got {kind!r}")


def _check_n(n, what="n", minimum=2) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{what} must be an integer ≥ {minimum}, got {n!r}")
    return int(n)


def curie_weiss(n: int, J: float = 1.0, h: float = 0.0) -> SpinSystem:
    """Curie–Weiss ferromagnet: ``J_ij = J/N`` for all i ≠ j, ``h_i = h`` (physics.md §1)."""
    n = _check_n(n)
    Jm = np.full((n, n), J / n)
    np.fill_diagonal(Jm, 0.0)
    return SpinSystem(Jm, h, name=f"Curie–Weiss N={n} J={J:g} h={h:g}",
                      metadata={"family": "curie_weiss", "J": J, "h": h})


def sherrington_kirkpatrick(n: int, J: float = 1.0, J0: float = 0.0, h: float = 0.0,
                            couplings: str = "gaussian", seed=None) -> SpinSystem:
    """Sherrington–Kirkpatrick: ``J_ij ~ Normal(J0/N, J²/N)`` i.i.d. for i<j, or ``J0/N ± J/√N``
    with ``couplings="pm1"`` (physics.md §1)."""
    n = _check_n(n)
    if couplings not in ("gaussian", "pm1"):
        raise ValueError(f"SK couplings must be 'gaussian' or 'pm1', got {couplings!r}")
    rng = _rng(seed)
    iu = np.triu_indices(n, k=1)
    w = J0 / n + _draw_couplings(couplings, len(iu[0]), J / math.sqrt(n), rng)
    Jm = np.zeros((n, n))
    Jm[iu] = w
    Jm = Jm + Jm.T
    return SpinSystem(Jm, h, name=f"SK N={n} J={J:g} seed={seed}",
                      metadata={"family": "sk", "J": J, "J0": J0, "h": h, "couplings": couplings, "seed": seed})


def edwards_anderson(L: int, dim: int = 2, periodic: bool = True, couplings: str = "pm1",
                     J: float = 1.0, h: float = 0.0, seed=None) -> SpinSystem:
    """Edwards–Anderson model on an L^dim hypercubic lattice, nearest neighbours only.

    Site ``(a_0, …, a_{dim-1})`` has index ``Σ_k a_k L^(dim-1-k)`` (row-major), so a 2D sample
    reshapes to an (L, L) image with ``x.reshape(L, L)``.
    """
    L = _check_n(L, "L")
    if dim not in (1, 2, 3):
        raise ValueError(f"dim must be 1, 2 or 3, got {dim!r}")
    n = L ** dim
    shape = (L,) * dim
    pairs = set()
    for idx in np.ndindex(*shape):
        i = int(np.ravel_multi_index(idx, shape))
        for k in range(dim):
            nb = list(idx)
            nb[k] += 1
            if nb[k] == L:
                if not periodic:
                    continue
                nb[k] = 0
            j = int(np.ravel_multi_index(tuple(nb), shape))
            if i != j:
                pairs.add((min(i, j), max(i, j)))
    pairs = sorted(pairs)
    w = _draw_couplings(couplings, len(pairs), J, _rng(seed))
    Jm = np.zeros((n, n))
    for (i, j), wij in zip(pairs, w):
        Jm[i, j] = Jm[j, i] = wij
    return SpinSystem(Jm, h, name=f"EA {dim}D L={L} {couplings} seed={seed}",
                      metadata={"family": "edwards_anderson", "L": L, "dim": dim, "periodic": periodic,
                                "couplings": couplings, "J": J, "h": h, "seed": seed,
                                "lattice_shape": list(shape)})


def _graph_system(G: nx.Graph, family: str, couplings: str, J: float, h, seed, params: dict) -> SpinSystem:
    nodes = list(G.nodes)
    index = {v: k for k, v in enumerate(nodes)}
    edges = [(index[u], index[v]) for u, v in G.edges() if u != v]
    rng = _rng(seed)
    w = _draw_couplings(couplings, len(edges), J, rng)
    n = len(nodes)
    Jm = np.zeros((n, n))
    for (i, j), wij in zip(edges, w):
        Jm[i, j] = Jm[j, i] = wij
    label = ", ".join(f"{k}={v}" for k, v in params.items())
    return SpinSystem(Jm, h, name=f"{family} {label} {couplings} seed={seed}",
                      metadata={"family": family, **params, "couplings": couplings, "J": J,
                                "h": h if np.isscalar(h) else None, "seed": seed})


def random_regular(n: int, d: int, couplings: str = "pm1", J: float = 1.0, h: float = 0.0, seed=None) -> SpinSystem:
    """Random d-regular graph on n nodes (networkx), couplings drawn per edge."""
    n = _check_n(n)
    d = _check_n(d, "d", minimum=1)
    if d >= n or (n * d) % 2:
        raise ValueError(f"a random {d}-regular graph on {n} nodes needs d < n and n·d even")
    G = nx.random_regular_graph(d, n, seed=_graph_seed(seed))
    return _graph_system(G, "random_regular", couplings, J, h, seed, {"n": n, "d": d})


def erdos_renyi(n: int, p: float, couplings: str = "pm1", J: float = 1.0, h: float = 0.0, seed=None) -> SpinSystem:
    """Erdős–Rényi G(n, p) graph, couplings drawn per edge."""
    n = _check_n(n)
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"edge probability p must be a number, got {p!r}") from None
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"edge probability p must lie in [0, 1], got {p!r}")
    G = nx.gnp_random_graph(n, p, seed=_graph_seed(seed))
    return _graph_system(G, "erdos_renyi", couplings, J, h, seed, {"n": n, "p": p})


def barabasi_albert(n: int, m: int, couplings: str = "pm1", J: float = 1.0, h: float = 0.0, seed=None) -> SpinSystem:
    """Barabási–Albert preferential-attachment graph (m edges per new node), couplings per edge."""
    n = _check_n(n)
    m = _check_n(m, "m", minimum=1)
    if m >= n:
        raise ValueError(f"Barabási–Albert needs m < n, got m={m}, n={n}")
    G = nx.barabasi_albert_graph(n, m, seed=_graph_seed(seed))
    return _graph_system(G, "barabasi_albert", couplings, J, h, seed, {"n": n, "m": m})


def _graph_seed(seed):
    # networkx wants an int or a RandomState; derive a stable int from any numpy seed
    return None if seed is None else int(np.random.default_rng(seed).integers(2**31 - 1))


def from_graph(G: nx.Graph, weight: str = "weight", default: float = 1.0, h=0.0, name: str | None = None) -> SpinSystem:
    """Any networkx graph as a spin system.

    Node order is ``list(G.nodes)`` (insertion order): node ``G.nodes[k]`` becomes spin k, and
    the labels are kept in ``metadata["node_labels"]``. Each edge's coupling is its ``weight``
    attribute, or ``default`` when absent. ``h`` is a scalar, a vector in node order, or the name
    of a node attribute (missing → 0).
    """
    if not isinstance(G, nx.Graph):
        raise ValueError(f"from_graph needs a networkx Graph, got {type(G).__name__}")
    if G.is_directed():
        raise ValueError("from_graph needs an undirected graph (couplings are symmetric)")
    if G.is_multigraph():
        raise ValueError("from_graph needs a simple graph, not a multigraph (one coupling per pair)")
    nodes = list(G.nodes)
    n = len(nodes)
    if n < 2:
        raise ValueError(f"the graph has {n} node(s); a spin system needs at least 2")
    index = {v: k for k, v in enumerate(nodes)}
    Jm = np.zeros((n, n))
    for u, v, data in G.edges(data=True):
        if u == v:
            raise ValueError(f"the graph has a self-loop at node {u!r}; self-couplings are not allowed")
        w = data.get(weight, default)
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise ValueError(f"edge ({u!r}, {v!r}) has a non-numeric {weight!r}: {w!r}") from None
        Jm[index[u], index[v]] = Jm[index[v], index[u]] = w
    if isinstance(h, str):
        h = [float(G.nodes[v].get(h, 0.0)) for v in nodes]
    labels = [v if isinstance(v, (int, float, str)) else list(v) if isinstance(v, tuple) else str(v) for v in nodes]
    return SpinSystem(Jm, h, name=name or f"graph N={n}", metadata={"family": "graph", "node_labels": labels})


def from_edge_list(text_or_path, fields=None, n: int | None = None, name: str | None = None) -> SpinSystem:
    """Read a coupling list: lines ``i j J_ij`` (0-based) and optional ``i h_i`` lines.

    ``#`` starts a comment; blank lines are ignored. N is ``n`` if given, else the largest index
    + 1. ``fields`` (scalar or vector) adds to the fields read from ``i h_i`` lines. Errors name
    the line number. ``text_or_path`` is the text itself, a path, or bytes.
    """
    if isinstance(text_or_path, bytes):
        text = text_or_path.decode("utf-8", errors="replace")
    elif isinstance(text_or_path, os.PathLike) or (
            isinstance(text_or_path, str) and "\n" not in text_or_path and os.path.isfile(text_or_path)):
        with open(text_or_path, encoding="utf-8") as fh:
            text = fh.read()
    elif isinstance(text_or_path, str):
        text = text_or_path
        first = text.strip()
        looks_like_path = len(first.split()) == 1 or "/" in first or os.sep in first
        if "\n" not in first and looks_like_path and not first.startswith("#") and not _looks_numeric(first):
            # a single line that is not data: most likely a path that does not exist
            raise ValueError(f"no such edge-list file: {text_or_path!r}")
    else:
        raise ValueError(f"from_edge_list needs text, bytes or a path, got {type(text_or_path).__name__}")
    couplings: list[tuple[int, int, float, int]] = []
    field_lines: list[tuple[int, float, int]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        try:
            if len(parts) == 3:
                i, j, w = int(parts[0]), int(parts[1]), float(parts[2])
                couplings.append((i, j, w, lineno))
            elif len(parts) == 2:
                field_lines.append((int(parts[0]), float(parts[1]), lineno))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"line {lineno}: expected 'i j J_ij' or 'i h_i', got {raw.strip()!r}") from None
        value = couplings[-1][2] if len(parts) == 3 else field_lines[-1][1]
        if not math.isfinite(value):
            raise ValueError(f"line {lineno}: value is NaN or inf")
        indices = couplings[-1][:2] if len(parts) == 3 else field_lines[-1][:1]
        if min(indices) < 0:
            raise ValueError(f"line {lineno}: site indices are 0-based and non-negative, got {indices}")
    if not couplings and not field_lines:
        raise ValueError("the coupling list is empty (no 'i j J_ij' lines)")
    max_index = max([max(i, j) for i, j, _, _ in couplings] + [i for i, _, _ in field_lines] + [-1])
    if n is None:
        n = max_index + 1
    elif max_index >= n:
        raise ValueError(f"site index {max_index} is out of range for n = {n}")
    if n < 2:
        raise ValueError(f"the coupling list describes N = {n} spin(s); at least 2 are needed")
    Jm = np.zeros((n, n))
    seen: dict[tuple[int, int], int] = {}
    for i, j, w, lineno in couplings:
        if i < 0 or j < 0:
            raise ValueError(f"line {lineno}: site indices are 0-based and non-negative, got ({i}, {j})")
        if i == j:
            raise ValueError(f"line {lineno}: self-coupling ({i}, {i}) is not allowed")
        key = (min(i, j), max(i, j))
        if key in seen and Jm[i, j] != w:
            raise ValueError(f"line {lineno}: coupling ({i}, {j}) already set to {Jm[i, j]:g} on line {seen[key]}")
        seen[key] = lineno
        Jm[i, j] = Jm[j, i] = w
    h = np.zeros(n)
    for i, hi, lineno in field_lines:
        if i < 0:
            raise ValueError(f"line {lineno}: site index must be non-negative, got {i}")
        h[i] = hi
    if fields is not None:
        extra = _as_float64_array(fields, "fields")
        if extra.ndim > 1 or (extra.ndim == 1 and extra.shape[0] != n):
            raise ValueError(f"fields must be a scalar or a vector of length N = {n}, got shape {extra.shape}")
        h = h + extra
    return SpinSystem(Jm, h, name=name or f"edge list N={n}", metadata={"family": "edge_list"})


def _looks_numeric(line: str) -> bool:
    try:
        [float(tok) for tok in line.split("#", 1)[0].replace(",", " ").split()]
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------- JSON / NPZ
def save_system(system: SpinSystem, path) -> None:
    """Write ``system`` as JSON (``.json``) or NPZ (``.npz``, dense J) — never pickle."""
    path = os.fspath(path)
    if path.endswith(".json"):
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(system.to_dict(), fh)
    elif path.endswith(".npz"):
        np.savez_compressed(path, J=system.J.numpy(), h=system.h.numpy(),
                            name=np.array(system.name), metadata=np.array(json.dumps(system.metadata)))
    else:
        raise ValueError(f"unknown system format for {path!r}: use .json or .npz")


def load_system(path_or_bytes, format: str | None = None) -> SpinSystem:
    """Read a system written by :func:`save_system` (JSON or NPZ, no pickle), from a path or bytes.

    ``format`` ("json" or "npz") is required for bytes and inferred from a path's extension.
    """
    if isinstance(path_or_bytes, (bytes, bytearray)):
        if format not in ("json", "npz"):
            raise ValueError("loading a system from bytes needs format='json' or 'npz'")
        raw = bytes(path_or_bytes)
    else:
        path = os.fspath(path_or_bytes)
        format = format or ("json" if path.endswith(".json") else "npz" if path.endswith(".npz") else None)
        if format is None:
            raise ValueError(f"unknown system format for {path!r}: use .json or .npz")
        with open(path, "rb") as fh:
            raw = fh.read()
    if format == "json":
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        return SpinSystem.from_dict(data)
    try:
        data = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:  # zipfile / format errors: say what the file is not
        raise ValueError(f"not a readable NPZ file: {exc}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError("not an NPZ archive (a single .npy array?); save_system writes J, h, name, metadata")
    with data:
        if "J" not in data.files:
            raise ValueError("the NPZ file has no array named 'J'")
        arrays = {}
        for key in ("J", "h", "name", "metadata"):
            if key not in data.files:
                continue
            try:
                arrays[key] = data[key]
            except ValueError as exc:  # object arrays need pickle, which is never used
                raise ValueError(f"the NPZ array {key!r} cannot be read without pickle (object array?), "
                                 f"refused: {exc}") from None
            except Exception as exc:
                raise ValueError(f"the NPZ array {key!r} is unreadable: {exc}") from None
    for key in ("J", "h"):
        if key in arrays and arrays[key].dtype.kind not in "biuf":
            raise ValueError(f"the NPZ array {key!r} must be numeric, got dtype {arrays[key].dtype}")
    metadata = {}
    if "metadata" in arrays:
        try:
            metadata = json.loads(str(arrays["metadata"]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"the NPZ 'metadata' is not valid JSON: {exc}") from None
        if not isinstance(metadata, dict):
            raise ValueError("the NPZ 'metadata' must be a JSON object")
    name = str(arrays["name"]) if "name" in arrays else None
    return SpinSystem(arrays["J"], arrays.get("h", 0.0), name=name, metadata=metadata)
