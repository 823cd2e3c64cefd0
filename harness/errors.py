"""User-facing errors: the CLI prints their message on one line (no traceback) and exits 2.

One class for the whole library: it is defined in `thinkgate.tasks.plugins` (the room every
other room may import), so an unknown suite, a bad data file and a bad run setting all
raise the same type, from Python as from the CLI.
"""

from thinkgate.tasks.plugins import UnknownNameError, UserError

__all__ = ["UnknownNameError", "UserError"]
