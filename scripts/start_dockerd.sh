#!/usr/bin/env bash
# Start a Docker engine if none answers; idempotent.
#
# Why: the container broker provider and `interop images build` need an engine,
# and a fresh machine (a developer's, CI's) runs none. Used by .ci/run and by hand.
# Exit 0 when `docker info` answers (already, or within 30 s of starting dockerd),
# 1 with one line on stderr otherwise. dockerd's own output goes to /tmp/dockerd.log.
set -u

LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
WAIT_S=${DOCKERD_WAIT_S:-30}

engine_answers() {
    timeout 5 docker info >/dev/null 2>&1
}

if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
    echo "start_dockerd: docker/dockerd not installed (apt-get install docker.io)" >&2
    exit 1
fi

if engine_answers; then
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "start_dockerd: no engine answers and only root can start dockerd" >&2
    exit 1
fi

# A stale pid file from a killed engine stops a new one from starting.
for pidfile in /var/run/docker.pid /run/containerd/containerd.pid; do
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
        rm -f "$pidfile"
    fi
done

# Default options: with iptables on (the default), containers publish ports on 127.0.0.1
# (docker-proxy) on this machine's kind; --iptables=false was not needed.
# setsid: the engine is a machine service, it must not die with the calling shell
# or be caught by a test's process-group kill.
setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &

for _ in $(seq 1 "$WAIT_S"); do
    if engine_answers; then
        exit 0
    fi
    sleep 1
done

echo "start_dockerd: dockerd did not answer within ${WAIT_S} s; last lines of $LOG:" >&2
tail -n 5 "$LOG" >&2
exit 1
