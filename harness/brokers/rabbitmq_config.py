"""What a local RabbitMQ node is told: its version's config files and environment.

RabbitMQ 3.x speaks AMQP 1.0 through the ``rabbitmq_amqp1_0`` plugin, whose
``amqp1_0.*`` keys map anonymous/PLAIN users onto a vhost; RabbitMQ 4 has AMQP
1.0 in its core, and those keys make it refuse to boot ("You've tried to set
amqp1_0.default_user, but there is no setting with that name"). So the config
depends on the installed version (Debian 12 ships 3.10.8, Debian 13 4.0.5),
read from the package's directory name, and so do the address convention and
what the node can do.

Pure functions of a version and a few paths: tested for 3.x and 4.x without
either being installed (``tests/brokers/test_rabbitmq_config.py``).
"""

from __future__ import annotations

import glob
import os
import re

from harness.brokers.versions import version_key
from harness.capabilities import ANONYMOUS_RELAY, RESTART

__all__ = [
    "IMAGE_ENV",
    "PLUGIN",
    "SERVER",
    "capabilities",
    "config_files",
    "convention",
    "image_setup",
    "installed_version",
    "major",
    "node_env",
]

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
#: the server's application directory names its version: rabbitmq_server-3.10.8
LIB_GLOB = "/usr/lib/rabbitmq/lib/rabbitmq_server-*"
PLUGIN = "rabbitmq_amqp1_0"
#: every process of a node carries this variable (with the node's token) in its environment
MARKER = "AMQP_INTEROP_BROKER"


def installed_version(lib_glob: str = LIB_GLOB) -> str | None:
    """The newest ``rabbitmq_server-VERSION`` directory's version, or None when there is none."""
    found = []
    for path in glob.glob(lib_glob):
        m = re.search(r"rabbitmq_server-(\d[\w.+~-]*)$", path)
        if m and version_key(m.group(1)) is not None:
            found.append(m.group(1))
    return max(found, key=lambda v: version_key(v) or ()) if found else None


def major(version: str) -> int:
    key = version_key(version)
    if not key:
        raise ValueError(f"not a RabbitMQ version: {version!r}")
    return key[0]


def plugin_dirs(version: str, lib_glob: str = LIB_GLOB) -> list[str]:
    """The ``rabbitmq_amqp1_0`` plugin of this version (3.x needs it; 4.x has AMQP 1.0 built in)."""
    base = lib_glob.replace("*", version)
    return glob.glob(os.path.join(base, "plugins", f"{PLUGIN}-*"))


def config_files(version: str, listen: str) -> dict[str, str]:
    """File name -> text for a node of ``version`` listening for AMQP on ``listen`` (host:port)."""
    conf = [
        f"listeners.tcp.default = {listen}",
        # a container's port mapping is not loopback to the broker; harmless on 127.0.0.1
        "loopback_users.guest = false",
    ]
    if major(version) < 4:
        plugins = f"[{PLUGIN}]."
        conf += ["amqp1_0.default_user = guest", "amqp1_0.default_vhost = /"]
    else:
        plugins = "[]."  # AMQP 1.0 is a core protocol from 4.0
    return {
        "enabled_plugins": plugins + "\n",
        "rabbitmq.conf": "\n".join(conf) + "\n",
        "advanced.config": "[].\n",
        "rabbitmq-env.conf": "",  # keeps /etc/rabbitmq/rabbitmq-env.conf out
    }


def convention(version: str) -> str:
    """The address convention of this version (see ``harness/brokers/fingerprints.py``)."""
    from harness.brokers.fingerprints import lookup

    found = lookup({"product": "RabbitMQ", "version": version})
    return found.convention if found else "rabbitmq-v2"


def capabilities(version: str) -> frozenset[str]:
    """RESTART always (the harness kills and restarts the node); ANONYMOUS-RELAY from 4.0.

    Dynamic sources are not claimed here: before 4.1 they end the session
    (the ``lacks`` entry in known_failures.json says so with its reference),
    and from 4.1 only a source with a RabbitMQ capability is answered, which
    the broker's fingerprint supplies once it answered (``adopt_fingerprint``).
    """
    return frozenset({RESTART} if major(version) < 4 else {RESTART, ANONYMOUS_RELAY})


