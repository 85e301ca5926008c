"""Artemis distributions: which versions are pinned, where Maven gets them, where they unpack.

Why pinned: Maven Central serves no version listing here, and a matrix that
silently moves to a new release is not comparable with yesterday's. Three
lines are pinned: 2.31.x (the last that logs "Server is now live"), 2.44.x
(the last under the old group ``org.apache.activemq``) and the newest under
the new group ``org.apache.artemis`` (the project's rename in 2.50; the
artifact kept its name ``apache-artemis``). Each is the ``bin`` tar.gz,
fetched with ``mvn dependency:copy`` (so Maven's local repository is reused
between runs and its checksum check applies) and unpacked into the user's
cache folder, ``artemis/VERSION/apache-artemis-VERSION``, never into a clone.

``python3 -m harness.brokers.artemis_dist fetch [VERSION...]`` fetches ahead
of a run (what ``.ci/run`` does) and makes the instance templates
(``artemis_template``), so no cell's broker lease pays for ``artemis create``;
the provider fetches and makes them on first use otherwise.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.announce import announced
from harness.env import cache_dir

__all__ = [
    "NEWEST",
    "PINNED",
    "Coordinates",
    "DistError",
    "fetch",
    "fetch_command",
    "home",
    "installed",
    "java_problem",
    "pick",
    "tool_problem",
]

#: how long one Maven fetch may take (about 10 s per distribution here, 45 MB each)
FETCH_TIMEOUT_S = 600.0
#: a file in the unpacked folder that says the unpack finished
_COMPLETE = ".complete"


class DistError(Exception):
    """A distribution could not be fetched or unpacked; the message is one line."""


@dataclass(frozen=True)
class Coordinates:
    """Maven coordinates of one ``bin`` distribution (tar.gz, classifier ``bin``)."""

    group: str
    artifact: str
    version: str

    @property
    def artifact_spec(self) -> str:
        """``group:artifact:version:tar.gz:bin`` as ``mvn dependency:copy`` takes it."""
        return f"{self.group}:{self.artifact}:{self.version}:tar.gz:bin"

    @property
    def java_major(self) -> int:
        """The Java a version needs: 17 from 2.39 on, 11 before."""
        major, minor = (int(p) for p in self.version.split(".")[:2])
        return 17 if (major, minor) >= (2, 39) else 11


#: every pinned version, oldest first; each resolved through mvn on this machine
PINNED: dict[str, Coordinates] = {
    c.version: c
    for c in (
        Coordinates("org.apache.activemq", "apache-artemis", "2.31.2"),
        Coordinates("org.apache.activemq", "apache-artemis", "2.44.0"),
        Coordinates("org.apache.artemis", "apache-artemis", "2.56.0"),
    )
}
NEWEST = list(PINNED)[-1]


def pick(wanted: str) -> str:
    """The pinned version for ``wanted``: "" is the newest, ``2.31`` the newest 2.31.x, ``2.31.2`` itself.

    ValueError naming the pinned versions for anything else.
    """
    wanted = wanted.strip()
    if not wanted:
        return NEWEST
    if wanted in PINNED:
        return wanted
    fits = [v for v in PINNED if v.startswith(wanted + ".")]
    if re.fullmatch(r"\d+\.\d+", wanted) and fits:
        return fits[-1]
    raise ValueError(f"no pinned Artemis version {wanted!r} (pinned: {', '.join(PINNED)})")


def root() -> Path:
    """The cache folder holding every unpacked distribution."""
    return cache_dir() / "artemis"


def home(version: str) -> Path:
    """``ARTEMIS_HOME`` of a pinned version (it may not be fetched yet)."""
    return root() / version / f"apache-artemis-{version}"


def installed(version: str) -> bool:
    """Whether the version is unpacked completely (a partial unpack is not)."""
    h = home(version)
    return (h / _COMPLETE).exists() and (h / "bin" / "artemis").exists()


def fetch_command(version: str | None = None) -> str:
    """The command a person runs to fetch a version (or all pinned ones)."""
    return "python3 -m harness.brokers.artemis_dist fetch" + (f" {version}" if version else "")


def java_version() -> int | None:
    """The major version of ``java`` on PATH, or None when there is none that runs."""
    java = shutil.which("java")
    if java is None:
        return None
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def java_problem(version: str) -> str | None:
    """Why ``version`` cannot run on this machine's Java, with the fix; None when it can."""
    need = PINNED[version].java_major
    have = java_version()
    fix = f"apt-get install openjdk-{max(need, 17)}-jre-headless"
    if have is None:
        return f"no Java found (java not on PATH or it does not run): {fix}"
    if have < need:
        return f"Artemis {version} needs Java {need}, found Java {have}: {fix}"
    return None


def tool_problem(version: str) -> str | None:
    """Why ``version`` cannot be had here (no Java, or neither the unpacked folder nor mvn)."""
    problem = java_problem(version)
    if problem:
        return problem
    if not installed(version) and shutil.which("mvn") is None:
        return (
            f"Artemis {version} is not fetched and Maven is missing: "
            f"apt-get install maven, then {fetch_command(version)}"
        )
    return None


