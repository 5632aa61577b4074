"""The ``lightning-diffeo`` command: one module per subcommand, a table of them (:data:`SUBCOMMANDS`), one error printer.

Nothing in the package imports this layer; it calls the library below it (``runs``,
``evaluation``, ``studies``, ``analysis``).
"""

from .main import SUBCOMMANDS, main

__all__ = ["SUBCOMMANDS", "main"]
