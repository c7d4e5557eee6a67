#!/usr/bin/env bash
# Installs the Debian packages streamrec needs to build, test and run.
# Idempotent: does nothing when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  librdkafka-dev libavro-dev libhiredis-dev libopenblas-dev libxxhash-dev libjansson-dev
  libmicrohttpd-dev
  libcurl4-openssl-dev
  libcmocka-dev valgrind jq
  clang libclang-rt-14-dev
  redis-server redis-tools kcat
  python3 python3-confluent-kafka python3-avro python3-redis python3-yaml
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "streamrec: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "streamrec: run as root or install sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
