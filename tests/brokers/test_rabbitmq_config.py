"""What a RabbitMQ node is told, per version: the local provider's config and the images' set-up.

Why: RabbitMQ 4 refuses to boot on 3.10's ``amqp1_0.*`` keys, and a Debian 13
machine has 4.0. The config is generated from the installed version, so it is
tested here for both series without either being installed; the 4.x one also
boots a real 4.0 (``test_rabbitmq40.py``), the installed one runs in
``test_rabbitmq.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import images
from harness.brokers import rabbitmq_config
from harness.brokers.rabbitmq_config import config_files, installed_version, node_env
from harness.capabilities import ANONYMOUS_RELAY, RESTART


def test_3x_enables_the_plugin_and_maps_users_onto_a_vhost() -> None:
    files = config_files("3.10.8", "127.0.0.1:5999")
    assert files["enabled_plugins"] == "[rabbitmq_amqp1_0].\n"
    assert files["rabbitmq.conf"] == (
        "listeners.tcp.default = 127.0.0.1:5999\n"
        "loopback_users.guest = false\n"
        "amqp1_0.default_user = guest\n"
        "amqp1_0.default_vhost = /\n"
    )
    assert files["advanced.config"] == "[].\n" and files["rabbitmq-env.conf"] == ""


@pytest.mark.parametrize("version", ["4.0.5", "4.1.0", "4.3.6"])
def test_4x_has_no_plugin_and_no_amqp1_0_keys(version: str) -> None:
    files = config_files(version, "127.0.0.1:5999")
    assert files["enabled_plugins"] == "[].\n"
    assert "amqp1_0" not in files["rabbitmq.conf"]
    assert files["rabbitmq.conf"] == (
        "listeners.tcp.default = 127.0.0.1:5999\nloopback_users.guest = false\n"
    )


def test_convention_and_capabilities_per_series() -> None:
    assert rabbitmq_config.convention("3.10.8") == "rabbitmq-v1"
    assert rabbitmq_config.convention("4.0.5") == "rabbitmq-v2"
    assert rabbitmq_config.capabilities("3.10.8") == {RESTART}
    assert rabbitmq_config.capabilities("4.0.5") == {RESTART, ANONYMOUS_RELAY}


def test_installed_version_is_read_from_the_package_directory(tmp_path: Path) -> None:
    for name in ("rabbitmq_server-3.10.8", "rabbitmq_server-4.0.5", "rabbitmq_server-x"):
        (tmp_path / name).mkdir()
    assert installed_version(str(tmp_path / "rabbitmq_server-*")) == "4.0.5"
    assert installed_version(str(tmp_path / "nothing-*")) is None


def test_node_env_is_the_nodes_own() -> None:
    base = {"PATH": "/usr/bin", "RABBITMQ_NODENAME": "other@host", "ERL_EPMD_PORT": "4369"}
    env = node_env(base, "/n", "interop-1@localhost", (5999, 25999, 14369), "tok")
    assert env["PATH"] == "/usr/bin"
    assert env["RABBITMQ_NODENAME"] == "interop-1@localhost"
    assert (env["RABBITMQ_NODE_PORT"], env["RABBITMQ_DIST_PORT"], env["ERL_EPMD_PORT"]) == (
        "5999",
        "25999",
        "14369",
    )
    assert env["RABBITMQ_CONFIG_FILE"] == "/n/rabbitmq.conf"
    assert env[rabbitmq_config.MARKER] == "tok"


@pytest.mark.parametrize("series", ["3.10", "4.0"])
def test_images_write_the_same_keys_as_the_local_provider(series: str) -> None:
    """One source for each version's config: the recipe's set-up holds config_files' lines."""
    setup = images.get_recipe(f"rabbitmq-{series}").setup
    files = config_files(series, "0.0.0.0:5672")
    for line in files["rabbitmq.conf"].splitlines():
        assert f"\n{line}\n" in setup, line
    assert f"printf '{files['enabled_plugins'].strip()}\\n'" in setup
    assert f"rabbitmq_server-{series}." in setup
    assert ("amqp1_0.default_user" in setup) == series.startswith("3.")
    assert ("rabbitmq_amqp1_0]" in setup) == series.startswith("3.")
