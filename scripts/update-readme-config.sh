#!/usr/bin/env bash
# Regenerates the README's configuration reference from `streamrec --help-config`
# (everything after the "<!-- config-reference -->" marker).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/streamrec}
marker='<!-- config-reference -->'
grep -q "^$marker\$" README.md || { echo "README.md has no $marker line" >&2; exit 1; }
{ sed "/^$marker\$/q" README.md; echo; "$bin" --help-config; } > README.md.new
mv README.md.new README.md
