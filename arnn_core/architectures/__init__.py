"""Autoregressive architectures (physics.md §3–4), one file per family, and their registry."""

from .base import ARNN
from .registry import *  # noqa: F401,F403
from .registry import __all__ as _registry_all

__all__ = ["ARNN", *_registry_all]
