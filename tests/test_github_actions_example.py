"""examples/github-actions.yml: the sharded workflow the README points to, run here for real.

Why: a workflow users copy is only worth shipping if its commands exist and,
put together, give the run a single job would: every ``interop`` line of it
is checked against the command line parser, and its steps (K shards, their
folders downloaded side by side, ``interop merge``, the reports) are played
locally on a small selection and compared with the same selection unsharded.
No YAML library: the commands are the ``run:`` lines, as GitHub runs them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from harness.cli import _parser
from harness.env import ROOT

WORKFLOW = ROOT / "examples" / "github-actions.yml"
#: a small selection (6 cells: 2 per shard) appended to the shard command (last option wins);
#: direct's default plan only (its sender-listens plan would add 4)
SMALL = ["--peers", "python,js", "--scenario", "hello-world,direct", "--fault", "none"]


def _text() -> str:
    return WORKFLOW.read_text(encoding="utf-8")


def _shards() -> list[int]:
    m = re.search(r"^\s+shard: \[([\d, ]+)\]$", _text(), re.M)
    assert m, "the shard job's matrix lists its shards"
    return [int(k) for k in m.group(1).split(",")]


def _runs(shard: int) -> list[str]:
    """Every ``run:`` command, with the expressions GitHub would put in for job ``shard``."""
    values = {"matrix.shard": str(shard), "strategy.job-total": str(len(_shards()))}
    out = []
    for line in _text().splitlines():
        m = re.match(r"^\s*(?:- )?run: (.+)$", line)
        if not m:
            continue
        cmd = m.group(1)
        for expr in re.findall(r"\$\{\{\s*([^}]+?)\s*\}\}", cmd):
            assert expr in values, f"unknown expression in a run line: {expr}"
            cmd = re.sub(r"\$\{\{\s*" + re.escape(expr) + r"\s*\}\}", values[expr], cmd)
        out.append(cmd)
    return out


def _interop(shard: int) -> list[list[str]]:
    """The ``interop`` commands as argument lists (a trailing ``>> FILE`` left out)."""
    cmds = []
    for cmd in _runs(shard):
        words = shlex.split(cmd)
        if words[0] != "interop":
            continue
        cmds.append(words[1 : words.index(">>")] if ">>" in words else words[1:])
    return cmds


def test_every_interop_command_exists_with_its_options() -> None:
    parser = _parser()
    seen = set()
    for k in _shards():
        for argv in _interop(k):
            args = parser.parse_args(argv)  # a bad option exits 2 and fails the test
            seen.add(args.command)
            if args.command == "run":
                assert args.shard == f"{k}/{len(_shards())}"
                assert args.out == f"shard-{k}"
    assert seen == {"run", "merge", "report"}
    # what the shard jobs upload is what merge reads after download-artifact
    text = _text()
    assert 'name: "interop-shard-${{ matrix.shard }}", path: "shard-${{ matrix.shard }}"' in text
    assert 'pattern: "interop-shard-*", path: shards' in text
    assert "interop merge shards/interop-shard-* -o interop-results/results.json" in text


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        env={**os.environ, "CI": "false", "GITHUB_STEP_SUMMARY": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _cells(path: Path) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in json.loads(path.read_text())["cells"]}


def test_the_workflow_played_locally_gives_the_unsharded_run(tmp_path: Path) -> None:
    whole = _cli(["run", *SMALL, "--out", "whole"], tmp_path)
    assert whole.returncode == 0, whole.stderr
    merge_job = tmp_path / "merge-job"
    for k in _shards():
        job = tmp_path / f"job-{k}"
        job.mkdir()
        (run,) = [a for a in _interop(k) if a[0] == "run"]
        p = _cli([*run, *SMALL], job)
        assert p.returncode == 0, p.stderr
        # upload-artifact, then download-artifact into shards/<artifact name>/
        shutil.copytree(job / f"shard-{k}", merge_job / "shards" / f"interop-shard-{k}")
    for argv in _interop(1):
        if argv[0] == "run":
            continue
        # the shell expands the glob in the merge step
        argv = [a for a in argv if "*" not in a] + (
            sorted(str(p.relative_to(merge_job)) for p in (merge_job / "shards").iterdir())
            if argv[0] == "merge"
            else []
        )
        p = _cli(argv, merge_job)
        assert p.returncode == 0, p.stderr
        assert "missing" not in p.stderr
    merged = merge_job / "interop-results" / "results.json"
    assert _cells(merged) == _cells(tmp_path / "whole" / "results.json")
    assert len(_cells(merged)) == 6
    # the shards together are the whole selection, and the merged report links into them
    data = json.loads(merged.read_text())
    assert data["selection"]["shard"] is None
    assert (
        data["selection"]
        == json.loads((tmp_path / "whole" / "results.json").read_text())["selection"]
    )
    for c in data["cells"]:
        assert (merged.parent / c["artifacts"] / "trace.jsonl").is_file(), c["artifacts"]
    assert (merged.parent / "report.html").is_file()


def test_merge_names_a_missing_shard(tmp_path: Path) -> None:
    for k in (1, 3):
        p = _cli(["run", *SMALL, "--shard", f"{k}/3", "--out", f"s{k}"], tmp_path)
        assert p.returncode == 0, p.stderr
    p = _cli(["merge", "s1", "s3", "-o", "all/results.json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "interop: merge: shard 2/3 missing: the merged run is not the whole selection" in (
        p.stderr
    )
    data = json.loads((tmp_path / "all" / "results.json").read_text())
    assert data["selection"]["shard"] == "1,3/3"
    assert len(data["cells"]) == 4
