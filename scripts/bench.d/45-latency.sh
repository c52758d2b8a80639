# shellcheck shell=bash
# Section "latency" (on unless BENCH_S3=0): the local S3 server seen through a link with a round-trip time, as a
# distant region is. scripts/latency-proxy.py sits between each tool and the server on loopback and delays every
# byte by BENCH_LATENCY_MS (default 20) in each direction, so one request costs at least 2 x that; requests in
# flight at once overlap, as they would on a real network. Each tool stores the same tree of BENCH_LATENCY_FILES
# (default 10,000) small files through it, then, each from an empty cache (a new workspace for infini, an empty
# cache directory for restic and rustic): lists every file, restores the tree, and reads one file.
#
#   BENCH_LATENCY_MS=20         one-way delay in milliseconds
#   BENCH_LATENCY_FILES=10000   files in the tree

LAT_MS=${BENCH_LATENCY_MS:-20}
LAT_FILES=${BENCH_LATENCY_FILES:-10000}
# The one file read: in the middle of the tree.
LAT_I=$((LAT_FILES / 2 + 42))
LAT_ONE=$(printf 'd%03d/f%05d.txt' $((LAT_I / 100)) "$LAT_I")

section latency "S3 through a ${LAT_MS} ms link" \
    "The local S3 server reached through \`scripts/latency-proxy.py\`, which delays every byte ${LAT_MS} ms each way (a round trip of $((2 * LAT_MS)) ms, as a distant region has; no bandwidth limit). A tree of ${LAT_FILES} files (1-8 KiB each, in 100 directories: \`scripts/bench.d/45-latency.sh\`) is stored (infini \`put -r\` + \`commit\`, restic and rustic \`backup\`), then each of the other rows starts from an empty cache (infini: a new \`clone\`; restic and rustic: an empty cache directory): a listing of every file (infini \`ls\`, restic and rustic \`ls latest\`), a restore of the tree (\`get -r\`, \`restore latest\`) and the contents of one file (\`get KEY\`, \`dump latest PATH\`). Requests through the proxy are counted per tool."

default_off_latency() { [[ ${BENCH_S3:-1} == 0 ]]; }

# The tree: LAT_FILES files of 1-8 KiB (text-like, so compression has something to do), 100 per directory.
latency_tree() {
    local dir=$WORK/keep-latency-$LAT_FILES
    if [[ ! -f $dir.done ]]; then
        rm -rf "$dir"
        python3 - "$dir" "$LAT_FILES" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261207)
words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))) for _ in range(4000)]
for i in range(n):
    sub = os.path.join(d, f"d{i // 100:03d}")
    if i % 100 == 0:
        os.makedirs(sub)
    size = rng.randint(1024, 8192)
    out, total = [], 0
    while total < size:
        w = rng.choice(words)
        out.append(w)
        total += len(w) + 1
    with open(os.path.join(sub, f"f{i:05d}.txt"), "w") as f:
        f.write(" ".join(out)[:size])
PY
        touch "$dir.done"
    fi
    echo "$dir"
}

