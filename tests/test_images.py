"""Local broker images: recipes as data, cached by recipe hash, built with mmdebstrap + docker import."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from harness import images
from harness.brokers.container import ContainerProvider
from harness.env import require
from harness.images import ImageError, Recipe


@pytest.fixture
def cache(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A cache folder of the test's own: lock files go there, never to /tmp."""
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_rabbitmq_recipe_is_listed() -> None:
    names = [r.name for r in images.list_recipes()]
    assert {"rabbitmq-3.10", "rabbitmq-4.0", "rabbitmq-4.3"} <= set(names)
    assert names == sorted(names)


def test_tag_carries_the_recipe_hash() -> None:
    r = images.get_recipe("rabbitmq-3.10")
    assert re.fullmatch(r"amqp-interop/rabbitmq-3\.10:[0-9a-f]{12}", r.tag)
    assert r.tag == images.get_recipe("rabbitmq-3.10").tag
    changed = dataclasses.replace(r, setup=r.setup + "\n# changed\n")
    assert changed.tag != r.tag
    assert dataclasses.replace(r, packages=("rabbitmq-server", "less")).digest() != r.digest()


def test_rabbitmq_image_runs_the_server_as_rabbitmq_in_the_foreground() -> None:
    r = images.get_recipe("rabbitmq-3.10")
    changes = r.changes()
    assert changes[0] == 'CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]'
    assert "USER rabbitmq" in changes
    assert "ENV HOME=/var/lib/rabbitmq" in changes
    assert "EXPOSE 5672" in changes
    assert "LABEL amqp-interop.recipe=rabbitmq-3.10" in changes
    assert "[rabbitmq_amqp1_0]." in r.setup
    assert "listeners.tcp.default = 0.0.0.0:5672" in r.setup
    assert r.suite == "bookworm" and r.packages == ("rabbitmq-server",)


def test_rabbitmq_40_recipe_is_trixies_package_without_the_plugin() -> None:
    r = images.get_recipe("rabbitmq-4.0")
    assert r.suite == "trixie" and r.packages == ("rabbitmq-server",)
    assert re.fullmatch(r"amqp-interop/rabbitmq-4\.0:[0-9a-f]{12}", r.tag)
    assert r.tag != images.get_recipe("rabbitmq-3.10").tag
    changes = r.changes()
    assert changes[0] == 'CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]'
    assert "USER rabbitmq" in changes and "EXPOSE 5672" in changes
    assert "ENV RABBITMQ_NODENAME=rabbit@localhost" in changes
    assert "printf '[].\\n'" in r.setup  # AMQP 1.0 is built in: no plugin to enable
    assert "amqp1_0.default_user" not in r.setup  # 4.0 refuses to boot on that key
    assert "rabbitmq_server-4.0.*" in r.setup  # the build fails if trixie moves on


def test_rabbitmq_43_recipe_is_forkys_package_with_the_valid_until_check_off() -> None:
    """forky's Release file on the registry is past its Valid-Until date: mmdebstrap needs the option."""
    r = images.get_recipe("rabbitmq-4.3")
    assert r.suite == "forky" and r.packages == ("rabbitmq-server",)
    assert r.aptopts == ('Acquire::Check-Valid-Until "false"',)
    assert "rabbitmq_server-4.3.*" in r.setup and "amqp1_0.default_user" not in r.setup
    assert r.tag != images.get_recipe("rabbitmq-4.0").tag
    assert dataclasses.replace(r, aptopts=()).digest() != r.digest()


def test_a_recipe_without_apt_options_keeps_its_digest() -> None:
    """The aptopts field came later: recipes that leave it empty keep the images built before."""
    r = images.get_recipe("rabbitmq-4.0")
    fields = dataclasses.asdict(r)
    del fields["aptopts"]
    before = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    assert r.digest() == before


