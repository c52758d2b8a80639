#!/usr/bin/env bash
# Side-by-side benchmark: infini against borg and restic (and rustic, when
# available) on the same byte stream, in one run, on one machine.
#
#   scripts/bench.sh            # or: make bench (builds the release binary first)
#
# Environment:
#   BENCH_SIZE_MB=1300   size of the mixed stream in MB (10^6 bytes)
#   BENCH_WORK=DIR       working directory (default: ./bench-work)
#   INFINI_BIN=PATH      infini binary (default: target/release/infini)
#   BENCH_RUSTIC=1       install rustic with `cargo install rustic-rs --locked`
#                        if missing (slow to build); BENCH_RUSTIC=0 never runs
#                        it; unset: run it only if already on PATH
#   BENCH_VERIFY=0       skip the untimed check that each tool's `get` returns
#                        exactly the stream
#   BENCH_S3=1           also time infini against a local S3 server (see bench_s3)
#   BENCH_KEEP=1         keep the repositories after the run
#   BENCH_HYPERFINE=0    time the per-command overhead with a shell loop
#   BENCH_TOOLS="..."    tools to run (default: infini borg restic rustic)
#
# Progress goes to stderr; the Markdown report goes to stdout and to
# bench-work/results.md, machine-readable results to bench-work/results.json.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/bench-work}
SIZE_MB=${BENCH_SIZE_MB:-1300}
INFINI_BIN_GIVEN=${INFINI_BIN:+1}
INFINI_BIN=${INFINI_BIN:-$ROOT/target/release/infini}
PASSWORD=bench
SMALL_KEYS=10000     # keys in the per-command overhead workspace
OVERHEAD_RUNS=50     # timed `infini get` runs for the overhead median
GNU_TIME=/usr/bin/time
S3_SERVER=$ROOT/scripts/s3-server.sh   # optional hook, see bench_s3
TOOLS=${BENCH_TOOLS:-infini borg restic rustic}

