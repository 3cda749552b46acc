"""The one exception type the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input or an unmet precondition the user can fix (not a bug)."""
