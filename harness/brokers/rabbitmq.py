"""Provider ``rabbitmq``: Debian's rabbitmq-server as a local process, 3.x or 4.x.

The installed version decides the node's config (``rabbitmq_config.py``: the
``rabbitmq_amqp1_0`` plugin and its keys for 3.x, nothing for 4.x, where AMQP
1.0 is built in), its address convention (``/amq/queue/NAME`` on 3.x,
``/queues/NAME`` on 4.x) and its capabilities.

Each broker is an isolated node: its own node name, AMQP port, distribution
port and epmd port, and its own directories (data, logs, config, Erlang cookie)
so it neither sees nor disturbs a system RabbitMQ or another test's node. The
node runs as user ``rabbitmq`` (the Debian package's files belong to it), so
its directories belong to that user too.

Every process of a node carries a marker in its environment; ``stop()`` uses it
to find what the node left behind (epmd daemonises out of the process group).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

from harness import orphan_guard
from harness.brokers import conventions, rabbitmq_config, startup_log
from harness.brokers.base import Broker, BrokerError, Provider, track, untrack
from harness.brokers.local_node import kill_marked, marked_pids, traversable_by_others
from harness.brokers.probe import wait_ready
from harness.brokers.rabbitmq_config import SERVER

__all__ = ["RabbitMQBroker", "RabbitMQProvider"]

#: a restart waits until the newest declared queue is this old (see restart())
MIN_QUEUE_AGE_S = 2.0

RUN_AS = "rabbitmq"
STOP_GRACE_S = 20.0

_counter = itertools.count(1)


class RabbitMQProvider(Provider):
    name = "rabbitmq"
    description = "Debian rabbitmq-server (3.x with rabbitmq_amqp1_0, or 4.x) as a local process (isolated node)"

    def unavailable(self) -> str | None:
        if not os.path.exists(SERVER):
            return f"rabbitmq-server is not installed ({SERVER} missing; apt-get install rabbitmq-server)"
        version = rabbitmq_config.installed_version()
        if version is None:
            return f"rabbitmq-server's version is unknown (no {rabbitmq_config.LIB_GLOB})"
        if rabbitmq_config.major(version) < 4 and not rabbitmq_config.plugin_dirs(version):
            return "the rabbitmq_amqp1_0 plugin is not installed with rabbitmq-server"
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"no user {RUN_AS!r} to run the node as (the Debian package creates it)"
        if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != RUN_AS:
            return f"the node runs as user {RUN_AS}: run as root or as {RUN_AS}"
        if os.geteuid() == 0 and shutil.which("setpriv") is None:
            return "setpriv (util-linux) is needed to run the node as user rabbitmq"
        return None

    def create(self, spec: str, workdir: str) -> Broker:
        if spec != self.name:
            raise BrokerError(f"provider rabbitmq takes no options (got {spec!r})")
        return RabbitMQBroker(workdir)


class RabbitMQBroker(Broker):
    """One isolated RabbitMQ node on 127.0.0.1.

    Capabilities (``rabbitmq_config.capabilities``): ``RESTART``, and from 4.0
    ANONYMOUS-RELAY. No version answers a plain dynamic source; from 4.2 one with
    ``rabbitmq:volatile-queue`` is, and the fingerprint adds ``dynamic`` with that
    capability. ``version`` defaults to the installed one.
    """

    def __init__(self, workdir: str, name: str = "rabbitmq", version: str | None = None) -> None:
        super().__init__()
        self.name = name
        #: the version the config is written for ("" when rabbitmq-server is missing: 3.x's)
        self.version = version or rabbitmq_config.installed_version() or ""
        self._config_version = self.version or "3"
        self.capabilities = rabbitmq_config.capabilities(self._config_version)
        self.convention = conventions.get(rabbitmq_config.convention(self._config_version))
        self.user = "guest"
        self.password = "guest"
        self.workdir = os.path.abspath(workdir)
        self.n = next(_counter)
        self.nodename = f"interop-{os.getpid()}-{self.n}@localhost"
        self.token = uuid.uuid4().hex
        self.dir: str | None = None
        self.dist_port = 0
        self.epmd_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None
        self._declared: set[str] = set()
        self._last_declare = 0.0
        self._lock = threading.Lock()

    # -- layout -------------------------------------------------------------

    def _prepare(self) -> None:
        """Directories, ports and config for a first start (a restart reuses them)."""
        os.makedirs(self.workdir, exist_ok=True)
        if traversable_by_others(self.workdir):
            self.dir = os.path.join(self.workdir, f"rabbitmq-{self.n}")
            os.makedirs(self.dir)
        else:
            # user rabbitmq cannot reach a 0700 tree such as pytest's tmp_path
            self.dir = tempfile.mkdtemp(prefix=f"amqp-interop-rabbitmq-{self.n}-")
            os.chmod(self.dir, 0o755)
            link = os.path.join(self.workdir, f"rabbitmq-{self.n}")
            if not os.path.lexists(link):
                os.symlink(self.dir, link)
        self.port, self.dist_port, self.epmd_port = self.lease_ports(3)
        for sub in ("mnesia", "log"):
            os.makedirs(os.path.join(self.dir, sub))
        config = rabbitmq_config.config_files(self._config_version, f"127.0.0.1:{self.port}")
        for file_name, text in config.items():
            self._write(file_name, text)
        if os.geteuid() == 0:
            ent = pwd.getpwnam(RUN_AS)
            for root, dirs, files in os.walk(self.dir):
                for p in [root] + [os.path.join(root, x) for x in dirs + files]:
                    os.chown(p, ent.pw_uid, ent.pw_gid)

    def _write(self, name: str, text: str) -> None:
        assert self.dir is not None
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def _env(self) -> dict[str, str]:
        assert self.dir is not None
        ports = (self.port, self.dist_port, self.epmd_port)
        return rabbitmq_config.node_env(
            dict(os.environ), self.dir, self.nodename, ports, self.token
        )

    def _argv(self) -> list[str]:
        if os.geteuid() != 0:
            return [SERVER]
        return ["setpriv", f"--reuid={RUN_AS}", f"--regid={RUN_AS}", "--init-groups", SERVER]

    # -- lifecycle ----------------------------------------------------------

    def _alive(self) -> str | None:
        if self.proc is None:
            return "rabbitmq node was stopped"
        rc = self.proc.poll()
        if rc is None:
            return None
        why = startup_log.describe(f"rabbitmq-{self.version or 'node'}", self.logs())
        return f"rabbitmq node {self.nodename} exited with status {rc} during start-up: {why}"

    def exited(self) -> str | None:
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"node {self.nodename} exited with status {self.proc.returncode}"

    def _launch(self, timeout: float) -> None:
        assert self.dir is not None
        started = time.monotonic()
        out = open(os.path.join(self.dir, "log", "stdout.log"), "ab")
        try:
            # the guard stops the node and removes its folder if this process is killed
            self.proc = subprocess.Popen(
                orphan_guard.guarded(self._argv(), cleanup=[self.dir]),
                env=self._env(),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            out.close()
        track(self)
        self.identity = wait_ready(
            self.host, self.port, timeout, self.user, self.password, alive=self._alive
        )
        self.adopt_fingerprint()  # RabbitMQ 4.2+: the capability its dynamic sources need
        self.start_seconds = time.monotonic() - started

    def start(self, timeout: float = 60.0) -> None:
        """Start the node and wait for an AMQP open; about 4 s here (see the report in the tests)."""
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                return
            if self.dir is None:
                self._prepare()
            try:
                self._launch(timeout)
            except BrokerError as e:
                logs = self.logs()
                self._stop_locked(remove=True)
                raise BrokerError(str(e), logs=logs) from None
            for queue in sorted(self._declared):
                self._declare(queue)

    def _terminate_node(self) -> None:
        """SIGTERM to the node's process group (a clean shutdown), SIGKILL after a grace period."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        self.proc = None

    def _stop_locked(self, remove: bool) -> None:
        try:
            self._terminate_node()
        finally:
            kill_marked(self.token)
            untrack(self)
            if remove and self.dir is not None:
                link = os.path.join(self.workdir, f"rabbitmq-{self.n}")
                if os.path.islink(link):
                    os.unlink(link)
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
            if remove:
                self.release_ports()

    def stop(self) -> None:
        """Stop the node, its epmd and helpers, and remove its directories. Idempotent."""
        with self._lock:
            self._stop_locked(remove=True)

    def restart(self, timeout: float = 60.0) -> None:
        """Kill the node (a crash) and start it on the same ports and data: durable queues and
        persistent messages the broker confirmed survive."""
        with self._lock:
            if self.dir is None:
                raise BrokerError(f"rabbitmq node {self.nodename} was never started")
            # a crash, not a shutdown: a graceful stop ends sessions with an error
            # (amqp:internal-error "shutdown") that clients treat as fatal; a killed
            # node just drops the sockets, which is what reconnect logic is for
            if self.proc is not None and self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
            self._terminate_node()
            try:
                self._launch(timeout)
            except BrokerError as e:
                logs = self.logs()
                self._stop_locked(remove=False)
                raise BrokerError(f"restart: {e}", logs=logs) from None

    def settle_queues(self) -> None:
        """Wait until the newest declared queue would survive a crash.

        Seen here: killing the node within a fraction of a second of a queue's
        declaration can lose the queue, and with it messages the node had
        already confirmed. A restart fault is about the broker's recovery, not
        that window, so the runner calls this before a cell that will crash it.
        """
        young = MIN_QUEUE_AGE_S - (time.monotonic() - self._last_declare)
        if young > 0:
            time.sleep(young)

    def pids(self) -> list[int]:
        """Live processes of this node (beam, epmd, helpers): empty after ``stop()``."""
        return marked_pids(self.token)

    # -- addresses ----------------------------------------------------------

    def _declare(self, queue: str) -> None:
        self.convention.declare_queue(self.host, self.port, queue, self.user, self.password)

    def address(self, queue: str) -> str:
        """The version's address for ``queue``, after declaring it durable (when the node runs).

        4.x: ``/queues/NAME``, declared through the ``/management`` node (a v2
        address never creates a queue). 3.x: ``/amq/queue/NAME``, verified on
        3.10.8 with proton Python:

        * ``/queue/NAME`` declares the queue on attach, for senders and receivers
          alike (send-then-receive and receive-first both work), but with the
          durability of the attaching terminus. Peers attach non-durable, so the
          queue would die with a restart; and once a durable queue exists, a
          non-durable attach to ``/queue/NAME`` is never answered.
        * ``/amq/queue/NAME`` never declares: an attach to a missing queue is
          never answered; to an existing one it works both ways.

        So the harness declares the queue durable itself (a sender attach to
        ``/queue/NAME`` with a durable terminus) and hands peers
        ``/amq/queue/NAME``. Messages survive a restart when they are sent
        durable (the AMQP header's ``durable``); transient ones do not.
        """
        if not re.fullmatch(r"[A-Za-z0-9._~-]+", queue):
            raise BrokerError(f"queue name {queue!r} not usable with rabbitmq: use [A-Za-z0-9._~-]")
        with self._lock:
            running = self.proc is not None and self.proc.poll() is None
            if running and queue not in self._declared:
                self._declare(queue)
                self._last_declare = time.monotonic()
            self._declared.add(queue)
        return self.convention.address_for(queue)

    # -- artifacts ----------------------------------------------------------

    def logs(self) -> str:
        """The tail of the node's log files and its stdout."""
        if self.dir is None:
            return ""
        parts = []
        for path in sorted(glob.glob(os.path.join(self.dir, "log", "*.log"))):
            if path.endswith("_upgrade.log"):
                continue
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()[-80:]
            except OSError:
                continue
            if lines:
                parts.append(f"==> {os.path.basename(path)} <==\n" + "".join(lines))
        return "\n".join(parts)

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d["node"] = self.nodename
        d["convention"] = self.convention.name
        return d
