"""Package attributes imported on first use, so that ``ulsam-nas --help`` does not load PyTorch.

A package lists what it exports in a dict ``_LAZY`` (name -> submodule) and sets
``__getattr__ = lazy_exports(__name__, _LAZY)`` (PEP 562). The import-graph test reads ``_LAZY`` too.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (relative to ``package``) when ``name`` is first read."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name], package), name)

    return __getattr__
