# shellcheck shell=bash
# Section "keys": many small keys through the command line. For each count in BENCH_KEYS (default 10000):
# `put -r` of that many small files + commit (against the peers' backup of the same tree), the per-command overhead
# of `get`, `ls` of every key, a one-key commit, and a `get` from a brand-new workspace.
#
#   BENCH_KEYS="10000"          key counts (make bench-scale: "1000000 10000000"). Counts above 1,000,000 put
#                               the same 1,000,000 files under several prefixes (one put -r + commit each).
#   BENCH_KEYS_PEERS="borg restic rustic"   peers that back up the tree too (each count up to 1,000,000)
#   BENCH_OVERHEAD_RUNS=50      timed `infini get` runs for the overhead median

section keys "Many small keys" \
    "\`put -r\` of N small files (\`value <i>\`, 7-14 bytes each) + \`commit\`, against the peers' backup of the same directory; then, with N keys committed: the per-command overhead of \`get\` of one key (median), \`ls\` of every key, a commit of one changed key (bytes the repository grew by), and a \`get\` from a brand-new workspace (cold caches: bytes of repository objects read)."

KEYS_FILES_MAX=1000000

# A directory of N small files k0000000..: kept between runs (making a million files takes a while).
keys_tree() {
    local n=$1 dir=$WORK/keep-keys-$1
    if [[ ! -f $dir.done ]]; then
        say "keys: writing $n small files into $dir"
        rm -rf "$dir"
        mkdir -p "$dir"
        python3 - "$dir" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
per = 10000
for i in range(n):
    sub = os.path.join(d, f"d{i // per:04d}")
    if i % per == 0:
        os.mkdir(sub)
    with open(os.path.join(sub, f"k{i:07d}"), "w") as f:
        f.write(f"value {i}\n")
PY
        touch "$dir.done"
    fi
    echo "$dir"
}

keys_infini() {
    local n=$1 files=$(( $1 < KEYS_FILES_MAX ? $1 : KEYS_FILES_MAX )) ws=$WORK/keys-infini-$1 src rounds i
    src=$(keys_tree "$files")
    rounds=$(( (n + files - 1) / files ))
    reset_dir "$ws"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    context "infini" "in an empty directory, INFINI_PASSWORD=$PASSWORD; bench-work/keep-keys-$files holds $files files"
    step infini "$INFINI_BIN" init
    measure infini "put -r + commit, $n keys" /dev/null - sh -c "'$INFINI_BIN' put -r '$src' p0/ && '$INFINI_BIN' commit -m p0"
    for ((i = 1; i < rounds; i++)); do
        measure infini "put -r + commit, keys $((i * files + 1))-$(((i + 1) * files)) of $n" /dev/null - \
            sh -c "'$INFINI_BIN' put -r '$src' p$i/ && '$INFINI_BIN' commit -m p$i"
    done
    local key=p0/d0000/k0000042
    [[ $("$INFINI_BIN" get "$key") == "value 42" ]] || { fail_reason infini "get $key is not 'value 42'"; return 1; }
    # Per-command overhead of a get.
    local med runs=${BENCH_OVERHEAD_RUNS:-50}
    record infini - /dev/null "$INFINI_BIN" get "$key"
    if have hyperfine; then
        hyperfine -N --warmup 3 --runs "$runs" --export-json "$LOGS/keys-$n-overhead.json" \
            "$(printf '%q ' "$INFINI_BIN" get "$key")" >>"$LOGS/keys-infini.log" 2>&1
        med=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"] * 1000)' \
            "$LOGS/keys-$n-overhead.json")
    else
        local t0 t1 samples=()
        for ((i = 0; i < runs; i++)); do
            t0=$(date +%s%N)
            "$INFINI_BIN" get "$key" >/dev/null
            t1=$(date +%s%N)
            samples+=($((t1 - t0)))
        done
        med=$(printf '%s\n' "${samples[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)] / 1e6}')
    fi
    check "$n keys: \`get\` of one key, median of $runs runs" "$med" le 20 ms
    measure infini "ls, $n keys" /dev/null /dev/null "$INFINI_BIN" ls
    # One changed key.
    local before after
    before=$(du -sb .infini/repo | cut -f1)
    printf 'changed\n' >"$WORK/changed.txt"
    measure infini "put + commit of one key, $n keys" /dev/null - \
        sh -c "'$INFINI_BIN' put $key '$WORK/changed.txt' && '$INFINI_BIN' commit -m one"
    after=$(du -sb .infini/repo | cut -f1)
    check "$n keys: repository growth for a one-key commit" "$(( (after - before) / 1024 ))" le 256 KiB
    # A brand-new workspace: cold caches.
    local cold=$WORK/keys-cold-$n
    reset_dir "$cold"
    cd "$cold"
    step infini "$INFINI_BIN" clone "$ws" .
    rm -f .infini/cache/stats.json
    measure infini "get from a new workspace, $n keys" /dev/null /dev/null "$INFINI_BIN" get "$key"
    local read
    read=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("cold_bytes", 0))' .infini/cache/stats.json 2>/dev/null || echo 0)
    check "$n keys: repository bytes a \`get\` from a new workspace reads" "$(( read / 1024 ))" le 1024 KiB
    cd "$WORK"
    rm -rf "$cold" "$WORK/changed.txt"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$ws"
}

