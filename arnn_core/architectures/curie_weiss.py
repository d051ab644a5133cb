"""Architectures derived from the Curie–Weiss model (physics.md §4): CW_N and CW_∞.

**CW_N** (exact, analytic, no training). With n_i = N−1−i future spins, m_<i = Σ_{s<i} x_s and
M_k = n_i − 2k (k spins down among the future ones):

    log ρ_i^± = logsumexp_k [ log C(n_i,k) + (βJ/2N) M_k² + βh M_k ± (βJ/N) M_k + (βJ/N) M_k m_<i ]
    logit_i   = 2βh + (2βJ/N) m_<i + log ρ_i⁺ − log ρ_i⁻

As a network: site i has n_i + 1 hidden units per branch ±, unit k with bias
``b^±_ik = log C(n_i,k) + (βJ/2N) M_k² + βh M_k ± (βJ/N) M_k`` and weight ``ω^±_ik = (βJ/N) M_k`` on
the input m_<i; a skip connection ``b⁰ + ω⁰ m_<i`` (b⁰ = 2βh, ω⁰ = 2βJ/N). Fixed numbers:
4 · N(N+1)/2 + 2 = 2N² + 2N + 2, the paper's "2N² + O(N)".

Because the only input of site i is the integer m_<i ∈ {−i, −i+2, …, i}, the hidden layer is
evaluated once for each reachable value (N³/3 terms in all, once per β, cached until the weights
change) into a (2N−1) × N table of log ρ⁺ − log ρ⁻; the teacher-forced pass and the sampler then
look the logits up, O(N) per sample whatever the batch. Exact: it is the same function.

**CW_∞** (trainable, N + 1 parameters), the large-N limit:

    logit_i = b⁰ + ω⁰ m_<i + ω¹_i sign(m_<i)

with the convention sign(0) = 0 (an undecided magnetisation pushes neither way; site 0 always has
m_<0 = 0). b⁰ = 2βh is a fixed buffer; ω⁰ (shared, initialised to 2βJ/N) and the N weights ω¹_i
(initialised to 0) are trained. In the ordered phase the exact CW_N ratio behaves as
log ρ_i⁺ − log ρ_i⁻ ≈ 2βJ|m_β|·(N−1−i)/N · sign(m_<i) (checked numerically against CW_N), so the
trained ω¹_i are positive early in the chain and fade towards its end.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .base import ARNN
from .registry import ArchitectureSpec, OptionSpec, register_architecture

__all__ = ["CurieWeissN", "CurieWeissInfinity"]


def _exclusive_cumsum(x: torch.Tensor) -> torch.Tensor:
    return torch.cumsum(x, dim=-1) - x


def _cw_parameters_or_raise(system) -> tuple[float, float]:
    params = system.curie_weiss_parameters()
    if params is None:
        off = system.J[~torch.eye(system.n, dtype=torch.bool)]
        raise ValueError(
            "cw_n is exact only for a Curie–Weiss system (every coupling J_ij = J/N for i ≠ j and one "
            f"uniform field h); this system ({system.name}) has couplings from {float(off.min()):.4g} to "
            f"{float(off.max()):.4g} and fields from {float(system.h.min()):.4g} to {float(system.h.max()):.4g}. "
            "Use cw_inf, sk_krsb or a baseline instead.")
    return params


class CurieWeissN(ARNN):
    """CW_N: the exact ARNN of the Curie–Weiss model at size N (physics.md §4), analytic in (J, h, β).

    Buffers (ragged: site i's n_i + 1 units are contiguous, sites in order): ``bias_plus``,
    ``bias_minus``, ``weight_plus``, ``weight_minus`` (N(N+1)/2 each), ``skip_bias`` (b⁰) and
    ``skip_weight`` (ω⁰). :meth:`set_beta` re-derives them in float64; ``.to()``/``.double()`` too.
    """

    analytic = True

    def __init__(self, n: int, J: float, h: float, beta: float = 1.0):
        super().__init__(n)
        self.J_cw, self.h_cw = float(J), float(h)
        counts = [n - i for i in range(n)]  # n_i + 1 hidden units per site and branch
        units = sum(counts)
        site = torch.repeat_interleave(torch.arange(n), torch.tensor(counts))
        first = torch.cumsum(torch.tensor([0] + counts[:-1]), 0)
        k = torch.arange(units) - first[site]
        self._site64, self._k64 = site, k.to(torch.float64)
        self._cache: dict = {}
        dtype = torch.get_default_dtype()
        for name in ("bias_plus", "bias_minus", "weight_plus", "weight_minus"):
            self.register_buffer(name, torch.zeros(units, dtype=dtype))
        self.register_buffer("skip_bias", torch.zeros((), dtype=dtype))
        self.register_buffer("skip_weight", torch.zeros((), dtype=dtype))
        self.beta = float(beta)
        self.set_beta(beta)

    def set_beta(self, beta: float) -> None:
        """Re-derive every weight at inverse temperature ``beta`` (physics.md §4), in float64."""
        self.beta = float(beta)
        if "beta" in self.options:
            self.options["beta"] = self.beta
        N, J, h, b = self.n, self.J_cw, self.h_cw, self.beta
        n_i = (N - 1 - self._site64).to(torch.float64)
        k = self._k64
        M = n_i - 2.0 * k
        log_binom = torch.lgamma(n_i + 1) - torch.lgamma(k + 1) - torch.lgamma(n_i - k + 1)
        common = log_binom + (b * J / (2 * N)) * M ** 2 + b * h * M
        like = self.bias_plus
        put = lambda t: t.to(device=like.device, dtype=like.dtype)  # noqa: E731
        self.bias_plus = put(common + (b * J / N) * M)
        self.bias_minus = put(common - (b * J / N) * M)
        self.weight_plus = put((b * J / N) * M)
        self.weight_minus = put((b * J / N) * M)
        self.skip_bias = put(torch.tensor(2.0 * b * h, dtype=torch.float64))
        self.skip_weight = put(torch.tensor(2.0 * b * J / N, dtype=torch.float64))
        self._cache.clear()

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        self.set_beta(self.beta)  # rebuild at the new dtype's precision
        return out

    def _log_ratio_table(self) -> torch.Tensor:
        """D[v, i] = log ρ_i⁺ − log ρ_i⁻ at m_<i = v − (N−1), for v = 0 … 2N−2 → (2N−1, N)."""
        bufs = (self.bias_plus, self.bias_minus, self.weight_plus, self.weight_minus)
        key = (str(self.bias_plus.device), self.bias_plus.dtype,
               tuple((t.data_ptr(), t._version) for t in bufs))
        table = self._cache.get("table")
        if table is not None and self._cache.get("key") == key:
            return table
        N = self.n
        dev, dt = self.bias_plus.device, self.bias_plus.dtype
        table = torch.zeros(2 * N - 1, N, device=dev, dtype=dt)
        start = 0
        for i in range(N):  # once per β: only the reachable m_<i ∈ {−i, −i+2, …, i} of each site
            units = slice(start, start + N - i)
            start += N - i
            m = torch.arange(-i, i + 1, 2, device=dev, dtype=dt)[:, None]
            log_rho_plus = torch.logsumexp(self.bias_plus[units] + m * self.weight_plus[units], -1)
            log_rho_minus = torch.logsumexp(self.bias_minus[units] + m * self.weight_minus[units], -1)
            table[N - 1 - i: N + i: 2, i] = log_rho_plus - log_rho_minus
        self._cache["table"], self._cache["key"] = table, key
        return table

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        m = _exclusive_cumsum(x)
        table = self._log_ratio_table()
        row = torch.round(m).long() + (self.n - 1)
        sites = torch.arange(self.n, device=x.device).expand_as(row)
        return self.skip_bias + self.skip_weight * m + table[row, sites]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None):
        n = int(n)
        if n < 1:
            raise ValueError(f"number of samples must be ≥ 1, got {n}")
        table = self._log_ratio_table()
        x = torch.zeros(n, self.n, device=self.device, dtype=self.dtype)
        logits = torch.empty_like(x)
        m = torch.zeros(n, device=self.device, dtype=self.dtype)
        row = torch.full((n,), self.n - 1, device=self.device, dtype=torch.long)
        threshold = self._thresholds(n, generator)
        for i in range(self.n):
            logits[:, i] = logit = self.skip_bias + self.skip_weight * m + table[row, i]
            x[:, i] = xi = torch.where(logit > threshold[:, i], 1.0, -1.0)
            m += xi
            row += xi.long()
        return x, F.logsigmoid(x * logits).sum(-1)

    def first_layer_weights(self) -> torch.Tensor:
        """The first layer of the exact ARNN: the Curie–Weiss couplings, J/N off the diagonal."""
        W = torch.full((self.n, self.n), self.J_cw / self.n, device=self.device, dtype=self.dtype)
        return W.fill_diagonal_(0.0)


class CurieWeissInfinity(ARNN):
    """CW_∞: ``logit_i = b⁰ + ω⁰ m_<i + ω¹_i sign(m_<i)``, sign(0) = 0 (physics.md §4).

    Built from the system's Curie–Weiss (J, h); on any other system from the mean-field
    equivalents J = N · mean_{i≠j} J_ij and h = mean_i h_i — it is the Curie–Weiss architecture
    wherever it is used. b⁰ = 2βh is fixed (:meth:`set_beta` moves it with β, leaving the
    trained weights alone); ω⁰ starts at 2βJ/N, ω¹ at 0. N + 1 trainable parameters.
    """

    def __init__(self, n: int, J: float, h: float, beta: float = 1.0):
        super().__init__(n)
        self.J_cw, self.h_cw, self.beta = float(J), float(h), float(beta)
        dtype = torch.get_default_dtype()
        self.omega0 = nn.Parameter(torch.tensor(2.0 * self.beta * self.J_cw / n, dtype=dtype))
        self.omega1 = nn.Parameter(torch.zeros(n, dtype=dtype))
        self.register_buffer("b0", torch.tensor(2.0 * self.beta * self.h_cw, dtype=dtype))

    def set_beta(self, beta: float) -> None:
        """Move the fixed field term b⁰ = 2βh to the new β (trained weights are untouched)."""
        self.beta = float(beta)
        if "beta" in self.options:
            self.options["beta"] = self.beta
        self.b0 = torch.tensor(2.0 * self.beta * self.h_cw, dtype=self.b0.dtype, device=self.b0.device)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        m = _exclusive_cumsum(x.to(self.dtype))
        return self.b0 + self.omega0 * m + self.omega1 * torch.sign(m)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None):
        n = int(n)
        if n < 1:
            raise ValueError(f"number of samples must be ≥ 1, got {n}")
        x = torch.zeros(n, self.n, device=self.device, dtype=self.dtype)
        logits = torch.empty_like(x)
        m = torch.zeros(n, device=self.device, dtype=self.dtype)
        threshold = self._thresholds(n, generator)
        for i in range(self.n):
            logits[:, i] = logit = self.b0 + self.omega0 * m + self.omega1[i] * torch.sign(m)
            x[:, i] = xi = torch.where(logit > threshold[:, i], 1.0, -1.0)
            m += xi
        return x, F.logsigmoid(x * logits).sum(-1)

    def first_layer_weights(self) -> torch.Tensor:
        """W_ij = ω⁰ for i < j (the shared weight of every earlier spin), 0 otherwise."""
        w = self.omega0.detach().expand(self.n, self.n)
        return torch.triu(w, diagonal=1).clone()


def _mean_field_parameters(system) -> tuple[float, float]:
    params = system.curie_weiss_parameters()
    if params is not None:
        return params
    n = system.n
    off = system.J.sum() / (n * (n - 1))
    return float(off * n), float(system.h.mean())


def _cw_n_check(system, beta: float = 1.0) -> None:
    _cw_parameters_or_raise(system)


def _cw_n_build(system, beta: float = 1.0):
    J, h = _cw_parameters_or_raise(system)
    return CurieWeissN(system.n, J, h, beta=beta)


def _cw_inf_build(system, beta: float = 1.0):
    J, h = _mean_field_parameters(system)
    return CurieWeissInfinity(system.n, J, h, beta=beta)


_BETA = OptionSpec("beta", "float", 1.0, min=0.0, max=20.0, help="inverse temperature β")

register_architecture(ArchitectureSpec(
    name="cw_n",
    label="CW_N (exact Curie–Weiss)",
    description="Exact ARNN of the Curie–Weiss model at size N: analytic weights, no training, ~2N² fixed numbers.",
    constructor=_cw_n_build,
    options=(_BETA,),
    latex=(r"q(x_i{=}{+}1\mid x_{<i}) = \sigma\Big(2\beta h + \tfrac{2\beta J}{N} m_{<i} + \log\rho_i^+ - \log\rho_i^-\Big),\ "
           r"\log\rho_i^\pm = \log\sum_{k=0}^{n_i}\binom{n_i}{k} e^{\frac{\beta J}{2N}M_k^2 + \beta h M_k"
           r" \pm \frac{\beta J}{N}M_k + \frac{\beta J}{N}M_k m_{<i}},\ M_k = n_i - 2k,\ n_i = N-1-i"),
    exact=True,
    analytic=True,
    param_count=lambda system, beta=1.0: (0, 2 * system.n * (system.n + 1) + 2),
    check=_cw_n_check,
))

register_architecture(ArchitectureSpec(
    name="cw_inf",
    label="CW_∞ (Curie–Weiss, large N)",
    description="Curie–Weiss architecture of the N → ∞ limit: logit = b⁰ + ω⁰ m_<i + ω¹_i sign(m_<i), N + 1 trainable parameters.",
    constructor=_cw_inf_build,
    options=(OptionSpec("beta", "float", 1.0, min=0.0, max=20.0,
                        help="β for the fixed field term b⁰ = 2βh and the initial ω⁰ = 2βJ/N"),),
    latex=(r"q(x_i{=}{+}1\mid x_{<i}) = \sigma\big(b^0 + \omega^0 m_{<i} + \omega^1_i\,\mathrm{sign}(m_{<i})\big),"
           r"\quad m_{<i} = \sum_{s<i} x_s,\ \mathrm{sign}(0) = 0"),
    param_count=lambda system, beta=1.0: (system.n + 1, 1),
))
