#!/usr/bin/env bash
# Builds a small Debian bookworm image with Python 3.11 from Debian's packages and `docker import`s it as a local tag,
# for machines that cannot pull images from any registry. Skips all work when the tag already exists.
#
# Usage: tools/docker/base-image.sh [TAG]        (default tag: ml-platform/python-base:3.11-bookworm)
# Environment: DOCKER (client, default /usr/bin/docker), DEBIAN_MIRROR (default: the bookworm mirror apt uses here).
set -euo pipefail

TAG=${1:-ml-platform/python-base:3.11-bookworm}
DOCKER=${DOCKER:-/usr/bin/docker}
SUITE=bookworm
# What the Dockerfile needs from a base: python3.11, venv (with its bundled pip wheel) and CA certificates.
INCLUDE=python3,python3-venv,ca-certificates

log() { echo "base-image: $*" >&2; }

if "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
    log "$TAG exists, nothing to do"
    echo "$TAG"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    log "debootstrap needs root"
    exit 1
fi
command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }

# The same mirror this machine's apt is configured with (it may be the only one reachable).
mirror=${DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' "Codename: $SUITE" 2>/dev/null | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian/}

rootfs=$(mktemp -d /var/tmp/python-base-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

log "debootstrap $SUITE (minbase + $INCLUDE) from $mirror"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 30 "$rootfs.log" >&2
    rm -f "$rootfs.log"
    exit 1
}
rm -f "$rootfs.log"

# Keep it small: nothing at run time reads package caches, documentation or translations.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
    "$rootfs"/var/log/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/i18n/*
# Debian compiles the standard library's .pyc on install: kept, a read-only container cannot write them later.
rm -rf "$rootfs/usr/lib/python3.11/test"

log "docker import as $TAG"
tar -C "$rootfs" --numeric-owner -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "Debian $SUITE minbase with $INCLUDE (tools/docker/base-image.sh)" \
    - "$TAG" >/dev/null
"$DOCKER" image inspect --format '{{.Size}}' "$TAG" | awk -v tag="$TAG" '{ printf "base-image: %s is %.0f MB\n", tag, $1 / 1e6 }' >&2
echo "$TAG"
