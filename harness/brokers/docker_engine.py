"""The Docker engine as the container provider needs it: is one there, images, ports, leftovers.

Kept apart from ``container.py`` (a broker's life in a container) because
none of this is about one broker: whether an engine answers, pulling an
image the engine lacks, a free host port, and the clean-up of containers a
killed run left behind. Every container the harness starts is labelled
``amqp-interop=1`` and ``amqp-interop.owner=PID``; that is how
``remove_leftover_containers()`` finds them.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from harness.brokers.base import BrokerError

__all__ = [
    "LABEL",
    "LABEL_OWNER",
    "engine_problem",
    "last_line",
    "one_line",
    "pull_if_missing",
    "remove_by_name",
    "remove_leftover_containers",
]

LABEL = "amqp-interop"
LABEL_OWNER = "amqp-interop.owner"
DOCKER_INFO_TIMEOUT_S = 5.0
PULL_TIMEOUT_S = 900.0


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:240] if text else type(e).__name__


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None."""
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed (apt-get install docker.io)"
    try:
        r = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=DOCKER_INFO_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"the Docker engine did not answer `docker info` within {DOCKER_INFO_TIMEOUT_S:g} s"
    if r.returncode != 0:
        return "no Docker engine answers (start one: scripts/start_dockerd.sh)"
    return None


def pull_if_missing(image: str) -> None:
    """Pull a registry image the engine lacks, with a timeout and a one-line failure."""
    from harness import images

    try:
        if images.image_exists(image):
            return
    except images.ImageError as e:
        raise BrokerError(str(e)) from None
    try:
        r = subprocess.run(
            ["docker", "pull", "--quiet", image],
            capture_output=True,
            text=True,
            timeout=PULL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise BrokerError(
            f"image {image} is not here and pulling it took over {PULL_TIMEOUT_S:g} s"
        ) from None
    if r.returncode != 0:
        why = last_line(r.stderr or r.stdout)
        raise BrokerError(f"image {image} is not here and could not be pulled: {why}")


def remove_by_name(name: str) -> None:
    docker = shutil.which("docker")
    if docker:
        subprocess.run([docker, "rm", "-f", name], capture_output=True, timeout=30)


def remove_leftover_containers(all_owners: bool = False) -> list[str]:
    """Remove containers labelled ``amqp-interop=1`` whose owner process is gone.

    ``all_owners`` removes those of live harness processes too (a manual clean-up).
    Returns the names removed; an unreachable engine removes nothing.
    """
    if engine_problem():
        return []
    import docker

    removed = []
    client = docker.from_env()
    try:
        for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
            owner = c.labels.get(LABEL_OWNER, "")
            if not all_owners and owner.isdigit() and _pid_alive(int(owner)):
                continue
            try:
                c.remove(force=True, v=True)
                removed.append(c.name)
            except docker.errors.NotFound:
                pass
    finally:
        client.close()
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
