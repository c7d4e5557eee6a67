#!/usr/bin/env bash
# Installs what is missing, builds, and runs the embedded default: the
# daemon on librdkafka's in-process mock cluster (reachable over TCP) and a
# local redis-server, fed by the synthetic generator, with a live status
# line and a summary at the end. Extra arguments go to `streamrec demo`
# (e.g. --duration 0 to run until Ctrl-C, --rate 50000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j"$(nproc)" --target streamrec
exec build/streamrec demo --duration 30 "$@"
