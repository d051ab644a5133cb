"""Baseline architectures of the paper (physics.md §4, "Baselines"): 1P, SL and MADE_dw.

* **1P**: ``logit_i = w_i Σ_{s<i} x_s`` (N parameters).
* **SL** (single masked linear layer): ``logit_j = b_j + Σ_{i<j} W_ij x_i``; MADE with d = 1.
* **MADE_dw** (Germain et al. 2015, in the layout of the VAN code of Wu, Wang & Zhang 2019 that the
  paper's baselines come from): d masked linear layers, hidden layers of w·N units, PReLU
  activations (one slope per hidden unit, initialised to 0.5).

Parameter convention (checked against the paper's MADE_23 ≈ 60,700 at N = 100): every entry of
the dense weight matrices counts, masked or not, plus the biases and the PReLU slopes — exactly
``sum(p.numel() for p in net.parameters())`` of the VAN implementation:

    d = 1:  N² + N
    d ≥ 2:  wN·N + wN  +  (d−2)(w²N² + wN)  +  N·wN + N  +  (d−1) wN        (PReLU slopes)

so MADE_23 at N = 100 has 30,300 + 30,100 + 300 = 60,700. Masked entries never influence the
output and receive zero gradient; :meth:`MADE.num_free_params` counts only the unmasked ones.

Hidden-unit layout: site-major. Hidden unit r of a layer belongs to site ``r // w``; a
first-layer unit of site k sees x_<k, a deeper unit of site k sees the previous layer's units
of sites ≤ k, and the output of site k sees the last hidden layer's units of sites ≤ k. Hence
every unit of site k depends on x_<k only, and the units of one site are a contiguous slice.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .base import ARNN
from .registry import ArchitectureSpec, OptionSpec, register_architecture

__all__ = ["OneParameterARNN", "MADE", "MADE_MAX_PARAMS"]

#: MADE refuses to build beyond this many trainable parameters (memory, and the app's sanity).
MADE_MAX_PARAMS = 50_000_000


def _exclusive_cumsum(x: torch.Tensor) -> torch.Tensor:
    """m_<i = Σ_{s<i} x_s for every i at once."""
    return torch.cumsum(x, dim=-1) - x


class OneParameterARNN(ARNN):
    """1P: ``logit_i = w_i m_<i`` with ``m_<i = Σ_{s<i} x_s`` (physics.md §4); N trainable weights.

    The weights start small and random (normal, std 0.01), so the initial q is close to uniform.
    """

    def __init__(self, n: int):
        super().__init__(n)
        self.weight = nn.Parameter(0.01 * torch.randn(n))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * _exclusive_cumsum(x.to(self.dtype))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None):
        n = _check_count(n)
        x = torch.zeros(n, self.n, device=self.device, dtype=self.dtype)
        logits = torch.empty_like(x)
        m = torch.zeros(n, device=self.device, dtype=self.dtype)
        threshold = self._thresholds(n, generator)
        for i in range(self.n):
            logits[:, i] = logit = self.weight[i] * m
            x[:, i] = xi = torch.where(logit > threshold[:, i], 1.0, -1.0)
            m += xi
        return x, F.logsigmoid(x * logits).sum(-1)

    def first_layer_weights(self) -> torch.Tensor:
        """W_ij = w_j for i < j (the tied weights of site j on every earlier spin), 0 otherwise."""
        w = self.weight.detach()
        return torch.triu(w.expand(self.n, self.n), diagonal=1).clone()


class MADE(ARNN):
    """MADE_dw: ``depth`` masked linear layers, hidden width ``width``·N, PReLU (physics.md §4).

    ``depth = 1`` is SL, a single strictly-lower-triangular linear layer with bias.

    Sampling caches every layer's activations: at site k only the w units of site k in each
    hidden layer are computed (one gemv each), from the cached inputs they are allowed to see
    (x_<k for the first layer, the previous layer's units of sites ≤ k above it), and then the
    one output logit. A sample of N spins therefore costs the work of one teacher-forced pass,
    O(N²·w·(2 + (d−2)·w)) — O(N²·w·d) up to the hidden-to-hidden width factor — instead of the
    N full passes of the naive sampler. The uniforms are drawn up front as logit thresholds and
    log q is one ``logsigmoid`` over the stored logits at the end (the same formula as log_prob).
    """

    def __init__(self, n: int, depth: int = 2, width: int = 3):
        super().__init__(n)
        if depth < 1 or width < 1:
            raise ValueError(f"MADE needs depth ≥ 1 and width ≥ 1, got depth={depth}, width={width}")
        self.depth, self.width = int(depth), int(width)
        hidden = self.width * n
        sizes = [n] + [hidden] * (self.depth - 1) + [n]
        self.layers = nn.ModuleList(nn.Linear(sizes[k], sizes[k + 1]) for k in range(self.depth))
        self.activations = nn.ModuleList(nn.PReLU(hidden, init=0.5) for _ in range(self.depth - 1))
        self._mask_cache: dict = {}
        with torch.no_grad():
            for k, layer in enumerate(self.layers):
                mask = self._build_mask(k, layer.weight.device)
                # VAN's rescaling keeps the variance of a masked layer's outputs that of a dense one
                layer.weight.mul_(mask).mul_(math.sqrt(mask.numel() / max(1.0, float(mask.sum()))))

    # ------------------------------------------------------------------ masks
    def _site_of(self, size: int, device) -> torch.Tensor:
        """Site of each unit of a layer of ``size`` units (inputs/outputs: one per site)."""
        per = 1 if size == self.n else self.width
        return torch.arange(size, device=device) // per

    def _build_mask(self, k: int, device) -> torch.Tensor:
        layer = self.layers[k]
        out_site = self._site_of(layer.out_features, device)
        in_site = self._site_of(layer.in_features, device)
        if k == 0:  # the first layer is exclusive: site j sees x_<j
            allowed = in_site[None, :] < out_site[:, None]
        else:       # deeper layers: units of sites ≤ j
            allowed = in_site[None, :] <= out_site[:, None]
        return allowed.to(layer.weight.dtype)

    def _masks(self) -> list[torch.Tensor]:
        w = self.layers[0].weight
        key = (str(w.device), w.dtype)
        if key not in self._mask_cache:
            self._mask_cache[key] = [self._build_mask(k, w.device) for k in range(self.depth)]
        return self._mask_cache[key]

    # ------------------------------------------------------------------ forward
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to(self.dtype)
        masks = self._masks()
        for k, layer in enumerate(self.layers):
            if k > 0:
                h = self.activations[k - 1](h)
            h = F.linear(h, layer.weight * masks[k], layer.bias)
        return h

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None):
        n = _check_count(n)
        N, w, dev, dt = self.n, self.width, self.device, self.dtype
        x = torch.zeros(n, N, device=dev, dtype=dt)
        logits = torch.empty(n, N, device=dev, dtype=dt)
        threshold = self._thresholds(n, generator)
        # cached activations (after PReLU) of every hidden layer, filled site by site
        acts = [torch.empty(n, w * N, device=dev, dtype=dt) for _ in range(self.depth - 1)]
        weights = [layer.weight for layer in self.layers]
        biases = [layer.bias for layer in self.layers]
        slopes = [a.weight for a in self.activations]
        for k in range(N):
            seen = (k + 1) * w  # hidden units of sites ≤ k
            units = slice(k * w, seen)  # the w units of site k
            for j in range(self.depth - 1):
                inputs, width_in = (x, k) if j == 0 else (acts[j - 1], seen)
                pre = _affine(inputs, width_in, weights[j][units], biases[j][units])
                acts[j][:, units] = F.prelu(pre, slopes[j][units])
            inputs, width_in = (x, k) if self.depth == 1 else (acts[-1], seen)
            logits[:, k] = logit = _affine(inputs, width_in, weights[-1][k:k + 1], biases[-1][k:k + 1])[:, 0]
            x[:, k] = torch.where(logit > threshold[:, k], 1.0, -1.0)
        return x, F.logsigmoid(x * logits).sum(-1)

    # ------------------------------------------------------------------ introspection
    def num_free_params(self) -> int:
        """Trainable numbers that can influence the output: unmasked weights, biases, slopes."""
        masked = sum(int(m.sum()) for m in self._masks())
        biases = sum(layer.bias.numel() for layer in self.layers)
        slopes = sum(a.weight.numel() for a in self.activations)
        return masked + biases + slopes

    @property
    def first_layer_analogue(self) -> bool:  # type: ignore[override]
        return self.depth > 1

    def first_layer_weights(self) -> torch.Tensor:
        """W_ij = weight of x_i in site j's logit for SL (depth 1), zero for i ≥ j.

        For depth ≥ 2 there is no N×N layer; the nearest analogue returned is the end-to-end
        linear map with every PReLU replaced by the identity, ``(W_d ⋯ W_1)ᵀ`` over the masked
        weights (its (i, j) entry is still zero for i ≥ j) — :attr:`first_layer_analogue` is True.
        """
        masks = self._masks()
        with torch.no_grad():
            prod = self.layers[0].weight * masks[0]
            for k in range(1, self.depth):
                prod = (self.layers[k].weight * masks[k]) @ prod
        return prod.T.clone()


def _affine(inputs: torch.Tensor, width: int, weight_rows: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``bias + inputs[:, :width] @ weight_rows[:, :width].T`` → (B, units) for a few units.

    On CPU one gemv per unit rather than one (B × k) @ (k × units) gemm: on a CPU shared with
    other processes the BLAS thread pool stalls small-output gemms (measured 2–4 s vs 0.4 s for a
    MADE_23 sample at N = 200, batch 2000), while single-threaded the two cost the same. On CUDA
    one gemm (fewer kernel launches).
    """
    batch = inputs.shape[0]
    if width == 0:  # site 0 sees nothing: the units are their biases
        return bias.expand(batch, -1)
    x = inputs[:, :width]
    if inputs.device.type != "cpu":
        return torch.addmm(bias, x, weight_rows[:, :width].T)
    return torch.stack([torch.addmv(b, x, row[:width]) for b, row in zip(bias, weight_rows)], dim=1)


def _check_count(n) -> int:
    n = int(n)
    if n < 1:
        raise ValueError(f"number of samples must be ≥ 1, got {n}")
    return n


# ---------------------------------------------------------------------- registry
def _made_count(n: int, depth: int, width: int) -> int:
    if depth == 1:
        return n * n + n
    hidden = width * n
    return (hidden * n + hidden) + (depth - 2) * (hidden * hidden + hidden) + (n * hidden + n) + (depth - 1) * hidden


def _made_check(system, depth: int = 2, width: int = 3) -> None:
    count = _made_count(system.n, depth, width)
    if count > MADE_MAX_PARAMS:
        raise ValueError(f"MADE with depth {depth} and width {width} at N = {system.n} would have {count:,} "
                         f"trainable parameters, above the limit of {MADE_MAX_PARAMS:,}; lower depth or width")


register_architecture(ArchitectureSpec(
    name="1p",
    label="1P (one parameter per site)",
    description="Baseline: logit_i = w_i · Σ_{s<i} x_s, N trainable weights.",
    constructor=lambda system: OneParameterARNN(system.n),
    latex=r"q(x_i{=}{+}1\mid x_{<i}) = \sigma\Big(w_i \sum_{s<i} x_s\Big)",
    param_count=lambda system: (system.n, 0),
))

register_architecture(ArchitectureSpec(
    name="sl",
    label="SL (single masked linear layer)",
    description="Baseline: one strictly lower-triangular linear layer with bias (MADE with no hidden layer), N² + N parameters.",
    constructor=lambda system: MADE(system.n, depth=1, width=1),
    latex=r"q(x_j{=}{+}1\mid x_{<j}) = \sigma\Big(b_j + \sum_{i<j} W_{ij} x_i\Big)",
    param_count=lambda system: (_made_count(system.n, 1, 1), 0),
))

register_architecture(ArchitectureSpec(
    name="made",
    label="MADE_dw",
    description="Baseline: MADE with d masked linear layers and hidden width w·N, PReLU (d=2, w=3 at N=100: 60,700 parameters).",
    constructor=lambda system, depth=2, width=3: MADE(system.n, depth=depth, width=width),
    options=(
        OptionSpec("depth", "int", 2, min=1, max=8, help="number of masked linear layers d (d = 1 is SL)"),
        OptionSpec("width", "int", 3, min=1, max=16, help="hidden width multiplier w: w·N units per hidden layer"),
    ),
    latex=(r"q(x_i{=}{+}1\mid x_{<i}) = \sigma\big(\,[W_d\,\mathrm{PReLU}(\cdots\mathrm{PReLU}(W_1 x + b_1)\cdots) + b_d]_i\,\big),"
           r"\quad W_k \text{ masked so that output } i \text{ sees } x_{<i} \text{ only}"),
    param_count=lambda system, depth=2, width=3: (_made_count(system.n, depth, width), 0),
    check=_made_check,
))
