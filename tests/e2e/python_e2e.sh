#!/usr/bin/env bash
# End-to-end test with clients streamrec did not write: python's
# confluent-kafka and avro (Debian's, under /usr/bin/python3 -- the python
# first in PATH may be another one without them), redis-server and redis-cli.
# A missing prerequisite fails the test with what to install; it never skips.
#
# usage: python_e2e.sh STREAMREC_BINARY SCHEMA_DIR
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 STREAMREC_BINARY SCHEMA_DIR" >&2
  exit 2
fi
python=/usr/bin/python3
here="$(cd "$(dirname "$0")" && pwd)"

missing=()
[ -x "$python" ] || missing+=("python3 ($python)")
if [ -x "$python" ]; then
  "$python" -c 'import confluent_kafka' 2>/dev/null || missing+=("python3-confluent-kafka")
  "$python" -c 'import avro.schema, avro.io' 2>/dev/null || missing+=("python3-avro")
fi
command -v redis-server >/dev/null || missing+=("redis-server")
command -v redis-cli >/dev/null || missing+=("redis-tools (redis-cli)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e: FAIL: missing ${missing[*]}; scripts/install-deps.sh installs them" >&2
  exit 1
fi
[ -x "$1" ] || { echo "e2e: FAIL: $1 is not an executable streamrec binary" >&2; exit 1; }

exec "$python" "$here/python_e2e.py" --streamrec "$1" --schemas "$2"