def test_apt_options_reach_mmdebstrap(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(images, "_run_logged", lambda argv, *a: calls.append(argv))
    images._build_locked(images.get_recipe("rabbitmq-4.3"), "docker", "mmdebstrap", None)
    assert '--aptopt=Acquire::Check-Valid-Until "false"' in calls[0]
    assert calls[0][-2:-1] == ["forky"]


def test_unknown_recipe_lists_the_known_ones() -> None:
    with pytest.raises(
        ImageError, match=r"^no image recipe named 'nope' \(known: .*rabbitmq-3\.10"
    ):
        images.get_recipe("nope")


def test_cli_unknown_recipe_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert images.main(["build", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("interop images: no image recipe named 'nope'")
    assert err.count("\n") == 1


def test_no_docker_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    with pytest.raises(ImageError) as info:
        images.build("rabbitmq-3.10")
    assert str(info.value) == "docker is not installed (apt-get install docker.io)"


def test_no_mmdebstrap_is_one_line(monkeypatch: pytest.MonkeyPatch, cache) -> None:
    monkeypatch.setattr(
        images.shutil, "which", lambda name: "/usr/bin/docker" if name == "docker" else None
    )
    monkeypatch.setattr(images, "image_exists", lambda tag: False)
    with pytest.raises(ImageError) as info:
        images.build("rabbitmq-3.10")
    assert str(info.value) == "mmdebstrap is not installed (apt-get install mmdebstrap)"


def test_a_failing_step_reports_its_last_line(tmp_path) -> None:
    log = str(tmp_path / "build.log")
    with pytest.raises(ImageError) as info:
        images._run_logged(
            ["sh", "-c", "echo fetching; echo 'E: Unable to locate package nope' >&2; exit 100"],
            log,
            10,
            "mmdebstrap for image x",
        )
    assert (
        str(info.value)
        == "mmdebstrap for image x failed (exit 100): E: Unable to locate package nope"
    )
    assert "fetching" in info.value.output


def test_a_hanging_step_is_killed(tmp_path) -> None:
    started = time.monotonic()
    with pytest.raises(ImageError, match="took longer than 1 s"):
        images._run_logged(["sleep", "30"], str(tmp_path / "log"), 1, "docker import")
    assert time.monotonic() - started < 5


def test_concurrent_builds_wait_for_the_first(monkeypatch: pytest.MonkeyPatch, cache) -> None:
    """A second build waits on the recipe's lock, then finds the image the first one made.

    The waiting caller needs neither mmdebstrap nor root: only the one that builds does.
    """
    built = threading.Event()
    monkeypatch.setattr(images, "image_exists", lambda tag: built.is_set())
    monkeypatch.setattr(images, "_docker", lambda: "docker")
    monkeypatch.setattr(
        images, "_run_logged", lambda *a, **k: pytest.fail("must not build: the image is there")
    )
    monkeypatch.setattr(images.shutil, "which", lambda name: None)  # no mmdebstrap here
    monkeypatch.setattr(images.os, "geteuid", lambda: 1000)  # nor root
    recipe = dataclasses.replace(images.get_recipe("rabbitmq-3.10"), name="lock-test")
    monkeypatch.setitem(images.RECIPES, recipe.name, recipe)
    result: list[str] = []
    errors: list[BaseException] = []

    def second() -> None:
        try:
            result.append(images.build(recipe.name))
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    lock_path = Path(images._lock_path(recipe.name))
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # "another process" is building
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        assert t.is_alive() and not result and not errors
        built.set()
        fcntl.flock(lock, fcntl.LOCK_UN)
        t.join(timeout=5)
    assert not errors, errors
    assert result == [recipe.tag]


def test_the_build_lock_lives_in_the_cache_folder(cache) -> None:
    path = Path(images._lock_path("rabbitmq-3.10"))
    assert path == cache / "images" / "rabbitmq-3.10.lock"


def test_no_mmdebstrap_takes_the_lock_in_the_cache_folder(
    monkeypatch: pytest.MonkeyPatch, cache
) -> None:
    monkeypatch.setattr(
        images.shutil, "which", lambda name: "/usr/bin/docker" if name == "docker" else None
    )
    monkeypatch.setattr(images, "image_exists", lambda tag: False)
    with pytest.raises(ImageError, match="mmdebstrap is not installed"):
        images.build("rabbitmq-3.10")
    assert (cache / "images" / "rabbitmq-3.10.lock").exists()


def test_a_build_announces_itself_with_its_time(
    monkeypatch: pytest.MonkeyPatch, cache, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(images, "image_exists", lambda tag: False)
    monkeypatch.setattr(images, "_docker", lambda: "docker")
    monkeypatch.setattr(images.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(images.os, "geteuid", lambda: 0)
    monkeypatch.setattr(images, "_prune_older", lambda recipe: None)
    steps: list[str] = []
    monkeypatch.setattr(images, "_run_logged", lambda argv, log, timeout, what: steps.append(what))
    tag = images.build("rabbitmq-3.10")
    assert steps == ["mmdebstrap for image rabbitmq-3.10", "docker import of image rabbitmq-3.10"]
    err = capsys.readouterr().err
    assert re.fullmatch(
        rf"interop: built image {re.escape(tag)} in \d+\.\d s; "
        r"first use of recipe rabbitmq-3\.10, kept for later runs\n",
        err,
    ), err


def test_an_existing_image_is_silent(
    monkeypatch: pytest.MonkeyPatch, cache, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(images, "image_exists", lambda tag: True)
    monkeypatch.setattr(images, "_docker", lambda: "docker")
    images.build("rabbitmq-3.10")
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_build_a_small_recipe_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """mmdebstrap + setup hook + docker import, on a recipe small enough for a test."""
    reason = ContainerProvider().unavailable()
    if reason:
        require(f"no Docker engine: {reason}")
    marker = uuid.uuid4().hex
    recipe = Recipe(
        name=f"test-{marker[:8]}",
        description="test image",
        suite="bookworm",
        packages=(),
        variant="essential",
        setup=f'set -eu\necho {marker} > "$1/etc/interop-test"\n',
        cmd=("cat", "/etc/interop-test"),
        env=(("INTEROP_TEST", "yes"),),
        expose=(5672,),
    )
    monkeypatch.setitem(images.RECIPES, recipe.name, recipe)
    try:
        started = time.monotonic()
        tag = images.build(recipe.name)
        took = time.monotonic() - started
        assert tag == recipe.tag and images.image_exists(tag)
        out = subprocess.run(
            ["docker", "run", "--rm", tag], capture_output=True, text=True, timeout=60
        )
        assert out.stdout.strip() == marker
        config = json.loads(
            subprocess.run(
                ["docker", "image", "inspect", "--format", "{{json .Config}}", tag],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
        )
        assert "INTEROP_TEST=yes" in config["Env"]
        assert "5672/tcp" in config["ExposedPorts"]
        assert config["Labels"]["amqp-interop.recipe"] == recipe.name
        again = time.monotonic()
        assert images.build(recipe.name) == tag  # cached by recipe hash
        assert time.monotonic() - again < 5 < took
    finally:
        subprocess.run(["docker", "rmi", "-f", recipe.tag], capture_output=True, timeout=60)
