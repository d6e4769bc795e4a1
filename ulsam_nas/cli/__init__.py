"""The ``ulsam-nas`` command line: a thin layer over the library API.

Each command parses its options, calls one library function and prints. Errors
a user can fix end in one line on stderr and exit code 2. One module per
group of commands: ``model`` (blocks, cost, spaces), ``search``, ``results``
(pareto, show, export, calibrate) and ``train``.
"""

from . import model, results, search, train  # noqa: F401  (each registers its commands on the app)
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
