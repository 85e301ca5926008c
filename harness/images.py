"""Broker images built on this machine: recipes as data, and ``interop images build NAME``.

Why: no image registry is reachable here (nor in CI), so a container profile that
needs, say, RabbitMQ 3.10 cannot pull it. A recipe says how to make the image
from Debian packages alone: ``mmdebstrap`` builds a root file system from the
host's apt sources, a setup script configures it, ``docker import`` turns the
tarball into an image. The image tag carries a hash of the recipe, so changing a
recipe builds a new image and an unchanged one is built once per machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.announce import announced
from harness.brokers import rabbitmq_config
from harness.env import cache_dir

__all__ = [
    "ImageError",
    "Recipe",
    "RECIPES",
    "build",
    "get_recipe",
    "image_exists",
    "list_recipes",
    "main",
]

#: how long one mmdebstrap run may take before it is killed (about 45 s when it works)
BUILD_TIMEOUT_S = 900.0
IMPORT_TIMEOUT_S = 300.0
DOCKER_QUERY_TIMEOUT_S = 15.0


class ImageError(Exception):
    """An image could not be built or inspected; the message is one line.

    ``output`` holds the last lines of the failing tool's output, for a person to read.
    """

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Recipe:
    """How to build one broker image from Debian packages.

    ``setup`` is a POSIX shell script run on the host as mmdebstrap's customize
    hook, with the root file system's path as ``$1`` (use ``chroot "$1" ...`` to
    run a command inside it). It must need no network.
    """

    name: str
    description: str
    suite: str
    packages: tuple[str, ...]
    setup: str
    cmd: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    user: str = ""
    expose: tuple[int, ...] = ()
    labels: tuple[tuple[str, str], ...] = field(default=())
    #: mmdebstrap's variant: ``apt`` (essential + apt) unless a recipe needs less
    variant: str = "apt"
    #: ``--aptopt`` values: forky's Release file on the registry is past its
    #: Valid-Until date, so its recipe turns that check off
    aptopts: tuple[str, ...] = ()

    def digest(self) -> str:
        """12 hex digits of a hash over everything that shapes the image.

        An empty ``aptopts`` is left out, so recipes written before the field
        existed keep their digests (and their built images).
        """
        fields = asdict(self)
        if not fields["aptopts"]:
            del fields["aptopts"]
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def tag(self) -> str:
        return f"amqp-interop/{self.name}:{self.digest()}"

    def changes(self) -> list[str]:
        """The ``docker import --change`` instructions: what a Dockerfile would say."""
        out = ["CMD " + json.dumps(list(self.cmd))]
        out += [f"ENV {k}={v}" for k, v in self.env]
        if self.user:
            out.append(f"USER {self.user}")
        out += [f"EXPOSE {p}" for p in self.expose]
        labels = (("amqp-interop.recipe", self.name), ("amqp-interop.digest", self.digest()))
        out += [f"LABEL {k}={v}" for k, v in labels + self.labels]
        return out


_BOOKWORM_PYTHON_SETUP = r"""
set -eu
root="$1"
# a laptop's user, not root: uid 1000 with a home, written without useradd (not in the image)
echo 'user:x:1000:1000:fresh machine:/home/user:/bin/bash' >> "$root/etc/passwd"
echo 'user:x:1000:' >> "$root/etc/group"
echo 'user:*:19000:0:99999:7:::' >> "$root/etc/shadow"
mkdir -p "$root/home/user"
chown 1000:1000 "$root/home/user"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
"""


#: forky's (and sid's) Release file can be past its Valid-Until date on the registry
_NO_VALID_UNTIL = ('Acquire::Check-Valid-Until "false"',)


def _rabbitmq_recipe(
    version: str, suite: str, description: str, aptopts: tuple[str, ...] = ()
) -> Recipe:
    """RabbitMQ from a Debian suite's own package; the config is the version's (3.x plugin or 4.x none)."""
    return Recipe(
        aptopts=aptopts,
        name=f"rabbitmq-{version}",
        description=description,
        suite=suite,
        packages=("rabbitmq-server",),
        setup=rabbitmq_config.image_setup(version),
        # the server script execs erl in the foreground; USER makes it run as rabbitmq
        cmd=("/usr/lib/rabbitmq/bin/rabbitmq-server",),
        env=rabbitmq_config.IMAGE_ENV,
        user="rabbitmq",
        expose=(5672,),
    )


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        _rabbitmq_recipe(
            "3.10",
            "bookworm",
            "RabbitMQ 3.10 from Debian bookworm with the rabbitmq_amqp1_0 plugin",
        ),
        # RabbitMQ 4.0.x from Debian trixie (13): the same packages, a newer suite
        _rabbitmq_recipe("4.0", "trixie", "RabbitMQ 4.0 from Debian trixie (AMQP 1.0 built in)"),
        # RabbitMQ 4.3.x from Debian forky (14), the newest release Debian carries
        _rabbitmq_recipe(
            "4.3",
            "forky",
            "RabbitMQ 4.3 from Debian forky (AMQP 1.0 built in, address v2 only)",
            _NO_VALID_UNTIL,
        ),
        Recipe(
            # not a broker: the fresh machine of scripts/fresh_machine.py, where the
            # README's two commands run from a fresh clone as a new user would run them
            name="bookworm-python",
            description="bare Debian bookworm: Python 3.11 with venv and pip, gcc, headers, git",
            suite="bookworm",
            packages=(
                "python3",
                "python3-venv",
                "python3-pip",
                "python3-dev",
                "gcc",
                "ca-certificates",
                "git",
            ),
            setup=_BOOKWORM_PYTHON_SETUP,
            cmd=("/bin/bash",),
            env=(("HOME", "/home/user"), ("LANG", "C.UTF-8")),
            user="user",
        ),
    ]
}

# Artemis: a recipe per pinned version, in its own module (harness/brokers/artemis_image.py)
from harness.brokers import artemis_image  # noqa: E402 - needs Recipe defined above

RECIPES.update((r.name, r) for r in artemis_image.recipes())


def list_recipes() -> list[Recipe]:
    """Every recipe, sorted by name."""
    return [RECIPES[k] for k in sorted(RECIPES)]


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        known = ", ".join(sorted(RECIPES))
        raise ImageError(f"no image recipe named {name!r} (known: {known})") from None


def _docker() -> str:
    path = shutil.which("docker")
    if path is None:
        raise ImageError("docker is not installed (apt-get install docker.io)")
    return path


def image_exists(tag: str) -> bool:
    """True when the local engine has an image with this tag."""
    try:
        r = subprocess.run(
            [_docker(), "image", "inspect", "--format", "{{.Id}}", tag],
            capture_output=True,
            text=True,
            timeout=DOCKER_QUERY_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise ImageError(
            f"docker did not answer within {DOCKER_QUERY_TIMEOUT_S:.0f} s (is dockerd running?)"
        ) from None
    if r.returncode == 0:
        return True
    if "No such image" in r.stderr or "No such object" in r.stderr:
        return False
    first = (r.stderr.strip().splitlines() or ["no output"])[0]
    raise ImageError(f"docker image inspect failed: {first}")


def _tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _run_logged(argv: list[str], log_path: str, timeout: float, what: str) -> None:
    """Run a build step in its own process group, output to ``log_path``; kill it on timeout."""
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ImageError(f"{what} took longer than {timeout:.0f} s", _tail(log_path)) from None
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if rc != 0:
        tail = _tail(log_path)
        last = (tail.strip().splitlines() or ["no output"])[-1].strip()
        raise ImageError(f"{what} failed (exit {rc}): {last}", tail)


def _lock_path(name: str) -> Path:
    """The recipe's build lock: in the cache folder, which outlives a reboot's /tmp cleanup."""
    return cache_dir() / "images" / f"{name}.lock"


def _prune_older(recipe: Recipe) -> None:
    """Remove this recipe's images of earlier recipe versions (each is ~250 MB); best effort."""
    repo = recipe.tag.split(":", 1)[0]
    try:
        r = subprocess.run(
            [_docker(), "images", "--format", "{{.Repository}}:{{.Tag}}", repo],
            capture_output=True,
            text=True,
            timeout=DOCKER_QUERY_TIMEOUT_S,
        )
        old = [t for t in r.stdout.split() if t != recipe.tag and t.startswith(repo + ":")]
        if old:  # an image still used by a container stays: rmi without -f refuses
            subprocess.run([_docker(), "rmi", *old], capture_output=True, timeout=120)
    except (subprocess.TimeoutExpired, ImageError):
        pass


