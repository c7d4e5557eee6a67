#!/usr/bin/env bash
# bench/run.sh: builds the release preset if needed, runs the benchmarks and
# prints ONE markdown table (stdout). Progress goes to stderr; raw outputs
# (one JSON object per line) go to bench/results/<UTC time>/.
#
#   bench/run.sh                  machine + engine + memory + e2e rows
#   bench/run.sh engine memory    only these row groups (machine always first)
#   bench/run.sh --callgrind      instruction profile of a small run (no table)
#
#   bench/run.sh plateau          RSS over a stream of ever-new users and items, ttls on/off
#
# Environment: REPEAT (throughput passes per k, default 3), KS (default
# "32 64"), ENGINE_ARGS / MEMORY_ARGS (extra bench_engine flags, e.g.
# ENGINE_ARGS="--users 30000 --items 3000" for a quick smoke run),
# CHECKPOINT_ARGS (bench_checkpoint flags, default --users 1530000),
# CATCHUP_REPEAT / CATCHUP_EVENTS (catch-up run pairs, default 5, and
# backlog size, default 2,000,000), E2E_REPEAT (runs per end-to-end row,
# default 3), E2E_SECONDS (measured window, default 60), E2E_WARMUP (seconds
# before it, default 30: under sustained load the batches and the lag take
# tens of seconds to settle), E2E_ARGS (extra
# bench_e2e flags, e.g. -X batch.max.ms=50), PLATEAU_ARGS (bench_plateau
# flags, default --events 4000000 --dt-ms 20000).
#
# Extending: write a function rows_<group> that runs its benchmark, keeps
# the raw output under "$RESULTS" and calls `row GROUP METRIC VALUE TARGET
# NOTES` once per row; add <group> to DEFAULT_GROUPS. See rows_engine.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build-release"
RESULTS="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
REPEAT=${REPEAT:-3}
KS=${KS:-"32 64"}
DEFAULT_GROUPS="engine memory plateau checkpoint catchup e2e"
CATCHUP_REPEAT=${CATCHUP_REPEAT:-5}
CATCHUP_EVENTS=${CATCHUP_EVENTS:-2000000}
E2E_REPEAT=${E2E_REPEAT:-3}
E2E_SECONDS=${E2E_SECONDS:-60}
E2E_WARMUP=${E2E_WARMUP:-30}
TABLE=()

