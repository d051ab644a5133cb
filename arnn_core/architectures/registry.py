"""Registry: architecture names → constructors, descriptions and option schemas.

Each family module registers its constructors with :func:`register_architecture`; the app
builds its widgets from :func:`available_architectures`, scripts call :func:`make_arnn`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["ArchitectureSpec", "OptionSpec", "register_architecture", "available_architectures",
           "get_architecture", "make_arnn"]


@dataclass(frozen=True)
class OptionSpec:
    """One constructor option: its type ("int", "float", "bool" or "choice"), default, range and help."""

    name: str
    type: str
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    help: str = ""

    def validate(self, value):
        """Coerce ``value`` to the option's type, refusing out-of-range values with a ValueError."""
        try:
            if self.type == "int":
                if isinstance(value, bool) or float(value) != int(float(value)):
                    raise ValueError
                value = int(float(value))
            elif self.type == "float":
                value = float(value)
            elif self.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"option {self.name!r} must be of type {self.type}, got {value!r}") from None
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"option {self.name!r} must be one of {list(self.choices)}, got {value!r}")
        if self.min is not None and value < self.min:
            raise ValueError(f"option {self.name!r} must be ≥ {self.min}, got {value!r}")
        if self.max is not None and value > self.max:
            raise ValueError(f"option {self.name!r} must be ≤ {self.max}, got {value!r}")
        return value


@dataclass(frozen=True)
class ArchitectureSpec:
    """What the registry knows of an architecture.

    ``constructor(system, **options)`` builds the network; ``latex`` is the conditional it
    implements (for ``st.latex``); ``param_count`` (optional) gives (trainable, fixed) for a
    system without building it, so the app can show scaling cheaply; ``check`` (optional) raises
    ValueError when the architecture does not fit a system, saying why.
    """

    name: str
    label: str
    description: str
    constructor: Callable
    options: tuple[OptionSpec, ...] = ()
    latex: str = ""
    exact: bool = False
    analytic: bool = False
    param_count: Callable | None = None
    check: Callable | None = None
    extra: dict = field(default_factory=dict)

    def defaults(self) -> dict:
        return {o.name: o.default for o in self.options}


_REGISTRY: dict[str, ArchitectureSpec] = {}


def register_architecture(spec: ArchitectureSpec) -> ArchitectureSpec:
    """Add ``spec`` to the registry (a name may be registered once)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"architecture {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def available_architectures() -> list[ArchitectureSpec]:
    """All registered architectures, in registration order."""
    return list(_REGISTRY.values())


def get_architecture(name: str) -> ArchitectureSpec:
    """The spec registered under ``name`` (case-insensitive), or a ValueError listing the names."""
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown architecture {name!r}; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[key]


def make_arnn(name: str, system, **options):
    """Build architecture ``name`` for ``system`` with ``options`` (validated against the schema).

    Unknown options, out-of-range values and architectures that do not fit the system (CW_N on a
    non-Curie–Weiss system, H2ARNN above N = 18) raise ValueError with the reason.
    """
    spec = get_architecture(name)
    known = {o.name: o for o in spec.options}
    unknown = set(options) - set(known)
    if unknown:
        raise ValueError(f"{spec.name} has no option(s) {sorted(unknown)}; its options are {sorted(known)}")
    values = spec.defaults()
    for key, value in options.items():
        values[key] = known[key].validate(value)
    if spec.check is not None:
        spec.check(system, **values)
    net = spec.constructor(system, **values)
    net.arch_name = spec.name
    net.options = dict(values)
    return net


# Family modules register themselves on import; keep this list in registry order.
from . import h2arnn, curie_weiss, sk, baselines  # noqa: E402,F401
