#!/usr/bin/env bash
# The status page in headless Chromium against a real daemon (see
# status_page.py). Skips (exit 77) only when Chromium is not installed --
# scripts/install-deps.sh installs it, so CI runs it; any other missing
# prerequisite fails.
#
# usage: status_page.sh STREAMREC_BINARY OUTPUT_DIR
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 STREAMREC_BINARY OUTPUT_DIR" >&2
  exit 2
fi
python=/usr/bin/python3

browser="$(command -v chromium || true)"
if [ -z "$browser" ]; then
  echo "status page test: SKIP: chromium is not installed (scripts/install-deps.sh installs it)"
  exit 77
fi
here="$(cd "$(dirname "$0")" && pwd)"
missing=()
[ -x "$python" ] || missing+=("python3 ($python)")
command -v redis-server >/dev/null || missing+=("redis-server")
command -v redis-cli >/dev/null || missing+=("redis-tools (redis-cli)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "status page test: FAIL: missing ${missing[*]}; scripts/install-deps.sh installs them" >&2
  exit 1
fi
[ -x "$1" ] || { echo "status page test: FAIL: $1 is not an executable" >&2; exit 1; }

exec "$python" "$here/status_page.py" --streamrec "$1" --chromium "$browser" --out "$2"
