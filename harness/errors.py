"""User-facing errors: the CLI prints their message on one line (no traceback) and exits 2."""


class UserError(Exception):
    """Bad input or a missing piece the user can fix; the message says how."""
