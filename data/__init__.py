"""The files countermap ships: installed as the package ``countermap_data`` (see pyproject.toml).

Code reaches them only through :func:`shipped`, so they are found the same way in a checkout,
an editable install, a wheel or a zipped install, and never through a path beside the source.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["shipped"]


def shipped(name: str) -> Traversable:
    """The shipped file ``name`` (``aliases.yaml``, ``sources.yaml``, ...)."""
    return files(__name__).joinpath(name)
