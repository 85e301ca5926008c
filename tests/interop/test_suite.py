"""The interop suite: one test per matrix cell (see harness/pytest_plugin.py).

Select with ``--broker``, ``--peers``, ``--scenario``, ``--fault``, or by
marker (``-m at_least_once``). A failing cell prints the command that reruns
it alone and where its artifacts are.
"""


def test_interop(interop_cell, run_cell):
    run_cell(interop_cell)
