#!/usr/bin/env bash
# Build the offline Docker base image used by the Docker-mode tests.
# No container registry is reachable, so the image is made with debootstrap
# (Debian bookworm, minbase + python3, python3-venv, python3-pip,
# ca-certificates) and `docker import`ed. The host's CA bundle is copied in so
# that pip inside `docker build` can reach PyPI through the host's proxy CA.
#
# Usage: tests/docker/build-base-image.sh [--force]
#   Reuses the image if it already exists unless --force is given.
#   Env: SMYTH_BASE_IMAGE (default smyth-test-base:bookworm),
#        DEBIAN_MIRROR (default: the host's apt mirror, else deb.debian.org).
# Note: Debian's system pip refuses installs (PEP 668, externally managed);
# images built FROM this one should `python3 -m venv /opt/venv` and use its pip.
set -euo pipefail

IMAGE="${SMYTH_BASE_IMAGE:-smyth-test-base:bookworm}"
SUITE=bookworm
HOST_CA=/etc/ssl/certs/ca-certificates.crt
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[build-base-image] %s\n' "$*" >&2; }

force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) log "unknown argument: $arg"; exit 2 ;;
    esac
done

"$HERE/ensure-dockerd.sh"

if [ "$force" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists; reusing it (use --force to rebuild)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "debootstrap needs root"
    exit 1
fi

start=$SECONDS

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y debootstrap >&2; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update >&2
        apt-get install -y debootstrap >&2
    fi
fi

# The Debian mirror the host's apt uses for the main suite.
host_mirror() {
    local f
    # One-line style: deb [opts] URI SUITE COMPONENTS...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v s="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i+1) == s) { print $i; exit }
            }' "$f"
    done
    # deb822 style: stanzas with URIs: / Suites:
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$SUITE" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
                    n = split(suites, a, " ")
                    for (k = 1; k <= n; k++) if (a[k] == s) { split(uris, u, " "); print u[1]; found = 1 }
                }
                types = ""; uris = ""; suites = ""; enabled = ""
            }
            /^#/ { next }
            /^[ \t]*$/ { flush(); if (found) exit; next }
            tolower($1) == "types:"   { $1 = ""; types = $0 }
            tolower($1) == "uris:"    { $1 = ""; uris = $0 }
            tolower($1) == "suites:"  { $1 = ""; suites = $0 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { if (!found) flush() }' "$f"
    done
}

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(host_mirror | head -n 1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
log "mirror: $mirror"

ROOT="$(mktemp -d /tmp/smyth-base-root.XXXXXX)"
cleanup() {
    # Never follow anything out of the root (e.g. leftover mounts).
    for m in proc sys dev/pts dev; do
        mountpoint -q "$ROOT/$m" 2>/dev/null && umount -l "$ROOT/$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT

log "debootstrap $SUITE into $ROOT (minbase + python3)"
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$ROOT" "$mirror" >&2

log "cleaning apt caches and docs inside the root"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb \
       "$ROOT"/var/cache/apt/archives/partial/* \
       "$ROOT"/var/cache/apt/*.bin \
       "$ROOT"/var/lib/apt/lists/* \
       "$ROOT"/var/log/apt/* \
       "$ROOT"/var/cache/debconf/*-old \
       "$ROOT"/usr/share/doc/* \
       "$ROOT"/usr/share/man/* \
       "$ROOT"/usr/share/info/*
mkdir -p "$ROOT/var/lib/apt/lists/partial"
# Make sure the image's apt points at the same mirror.
printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$ROOT/etc/apt/sources.list"

if [ -f "$HOST_CA" ]; then
    log "copying host CA bundle to $HOST_CA in the root"
    mkdir -p "$ROOT$(dirname "$HOST_CA")"
    rm -f "$ROOT$HOST_CA"
    cp "$HOST_CA" "$ROOT$HOST_CA"
else
    log "warning: host has no $HOST_CA; keeping the root's own bundle"
fi

log "importing root as $IMAGE"
tar -C "$ROOT" -c . | docker import \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >&2

log "built $IMAGE in $((SECONDS - start))s"