log() { echo "run.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# row GROUP METRIC VALUE TARGET NOTES
row() { TABLE+=("| $1 | $2 | $3 | $4 | $5 |"); }

# 1234567.8 -> 1,234,568
int() { printf '%.0f' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
# whole numbers, for ns and bytes
num() { printf '%.0f' "$1"; }

# jq FILE FILTER: a value from the line of a JSONL file that FILTER selects.
jqv() { jq -r "$2" "$1" | head -n 1; }
# field FILE RESULT NAME: field NAME of the line whose "result" is RESULT.
field() { jqv "$1" "select(.result==\"$2\") | .$3"; }

# Builds TARGET in the release preset, configuring it first if needed.
build_release() {
    local target=$1
    if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
        log "configuring the release preset"
        (cd "$ROOT" && cmake --preset release >&2)
    fi
    (cd "$ROOT" && cmake --build --preset release -j2 --target "$target" >&2) ||
        die "cannot build $target"
}

rows_machine() {
    local cpu cores ram kernel cc commit dirty=""
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    cores=$(nproc)
    ram=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    kernel=$(uname -r)
    cc=$(gcc --version | head -n 1)
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(git -C "$ROOT" status --porcelain -- src/core src/model src/codec include bench/*.c 2>/dev/null) ]]; then
        dirty=" + uncommitted changes in src/core, src/model, src/codec, include or bench"
    fi
    { echo "cpu: $cpu"; echo "cores: $cores"; echo "ram: $ram"; echo "kernel: $kernel"
      echo "cc: $cc"; echo "commit: $commit$dirty"; } >"$RESULTS/machine.txt"
    row machine CPU "$cpu" "" "$cores cores (nproc), shared machine: quote medians"
    row machine RAM "$ram" "" ""
    row machine kernel "$kernel" "" ""
    row machine compiler "$cc" "" "release preset: -O3 -march=native"
    row machine commit "$commit" "" "${dirty# + }"
}

rows_engine() {
    build_release bench_engine
    local k out
    for k in $KS; do
        out="$RESULTS/engine-k$k.jsonl"
        log "engine throughput, k=$k, $REPEAT passes + stage pass (about $((REPEAT * 70 + 80)) s)"
        # shellcheck disable=SC2086 # ENGINE_ARGS is a list of flags
        "$BUILD/bench/bench_engine" --json --k "$k" --repeat "$REPEAT" ${ENGINE_ARGS:-} >"$out"
    done
    local first="$RESULTS/engine-k${KS%% *}.jsonl"
    w() { field "$first" workload "$1"; }
    row engine workload "$(int "$(w events)") events" "" \
        "synth $(int "$(w users)") users x $(int "$(w items)") items, $(w days) days, $(w sessions_per_day) sessions/user/day, seed $(w seed): $(int "$(w users_seen)") users and $(int "$(w items_seen)") items seen; decode + apply + flush every $(int "$(jqv "$first" 'select(.result=="throughput") | .batch')") events, no I/O"
    for k in $KS; do
        out="$RESULTS/engine-k$k.jsonl"
        row engine "events/s, k=$k" \
            "$(int "$(jqv "$out" 'select(.result=="throughput") | .events_per_s_median')")" \
            "≥ 1,000,000" \
            "$(jqv "$out" 'select(.result=="throughput") |
                "wall clock, median of \(.repeat) (min \(.events_per_s_min), max \(.events_per_s_max)); \(.events_per_cpu_s_median) per CPU-second, cpu/wall \(.cpu_per_wall); OpenBLAS threads \(.openblas_threads)"' | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')"
    done
    local stage v note joined
    local -a values
    for stage in decode profile mf similarity recommend churn sum; do
        values=()
        for k in $KS; do
            if [[ $stage == sum ]]; then
                v=$(jqv "$RESULTS/engine-k$k.jsonl" 'select(.result=="stages") | .sum_ns_per_event')
            else
                v=$(jqv "$RESULTS/engine-k$k.jsonl" "select(.result==\"stages\") | .ns_per_event.$stage")
            fi
            values+=("$(num "$v")")
        done
        case $stage in
        decode) note="decode-only pass (no engine)" ;;
        recommend) note="sr_engine_flush: dirty users' top-K + the changed neighbour lists the throttle lets through" ;;
        sum) note="decode + the five engine stages" ;;
        *) note="a pass with sr_engine_set_stage_timing on" ;;
        esac
        joined="${values[*]}"
        row engine "ns/event $stage (k=${KS// /, k=})" "${joined// / / }" "" "$note"
    done
    values=()
    for k in $KS; do
        values+=("$(num "$(jqv "$RESULTS/engine-k$k.jsonl" 'select(.result=="throughput") | .ns_per_event_median')")")
    done
    joined="${values[*]}"
    row engine "ns/event untimed (k=${KS// /, k=})" "${joined// / / }" "≤ 1,000" \
        "1e9 / median events/s; the stage clock reads make the sum above differ"
}

rows_memory() {
    build_release bench_engine
    local k out
    for k in $KS; do
        out="$RESULTS/memory-k$k.jsonl"
        log "memory, k=$k (about 60 s)"
        # shellcheck disable=SC2086 # MEMORY_ARGS is a list of flags
        "$BUILD/bench/bench_engine" --json --memory --k "$k" ${MEMORY_ARGS:-} >"$out"
        local target_user="" target_item=""
        [[ $k == 32 ]] && target_user="≤ 400" && target_item="≤ 2,048"
        row memory "bytes/user, k=$k" \
            "$(num "$(jqv "$out" 'select(.result=="memory_user") | .bytes_per_user')")" "$target_user" \
            "$(jqv "$out" 'select(.result=="memory_user") |
                "RSS delta / \(.users) users created (synth, \(.items) items; nothing subtracted)"')"
        row memory "bytes/item, k=$k" \
            "$(num "$(jqv "$out" 'select(.result=="memory_item") | .bytes_per_item')")" "$target_item" \
            "$(jqv "$out" 'select(.result=="memory_item") |
                "(RSS delta - \(.users) users x bytes/user above) / \(.items) items created"')"
    done
}

# Bounded memory: RSS over 4 M events of ever-new users (4 events each, 20 s
# apart: 926 days of event time) with the default ttls (users 30 d, items
# 365 d) and with both off; then the same with a new item every 100 events.
rows_plateau() {
    build_release bench_plateau
    local out="$RESULTS/plateau.jsonl" items="$RESULTS/plateau-new-items.jsonl"
    log "memory plateau, ttls on and off (about 60 s)"
    # shellcheck disable=SC2086 # PLATEAU_ARGS is a list of flags
    "$BUILD/bench/bench_plateau" --json ${PLATEAU_ARGS:---events 4000000 --dt-ms 20000} >"$out" ||
        die "bench_plateau failed"
    log "memory plateau with a new item every 100 events (about 60 s)"
    # shellcheck disable=SC2086
    "$BUILD/bench/bench_plateau" --json --new-item-every 100 ${PLATEAU_ARGS:---events 4000000 --dt-ms 20000} \
        >"$items" || die "bench_plateau failed"
    local f ttl what
    for f in "$out" "$items"; do
        what="new users"
        [[ $f == "$items" ]] && what="new users + a new item / 100 events"
        for ttl in on off; do
            local sel="select(.ttl_days > 0)" target="≈ 0" label="ttls 30 d / 365 d"
            [[ $ttl == off ]] && sel="select(.ttl_days == 0)" target="" label="ttls off"
            row plateau "RSS growth 2nd half, $label, $what" \
                "$(jqv "$f" "$sel | \"\(.growth_mib_second_half) MiB\"")" "$target" \
                "$(jqv "$f" "$sel |
                    \"RSS \(.rss_mib_half) -> \(.rss_mib_end) MiB from event \(.events / 2) to \(.events) (\(.span_days) days); evicted \(.users_evicted) users, \(.items_evicted) items; slots \(.user_slots) users, \(.item_slots) items\"")"
        done
    done
}

# Checkpoints: size per user and item, write / fork / load times for ~1 M
# users (synth 1,530,000 x 100,000 over 4 days: ~1,004,000 users seen).
rows_checkpoint() {
    build_release bench_checkpoint
    local out="$RESULTS/checkpoint.jsonl"
    log "checkpoint of ~1 M users (about 90 s)"
    # shellcheck disable=SC2086 # CHECKPOINT_ARGS is a list of flags
    "$BUILD/bench/bench_checkpoint" --json ${CHECKPOINT_ARGS:---users 1530000} >"$out" ||
        die "bench_checkpoint failed"
    c() { field "$out" checkpoint "$1"; }
    local state="$(int "$(c users)") users x $(int "$(c items)") items, k=$(c k)"
    row checkpoint "bytes/user" "$(num "$(c bytes_per_user)")" "" \
        "state bytes added per new user (its $(c user_id_bytes)-byte id included)"
    row checkpoint "bytes/item" "$(num "$(c bytes_per_item)")" "" \
        "state bytes added per new item (its $(c item_id_bytes)-byte id included)"
    row checkpoint "file size" "$(int "$(c file_bytes)") B" "" "$state"
    row checkpoint "write s" "$(c write_s)" "" \
        "sr_checkpoint_save: temp file, write(2), fsync, rename, dir fsync; $state"
    row checkpoint "serialise s" "$(c serialise_s)" "" "encoding and digest only, no I/O"
    row checkpoint "fork pause ms" "$(c fork_pause_ms)" "" \
        "the parent's fork() call: what the engine would stall for; $(int "$(c rss_kib)") KiB resident"
    row checkpoint "forked write s" "$(c forked_write_s)" "" "fork to the writing child's exit"
    row checkpoint "load s" "$(c load_s)" "" \
        "sr_checkpoint_load: read, checksum, rebuild (digest equal: $(c loaded_digest_equal))"
}

# median FILE FILTER: the median of FILTER's values over the lines of FILE.
median() { jq -s "[.[] | $2] | sort | .[(length - 1) / 2 | floor]" "$1"; }

# The daemon end to end: bench_e2e at a fixed offered rate, E2E_REPEAT runs each.
rows_e2e() {
    build_release bench_e2e
    local name rate users target out r
    for name in freshness throughput; do
        if [[ $name == freshness ]]; then rate=100000 users=50000; else rate=300000 users=100000; fi
        out="$RESULTS/e2e-$name.jsonl"
        : >"$out"
        for ((r = 1; r <= E2E_REPEAT; r++)); do
            log "end to end, $rate events/s offered, $users users, run $r of $E2E_REPEAT (about $((E2E_WARMUP + E2E_SECONDS + 10)) s)"
            # shellcheck disable=SC2086 # E2E_ARGS is a list of flags
            "$BUILD/bench/bench_e2e" --rate "$rate" --users "$users" --warmup "$E2E_WARMUP" \
                --seconds "$E2E_SECONDS" ${E2E_ARGS:-} >>"$out" || die "bench_e2e failed (see above)"
        done
        local runs="median of $E2E_REPEAT runs of $E2E_SECONDS s after $E2E_WARMUP s warm-up; mock cluster, real redis-server, load generator in the same process"
        local applied produced lag0 lag1 p50 p99 p999
        applied=$(median "$out" .applied_per_s)
        produced=$(median "$out" .produced_per_s)
        lag0=$(median "$out" .lag_start)
        lag1=$(median "$out" .lag_end)
        p50=$(median "$out" .freshness_ms.p50)
        p99=$(median "$out" .freshness_ms.p99)
        p999=$(median "$out" .freshness_ms.p999)
        if [[ $name == freshness ]]; then
            row e2e "freshness p50 / p99 / p99.9 at $(int $rate) events/s, $(int $users) users" \
                "$p50 / $p99 / $p999 ms" "p99 ≤ 100, p99.9 ≤ 250 ms" \
                "produce time -> Redis acknowledged; applied $(int "$applied")/s, lag $(int "$lag0") -> $(int "$lag1") events; $runs"
        else
            row e2e "sustained events/s, $(int $rate) offered, $(int $users) users" "$(int "$applied")" \
                "≥ 300,000, p99 ≤ 1 s" \
                "produced $(int "$produced")/s; lag $(int "$lag0") -> $(int "$lag1") events over the window (growing = not keeping up); freshness p99 $p99 ms; $runs"
        fi
        row e2e "CPU cores used at $(int $rate) offered" \
            "$(jq -rs 'sort_by(.applied_per_s) | .[(length - 1) / 2 | floor] | .cpu |
                "engine \(.engine_thread), sink \(.sink_thread), Kafka clients \(.kafka_client_threads), mock broker \(.mock_broker), load generator \(.load_generator), redis-server \(.redis_server)"' "$out")" \
            "" "CPU seconds per second of each thread group (/proc), the median run by applied events/s; 2 cores in all"
        row e2e "where a batch's time goes at $(int $rate) offered" \
            "$(jq -rs 'sort_by(.applied_per_s) | .[(length - 1) / 2 | floor] | .batches |
                "\(.per_s) batches/s of \(.records) records: open \(.open_ms) ms, close \(.close_ms) ms, Redis write \(.redis_write_ms) ms, Kafka delivery \(.kafka_delivery_ms) ms"' "$out")" \
            "" "means over the window's batches, the median run: open = first record to closed, close = engine flush, outputs copied into the batch, churn alerts produced; Redis write = pipeline sent to last reply (the sink thread first encodes and produces the RecommendationUpdates), Kafka delivery = an output record's produce call to its acknowledgement"
    done
}

# Catch-up: a backlog worked off from the earliest offsets, CATCHUP_REPEAT
# pairs of runs, each pair once without and once with /metrics scraped every
# second; the overhead is the median of the pairs' ratios (one pair runs
# back to back, so they share the machine's load of the moment).
rows_catchup() {
    build_release bench_catchup
    local out="$RESULTS/catchup.jsonl" r s
    : >"$out"
    for ((r = 1; r <= CATCHUP_REPEAT; r++)); do
        for s in "" --scrape; do
            log "catch-up, ${CATCHUP_EVENTS} events backlog${s:+, /metrics scraped every second}, run $r of $CATCHUP_REPEAT"
            # shellcheck disable=SC2086 # s is one optional flag
            "$BUILD/bench/bench_catchup" --events "$CATCHUP_EVENTS" $s 2>/dev/null >>"$out" ||
                die "bench_catchup failed (run it by hand to see why)"
        done
    done
    local plain scraped ratio runs="median of $CATCHUP_REPEAT runs; 100,000 synthetic users, fresh state, mock cluster (32 partitions), real redis-server"
    plain=$(jq -s '[.[] | select(.scrape == false) | .applied_per_s] | sort | .[(length - 1) / 2 | floor]' "$out")
    scraped=$(jq -s '[.[] | select(.scrape == true) | .applied_per_s] | sort | .[(length - 1) / 2 | floor]' "$out")
    ratio=$(jq -s '[range(0; length; 2) as $i | .[$i + 1].applied_per_s / .[$i].applied_per_s] | sort |
        .[(length - 1) / 2 | floor] | . * 1000 | round / 1000' "$out")
    row catchup "backlog events/s" "$(int "$plain")" "" \
        "$(int "$CATCHUP_EVENTS") events produced before the pipeline starts, applied and acknowledged by Redis and Kafka; $runs"
    row catchup "backlog events/s, /metrics scraped every 1 s" "$(int "$scraped")" "" \
        "same backlog with the HTTP endpoint serving; scraped/plain ratio of back-to-back pairs, median: $ratio"
}

# Instruction counts of the engine loop only (callgrind collects inside
# engine_pass), on a build without -march=native: valgrind 3.19 cannot run
# AVX-512 code.
profile_callgrind() {
    local build="$ROOT/build-callgrind"
    cmake -S "$ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSR_NATIVE=OFF -DSR_BUILD_TESTS=OFF \
        -DCMAKE_C_FLAGS=-g >&2
    cmake --build "$build" -j2 --target bench_engine >&2
    log "callgrind: 200,000 events, k=32 (a few minutes)"
    valgrind --tool=callgrind --toggle-collect='engine_pass*' \
        --callgrind-out-file="$RESULTS/callgrind.out" \
        "$build/bench/bench_engine" --users 30000 --items 3000 --events-max 200000 --k 32 \
        --repeat 1 --no-stages >"$RESULTS/callgrind-run.txt" 2>"$RESULTS/callgrind-valgrind.txt"
    callgrind_annotate --inclusive=no "$RESULTS/callgrind.out" >"$RESULTS/callgrind-self.txt"
    callgrind_annotate --inclusive=yes "$RESULTS/callgrind.out" >"$RESULTS/callgrind-inclusive.txt"
    cat "$RESULTS/callgrind-run.txt"
    grep -m 1 'PROGRAM TOTALS' "$RESULTS/callgrind-self.txt"
    sed -n '/^Ir  *file:function/,$p' "$RESULTS/callgrind-self.txt" | head -n 17
    log "full listings: $RESULTS/callgrind-self.txt, callgrind-inclusive.txt"
}

main() {
    command -v jq >/dev/null || die "needs jq (apt-get install jq)"
    mkdir -p "$RESULTS"
    if [[ ${1:-} == --callgrind ]]; then
        profile_callgrind
        return
    fi
    local groups=${*:-$DEFAULT_GROUPS} group
    rows_machine
    for group in $groups; do
        declare -F "rows_$group" >/dev/null || die "unknown row group '$group'"
        "rows_$group"
    done
    {
        echo "| group | metric | value | target | notes |"
        echo "|---|---|---|---|---|"
        printf '%s\n' "${TABLE[@]}"
    } | tee "$RESULTS/table.md"
    log "raw outputs in $RESULTS"
}

main "$@"
