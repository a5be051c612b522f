#!/usr/bin/env bash
# Make sure a Docker engine is answering `docker info`.
#   - installs docker.io from Debian if the docker client is missing
#   - starts dockerd in the background (as root) if the engine does not answer
#   - waits (bounded) until `docker info` succeeds
# Usage: tests/docker/ensure-dockerd.sh   (env: DOCKERD_WAIT_SECONDS, default 60)
set -euo pipefail

log() { printf '[ensure-dockerd] %s\n' "$*" >&2; }

wait_secs="${DOCKERD_WAIT_SECONDS:-60}"

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "$@" >&2; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update >&2
        apt-get install -y --no-install-recommends "$@" >&2
    fi
}

if ! command -v docker >/dev/null 2>&1; then
    log "docker client not found; installing docker.io"
    apt_install docker.io
fi

if docker info >/dev/null 2>&1; then
    log "docker engine is answering"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd not found; installing docker.io"
    apt_install docker.io
fi

if [ "$(id -u)" -ne 0 ]; then
    log "docker info fails and we are not root: cannot start dockerd"
    exit 1
fi

if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but not answering yet; waiting"
else
    log "starting dockerd in the background (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
fi

deadline=$((SECONDS + wait_secs))
until docker info >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        log "docker engine did not answer within ${wait_secs}s; tail of /var/log/dockerd.log:"
        tail -n 20 /var/log/dockerd.log >&2 2>/dev/null || true
        exit 1
    fi
    sleep 1
done
log "docker engine is answering"
