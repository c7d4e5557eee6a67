#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset `fuzz`: clang, ASan + UBSan)
# and runs each for SECONDS_PER_TARGET seconds (default 60), one after the
# other, one process each. Fails if any target finds a crash, a leak, a
# sanitizer report or a timeout; the input that did it is written to
# $FUZZ_CRASH_DIR (default build-fuzz/crashes) as <target>-crash-<sha1>.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#   scripts/fuzz.sh --seeds     rewrite fuzz/corpus/fuzz_click_decode's
#                               encoder-made seed records
#
# The committed seeds in fuzz/corpus/<target> are read, never written: new
# inputs the fuzzer finds go to build-fuzz/corpus/<target>, which persists
# between runs on one machine. FUZZ_TARGETS="fuzz_csv ..." runs a subset.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(fuzz_click_decode fuzz_config fuzz_csv fuzz_engine)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)" --target "${all_targets[@]}" fuzz_make_seeds >/dev/null

if [ "${1:-}" = "--seeds" ]; then
  build-fuzz/fuzz/fuzz_make_seeds fuzz/corpus/fuzz_click_decode
  exit 0
fi
seconds=${1:-60}
case $seconds in ''|*[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] | --seeds" >&2; exit 2 ;; esac

crash_dir=${FUZZ_CRASH_DIR:-build-fuzz/crashes}
mkdir -p "$crash_dir"
declare -A dict=([fuzz_click_decode]=fuzz/click.dict [fuzz_config]=fuzz/config.dict
                 [fuzz_csv]=fuzz/csv.dict [fuzz_engine]=fuzz/engine.dict)
failed=()
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t
  log=build-fuzz/$t.log
  mkdir -p "$work"
  # Kill a single hanging input after 10 s; the CSV target writes files, so
  # its scratch directory goes to the build tree, not a shared /tmp.
  rc=0
  started=$SECONDS
  TMPDIR=$PWD/build-fuzz build-fuzz/fuzz/"$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -dict="${dict[$t]}" \
    -artifact_prefix="$crash_dir/$t-" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  echo "$t: ${execs:-?} executions in $((SECONDS - started)) s (exit $rc, corpus $(ls "$work" | wc -l) inputs)"
  if [ "$rc" -ne 0 ]; then
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' "$log" \
      | head -n 20 >&2 || true
    echo "$t: FAILED; full log in $log, inputs in $crash_dir" >&2
    failed+=("$t")
  fi
done
rm -rf build-fuzz/sr-fuzz-csv-*
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failures in ${failed[*]}" >&2; exit 1; }
