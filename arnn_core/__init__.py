"""ARNN Spin Lab: autoregressive neural networks for pairwise Ising systems.

After I. Biazzo, "The autoregressive neural network architecture of the Boltzmann distribution of
pairwise interacting spins systems", Commun. Phys. 6, 296 (2023). Every formula implemented here
is written out in ``shared/docs/physics.md``; docstrings cite its sections.

Everything public is importable from here: ``import arnn_core as ac; ac.curie_weiss(100)``.
This package never imports Streamlit.
"""

from .systems import *  # noqa: F401,F403
from .systems import __all__ as _systems_all
from .device import *  # noqa: F401,F403
from .device import __all__ as _device_all
from .exact import *  # noqa: F401,F403
from .exact import __all__ as _exact_all
from .montecarlo import *  # noqa: F401,F403
from .montecarlo import __all__ as _montecarlo_all
from .architectures import *  # noqa: F401,F403
from .architectures import __all__ as _architectures_all
from .training import *  # noqa: F401,F403
from .training import __all__ as _training_all
from .estimators import *  # noqa: F401,F403
from .estimators import __all__ as _estimators_all
from .io import *  # noqa: F401,F403
from .io import __all__ as _io_all

__version__ = "0.1.0"

__all__ = [
    *_systems_all, *_device_all, *_exact_all, *_montecarlo_all, *_architectures_all,
    *_training_all, *_estimators_all, *_io_all,
]
