"""The one interface every autoregressive network implements (physics.md §3).

    q(x) = Π_i q(x_i | x_<i),     q(x_i = +1 | x_<i) = σ(logit_i(x_<i))

so for x_i = ±1, ``log q(x_i | x_<i) = logσ(x_i · logit_i)``. A subclass supplies the
teacher-forced logits of a whole batch (:meth:`ARNN.logits`, vectorised over sites) and an
incremental sampler (:meth:`ARNN.sample`); everything else is shared here.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["ARNN"]


class ARNN(nn.Module):
    """Base class: ``log_prob``, ``sample``, ``conditionals``, ``num_params``, ``first_layer_weights``.

    Attributes set by the registry (:func:`arnn_core.make_arnn`): ``arch_name`` and ``options``,
    so that a saved run can rebuild the same network.

    Subclasses whose parameters are analytic in β (``cw_n``, ``h2arnn``) set ``analytic = True``
    and implement :meth:`set_beta`; training re-derives them at each β instead of training.
    """

    analytic: bool = False
    arch_name: str = "arnn"
    #: True when :meth:`first_layer_weights` returns an N×N *analogue* (e.g. MADE's end-to-end
    #: linear map) rather than the weights of a genuine first layer; the app labels it so.
    first_layer_analogue: bool = False

    def __init__(self, n: int):
        super().__init__()
        self.n = int(n)
        self.options: dict = {}

    # ---------------------------------------------------------------- to implement
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N) ±1 → (B, N) logits of q(x_i = +1 | x_<i); logit_i may depend on x_<i only."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` samples → ``(x, log_q)`` with x (n, N) ±1 in the model's dtype and log_q == log_prob(x)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- shared
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log q(x) = Σ_i logσ(x_i · logit_i)`` for a (B, N) batch of ±1 → (B,)."""
        x = x.to(dtype=self.dtype)
        return F.logsigmoid(x * self.logits(x)).sum(-1)

    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N) of q(x_i = +1 | x_<i)."""
        x = x.to(dtype=self.dtype)
        return torch.sigmoid(self.logits(x))

    def num_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def num_fixed_params(self) -> int:
        """Number of fixed numbers the network computes with (frozen parameters and buffers, e.g.
        a first layer pinned to J, or the analytic weights of CW_N)."""
        frozen = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        return frozen + sum(b.numel() for b in self.buffers())

    def first_layer_weights(self) -> torch.Tensor | None:
        """The N×N matrix the paper maps to the couplings J (W_ij, weight of x_i in site j's first
        layer), or None when the architecture has no such layer."""
        return None

    def set_beta(self, beta: float) -> None:
        """Re-derive β-dependent analytic parameters (no-op for trained architectures)."""

    def _uniform(self, shape, generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniform [0, 1) numbers of ``shape`` on the model's device and dtype.

        With a ``generator``, the numbers are drawn on the generator's own device and moved, so a
        CPU generator seeds a CUDA model reproducibly (torch refuses mixed-device draws).
        """
        if generator is None:
            return torch.rand(shape, device=self.device, dtype=self.dtype)
        u = torch.rand(shape, generator=generator, device=generator.device, dtype=self.dtype)
        return u.to(self.device)

    def _thresholds(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, N) thresholds ``logit(u)`` of uniform u: drawing ``x_i = +1`` exactly when
        ``logit_i > threshold_i`` has probability σ(logit_i). Drawn once per sample() call, so the
        per-site work of a sampler is a comparison (one cheap op instead of three)."""
        u = self._uniform((n, self.n), generator)
        return torch.log(u) - torch.log1p(-u)

    @property
    def device(self) -> torch.device:
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        for t in list(self.parameters()) + list(self.buffers()):
            if torch.is_floating_point(t):
                return t.dtype
        return torch.get_default_dtype()

    def extra_repr(self) -> str:
        return f"n={self.n}, trainable={self.num_params()}, fixed={self.num_fixed_params()}"