def _mvn_copy(coords: Coordinates, out_dir: Path) -> Path:
    """``mvn dependency:copy`` of the bin tar.gz into ``out_dir``; the file's path."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DistError(f"Maven is missing (apt-get install maven) to fetch {coords.artifact_spec}")
    argv = [
        mvn,
        "-B",
        "-q",
        "dependency:copy",
        f"-Dartifact={coords.artifact_spec}",
        f"-DoutputDirectory={out_dir}",
        "-Dmdep.overWriteReleases=true",
    ]
    try:
        done = subprocess.run(
            argv,
            cwd=out_dir,
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise DistError(
            f"mvn did not fetch {coords.artifact_spec} within {FETCH_TIMEOUT_S:.0f} s"
        ) from None
    files = sorted(out_dir.glob("*.tar.gz"))
    if done.returncode != 0 or not files:
        lines = [ln for ln in (done.stdout + done.stderr).splitlines() if "ERROR" in ln]
        why = re.sub(r"\x1b\[[0-9;]*m", "", lines[0] if lines else "no output").strip()
        raise DistError(f"mvn could not fetch {coords.artifact_spec}: {why[:240]}")
    return files[0]


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """Extract refusing paths that leave ``into``.

    Why by hand where needed: ``extractall(filter=...)`` came in Python 3.11.4, and
    Debian 12's Python is 3.11.2 (the fresh-machine check's).
    """
    if hasattr(tarfile, "tar_filter"):
        tar.extractall(into, filter="tar")
        return
    root = into.resolve()
    for m in tar.getmembers():
        target = (into / m.name).resolve()
        if m.name.startswith("/") or (target != root and root not in target.parents):
            raise tarfile.TarError(f"member {m.name!r} would land outside {into}")
        if m.issym() or m.islnk():
            link = (target.parent / m.linkname).resolve()
            if m.linkname.startswith("/") or (link != root and root not in link.parents):
                raise tarfile.TarError(f"link {m.name!r} points outside {into}")
    tar.extractall(into)  # noqa: S202 - every member checked above


def unpack(archive: Path, version: str, into: Path) -> Path:
    """Unpack a distribution tarball into ``into``; its ``apache-artemis-VER`` folder.

    A truncated or corrupt archive, or one without ``bin/artemis``, is a
    ``DistError`` of one line naming the file.
    """
    top = f"apache-artemis-{version}"
    try:
        with tarfile.open(archive, "r:gz") as tar:
            names = tar.getnames()
            if f"{top}/bin/artemis" not in names:
                raise DistError(
                    f"{archive} is not Artemis {version}'s distribution (no {top}/bin/artemis)"
                )
            _extract(tar, into)
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise DistError(
            f"{archive} is corrupt or partial ({type(e).__name__}: {e}); remove it and fetch again"
        ) from None
    return into / top


def fetch(version: str, force: bool = False) -> Path:
    """Fetch and unpack a pinned version unless it is there; ``ARTEMIS_HOME``.

    A file lock per version lets parallel workers share one fetch; the unpack
    goes to a temporary folder renamed into place, so a killed fetch leaves no
    half-unpacked distribution behind.
    """
    coords = PINNED[version]
    if installed(version) and not force:
        return home(version)
    folder = root() / version
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if installed(version) and not force:
                return home(version)
            with announced(
                f"fetched Artemis {version} ({coords.artifact_spec})",
                note=f"unpacked in {home(version)}, kept for later runs",
            ):
                with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as tmp:
                    archive = _mvn_copy(coords, Path(tmp))
                    unpacked = unpack(archive, version, Path(tmp) / "unpacked")
                    (unpacked / _COMPLETE).write_text(coords.artifact_spec + "\n")
                    shutil.rmtree(home(version), ignore_errors=True)
                    os.replace(unpacked, home(version))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return home(version)


def _templates(version: str) -> None:
    """Make the instance templates of both profiles now (a JVM each), not in a first lease.

    Without Java there is nothing to make them with; the provider says why when it runs.
    """
    from harness.brokers import artemis_instance, artemis_template

    if java_problem(version):
        return
    for anycast in (True, False):
        try:
            artemis_template.template(
                home(version), version, anycast, root() / version / "templates"
            )
        except artemis_instance.CreateError as e:
            raise DistError(f"Artemis {version}: {e}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``fetch [VERSION...]`` (default: every pinned version) and ``list``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("fetch", "list"):
        print(
            "usage: python3 -m harness.brokers.artemis_dist fetch [VERSION...] | list",
            file=sys.stderr,
        )
        return 2
    if args[0] == "list":
        for v, c in PINNED.items():
            state = "fetched" if installed(v) else "not fetched"
            print(f"{v:8} {c.artifact_spec:48} {state}  {home(v)}")
        return 0
    try:
        versions = [pick(v) for v in args[1:]] or list(PINNED)
        for v in versions:
            print(fetch(v))
            _templates(v)
    except (ValueError, DistError) as e:
        print(f"artemis_dist: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
