"""The sub-commands of ``interop``, grouped by what they work on; ``harness.cli`` dispatches.

Every sub-command turns bad input into a ``CliError``: one line on stderr, exit 2.
"""

#: the exit status of a usage error (bad option, unknown name)
USAGE_EXIT = 2


class CliError(Exception):
    """A user error: printed as one line, exit 2."""