def node_env(
    base: dict[str, str],
    node_dir: str,
    nodename: str,
    ports: tuple[int, int, int],
    token: str,
) -> dict[str, str]:
    """The node's environment: ``base`` without RabbitMQ/Erlang settings, plus its own.

    ``ports`` are (AMQP, Erlang distribution, epmd). Everything lives in
    ``node_dir``; the marker lets ``stop()`` find processes that left the group.
    """
    amqp, dist, epmd = ports
    d = node_dir
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith(("RABBITMQ_", "ERL_", "ERLANG_")) and k != "NOTIFY_SOCKET"
    }
    env.update(
        {
            # the Erlang cookie goes to $HOME: the node's own directory
            "HOME": d,
            "LANG": env.get("LANG", "C.UTF-8"),
            "RABBITMQ_NODENAME": nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp),
            "RABBITMQ_DIST_PORT": str(dist),
            # an epmd of our own on loopback: a shared one on 4369 would mix nodes
            # of different tests and outlive them
            "ERL_EPMD_PORT": str(epmd),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_PID_FILE": os.path.join(d, "rabbitmq.pid"),
            # Erlang distribution (CLI tools, clustering) on loopback only
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            MARKER: token,
        }
    )
    return env


# -- images (harness/images.py): the same config, written into a root file system ----

#: what the RabbitMQ images run with (a fixed node name: the data directory is named
#: after it, so a restarted container finds its queues again)
IMAGE_ENV = (
    ("HOME", "/var/lib/rabbitmq"),
    ("LANG", "C.UTF-8"),
    ("RABBITMQ_NODENAME", "rabbit@localhost"),
    ("RABBITMQ_LOGS", "-"),
)

_IMAGE_CHECK = {
    3: "# the AMQP 1.0 plugin ships in the rabbitmq-server package; fail here, not at run time\n"
    'ls -d "$root"/usr/lib/rabbitmq/lib/rabbitmq_server-{series}.*/plugins/rabbitmq_amqp1_0-* '
    ">/dev/null\n"
    "# what `rabbitmq-plugins --offline enable rabbitmq_amqp1_0` writes, without starting Erlang",
    4: "# RabbitMQ 4: AMQP 1.0 is a core protocol (no plugin, no amqp1_0.* keys: they\n"
    "# stop the boot); fail here if the suite moved on to another release\n"
    'ls -d "$root"/usr/lib/rabbitmq/lib/rabbitmq_server-{series}.* >/dev/null',
}


def image_setup(series: str) -> str:
    """The customize hook (``$1``: the root file system) of a RabbitMQ ``series`` image.

    It checks the package is that series, writes ``config_files``' plugins and keys
    (listening on every interface: the host maps the port to 127.0.0.1), and tidies up.
    """
    files = config_files(series, "0.0.0.0:5672")
    plugins = files["enabled_plugins"].strip()
    keys = files["rabbitmq.conf"].splitlines()[2:]  # after the listener and loopback lines
    conf = "".join(line + "\n" for line in keys)
    check = _IMAGE_CHECK[min(major(series), 4)].replace("{series}", series)
    return f"""
set -eu
root="$1"
{check}
printf '{plugins}\\n' > "$root/etc/rabbitmq/enabled_plugins"
cat > "$root/etc/rabbitmq/rabbitmq.conf" <<'CONF'
# inside the container: listen on every interface, the host maps the port to 127.0.0.1
listeners.tcp.default = 0.0.0.0:5672
# guest comes in through docker's port mapping, which is not loopback to the broker
loopback_users.guest = false
{conf}CONF
: > "$root/etc/rabbitmq/rabbitmq-env.conf"
chroot "$root" chown -R rabbitmq:rabbitmq /etc/rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
# the Erlang cookie lives in HOME; it is created at first start if absent
rm -f "$root/var/lib/rabbitmq/.erlang.cookie" "$root"/var/lib/rabbitmq/mnesia/* 2>/dev/null || true
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
"""
