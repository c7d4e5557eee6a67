#!/usr/bin/env bash
# Installs what is missing, builds, and runs the first thing a newcomer
# should see: a synthetic clickstream through the engine, evaluated
# prequentially against popularity and item-kNN baselines.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j"$(nproc)" --target streamrec
mkdir -p build/demo
build/streamrec gen --csv build/demo/synthetic.csv --users 3000 --items 2000 --days 120 --seed 7
build/streamrec eval --input build/demo/synthetic.csv --format streamrec-csv "$@"
