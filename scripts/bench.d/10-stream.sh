# shellcheck shell=bash
# Section "stream": one ~1.3 GB byte stream through every tool: first put, re-put (all duplicate), get to
# /dev/null, repository size, and infini's put against the CPU limit of this machine measured in the same run.
#
#   BENCH_CPU_LIMIT=PATH   the cpu_limit program (default: target/release/examples/cpu_limit, built by make bench)

section stream "The stream: one ${SIZE_MB} MB byte stream" \
    "First put, a second put of the same bytes (all duplicate), and a get to /dev/null, in one run; the get again after dropping the page cache (where the benchmark may: root or \`sudo -n\`; \`BENCH_COLD=0\` leaves it out), as a restore long after a backup reads from the disk. infini at its default compression level, borg at \`zstd,3\`, restic and rustic at their default (\`auto\`) compression. *CPU limit*: the single-core time per byte of chunking, keyed BLAKE3 chunk ids, zstd and AES-256-GCM measured on this stream, summed and divided by the cores — the fastest any put of it can be here."

CPU_LIMIT_BIN=${BENCH_CPU_LIMIT:-$ROOT/target/release/examples/cpu_limit}
# The same get, after the page cache was dropped (see drop_page_cache in bench.sh).
COLD_GET="get, page cache dropped first"

stream_infini() {
    local ws=$WORK/infini
    reset_dir "$ws"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    context infini "in an empty directory, INFINI_PASSWORD=$PASSWORD"
    warm_cache
    step infini "$INFINI_BIN" init
    measure infini put "$STREAM" - "$INFINI_BIN" put big
    measure infini commit /dev/null - "$INFINI_BIN" commit -m one
    measure infini re-put "$STREAM" - "$INFINI_BIN" put big2
    measure infini commit2 /dev/null - "$INFINI_BIN" commit -m two
    repo_size infini "$ws/.infini/repo"
    measure infini get /dev/null /dev/null "$INFINI_BIN" get big
    if drop_page_cache; then
        measure infini "$COLD_GET" /dev/null /dev/null "$INFINI_BIN" get big
    fi
    verify infini "$INFINI_BIN" get big
    # A value of purely random bytes: nothing compresses, every chunk is stored (the largest packs in flight).
    python3 -c 'import random, sys
r = random.Random(7)
for _ in range(16): sys.stdout.buffer.write(r.randbytes(16 << 20))' >"$WORK/random.bin"
    measure infini "put (random, 256 MiB)" "$WORK/random.bin" - "$INFINI_BIN" put random
    rm -f "$WORK/random.bin"
}

stream_borg() {
    local repo=$WORK/borg-repo
    reset_dir "$repo"
    reset_dir "$WORK/borg-home"
    rmdir "$repo" # borg init wants to create the directory itself
    export BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=$WORK/borg-home
    export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
    context borg "BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=bench-work/borg-home"
    warm_cache
    step borg borg init --encryption=repokey-blake2 "$repo"
    measure borg put "$STREAM" - borg create --compression zstd,3 "$repo::one" -
    measure borg re-put "$STREAM" - borg create --compression zstd,3 "$repo::two" -
    repo_size borg "$repo"
    measure borg get /dev/null /dev/null borg extract --stdout "$repo::one"
    if drop_page_cache; then
        measure borg "$COLD_GET" /dev/null /dev/null borg extract --stdout "$repo::one"
    fi
    verify borg borg extract --stdout "$repo::one"
}

stream_restic() {
    local repo=$WORK/restic-repo init_opts=() backup_opts=() version
    reset_dir "$repo"
    reset_dir "$WORK/restic-cache"
    export RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=$repo RESTIC_CACHE_DIR=$WORK/restic-cache
    context restic "RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=bench-work/restic-repo RESTIC_CACHE_DIR=bench-work/restic-cache"
    # Repository format 2 (compression) exists from restic 0.14 on.
    version=$(restic version | awk '{print $2}')
    if printf '0.14.0\n%s\n' "$version" | sort -V -C; then
        init_opts=(--repository-version 2)
        backup_opts=(--compression auto)
    else
        warn "restic $version predates compression (0.14); benchmarking without it"
    fi
    warm_cache
    step restic restic init "${init_opts[@]}"
    measure restic put "$STREAM" - restic backup "${backup_opts[@]}" --stdin --stdin-filename big
    measure restic re-put "$STREAM" - restic backup "${backup_opts[@]}" --stdin --stdin-filename big
    repo_size restic "$repo"
    measure restic get /dev/null /dev/null restic dump latest big
    if drop_page_cache; then
        measure restic "$COLD_GET" /dev/null /dev/null restic dump latest big
    fi
    verify restic restic dump latest big
}

stream_rustic() {
    local repo=$WORK/rustic-repo
    reset_dir "$repo"
    reset_dir "$WORK/rustic-cache"
    rmdir "$repo"
    export RUSTIC_PASSWORD=$PASSWORD RUSTIC_REPOSITORY=$repo RUSTIC_CACHE_DIR=$WORK/rustic-cache
    context rustic "RUSTIC_PASSWORD=$PASSWORD RUSTIC_REPOSITORY=bench-work/rustic-repo RUSTIC_CACHE_DIR=bench-work/rustic-cache"
    warm_cache
    step rustic rustic init
    measure rustic put "$STREAM" - rustic backup --stdin-filename big -
    # Without --force rustic takes stdin's content from the parent snapshot without reading it.
    measure rustic re-put "$STREAM" - rustic backup --stdin-filename big --force -
    repo_size rustic "$repo"
    measure rustic get /dev/null /dev/null rustic dump latest:big
    if drop_page_cache; then
        measure rustic "$COLD_GET" /dev/null /dev/null rustic dump latest:big
    fi
    verify rustic rustic dump latest:big
}