# Start a proxy to the S3 server for TOOL; sets LAT_ENDPOINT and LAT_PROXY_PID. Its counts go to the tool's stats.
latency_proxy_up() {
    local tool=$1 target=${AWS_ENDPOINT_URL#http://} out=$WORK/latency-proxy-$1.port
    target=${target%%/*}
    rm -f "$out"
    python3 "$ROOT/scripts/latency-proxy.py" "$target" --delay-ms "$LAT_MS" --stats "$WORK/latency-proxy-$tool.stats" \
        >"$out" 2>>"$LOGS/$SECTION-$tool.log" &
    LAT_PROXY_PID=$!
    for _ in $(seq 100); do
        grep -q '^PORT=' "$out" 2>/dev/null && break
        sleep 0.1
    done
    grep -q '^PORT=' "$out" || { fail_reason "$tool" "the latency proxy did not start"; return 1; }
    LAT_ENDPOINT=http://127.0.0.1:$(sed -n 's/^PORT=//p' "$out")
    context "$tool" "S3 endpoint $LAT_ENDPOINT: scripts/latency-proxy.py ${target} --delay-ms $LAT_MS"
}

# Requests the tool's proxy has passed on so far.
latency_requests() {
    local stats=$WORK/latency-proxy-$1.stats
    rm -f "$stats"
    kill -USR1 "$LAT_PROXY_PID" 2>/dev/null || return 0
    for _ in $(seq 50); do
        [[ -s $stats ]] && break
        sleep 0.05
    done
    sed -n 's/^requests=//p' "$stats" 2>/dev/null
}

# measure, and the number of requests the row made: lat_measure TOOL OP STDIN STDOUT CMD...
lat_measure() {
    local tool=$1 op=$2 before after
    before=$(latency_requests "$tool")
    measure "$@"
    after=$(latency_requests "$tool")
    [[ -z $before || -z $after ]] || metric "$tool, $op: requests" "$((after - before))"
}

latency_proxy_down() {
    local tool=$1
    [[ -n ${LAT_PROXY_PID:-} ]] || return 0
    kill -TERM "$LAT_PROXY_PID" 2>/dev/null || true
    wait "$LAT_PROXY_PID" 2>/dev/null || true
    LAT_PROXY_PID=""
}

# The restored tree must be the tree.
latency_same_tree() {
    local tool=$1 got=$2 src=$3
    [[ ${BENCH_VERIFY:-1} == 1 ]] || return 0
    diff -r "$src" "$got" >/dev/null || { fail_reason "$tool" "the restored tree differs from the stored one"; return 1; }
}

latency_infini() {
    local src ws=$WORK/latency-infini key=t/$LAT_ONE prefix
    src=$(latency_tree)
    latency_proxy_up infini
    trap 'latency_proxy_down infini' EXIT
    prefix=$BENCH_S3_BUCKET/latency-$(date +%s)
    export INFINI_PASSWORD=$PASSWORD
    context infini "INFINI_PASSWORD=$PASSWORD, AWS_* credentials of the server"
    reset_dir "$ws"
    cd "$ws"
    step infini "$INFINI_BIN" init --s3 "$prefix" --create-bucket --endpoint "$LAT_ENDPOINT" w
    cd w
    lat_measure infini "store the tree" /dev/null - sh -c "'$INFINI_BIN' put -q -r '$src' t/ && '$INFINI_BIN' commit -q -m tree"
    cd "$ws"
    step infini "$INFINI_BIN" clone "s3://$prefix" c1 --endpoint "$LAT_ENDPOINT"
    lat_measure infini "cold: list every file" /dev/null /dev/null "$INFINI_BIN" -C c1 ls
    step infini "$INFINI_BIN" clone "s3://$prefix" c2 --endpoint "$LAT_ENDPOINT"
    lat_measure infini "cold: restore the tree" /dev/null - "$INFINI_BIN" -C c2 get -q -r t/ "$ws/out"
    latency_same_tree infini "$ws/out" "$src"
    step infini "$INFINI_BIN" clone "s3://$prefix" c3 --endpoint "$LAT_ENDPOINT"
    lat_measure infini "cold: one file" /dev/null "$ws/one" "$INFINI_BIN" -C c3 get "$key"
    cmp -s "$ws/one" "$src/${key#t/}" || { fail_reason infini "get $key returned other bytes"; return 1; }
    cd "$WORK"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$ws"
}

latency_restic() {
    local src ws=$WORK/latency-restic
    src=$(latency_tree)
    latency_proxy_up restic
    trap 'latency_proxy_down restic' EXIT
    reset_dir "$ws"
    export RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=s3:$LAT_ENDPOINT/$BENCH_S3_BUCKET/latency-restic-$(date +%s)
    context restic "RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=s3:\$ENDPOINT/$BENCH_S3_BUCKET/latency-restic-TIME, AWS_* credentials"
    export RESTIC_CACHE_DIR=$ws/cache0
    step restic restic init --repository-version 2
    lat_measure restic "store the tree" /dev/null - restic backup -q "$src"
    export RESTIC_CACHE_DIR=$ws/cache1
    lat_measure restic "cold: list every file" /dev/null /dev/null restic ls latest
    export RESTIC_CACHE_DIR=$ws/cache2
    lat_measure restic "cold: restore the tree" /dev/null - restic restore -q latest --target "$ws/out"
    latency_same_tree restic "$ws/out$src" "$src"
    export RESTIC_CACHE_DIR=$ws/cache3
    lat_measure restic "cold: one file" /dev/null "$ws/one" restic dump latest "$src/$LAT_ONE"
    cmp -s "$ws/one" "$src/$LAT_ONE" || { fail_reason restic "dump returned other bytes"; return 1; }
    cd "$WORK"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$ws"
}

# rustic reaches S3 through OpenDAL, configured by a profile file.
latency_rustic() {
    local src ws=$WORK/latency-rustic
    src=$(latency_tree)
    latency_proxy_up rustic
    trap 'latency_proxy_down rustic' EXIT
    reset_dir "$ws"
    cat >"$ws/s3.toml" <<EOF
[repository]
repository = "opendal:s3"
password = "$PASSWORD"

[repository.options]
bucket = "$BENCH_S3_BUCKET"
root = "/latency-rustic-$(date +%s)"
endpoint = "$LAT_ENDPOINT"
region = "${AWS_REGION:-us-east-1}"
access_key_id = "$AWS_ACCESS_KEY_ID"
secret_access_key = "$AWS_SECRET_ACCESS_KEY"
EOF
    context rustic "profile bench-work/latency-rustic/s3.toml: opendal:s3 at the proxy"
    local r=(rustic -P "$ws/s3")
    export RUSTIC_CACHE_DIR=$ws/cache0
    step rustic "${r[@]}" init
    lat_measure rustic "store the tree" /dev/null - "${r[@]}" backup --no-progress "$src"
    export RUSTIC_CACHE_DIR=$ws/cache1
    lat_measure rustic "cold: list every file" /dev/null /dev/null "${r[@]}" ls latest
    export RUSTIC_CACHE_DIR=$ws/cache2
    lat_measure rustic "cold: restore the tree" /dev/null - "${r[@]}" restore --no-progress latest "$ws/out"
    # rustic restores a snapshot of an absolute path under the target as restic does (out/ABSOLUTE/PATH).
    if [[ -d $ws/out$src ]]; then
        latency_same_tree rustic "$ws/out$src" "$src"
    else
        latency_same_tree rustic "$ws/out" "$src"
    fi
    export RUSTIC_CACHE_DIR=$ws/cache3
    lat_measure rustic "cold: one file" /dev/null "$ws/one" "${r[@]}" dump "latest:$src/$LAT_ONE"
    cmp -s "$ws/one" "$src/$LAT_ONE" || { fail_reason rustic "dump returned other bytes"; return 1; }
    cd "$WORK"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$ws"
}

run_latency() {
    local tool
    if ! s3_server_up; then
        note "No S3 server could be started: the section did not run."
        return 0
    fi
    export BENCH_S3_BUCKET=${BENCH_S3_BUCKET:-infini-bench}
    target "store the tree" 0.5
    target "cold: list every file" 0.5
    target "cold: restore the tree" 0.5
    target "cold: one file" 0.5
    latency_tree >/dev/null
    peer infini latency_infini
    for tool in restic rustic; do
        peer "$tool" "latency_$tool"
    done
}