# Make paths absolute: the tools run from their own directories.
[[ $WORK == /* ]] || WORK=$PWD/$WORK
[[ $INFINI_BIN == /* ]] || INFINI_BIN=$PWD/$INFINI_BIN

STREAM=$WORK/stream.bin
LOGS=$WORK/logs
RESULTS_TSV=$WORK/results.tsv   # tool, op, wall s, user s, sys s, max RSS KiB
SIZES_TSV=$WORK/sizes.tsv       # tool, repository bytes
STATUS_TSV=$WORK/status.tsv     # tool, ok|failed|skipped, message
META_TSV=$WORK/meta.tsv         # key, value
COMMANDS_TXT=$WORK/commands.txt # every command run against a repository

SUDO=()
[[ $EUID -eq 0 ]] || SUDO=(sudo)

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

say() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
selected() { [[ " $TOOLS " == *" $1 "* ]]; }

meta() { printf '%s\t%s\n' "$1" "$2" >>"$META_TSV"; }
set_status() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$STATUS_TSV"; }
# Remember why a tool failed, for the report: fail_reason TOOL MESSAGE
fail_reason() { printf '%s' "$2" >"$LOGS/$1.reason"; }

# Remove and recreate a directory inside the work directory.
reset_dir() {
    [[ $1 == "$WORK"/* ]] || die "refusing to remove $1 (outside $WORK)"
    rm -rf "$1"
    mkdir -p "$1"
}

# Quote one word for a shell only when it needs it (readable command lines).
shquote() {
    if [[ $1 =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
        printf '%s' "$1"
    else
        printf '%q' "$1"
    fi
}

# Append a shell-quoted command line, with its redirections, to commands.txt.
# Usage: record TOOL STDIN STDOUT CMD...   (STDIN/STDOUT "-" when not redirected)
record() {
    local tool=$1 in=$2 out=$3 line="" word
    shift 3
    for word in "$@"; do
        line+="${line:+ }$(shquote "$word")"
    done
    line=${line//"$WORK"/bench-work}
    [[ $in == - || $in == /dev/null ]] || line+=" < ${in/#"$WORK"/bench-work}"
    [[ $out == - ]] || line+=" > ${out/#"$WORK"/bench-work}"
    printf '%-8s %s\n' "$tool:" "$line" >>"$COMMANDS_TXT"
}

# Run an untimed step; its output goes to the tool's log.
# Usage: step TOOL CMD...
step() {
    local tool=$1 log=$LOGS/$1.log
    shift
    record "$tool" - - "$@"
    printf '+ %s\n' "$*" >>"$log"
    if ! "$@" </dev/null >>"$log" 2>&1; then
        fail_reason "$tool" "'$*' failed"
        warn "$tool: '$*' failed; last lines of $log:"
        tail -n 15 "$log" >&2
        return 1
    fi
}

# Run a timed step under GNU time and append a row to results.tsv.
# Usage: measure TOOL OP STDIN STDOUT CMD...   (STDOUT "-" means the tool's log)
measure() {
    local tool=$1 op=$2 in=$3 out=$4 log=$LOGS/$1.log tf=$LOGS/$1-$2.time
    local wall user sys rss
    shift 4
    record "$tool" "$in" "$out" "$@"
    [[ $out != - ]] || out=$log
    printf '+ %s (timed: %s)\n' "$*" "$op" >>"$log"
    say "$tool $op: $*"
    if ! "$GNU_TIME" -f '%e %U %S %M' -o "$tf" "$@" <"$in" >>"$out" 2>>"$log"; then
        fail_reason "$tool" "$op ('$*') failed"
        warn "$tool: $op failed; last lines of $log:"
        tail -n 15 "$log" >&2
        return 1
    fi
    read -r wall user sys rss <"$tf"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$op" "$wall" "$user" "$sys" "$rss" >>"$RESULTS_TSV"
    say "$tool $op: ${wall}s wall, $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')s CPU, $((rss / 1024)) MiB peak RSS"
}

# Untimed check that CMD writes exactly the stream to stdout.
# Usage: verify TOOL CMD...
verify() {
    local tool=$1
    shift
    [[ ${BENCH_VERIFY:-1} == 1 ]] || return 0
    say "$tool: verifying that '$*' returns the stream"
    if ! "$@" 2>>"$LOGS/$tool.log" </dev/null | cmp -s - "$STREAM"; then
        fail_reason "$tool" "'$*' did not return the exact stream"
        warn "$tool: '$*' did not return the exact stream"
        return 1
    fi
}

# Record the on-disk size of a repository directory.
repo_size() {
    local bytes
    if ! bytes=$(du -sb "$2" 2>/dev/null | cut -f1) || [[ -z $bytes ]]; then
        warn "$1: no repository at $2 to measure"
        return 0
    fi
    printf '%s\t%s\n' "$1" "$bytes" >>"$SIZES_TSV"
}

# Read the stream so that every tool starts from a warm page cache (dropping
# the cache needs privileges the benchmark does not assume).
warm_cache() { cat "$STREAM" >/dev/null; }

# Run one tool's benchmark function in a subshell with errexit on, so that a
# failing tool is reported and the other tools still run.
run_tool() {
    local tool=$1 rc reason
    say "---- $tool ----"
    set +e
    (
        set -e
        "bench_$tool"
    )
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then
        set_status "$tool" ok
    else
        reason=$(cat "$LOGS/$tool.reason" 2>/dev/null || echo "exit $rc")
        set_status "$tool" failed "${reason//$'\t'/ }; log: bench-work/logs/"
        warn "$tool: failed (exit $rc); its rows are left out of the ratios"
    fi
}

# ---------------------------------------------------------------------------
# 1. Tools
# ---------------------------------------------------------------------------

apt_updated=0
apt_install() {
    have apt-get || { warn "apt-get not available; cannot install $*"; return 1; }
    say "installing Debian packages: $*"
    local apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
    if ! "${apt[@]}" install -y -q "$@" >>"$LOGS/apt.log" 2>&1; then
        [[ $apt_updated -eq 0 ]] || return 1
        apt_updated=1
        "${apt[@]}" update -q >>"$LOGS/apt.log" 2>&1 || return 1
        "${apt[@]}" install -y -q "$@" >>"$LOGS/apt.log" 2>&1 || return 1
    fi
}

ensure_tools() {
    local missing=()
    have python3 || missing+=(python3)
    selected borg && ! have borg && missing+=(borgbackup)
    selected restic && ! have restic && missing+=(restic)
    selected infini && ! have hyperfine && missing+=(hyperfine)
    "$GNU_TIME" --version 2>&1 | grep -q GNU || missing+=(time)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}" || warn "could not install all of: ${missing[*]} (see $LOGS/apt.log)"
    fi
    "$GNU_TIME" --version 2>&1 | grep -q GNU || die "GNU time ($GNU_TIME) is required (Debian package 'time')"
    have python3 || die "python3 is required"

    selected rustic || return 0
    case ${BENCH_RUSTIC:-} in
    1)
        if ! have rustic; then
            say "installing rustic with 'cargo install rustic-rs --locked' (this takes a long time)"
            cargo install rustic-rs --locked >>"$LOGS/rustic-install.log" 2>&1 ||
                warn "rustic install failed (see $LOGS/rustic-install.log)"
        fi
        ;;
    0) ;;
    *) have rustic || say "rustic: not installed, skipped (BENCH_RUSTIC=1 installs it with 'cargo install rustic-rs --locked', a long build)" ;;
    esac
}

tool_versions() {
    local v
    if [[ -x $INFINI_BIN ]]; then
        v=$("$INFINI_BIN" --version 2>/dev/null | head -n1) || v="unknown"
        meta infini_version "${v:-unknown}"
    fi
    meta infini_bin "$INFINI_BIN"
    local repro="" var
    for var in BENCH_SIZE_MB BENCH_TOOLS BENCH_RUSTIC BENCH_S3 BENCH_VERIFY BENCH_HYPERFINE; do
        [[ -z ${!var:-} ]] || repro+="$var=$(shquote "${!var}") "
    done
    [[ -z $INFINI_BIN_GIVEN ]] || repro+="INFINI_BIN=$(shquote "$INFINI_BIN") "
    meta reproduce "${repro}make bench"
    selected borg && have borg && meta borg_version "$(borg --version 2>/dev/null)"
    selected restic && have restic && meta restic_version "$(restic version 2>/dev/null | head -n1)"
    selected rustic && have rustic && [[ ${BENCH_RUSTIC:-} != 0 ]] &&
        meta rustic_version "$(rustic --version 2>/dev/null | head -n1)"
    return 0
}

machine_info() {
    meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
    meta cores "$(nproc)"
    meta cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    meta mem_mib "$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)"
    meta kernel "$(uname -sr)"
    meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---------------------------------------------------------------------------
# 2. The stream: system files interleaved with seeded pseudo-random bytes
# ---------------------------------------------------------------------------

build_stream() {
    local bytes=$((SIZE_MB * 1000 * 1000)) list=$WORK/stream-files.list
    meta size_mb "$SIZE_MB"
    if [[ -f $STREAM && $(stat -c %s "$STREAM") -eq $bytes ]]; then
        say "reusing $STREAM"
    else
        say "building a $SIZE_MB MB stream in $STREAM"
        # Readable regular files in a fixed (byte-wise sorted) order.
        { find /usr/bin /usr/lib /usr/share -type f -readable -print0 2>/dev/null || true; } |
            LC_ALL=C sort -z >"$list"
        python3 - "$bytes" "$list" "$STREAM.tmp" <<'PY'
import random, sys

total, listfile, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
random_total = total * 3 // 13          # ~0.3 GB of 1.3 GB is random
system_total = total - random_total
BLOCK = 8 << 20                         # system bytes between random blocks
rng = random.Random(0x1F1F1)            # fixed seed: same bytes every run

def system_bytes():
    """The concatenated system files, in list order, in pieces."""
    with open(listfile, "rb") as f:
        names = [n for n in f.read().split(b"\0") if n]
    for name in names:
        try:
            with open(name, "rb") as src:
                while piece := src.read(1 << 20):
                    yield piece
        except OSError:
            continue

written_sys = written_rand = 0
pieces = system_bytes()
buf = bytearray()
with open(out, "wb") as dst:
    while written_sys < system_total:
        while len(buf) < BLOCK:
            piece = next(pieces, None)
            if piece is None:
                break
            buf += piece
        want = min(BLOCK, system_total - written_sys, len(buf))
        if want == 0:                   # out of system files: random fills up
            system_total = written_sys
            break
        dst.write(buf[:want])
        del buf[:want]
        written_sys += want
        # keep the random share proportional to the system bytes so far
        n = written_sys * random_total // system_total - written_rand
        if n > 0:
            dst.write(rng.randbytes(n))
            written_rand += n
    rest = total - written_sys - written_rand
    if rest > 0:
        dst.write(rng.randbytes(rest))
        written_rand += rest
print(f"==> stream: {written_sys} bytes of system files, {written_rand} random bytes", file=sys.stderr)
PY
        mv "$STREAM.tmp" "$STREAM"
    fi
    local sha
    sha=$(sha256sum "$STREAM" | cut -d' ' -f1)
    meta stream_bytes "$(stat -c %s "$STREAM")"
    meta stream_sha256 "$sha"
    say "stream: $(stat -c %s "$STREAM") bytes, sha256 $sha"
}

# ---------------------------------------------------------------------------
# 3. One function per tool: put, re-put (all duplicate), get
# ---------------------------------------------------------------------------

infini_ok() {
    [[ -x $INFINI_BIN ]] && "$INFINI_BIN" --version >/dev/null 2>&1
}

bench_infini() {
    local ws=$WORK/infini
    reset_dir "$ws"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    echo "infini:  (in an empty directory, INFINI_PASSWORD=$PASSWORD)" >>"$COMMANDS_TXT"
    warm_cache
    step infini "$INFINI_BIN" init
    measure infini put "$STREAM" - "$INFINI_BIN" put big
    measure infini commit /dev/null - "$INFINI_BIN" commit -m one
    measure infini re-put "$STREAM" - "$INFINI_BIN" put big2
    measure infini commit2 /dev/null - "$INFINI_BIN" commit -m two
    # The repository lives in .infini/repo (the rest of .infini is workspace
    # state and cache); fall back to the whole .infini for other layouts.
    if [[ -d $ws/.infini/repo ]]; then
        repo_size infini "$ws/.infini/repo"
    else
        repo_size infini "$ws/.infini"
    fi
    measure infini get /dev/null /dev/null "$INFINI_BIN" get big
    verify infini "$INFINI_BIN" get big
}

bench_borg() {
    local repo=$WORK/borg-repo
    reset_dir "$repo"
    reset_dir "$WORK/borg-home"
    rmdir "$repo" # borg init wants to create the directory itself
    export BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=$WORK/borg-home
    export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
    echo "borg:    (BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=bench-work/borg-home)" >>"$COMMANDS_TXT"
    warm_cache
    step borg borg init --encryption=repokey-blake2 "$repo"
    measure borg put "$STREAM" - borg create --compression zstd,3 "$repo::one" -
    measure borg re-put "$STREAM" - borg create --compression zstd,3 "$repo::two" -
    repo_size borg "$repo"
    measure borg get /dev/null /dev/null borg extract --stdout "$repo::one"
    verify borg borg extract --stdout "$repo::one"
}

bench_restic() {
    local repo=$WORK/restic-repo init_opts=() backup_opts=() version
    reset_dir "$repo"
    reset_dir "$WORK/restic-cache"
    export RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=$repo RESTIC_CACHE_DIR=$WORK/restic-cache
    echo "restic:  (RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=bench-work/restic-repo RESTIC_CACHE_DIR=bench-work/restic-cache)" >>"$COMMANDS_TXT"
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
    verify restic restic dump latest big
}

bench_rustic() {
    local repo=$WORK/rustic-repo
    reset_dir "$repo"
    reset_dir "$WORK/rustic-cache"
    rmdir "$repo"
    export RUSTIC_PASSWORD=$PASSWORD RUSTIC_REPOSITORY=$repo RUSTIC_CACHE_DIR=$WORK/rustic-cache
    echo "rustic:  (RUSTIC_PASSWORD=$PASSWORD RUSTIC_REPOSITORY=bench-work/rustic-repo RUSTIC_CACHE_DIR=bench-work/rustic-cache)" >>"$COMMANDS_TXT"
    warm_cache
    step rustic rustic init
    measure rustic put "$STREAM" - rustic backup --stdin-filename big -
    # Without --force rustic takes stdin's content from the parent snapshot
    # without reading it.
    measure rustic re-put "$STREAM" - rustic backup --stdin-filename big --force -
    repo_size rustic "$repo"
    measure rustic get /dev/null /dev/null rustic dump latest:big
    verify rustic rustic dump latest:big
}

# ---------------------------------------------------------------------------
# 4. Per-command overhead: one small `get` in a workspace of many keys
# ---------------------------------------------------------------------------

# Print the key under which `put -r DIR small/` stored file k05000.
find_small_key() {
    local key=small/k05000
    if [[ $("$INFINI_BIN" get "$key" 2>/dev/null) == "value 5000" ]]; then
        echo "$key"
        return
    fi
    # Fall back to whatever name ls gives that file.
    key=$("$INFINI_BIN" ls 2>/dev/null | grep -m1 'k05000' || true)
    [[ -n $key ]] || return 1
    echo "$key"
}

bench_overhead() {
    local ws=$WORK/infini-small src=$WORK/small-src key i
    reset_dir "$ws"
    reset_dir "$src"
    for ((i = 0; i < SMALL_KEYS; i++)); do
        printf 'value %d\n' "$i" >"$(printf '%s/k%05d' "$src" "$i")"
    done
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    echo "overhead: (in an empty directory, INFINI_PASSWORD=$PASSWORD; bench-work/small-src holds $SMALL_KEYS files)" >>"$COMMANDS_TXT"
    step overhead "$INFINI_BIN" init
    measure overhead put-r /dev/null - "$INFINI_BIN" put -r "$src" small/
    measure overhead commit /dev/null - "$INFINI_BIN" commit -m small
    if ! key=$(find_small_key); then
        fail_reason overhead "no key holds the content of $src/k05000 after put -r and commit"
        warn "overhead: cannot find the key for $src/k05000"
        return 1
    fi
    record overhead - /dev/null "$INFINI_BIN" get "$key"
    meta overhead_key "$key"

    local med
    if have hyperfine && [[ ${BENCH_HYPERFINE:-1} == 1 ]]; then
        say "overhead: hyperfine, $OVERHEAD_RUNS runs of 'infini get $key'"
        hyperfine -N --warmup 3 --runs "$OVERHEAD_RUNS" --export-json "$LOGS/overhead.json" \
            "$(printf '%q ' "$INFINI_BIN" get "$key")" >>"$LOGS/overhead.log" 2>&1
        med=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"] * 1000)' \
            "$LOGS/overhead.json")
        meta overhead_method hyperfine
    else
        say "overhead: shell loop, $OVERHEAD_RUNS runs of 'infini get $key' (no hyperfine)"
        local t0 t1 samples=()
        for ((i = 0; i < OVERHEAD_RUNS; i++)); do
            t0=$(date +%s%N)
            "$INFINI_BIN" get "$key" >/dev/null
            t1=$(date +%s%N)
            samples+=($((t1 - t0)))
        done
        med=$(printf '%s\n' "${samples[@]}" | sort -n |
            awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1e6}')
        meta overhead_method "bash loop (date +%s%N)"
    fi
    meta overhead_median_ms "$med"
    meta overhead_runs "$OVERHEAD_RUNS"
    meta overhead_keys "$SMALL_KEYS"
    say "overhead: median $(printf '%.1f' "$med") ms"
}

# ---------------------------------------------------------------------------
# 5. Optional: infini against a local S3 server (BENCH_S3=1)
# ---------------------------------------------------------------------------
#
# Hook: if scripts/s3-server.sh exists it is run as `s3-server.sh start` and
# must print NAME=VALUE lines (an `export ` prefix is fine) for
# AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally
# AWS_REGION and BENCH_S3_BUCKET (default infini-bench; created if missing);
# `s3-server.sh stop` stops it. Without the script, an already running server
# named by AWS_ENDPOINT_URL (and credentials in the environment) is used.

bench_s3() {
    local line name value
    if [[ -x $S3_SERVER ]]; then
        say "s3: starting the local S3 server ($S3_SERVER start)"
        trap '"$S3_SERVER" stop >>"$LOGS/s3.log" 2>&1 || true' EXIT
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
        done < <("$S3_SERVER" start 2>>"$LOGS/s3.log")
    fi
    if [[ -z ${AWS_ENDPOINT_URL:-} ]]; then
        fail_reason s3 "no endpoint (AWS_ENDPOINT_URL) after starting the server"
        warn "s3: no endpoint (AWS_ENDPOINT_URL) after starting the server"
        return 1
    fi
    local bucket=${BENCH_S3_BUCKET:-infini-bench} ws=$WORK/infini-s3
    reset_dir "$ws"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    echo "infini-s3: (in an empty directory, INFINI_PASSWORD=$PASSWORD, AWS_* credentials of the server)" >>"$COMMANDS_TXT"
    warm_cache
    step infini-s3 "$INFINI_BIN" init --s3 "$bucket/bench-$(date +%s)" --create-bucket --endpoint "$AWS_ENDPOINT_URL"
    measure infini-s3 put "$STREAM" - "$INFINI_BIN" put big
    measure infini-s3 commit /dev/null - "$INFINI_BIN" commit -m one
    measure infini-s3 get /dev/null /dev/null "$INFINI_BIN" get big
    verify infini-s3 "$INFINI_BIN" get big
}

run_s3() {
    if [[ ${BENCH_S3:-0} != 1 ]]; then
        say "s3: skipped (BENCH_S3=1 times infini against a local S3 server)"
        return
    fi
    if ! infini_ok; then
        set_status s3 skipped "no infini binary"
    elif [[ ! -x $S3_SERVER && -z ${AWS_ENDPOINT_URL:-} ]]; then
        say "s3: skipped: scripts/s3-server.sh not present and AWS_ENDPOINT_URL not set"
        set_status s3 skipped "scripts/s3-server.sh not present"
    else
        run_tool s3
    fi
}

# ---------------------------------------------------------------------------
# 6. Report
# ---------------------------------------------------------------------------

report() {
    python3 - "$WORK" <<'PY'
import json, os, sys

work = sys.argv[1]

def tsv(name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]

meta = {k: v for k, v in tsv("meta.tsv")}
status = {r[0]: (r[1], r[2] if len(r) > 2 else "") for r in tsv("status.tsv")}
sizes = {tool: int(n) for tool, n in tsv("sizes.tsv")}
res = {}
for tool, op, wall, user, sys_, rss in tsv("results.tsv"):
    res[(tool, op)] = {"tool": tool, "op": op, "wall_s": float(wall), "user_s": float(user),
                       "sys_s": float(sys_), "cpu_s": round(float(user) + float(sys_), 2),
                       "max_rss_kib": int(rss)}
with open(os.path.join(work, "commands.txt")) as f:
    commands = f.read().rstrip("\n").splitlines()

TOOLS = ["infini", "borg", "restic", "rustic"]
PEERS = [t for t in TOOLS[1:] if status.get(t, ("",))[0] == "ok"]
OPS = [("put", "put (first)"), ("re-put", "re-put (all dedup)"), ("get", "get to /dev/null")]
infini_ok = status.get("infini", ("",))[0] == "ok"
stream_bytes = int(meta.get("stream_bytes", "0"))

def fmt(x, nd=2):
    return f"{x:.{nd}f}"

ratios = {}
for op, _ in OPS:
    base = res.get(("infini", op)) if infini_ok else None
    r = {}
    for peer in PEERS:
        p = res.get((peer, op))
        if base and p and p["wall_s"] > 0:
            r[peer] = round(base["wall_s"] / p["wall_s"], 3)
    walls = [res[(p, op)]["wall_s"] for p in PEERS if (p, op) in res]
    if base and walls and min(walls) > 0:
        best = min(PEERS, key=lambda p: res.get((p, op), {"wall_s": float("inf")})["wall_s"])
        r["best_peer"] = best
        r["best"] = round(base["wall_s"] / min(walls), 3)
    ratios[op] = r

out = []
out.append(f"# infini benchmark ({meta.get('date', '')})")
out.append("")
out.append(f"Stream: {stream_bytes:,} bytes ({meta.get('size_mb')} MB; ~77% system files from "
           f"/usr/bin, /usr/lib, /usr/share, ~23% seeded random bytes, interleaved), "
           f"sha256 `{meta.get('stream_sha256', '?')}`. Warm page cache (the stream is read before each tool).")
out.append(f"Machine: {meta.get('cores')} cores ({meta.get('cpu')}), {meta.get('mem_mib')} MiB RAM, {meta.get('kernel')}; "
           f"load average {meta.get('load_start')} at the start, {meta.get('load_end')} at the end "
           "(other work on the machine skews wall times).")
versions = []
for t in TOOLS:
    v = meta.get(f"{t}_version")
    if v:
        versions.append(f"{t}: {v}")
out.append("Versions: " + ("; ".join(versions) if versions else "n/a") + ".")
out.append("")
has_infini = any((("infini", op) in res) for op, _ in OPS)
ratio_cols = (PEERS + (["best peer"] if PEERS else [])) if has_infini else []
head = ["operation", "tool", "wall s", "CPU s (user+sys)", "peak RSS MiB"] + [f"infini/{c}" for c in ratio_cols]
out.append("| " + " | ".join(head) + " |")
out.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
for op, label in OPS:
    for tool in TOOLS:
        row = res.get((tool, op))
        if row is None:
            continue
        st = status.get(tool, ("", ""))[0]
        name = tool if st == "ok" else f"{tool} ({st or 'incomplete'})"
        cells = [label, name, fmt(row["wall_s"]), fmt(row["cpu_s"]), fmt(row["max_rss_kib"] / 1024, 1)]
        for c in ratio_cols:
            key = "best" if c == "best peer" else c
            v = ratios[op].get(key) if tool == "infini" else None
            if v is not None and c == "best peer":
                cells.append(f"{v:.2f} ({ratios[op]['best_peer']})")
            else:
                cells.append(f"{v:.2f}" if v is not None else "")
        out.append("| " + " | ".join(cells) + " |")
out.append("")
if sizes:
    out.append("| tool | repository size after both puts (MiB) | % of one stream |")
    out.append("|---|---:|---:|")
    for tool in TOOLS + ["infini-s3"]:
        if tool in sizes:
            pct = 100 * sizes[tool] / stream_bytes if stream_bytes else 0
            out.append(f"| {tool} | {sizes[tool] / 2**20:.1f} | {pct:.1f}% |")
    out.append("")

notes = []
for op in ("commit", "commit2"):
    if infini_ok and ("infini", op) in res:
        r = res[("infini", op)]
        notes.append(f"infini `commit` after {'put' if op == 'commit' else 're-put'}: "
                     f"{fmt(r['wall_s'])} s wall, {fmt(r['cpu_s'])} s CPU, {r['max_rss_kib'] / 1024:.1f} MiB peak RSS "
                     "(not included in the put rows).")
if "overhead_median_ms" in meta:
    notes.append(f"Per-command overhead: `infini get {meta.get('overhead_key')}` with {int(meta['overhead_keys']):,} keys "
                 f"committed: median **{float(meta['overhead_median_ms']):.1f} ms** over {meta['overhead_runs']} runs "
                 f"({meta.get('overhead_method')}).")
    for op, what in (("put-r", f"`put -r` of {int(meta['overhead_keys']):,} small files"), ("commit", "`commit` of those keys")):
        r = res.get(("overhead", op))
        if r:
            notes.append(f"{what}: {fmt(r['wall_s'])} s wall, {r['max_rss_kib'] / 1024:.1f} MiB peak RSS.")
s3_put, local_put = res.get(("infini-s3", "put")), res.get(("infini", "put"))
if s3_put:
    line = f"infini on local S3: put {fmt(s3_put['wall_s'])} s"
    if ("infini-s3", "get") in res:
        line += f", get {fmt(res[('infini-s3', 'get')]['wall_s'])} s"
    if local_put and s3_put["wall_s"] > 0:
        line += f"; S3 put throughput = {local_put['wall_s'] / s3_put['wall_s']:.2f} x local-directory put"
    notes.append(line + ".")
for tool, (st, msg) in status.items():
    if st != "ok":
        notes.append(f"{tool}: {st}" + (f" ({msg})" if msg else "") + ".")
if notes:
    out += [f"- {n}" for n in notes]
    out.append("")
repro = meta.get("reproduce", "make bench")
out.append(f"Reproduce: `{repro}` (or the same variables with `scripts/bench.sh`). Commands run, in order:")
out.append("")
out.append("```")
out += commands
out.append("```")
md = "\n".join(out) + "\n"

with open(os.path.join(work, "results.md"), "w") as f:
    f.write(md)
doc = {
    "date": meta.get("date"),
    "machine": {"cores": int(meta.get("cores", 0)), "cpu": meta.get("cpu"),
                "mem_mib": int(meta.get("mem_mib", 0)), "kernel": meta.get("kernel")},
    "stream": {"bytes": stream_bytes, "size_mb": int(meta.get("size_mb", 0)),
               "sha256": meta.get("stream_sha256")},
    "versions": {t: meta[f"{t}_version"] for t in TOOLS if f"{t}_version" in meta},
    "status": {t: {"status": s, "message": m} for t, (s, m) in status.items()},
    "results": list(res.values()),
    "repo_size_bytes": sizes,
    "wall_ratio_infini_over": ratios,
    "overhead": ({"key": meta.get("overhead_key"), "keys": int(meta["overhead_keys"]),
                  "runs": int(meta["overhead_runs"]), "method": meta.get("overhead_method"),
                  "median_ms": round(float(meta["overhead_median_ms"]), 3)}
                 if "overhead_median_ms" in meta else None),
    "reproduce": repro,
    "commands": commands,
}
with open(os.path.join(work, "results.json"), "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
sys.stdout.write(md)
PY
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

main() {
    [[ $SIZE_MB =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZE_MB must be a positive integer"
    mkdir -p "$WORK"
    rm -rf "$LOGS"
    mkdir -p "$LOGS"
    rm -f "$RESULTS_TSV" "$SIZES_TSV" "$STATUS_TSV" "$META_TSV" "$COMMANDS_TXT"
    touch "$RESULTS_TSV" "$SIZES_TSV" "$STATUS_TSV" "$META_TSV" "$COMMANDS_TXT"

    ensure_tools
    machine_info
    tool_versions
    build_stream   # after installing: the packages land in /usr
    warm_cache

    local tool
    for tool in $TOOLS; do
        case $tool in
        infini)
            if infini_ok; then
                run_tool infini
                run_tool overhead
            else
                say "infini: skipped: $INFINI_BIN is not an executable infini binary (set INFINI_BIN)"
                set_status infini skipped "$INFINI_BIN is not an executable infini binary"
            fi
            ;;
        rustic)
            if [[ ${BENCH_RUSTIC:-} == 0 ]]; then
                set_status rustic skipped "BENCH_RUSTIC=0"
            elif have rustic; then
                run_tool rustic
            else
                set_status rustic skipped "not installed; BENCH_RUSTIC=1 installs it (cargo install rustic-rs --locked)"
            fi
            ;;
        borg | restic)
            if have "$tool"; then
                run_tool "$tool"
            else
                set_status "$tool" skipped "not installed"
            fi
            ;;
        *) die "unknown tool '$tool' in BENCH_TOOLS" ;;
        esac
    done
    run_s3

    if [[ ${BENCH_KEEP:-0} != 1 ]]; then
        rm -rf "$WORK"/infini "$WORK"/infini-small "$WORK"/small-src "$WORK"/infini-s3 \
            "$WORK"/borg-repo "$WORK"/borg-home "$WORK"/restic-repo "$WORK"/restic-cache \
            "$WORK"/rustic-repo "$WORK"/rustic-cache
    fi
    meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
    report
    # Fail (after reporting) when any tool failed, so that `make bench` shows it.
    if cut -f2 "$STATUS_TSV" | grep -qx failed; then
        warn "some tools failed: see the notes in $WORK/results.md"
        return 1
    fi
}

main "$@"