def build(name: str, force: bool = False, log: str | None = None) -> str:
    """Build the image of recipe ``name`` unless it exists; return its tag.

    Safe to call from several processes at once: a file lock per recipe makes
    the second caller wait and then find the image built, so only the caller
    that builds needs mmdebstrap and root. ``log`` keeps the build output (else
    it goes to a temporary file removed on success). A build says so on
    stderr, one line with the time it took.
    """
    recipe = get_recipe(name)
    docker = _docker()
    if not force and image_exists(recipe.tag):
        return recipe.tag

    lock_path = _lock_path(name)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)
        try:
            if not force and image_exists(recipe.tag):
                return recipe.tag  # another process built it while we waited
            mmdebstrap = shutil.which("mmdebstrap")
            if mmdebstrap is None:
                raise ImageError("mmdebstrap is not installed (apt-get install mmdebstrap)")
            if os.geteuid() != 0:
                raise ImageError("building an image needs root (mmdebstrap writes device nodes)")
            with announced(
                f"built image {recipe.tag}", note=f"first use of recipe {name}, kept for later runs"
            ):
                _build_locked(recipe, docker, mmdebstrap, log)
            _prune_older(recipe)
        finally:
            fcntl.flock(lockfile, fcntl.LOCK_UN)
    return recipe.tag


