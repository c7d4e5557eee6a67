#!/usr/bin/env bash
# Memory checks beyond the test suite: every unit test under valgrind's
# memcheck (default build), then the whole suite in the ASan+UBSan preset.
# Run scripts/test.sh first (it installs what is needed and builds).
set -euo pipefail
cd "$(dirname "$0")/.."

# test_app_recovery is left out of the valgrind sweep: what it tests is the
# daemon it starts as a separate program (valgrind does not follow it), and
# under valgrind its in-process broker is too slow for the daemon to join in
# time. It runs in the ASan+UBSan suite below, daemon included.
# --child-silent-after-fork: the checkpoint writer is a forked child that
# _exit()s; its copy of other threads' pointers reads as leaks.
failed=0
for t in build/tests/test_*; do
  [ -x "$t" ] || continue
  case "$(basename "$t")" in test_app_recovery) continue ;; esac
  if ! valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
       --child-silent-after-fork=yes \
       "$t" >/dev/null 2>build/$(basename "$t").memcheck.log; then
    echo "memcheck: $(basename "$t") FAILED (see build/$(basename "$t").memcheck.log)" >&2
    failed=1
  else
    echo "memcheck: $(basename "$t") clean"
  fi
done
[ $failed -eq 0 ] || exit 1

cmake --preset asan >/dev/null
cmake --build --preset asan -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --preset asan -j"$(nproc)"
