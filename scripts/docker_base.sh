#!/usr/bin/env bash
# A Python base image made from Debian packages, for building the serving images where no image
# registry is reachable (python:*-slim and the AWS Lambda base cannot be pulled there).
#   bash scripts/docker_base.sh [TAG]      (default textrec-base:bookworm; skipped if TAG exists)
# Debian bookworm minbase + python3, python3-venv, pip (Python 3.11); a venv at /opt/venv first on
# PATH, so `pip install` works as in python:*-slim. The host's resolv.conf/hosts, apt lists and
# pip config are not in the image. Needs root, debootstrap and a running dockerd.
set -euo pipefail
TAG=${1:-textrec-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG exists" >&2
  exit 0
fi
ROOTFS=$(mktemp -d /var/tmp/textrec-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip \
  bookworm "$ROOTFS" "$MIRROR" >&2
chroot "$ROOTFS" python3 -m venv /opt/venv
chroot "$ROOTFS" apt-get clean
# nothing of the host's network or package setup goes into the image
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/etc/pip.conf \
  "$ROOTFS"/etc/xdg/pip "$ROOTFS"/root/.config/pip "$ROOTFS"/root/.cache
: >"$ROOTFS/etc/resolv.conf"
: >"$ROOTFS/etc/hosts"
tar -C "$ROOTFS" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
  --change 'CMD ["python3"]' \
  - "$TAG" >&2
echo "$TAG built" >&2