# The CPU limit, measured on the stream in this run, and infini's put against it.
stream_limit() {
    if [[ ! -x $CPU_LIMIT_BIN ]]; then
        note "CPU limit: not measured ($CPU_LIMIT_BIN missing; \`cargo build --release --example cpu_limit\`)"
        return
    fi
    local level out
    level=$(infini_zstd_level)
    record cpu-limit - - "$CPU_LIMIT_BIN" "$STREAM" --level "$level"
    say "stream: measuring the CPU limit (zstd level $level)"
    # Three measurements, keeping the fastest (the lowest limit, the strictest for infini): one measurement in this
    # run once came out a third slower than on the idle machine (zstd 251 MB/s against 390-398).
    local try best="" best_limit=""
    for try in 1 2 3; do
        out=$("$CPU_LIMIT_BIN" "$STREAM" --level "$level")
        printf '%s\n' "$out" >"$LOGS/stream-cpu-limit-$try.tsv"
        local l
        l=$(awk -F'\t' '$1 == "limit_s" {print $2}' <<<"$out")
        if [[ -z $best_limit ]] || awk -v a="$l" -v b="$best_limit" 'BEGIN {exit !(a < b)}'; then
            best=$out best_limit=$l
        fi
    done
    out=$best
    printf '%s\n' "$out" >"$LOGS/stream-cpu-limit.tsv"
    local get
    get() { awk -F'\t' -v k="$1" '$1 == k {print $2}' <<<"$out"; }
    local limit put
    limit=$(get limit_s)
    metric "CPU limit of a first put (per core: chunking $(get chunking_mbps), keyed BLAKE3 $(get keyed_hash_mbps), zstd -$level $(get zstd_mbps), AES-256-GCM $(get aes_256_gcm_mbps) MB/s; together $(get one_core_mbps) MB/s on one core, × $(get cores) cores)" "$limit" s
    put=$(awk -F'\t' '$1 == "stream" && $2 == "infini" && $3 == "put" {print $4}' "$RESULTS_TSV")
    if [[ -n $put && -n $limit ]]; then
        check "infini put ÷ CPU limit" "$(awk -v a="$put" -v b="$limit" 'BEGIN {printf "%.3f", a / b}')" le 1.15
    fi
    # A get's limit: opening and decompressing every chunk, per byte, over the cores. Where half the best peer's
    # get is below it, the limit is what a get can reach.
    local get_limit got
    get_limit=$(get get_limit_s)
    if [[ -n $get_limit ]]; then
        metric "CPU limit of a get (per core: AES-256-GCM open $(get open_mbps), zstd decompression $(get unzstd_mbps) MB/s, × $(get cores) cores)" "$get_limit" s
        got=$(awk -F'\t' '$1 == "stream" && $2 == "infini" && $3 == "get" {print $4}' "$RESULTS_TSV")
        if [[ -n $got ]]; then
            check "infini get ÷ CPU limit of a get" "$(awk -v a="$got" -v b="$get_limit" 'BEGIN {printf "%.3f", a / b}')" le 1.15
        fi
        # What reading infini's repository from the disk costs the machine (its packs are written and read around
        # the page cache), which that limit leaves out.
        local repo=$WORK/infini/.infini/repo read
        if [[ -d $repo ]]; then
            record cpu-limit - - "$CPU_LIMIT_BIN" --read "$repo"
            if read=$("$CPU_LIMIT_BIN" --read "$repo" 2>>"$LOGS/stream-read-cost.log"); then
                printf '%s\n' "$read" >"$LOGS/stream-read-cost.tsv"
                local rget
                rget() { awk -F'\t' -v k="$1" '$1 == k {print $2}' <<<"$read"; }
                metric "Reading infini's repository ($(($(rget read_bytes) / 1048576)) MiB, every pack once) by direct I/O with $(rget read_threads) reads in flight, as a get does: $(rget read_wall_s) s, and CPU time of the whole machine (kernel threads included)" "$(rget read_cpu_s)" s
            else
                note "Reading infini's repository by direct I/O: not measured (see bench-work/logs/stream-read-cost.log)"
            fi
        fi
    fi
}

# The zstd level infini writes with by default (its `init --help` names it), else 3.
infini_zstd_level() {
    local l
    l=$("$INFINI_BIN" init --help 2>/dev/null | grep -io 'default[: ]*[0-9]\+' | grep -o '[0-9]\+' | head -n1) || true
    echo "${l:-3}"
}

run_stream() {
    target put 0.5
    target re-put 0.5
    target get 0.5
    target "$COLD_GET" 0.5
    target size 1.0
    rss_target put 128
    rss_target re-put 128
    rss_target "put (random, 256 MiB)" 128
    local tool
    for tool in $TOOLS; do
        peer "$tool" "stream_$tool"
    done
    tool_available infini && stream_limit
    return 0
}
