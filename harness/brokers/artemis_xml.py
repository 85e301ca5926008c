"""An Artemis instance's ``etc/broker.xml``: the edits the harness makes, and what it reads back.

Why text edits and not an XML rewrite: the file is Artemis' own template with
its comments; a person comparing it with ``artemis create``'s output should see
only the harness's changes. Standard library only and no I/O in the edit
functions, so the same code edits a local instance and (run as a script by the
image recipe, ``python3 artemis_xml.py FILE ...``) an image's instance.

The edits (``configure``):

* the all-protocols acceptor (61616) goes, so parallel instances do not collide;
  ``<acceptor name="amqp">`` listens on the host and port given (Artemis has no
  ephemeral port it would report);
* ``anycast=True`` adds ``default-address-routing-type`` and
  ``default-queue-routing-type`` ANYCAST to ``<address-setting match="#">``:
  a bare address a peer attaches to becomes a queue (point-to-point), not a
  multicast address with a subscription per receiver link, which ``artemis
  create`` gives (its default routing type is MULTICAST).

``artemis create --java-memory`` sets ``-Xmx`` only and leaves the template's
``-Xms512M`` in ``etc/artemis.profile``, so a smaller heap would not start
("Initial heap size set to a larger value than the maximum heap size"):
``jvm_options`` makes ``-Xms`` equal ``-Xmx``. It also swaps G1 for the serial
collector and stops the JIT at C1: measured side by side on a loaded 2-core
machine, start-up went from 28-30 s to 11-22 s and a crash restart from
34-44 s to 14-15 s, and a broker of one cell's messages needs no C2 code.

``read_profile`` reports what the file says (routing, fsync, journal type,
auto-delete), which results record as the broker's profile.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence

__all__ = ["ConfigError", "configure", "configure_instance", "jvm_options", "read_profile"]

_ACCEPTOR = re.compile(r'<acceptor\s+name="(?P<name>[^"]+)"\s*>(?P<url>.*?)</acceptor>', re.S)
_MATCH_ALL = re.compile(r'<address-setting\s+match="#"\s*>')
_ROUTING = ("default-address-routing-type", "default-queue-routing-type")


class ConfigError(ValueError):
    """broker.xml lacks what the harness edits (not an instance made by ``artemis create``)."""


def _element(text: str, tag: str, scope: str | None = None) -> str | None:
    m = re.search(rf"<{tag}>\s*([^<]*?)\s*</{tag}>", scope if scope is not None else text)
    return m.group(1) if m else None


def _match_all_block(text: str) -> str:
    m = _MATCH_ALL.search(text)
    if not m:
        return ""
    end = text.find("</address-setting>", m.end())
    return text[m.end() : end if end >= 0 else len(text)]


def acceptors(text: str) -> dict[str, str]:
    """Acceptor name -> URL, outside comments."""
    bare = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return {m.group("name"): m.group("url").strip() for m in _ACCEPTOR.finditer(bare)}


def configure(text: str, host: str, port: int, anycast: bool) -> str:
    """broker.xml with one AMQP acceptor on ``host:port`` and, if asked, anycast defaults."""
    if "amqp" not in acceptors(text):
        raise ConfigError(
            'broker.xml has no <acceptor name="amqp"> (made without --no-amqp-acceptor?)'
        )

    def acceptor(m: re.Match[str]) -> str:
        if m.group("name") != "amqp":
            return ""
        url = re.sub(r"^tcp://[^?]*", f"tcp://{host}:{port}", m.group("url").strip())
        return f'<acceptor name="amqp">{url}</acceptor>'

    out = _ACCEPTOR.sub(acceptor, text)
    if anycast:
        if not _MATCH_ALL.search(out):
            raise ConfigError('broker.xml has no <address-setting match="#"> to set routing in')
        for tag in _ROUTING:
            out = re.sub(rf"\s*<{tag}>[^<]*</{tag}>", "", out)
        lines = "".join(f"\n            <{tag}>ANYCAST</{tag}>" for tag in _ROUTING)
        out = _MATCH_ALL.sub(lambda m: m.group(0) + lines, out, count=1)
    return out


#: JVM options that trade peak throughput for a faster, lighter start (see the module doc)
LEAN_JVM = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
_G1_ONLY = re.compile(r"\s*-XX:\+(UseG1GC|UseStringDeduplication|UseParallelGC)\b")


def jvm_options(profile: str) -> str:
    """``etc/artemis.profile`` with ``-Xms`` = ``-Xmx`` and the lean JVM options in JAVA_ARGS.

    Only the first (the effective) ``JAVA_ARGS="..."`` assignment changes; a
    profile without one is returned as it is.
    """
    m = re.search(r'^(\s*JAVA_ARGS=")([^"]*)"', profile, re.M)
    if not m:
        return profile
    args = m.group(2)
    heap = re.search(r"-Xmx(\S+)", args)
    if heap:
        args = re.sub(r"-Xms\S+", f"-Xms{heap.group(1)}", args)
    if LEAN_JVM not in args:
        args = LEAN_JVM + " " + _G1_ONLY.sub("", args).strip()
    return profile[: m.start(2)] + args + profile[m.end(2) :]


def configure_instance(instance: str, host: str, port: int, anycast: bool) -> None:
    """Edit an instance folder's broker.xml and artemis.profile in place (ConfigError if unusable)."""
    xml = os.path.join(instance, "etc", "broker.xml")
    prof = os.path.join(instance, "etc", "artemis.profile")
    for path, edit in (
        (xml, lambda text: configure(text, host, port, anycast)),
        (prof, jvm_options),
    ):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"{path}: {e.strerror or e}") from None
        text = edit(text)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def read_profile(text: str) -> dict[str, object]:
    """What the file says about routing, durability and the journal (Artemis' defaults if unsaid).

    ``routing`` is the default routing type of a bare address (MULTICAST unless
    the match-all address setting says otherwise); ``fsync`` is
    ``journal-datasync`` (default true); ``journal`` the journal type (default
    ASYNCIO); ``auto_delete_queues`` the match-all setting (default true).
    """
    block = _match_all_block(text)
    routing = (_element(text, "default-address-routing-type", block) or "MULTICAST").upper()
    datasync = (_element(text, "journal-datasync") or "true").lower() == "true"
    auto_delete = (_element(text, "auto-delete-queues", block) or "true").lower() == "true"
    return {
        "routing": routing.lower(),
        "fsync": datasync,
        "journal": (_element(text, "journal-type") or "ASYNCIO").upper(),
        "auto_delete_queues": auto_delete,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``artemis_xml.py INSTANCE HOST PORT anycast|stock``: edit an instance's files in place."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 4 or args[3] not in ("anycast", "stock") or not args[2].isdigit():
        print("usage: artemis_xml.py INSTANCE_DIR HOST PORT anycast|stock", file=sys.stderr)
        return 2
    instance, host, port, routing = args
    try:
        configure_instance(instance, host, int(port), anycast=routing == "anycast")
    except ConfigError as e:
        print(f"artemis_xml: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
