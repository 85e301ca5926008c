"""Pinned Artemis versions, the Maven coordinates, unpacking and Java checks (no network, no Java)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from harness.brokers import artemis_dist


def test_three_pinned_lines_the_newest_under_the_new_group() -> None:
    versions = list(artemis_dist.PINNED)
    assert [v.rsplit(".", 1)[0] for v in versions] == ["2.31", "2.44", "2.56"]
    assert artemis_dist.NEWEST == versions[-1]
    assert artemis_dist.PINNED["2.44.0"].group == "org.apache.activemq"
    assert artemis_dist.PINNED[artemis_dist.NEWEST].artifact_spec == (
        f"org.apache.artemis:apache-artemis:{artemis_dist.NEWEST}:tar.gz:bin"
    )
    assert artemis_dist.PINNED["2.31.2"].java_major == 11
    assert artemis_dist.PINNED["2.44.0"].java_major == 17


def test_pick_a_line_a_version_or_the_newest() -> None:
    assert artemis_dist.pick("") == artemis_dist.NEWEST
    assert artemis_dist.pick("2.31") == "2.31.2"
    assert artemis_dist.pick("2.44.0") == "2.44.0"
    for bad in ("2.3", "2.99", "2.31.9", "x"):
        with pytest.raises(ValueError, match="pinned: 2.31.2, 2.44.0"):
            artemis_dist.pick(bad)


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


def test_unpack_a_distribution(tmp_path: Path) -> None:
    archive = _tarball(tmp_path / "a.tar.gz", {"apache-artemis-2.44.0/bin/artemis": b"#!/bin/sh\n"})
    home = artemis_dist.unpack(archive, "2.44.0", tmp_path / "out")
    assert (home / "bin" / "artemis").read_bytes() == b"#!/bin/sh\n"


def test_truncated_or_foreign_archives_are_one_line(tmp_path: Path) -> None:
    good = _tarball(tmp_path / "g.tar.gz", {"apache-artemis-2.44.0/bin/artemis": os.urandom(50000)})
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:20000])
    with pytest.raises(artemis_dist.DistError, match=r"cut.tar.gz is corrupt or partial") as e:
        artemis_dist.unpack(cut, "2.44.0", tmp_path / "o1")
    assert "\n" not in str(e.value)
    other = _tarball(tmp_path / "o.tar.gz", {"something/else": b"x"})
    with pytest.raises(artemis_dist.DistError, match="no apache-artemis-2.44.0/bin/artemis"):
        artemis_dist.unpack(other, "2.44.0", tmp_path / "o2")


def test_cache_folder_keyed_by_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path))
    assert artemis_dist.home("2.44.0") == tmp_path / "artemis" / "2.44.0" / "apache-artemis-2.44.0"
    assert not artemis_dist.installed("2.44.0")
    (artemis_dist.home("2.44.0") / "bin").mkdir(parents=True)
    (artemis_dist.home("2.44.0") / "bin" / "artemis").write_text("")
    assert not artemis_dist.installed("2.44.0")  # no completion mark: a killed unpack
    (artemis_dist.home("2.44.0") / ".complete").write_text("")
    assert artemis_dist.installed("2.44.0")


def _fake_java(folder: Path, version_line: str) -> None:
    java = folder / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)


def test_java_problems_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert artemis_dist.java_problem("2.56.0") == (
        "no Java found (java not on PATH or it does not run): apt-get install openjdk-17-jre-headless"
    )
    _fake_java(tmp_path, 'openjdk version "11.0.2" 2019-01-15')
    assert artemis_dist.java_problem("2.31.2") is None
    assert artemis_dist.java_problem("2.56.0") == (
        "Artemis 2.56.0 needs Java 17, found Java 11: apt-get install openjdk-17-jre-headless"
    )
    _fake_java(tmp_path, 'java version "1.8.0_292"')
    assert "found Java 8" in (artemis_dist.java_problem("2.31.2") or "")


def test_no_maven_and_nothing_fetched_says_both_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    _fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    assert artemis_dist.tool_problem("2.44.0") == (
        "Artemis 2.44.0 is not fetched and Maven is missing: apt-get install maven, "
        "then python3 -m harness.brokers.artemis_dist fetch 2.44.0"
    )
    with pytest.raises(artemis_dist.DistError, match="Maven is missing"):
        artemis_dist.fetch("2.44.0")


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert artemis_dist.main([]) == 2
    assert artemis_dist.main(["fetch", "9.9"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "artemis_dist: no pinned Artemis version '9.9' (pinned: 2.31.2, 2.44.0, 2.56.0)"
    )


@pytest.mark.parametrize("filtered", [True, False])
def test_unpack_refuses_members_outside_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filtered: bool
) -> None:
    """With tarfile's filters (3.11.4+) or, on Debian 12's 3.11.2, the harness's own check."""
    if not filtered:
        monkeypatch.delattr(tarfile, "tar_filter", raising=False)
    members = {"apache-artemis-2.44.0/bin/artemis": b"#!/bin/sh\n"}
    home = artemis_dist.unpack(_tarball(tmp_path / "a.tar.gz", members), "2.44.0", tmp_path / "a")
    assert (home / "bin" / "artemis").exists()
    evil = _tarball(tmp_path / "e.tar.gz", {**members, "../escaped": b"x"})
    with pytest.raises(artemis_dist.DistError, match="e.tar.gz is corrupt or partial"):
        artemis_dist.unpack(evil, "2.44.0", tmp_path / "e")
    assert not (tmp_path / "escaped").exists()