def _build_locked(recipe: Recipe, docker: str, mmdebstrap: str, log: str | None) -> None:
    """mmdebstrap the root file system and ``docker import`` it; the caller holds the lock."""
    name = recipe.name
    with tempfile.TemporaryDirectory(prefix=f"amqp-interop-image-{name}-") as tmp:
        log_path = log or os.path.join(tmp, "build.log")
        setup = os.path.join(tmp, "setup.sh")
        with open(setup, "w") as f:
            f.write(recipe.setup)
        rootfs = os.path.join(tmp, "rootfs.tar")
        _run_logged(
            [
                mmdebstrap,
                f"--variant={recipe.variant}",
                *(["--include=" + ",".join(recipe.packages)] if recipe.packages else []),
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                *(f"--aptopt={opt}" for opt in recipe.aptopts),
                f'--customize-hook=sh {setup} "$1"',
                recipe.suite,
                rootfs,
            ],
            log_path,
            BUILD_TIMEOUT_S,
            f"mmdebstrap for image {name}",
        )
        argv = [docker, "import"]
        for change in recipe.changes():
            argv += ["--change", change]
        argv += ["--message", f"amqp-interop recipe {name}", rootfs, recipe.tag]
        _run_logged(argv, log_path, IMPORT_TIMEOUT_S, f"docker import of image {name}")


def main(argv: Sequence[str] | None = None) -> int:
    """``interop images build NAME [--force]`` and ``interop images list``; returns the exit status."""
    import argparse

    parser = argparse.ArgumentParser(prog="interop images", description="broker images built here")
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build an image from its recipe (cached by recipe hash)")
    p_build.add_argument("name")
    p_build.add_argument("--force", action="store_true", help="build even if the image exists")
    p_build.add_argument("--log", help="keep the build output in this file")
    sub.add_parser("list", help="list recipes, their tags, and whether the image is built")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            for r in list_recipes():
                try:
                    state = "built" if image_exists(r.tag) else "not built"
                except ImageError as e:
                    state = f"unknown ({e})"
                print(f"{r.name:20} {r.tag:44} {state}  {r.description}")
            return 0
        started = time.monotonic()
        tag = build(args.name, force=args.force, log=args.log)
        print(f"{tag}  ({time.monotonic() - started:.1f} s)")
        return 0
    except ImageError as e:
        print(f"interop images: {e}", file=sys.stderr)
        if e.output:
            print(e.output.rstrip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
