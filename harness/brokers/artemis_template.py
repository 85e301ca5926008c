"""An Artemis instance per lease without a JVM per lease: ``artemis create``'s output, copied.

Why: ``artemis create`` starts a JVM that takes 6 s on an idle 2-core machine
and a minute under the load of a parallel run, and a broker's start counts
against the first cell that leases it. Its output depends only on the
version and the options, except for the instance's own path, which it writes
into four files (``bin/artemis``, ``etc/artemis.profile``,
``etc/artemis-utility.profile``, ``etc/bootstrap.xml``). So each (version,
options, profile) is created once into the cache folder, never run (its
``data`` stays empty, so every copy gets a node id of its own at first start),
and each lease copies it and rewrites that path. A path the rewrite could
miss (one that ``artemis create`` would escape in a URI) gets a fresh create.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from harness.brokers import artemis_instance, artemis_xml

__all__ = ["PATH_FILES", "instantiate", "template"]

#: the files in which ``artemis create`` writes the instance's absolute path
PATH_FILES = (
    "bin/artemis",
    "etc/artemis.profile",
    "etc/artemis-utility.profile",
    "etc/bootstrap.xml",
)
#: paths written verbatim by ``artemis create`` (nothing a URI or XML escapes)
_PLAIN = re.compile(r"^[A-Za-z0-9/._+-]+$")


def _digest(version: str, anycast: bool) -> str:
    blob = "\n".join([version, "anycast" if anycast else "stock", *artemis_instance.CREATE_OPTIONS])
    blob += "\n" + Path(artemis_xml.__file__).read_text(encoding="utf-8")
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def template(artemis_home: Path, version: str, anycast: bool, root: Path) -> Path:
    """The created, never-run instance for this version and profile under ``root``, made once."""
    name = f"{'anycast' if anycast else 'stock'}-{_digest(version, anycast)}"
    folder = root / name
    if artemis_instance.broker_xml(folder).exists():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if artemis_instance.broker_xml(folder).exists():
                return folder
            with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=root) as tmp:
                made = Path(tmp) / "instance"
                artemis_instance.create(artemis_home, made, "127.0.0.1", 5672, anycast)
                _rewrite(made, str(made), str(folder))
                os.replace(made, folder)
            for stale in root.glob(f"{name.split('-')[0]}-*"):  # made with other options or code
                if stale != folder:
                    shutil.rmtree(stale, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


def _rewrite(instance: Path, old: str, new: str) -> None:
    for rel in PATH_FILES:
        path = instance / rel
        if path.exists():
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace(old, new), encoding="utf-8")


def instantiate(
    artemis_home: Path,
    version: str,
    instance: Path,
    host: str,
    port: int,
    anycast: bool,
    cache_root: Path,
) -> None:
    """Make ``instance`` (which must not exist) listening on ``host:port``, from the template."""
    root = cache_root / "templates"
    if not (_PLAIN.match(str(instance)) and _PLAIN.match(str(root))):
        artemis_instance.create(artemis_home, instance, host, port, anycast)
        return
    source = template(artemis_home, version, anycast, root)
    shutil.copytree(source, instance, symlinks=True)
    _rewrite(instance, str(source), str(instance))
    try:
        artemis_xml.configure_instance(str(instance), host, port, anycast)
    except artemis_xml.ConfigError as e:
        raise artemis_instance.CreateError(str(e)) from None
