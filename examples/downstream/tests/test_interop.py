"""The amqp-interop matrix as tests of this project: one test per cell.

No conftest.py: the plugin comes with the package (a pytest entry point) and
parametrizes ``interop_cell`` with every cell of the selection given on the
command line (``--broker``, ``--peers``, ``--scenario``, ``--fault``, ``--peer``);
``run_cell`` runs one and turns its verdict into a pass, failure, xfail or skip.
"""


def test_interop(interop_cell, run_cell):
    run_cell(interop_cell)
