"""A test run leaves nothing in the temporary folder apart from pytest's own basetemp.

Why: on a fresh machine the suite used to leave about ten folders in /tmp per
run (broker scratch folders, broker stores, a lock file), which add up on a
laptop and show a harness that does not clean up after itself. This runs a
piece of the suite that exercises those paths (the shared embedded broker, a
broker store across a restart, ``interop broker``, an image build lock, a
first C++ compile) in a subprocess with ``TMPDIR`` pointed at an empty folder,
and checks that folder afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.env import ROOT

PIECE = [
    # the session-wide embedded_broker fixture (conftest.py)
    "tests/brokers/test_url_provider.py::test_url_broker_against_the_embedded_broker",
    # a broker store across a SIGKILL and restart
    "tests/brokers/test_embedded_broker.py::test_restart_with_store_keeps_unremoved_messages",
    # peers riding out a broker restart, with its store
    "tests/peers/test_python_peer.py::test_broker_restart_mid_stream_loses_nothing",
    # `interop broker embedded` and its scratch folder
    "tests/test_cli.py::test_broker_embedded_prints_its_url_and_stops_on_sigint",
    # an image build lock
    "tests/test_images.py::test_concurrent_builds_wait_for_the_first",
    # a first compile into a fresh cache folder
    "tests/toolchains/test_cpp_toolchain.py::test_a_first_compile_announces_itself_once_with_its_time",
]


def test_a_piece_of_the_suite_leaves_nothing_in_tmp(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    basetemp = scratch / "pytest-basetemp"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(TMPDIR=str(scratch), PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    argv += [f"--basetemp={basetemp}", *PIECE]
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "passed" in done.stdout
    left = sorted(p.name for p in scratch.iterdir() if p != basetemp)
    assert left == [], f"left in TMPDIR after the run: {left}"


def test_property_tests_keep_hypothesis_files_in_the_cache_folder(tmp_path: Path) -> None:
    """hypothesis writes ``.hypothesis/`` into the working directory unless told otherwise."""
    cache = tmp_path / "cache"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST_") and k != "HYPOTHESIS_STORAGE_DIRECTORY"
    }
    env.update(INTEROP_CACHE=str(cache), PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    argv += [f"--basetemp={tmp_path / 'base'}", "tests/trace/test_jsonl_fuzz.py"]
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert (cache / "hypothesis").is_dir()
