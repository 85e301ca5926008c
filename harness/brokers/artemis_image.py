"""Artemis images built here (``interop images build artemis-2.56``) and their container profiles.

Why built here: no image registry is reachable on this project's machines, and
the registry's ``apache/activemq-artemis`` is configured as ``artemis create``
makes it (multicast bare addresses). Each pinned version
(``artemis_dist.PINNED``) gets a recipe: Debian bookworm with
``openjdk-17-jre-headless``, the ``bin`` distribution fetched by Maven on the
host (its local repository is reused), an instance made at build time with the
provider's own ``artemis create`` options (``artemis_instance.CREATE_OPTIONS``)
and configured by the provider's own code (``artemis_xml.py``, run by the
host's Python), listening on 0.0.0.0:5672 inside the container. The image's
tag carries a hash of all of that, so a change to any of it builds a new image.

``container:artemis-2.56`` runs it through testcontainers with the AMQP probe;
the container provider's restart is a crash (``docker kill`` + ``docker
start``) that keeps the container's journal, as the local provider's does.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from harness.brokers import artemis_dist, artemis_instance
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART

__all__ = ["INSTANCE", "PROFILE", "name_of", "profiles", "recipes", "setup_script"]

#: the instance's folder inside the image
INSTANCE = "/var/lib/artemis/instance"
#: the user the broker runs as (not root), written without useradd
_UID = 1001
#: the image's instance as results record it, the local provider's anycast profile
#: (``artemis_xml.read_profile`` of the image's broker.xml, checked against a running
#: container in tests/brokers/test_artemis_image.py; ``--no-fsync`` makes a MAPPED journal)
PROFILE: tuple[tuple[str, object], ...] = (
    ("variant", "anycast"),
    ("routing", "anycast"),
    ("fsync", False),
    ("journal", "MAPPED"),
    ("auto_delete_queues", False),
)


#: the JRE's postinst links its man pages with update-alternatives, which fails when
#: /usr/share/man/man1 does not exist (the image recipes leave out /usr/share/man):
#: apt makes that folder in the root file system before each dpkg run (apt runs
#: its DPkg::Pre-Invoke commands inside DPkg::Chroot-Directory)
_KEEP_MAN1 = ('DPkg::Pre-Invoke { "mkdir -p /usr/share/man/man1"; }',)


def name_of(version: str) -> str:
    """``artemis-2.56`` for 2.56.0: a recipe and a profile per pinned line."""
    return "artemis-" + ".".join(version.split(".")[:2])


def setup_script(version: str) -> str:
    """The mmdebstrap customize hook: fetch, unpack, create and configure the instance."""
    coords = artemis_dist.PINNED[version]
    create = " ".join(shlex.quote(o) for o in artemis_instance.CREATE_OPTIONS)
    edit = Path(__file__).with_name("artemis_xml.py").read_text(encoding="utf-8")
    return f"""set -eu
root="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Maven on the host: its local repository is reused between builds
mvn -B -q dependency:copy -Dartifact={coords.artifact_spec} -DoutputDirectory="$tmp" </dev/null
mkdir -p "$root/opt"
tar xzf "$tmp/apache-artemis-{version}-bin.tar.gz" -C "$root/opt"
ln -s apache-artemis-{version} "$root/opt/artemis"
echo 'artemis:x:{_UID}:{_UID}:Artemis:/var/lib/artemis:/usr/sbin/nologin' >> "$root/etc/passwd"
echo 'artemis:x:{_UID}:' >> "$root/etc/group"
echo 'artemis:*:19000:0:99999:7:::' >> "$root/etc/shadow"
mkdir -p "$root/var/lib/artemis"
chroot "$root" /opt/artemis/bin/artemis create {INSTANCE} {create} >"$tmp/create.log" 2>&1 \\
  || {{ cat "$tmp/create.log" >&2; exit 1; }}
python3 - "$root{INSTANCE}" 0.0.0.0 5672 anycast <<'ARTEMIS_XML'
{edit}
ARTEMIS_XML
chown -R {_UID}:{_UID} "$root/var/lib/artemis"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
"""


def recipes() -> list[Any]:
    """A recipe per pinned version (``harness.images.Recipe``, imported here: images.py imports us)."""
    from harness.images import Recipe

    return [
        Recipe(
            name=name_of(v),
            description=f"Apache Artemis {v} ({c.artifact_spec}) on Debian bookworm's "
            "openjdk-17-jre-headless, anycast instance",
            suite="bookworm",
            packages=("openjdk-17-jre-headless",),
            setup=setup_script(v),
            cmd=(f"{INSTANCE}/bin/artemis", "run"),
            env=(("LANG", "C.UTF-8"),),
            user="artemis",
            expose=(5672,),
            aptopts=_KEEP_MAN1,
        )
        for v, c in artemis_dist.PINNED.items()
    ]


def profiles() -> list[Any]:
    """A container profile per pinned version (``profiles.Profile``; profiles.py imports us)."""
    from harness.brokers.profiles import Profile

    return [
        Profile(
            name=name_of(v),
            description=f"Apache Artemis {v} (image built here, anycast instance)",
            image="",  # the recipe's tag
            recipe=name_of(v),
            convention="bare",
            capabilities=frozenset({DYNAMIC, ANONYMOUS_RELAY, RESTART}),
            ready_timeout=180.0,
            notes="the local provider's instance in a container: bare addresses anycast, "
            "no fsync, SASL ANONYMOUS allowed",
            broker_profile=PROFILE,
        )
        for v in artemis_dist.PINNED
    ]
