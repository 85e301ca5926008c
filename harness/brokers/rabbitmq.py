"""Provider ``rabbitmq``: Debian's rabbitmq-server with the AMQP 1.0 plugin, as a local process.

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
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid

from harness.brokers.base import Broker, BrokerError, Provider, track, untrack
from harness.brokers.probe import declare_queue_by_attach, wait_ready
from harness.capabilities import RESTART

__all__ = ["RabbitMQBroker", "RabbitMQProvider"]

#: a restart waits until the newest declared queue is this old (see restart())
MIN_QUEUE_AGE_S = 2.0

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
PLUGIN_GLOB = "/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_amqp1_0-*"
RUN_AS = "rabbitmq"
STOP_GRACE_S = 20.0
_MARKER = "AMQP_INTEROP_BROKER"

_counter = itertools.count(1)


def _traversable_by_others(path: str) -> bool:
    """True when every ancestor of ``path`` lets another user through (o+x)."""
    path = os.path.abspath(path)
    while True:
        try:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        except FileNotFoundError:
            pass
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _marked_pids(token: str) -> list[int]:
    """Processes whose environment carries this node's marker (any user; needs root for others')."""
    needle = f"{_MARKER}={token}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


class RabbitMQProvider(Provider):
    name = "rabbitmq"
    description = "Debian rabbitmq-server 3.x + rabbitmq_amqp1_0 as a local process (isolated node)"

    def unavailable(self) -> str | None:
        if not os.path.exists(SERVER):
            return f"rabbitmq-server is not installed ({SERVER} missing; apt-get install rabbitmq-server)"
        if not glob.glob(PLUGIN_GLOB):
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

    Capabilities: ``RESTART`` only. RabbitMQ 3.10 offers no ANONYMOUS-RELAY and
    never answers a dynamic receiver's attach, so neither is claimed.
    """

    capabilities = frozenset({RESTART})

    def __init__(self, workdir: str, name: str = "rabbitmq") -> None:
        super().__init__()
        self.name = name
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
        if _traversable_by_others(self.workdir):
            self.dir = os.path.join(self.workdir, f"rabbitmq-{self.n}")
            os.makedirs(self.dir)
        else:
            # user rabbitmq cannot reach a 0700 tree such as pytest's tmp_path
            self.dir = tempfile.mkdtemp(prefix=f"amqp-interop-rabbitmq-{self.n}-")
            os.chmod(self.dir, 0o755)
            link = os.path.join(self.workdir, f"rabbitmq-{self.n}")
            if not os.path.lexists(link):
                os.symlink(self.dir, link)
        self.port, self.dist_port, self.epmd_port = _free_ports(3)
        for sub in ("mnesia", "log"):
            os.makedirs(os.path.join(self.dir, sub))
        self._write("enabled_plugins", "[rabbitmq_amqp1_0].\n")
        self._write(
            "rabbitmq.conf",
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = false\n"
            "amqp1_0.default_user = guest\n"
            "amqp1_0.default_vhost = /\n",
        )
        self._write("advanced.config", "[].\n")
        self._write("rabbitmq-env.conf", "")  # keeps /etc/rabbitmq/rabbitmq-env.conf out
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
        d = self.dir
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RABBITMQ_", "ERL_", "ERLANG_")) and k != "NOTIFY_SOCKET"
        }
        env.update(
            {
                # the Erlang cookie goes to $HOME: the node's own directory
                "HOME": d,
                "LANG": env.get("LANG", "C.UTF-8"),
                "RABBITMQ_NODENAME": self.nodename,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                # an epmd of our own on loopback: a shared one on 4369 would mix nodes
                # of different tests and outlive them
                "ERL_EPMD_PORT": str(self.epmd_port),
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
                _MARKER: self.token,
            }
        )
        return env

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
        last = _last_line(self.logs())
        return f"rabbitmq node {self.nodename} exited with status {rc} during start-up: {last}"

    def _launch(self, timeout: float) -> None:
        assert self.dir is not None
        started = time.monotonic()
        out = open(os.path.join(self.dir, "log", "stdout.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                self._argv(),
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

    def _kill_strays(self) -> None:
        """Whatever still carries the marker (epmd left its group): TERM, then KILL."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = _marked_pids(self.token)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and _marked_pids(self.token):
                time.sleep(0.05)

    def _stop_locked(self, remove: bool) -> None:
        try:
            self._terminate_node()
        finally:
            self._kill_strays()
            untrack(self)
            if remove and self.dir is not None:
                link = os.path.join(self.workdir, f"rabbitmq-{self.n}")
                if os.path.islink(link):
                    os.unlink(link)
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

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
        return _marked_pids(self.token)

    # -- addresses ----------------------------------------------------------

    def _declare(self, queue: str) -> None:
        declare_queue_by_attach(
            self.host, self.port, f"/queue/{queue}", 10.0, self.user, self.password
        )

    def address(self, queue: str) -> str:
        """``/amq/queue/NAME``, after declaring NAME as a durable queue (when the node runs).

        Verified on 3.10.8 with proton Python:

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
        return f"/amq/queue/{queue}"

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
        return d


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (held open together so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("==>")]
    return lines[-1][:200] if lines else "no output"
