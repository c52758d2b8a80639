# shellcheck shell=bash
# Section "s3" (on unless BENCH_S3=0): infini on a local S3 server (SeaweedFS on 127.0.0.1, sharing the cores)
# against infini on a local directory, with the server's own CPU time, so the throughput ratio is honest.
#
# Hook: if scripts/s3-server.sh exists it is run as `s3-server.sh start` and must print NAME=VALUE lines (an
# `export ` prefix is fine) for AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_REGION
# and BENCH_S3_BUCKET (default infini-bench; created if missing); `s3-server.sh stop` stops it, and its process id
# is in $S3_SERVER_DIR/pid (default bench-work/s3/pid). Without the script, an already running server named by
# AWS_ENDPOINT_URL (and credentials in the environment) is used, and its CPU time is not measured.

section s3 "S3 round trips" \
    "infini's put, commit and get of the stream on a local S3 server against the same on a local directory. The server runs on the same cores; its CPU time during the put is shown so the comparison is honest."

S3_SERVER=$ROOT/scripts/s3-server.sh

default_off_s3() { [[ ${BENCH_S3:-1} == 0 ]]; }

# CPU seconds (user + system) a process has used so far.
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}

s3_local() {
    local ws=$WORK/s3-local
    reset_dir "$ws"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    context infini-local "in an empty directory, INFINI_PASSWORD=$PASSWORD"
    warm_cache
    step infini-local "$INFINI_BIN" init
    measure infini-local put "$STREAM" - "$INFINI_BIN" put big
    measure infini-local commit /dev/null - "$INFINI_BIN" commit -m one
    measure infini-local get /dev/null /dev/null "$INFINI_BIN" get big
    cd "$WORK"
    rm -rf "$ws"
}

# Start the local S3 server (once per run; later calls reuse it) and export its endpoint and credentials. Sets
# S3_PID to the server's process id when it is known. Stopped when the benchmark exits.
s3_server_up() {
    local line name value
    if [[ -n ${S3_SERVER_UP:-} ]]; then
        return 0
    fi
    S3_PID=""
    if [[ -x $S3_SERVER ]]; then
        say "s3: starting the local S3 server ($S3_SERVER start)"
        # A server of its own, started empty: a hand-started one's buckets (bench-work/s3) are left alone.
        export S3_SERVER_DIR=$WORK/s3-server
        "$S3_SERVER" reset >>"$LOGS/s3-server.log" 2>&1 || true
        trap '"$S3_SERVER" stop >>"$LOGS/s3-server.log" 2>&1 || true' EXIT
        while IFS= read -r line; do
            line=${line#export }
            name=${line%%=*}
            value=${line#*=}
            value=${value#[\"\']}
            value=${value%[\"\']}
            case $name in
            AWS_ENDPOINT_URL | AWS_ACCESS_KEY_ID | AWS_SECRET_ACCESS_KEY | AWS_REGION | BENCH_S3_BUCKET)
                export "$name=$value" ;;
            esac
        done < <("$S3_SERVER" start 2>>"$LOGS/s3-server.log")
        S3_PID=$(cat "${S3_SERVER_DIR:-$ROOT/bench-work/s3}/pid" 2>/dev/null || true)
    fi
    [[ -n ${AWS_ENDPOINT_URL:-} ]] || return 1
    S3_SERVER_UP=1
}

s3_remote() {
    local pid
    if ! s3_server_up; then
        fail_reason infini-s3 "no endpoint (AWS_ENDPOINT_URL) after starting the server"
        return 1
    fi
    pid=$S3_PID
    local bucket=${BENCH_S3_BUCKET:-infini-bench} ws=$WORK/s3-remote c0 c1
    reset_dir "$ws"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    context infini-s3 "in an empty directory, INFINI_PASSWORD=$PASSWORD, AWS_* credentials of the server"
    warm_cache
    step infini-s3 "$INFINI_BIN" init --s3 "$bucket/bench-$(date +%s)" --create-bucket --endpoint "$AWS_ENDPOINT_URL"
    [[ -z $pid ]] || c0=$(proc_cpu "$pid")
    measure infini-s3 put "$STREAM" - "$INFINI_BIN" put big
    measure infini-s3 commit /dev/null - "$INFINI_BIN" commit -m one
    if [[ -n $pid ]]; then
        c1=$(proc_cpu "$pid")
        metric "S3 server CPU during put + commit" "$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}')" "s"
    fi
    measure infini-s3 get /dev/null /dev/null "$INFINI_BIN" get big
    verify infini-s3 "$INFINI_BIN" get big
    cd "$WORK"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$ws"
}

run_s3() {
    peer infini s3_local
    peer infini s3_remote
    local l r
    l=$(awk -F'\t' '$1 == "s3" && $2 == "infini-local" && $3 == "put" {print $4}' "$RESULTS_TSV")
    r=$(awk -F'\t' '$1 == "s3" && $2 == "infini-s3" && $3 == "put" {print $4}' "$RESULTS_TSV")
    if [[ -n $l && -n $r ]]; then
        check "S3 put throughput ÷ local-directory put throughput" "$(awk -v l="$l" -v r="$r" 'BEGIN {printf "%.3f", l / r}')" ge 0.7
    fi
}