keys_borg() {
    local n=$1 src repo=$WORK/keys-borg-$1
    src=$(keys_tree "$n")
    reset_dir "$repo"
    rmdir "$repo"
    export BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=$WORK/keys-borg-home-$n
    export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
    context borg "BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=bench-work/keys-borg-home-$n, from bench-work"
    cd "$WORK"
    step borg borg init --encryption=repokey-blake2 "$repo"
    measure borg "put -r + commit, $n keys" /dev/null - borg create --compression zstd,3 "$repo::one" "keep-keys-$n"
    rm -rf "$repo" "$WORK/keys-borg-home-$n"
}

keys_restic() {
    local n=$1 src repo=$WORK/keys-restic-$1
    src=$(keys_tree "$n")
    reset_dir "$repo"
    export RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=$repo RESTIC_CACHE_DIR=$WORK/keys-restic-cache-$n
    context restic "RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=bench-work/keys-restic-$n"
    step restic restic init --repository-version 2
    measure restic "put -r + commit, $n keys" /dev/null - restic backup --compression auto "$src"
    rm -rf "$repo" "$WORK/keys-restic-cache-$n"
}

keys_rustic() {
    local n=$1 src repo=$WORK/keys-rustic-$1
    src=$(keys_tree "$n")
    reset_dir "$repo"
    rmdir "$repo"
    export RUSTIC_PASSWORD=$PASSWORD RUSTIC_REPOSITORY=$repo RUSTIC_CACHE_DIR=$WORK/keys-rustic-cache-$n
    context rustic "RUSTIC_PASSWORD=$PASSWORD RUSTIC_REPOSITORY=bench-work/keys-rustic-$n"
    step rustic rustic init
    measure rustic "put -r + commit, $n keys" /dev/null - rustic backup "$src"
    rm -rf "$repo" "$WORK/keys-rustic-cache-$n"
}

run_keys() {
    local n tool
    for n in ${BENCH_KEYS:-10000}; do
        target "put -r + commit, $n keys" 0.5
        rss_target "put -r + commit, $n keys" 256
        rss_target "ls, $n keys" 128
        # Every tool starts with the tree's files and inodes in memory: the first to read a tree just written or
        # evicted would otherwise pay alone for reading it from the disk (infini: 28 s against 8 s warm).
        say "keys: reading the $((n < KEYS_FILES_MAX ? n : KEYS_FILES_MAX)) files once, so every tool finds them cached"
        find "$(keys_tree $((n < KEYS_FILES_MAX ? n : KEYS_FILES_MAX)))" -type f -exec cat {} + >/dev/null
        peer infini keys_infini "$n"
        if ((n <= KEYS_FILES_MAX)); then
            for tool in ${BENCH_KEYS_PEERS:-$PEER_TOOLS}; do
                peer "$tool" "keys_$tool" "$n"
            done
        fi
    done
}
