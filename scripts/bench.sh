#!/usr/bin/env bash
# Side-by-side benchmark: infini against its peers (borg, restic, rustic) in one run, on one machine, reported as
# ratios against the best peer of each operation.
#
#   scripts/bench.sh            # or: make bench (builds the release binaries first)
#
# The benchmark is made of sections, one file each in scripts/bench.d/ (sourced in name order). A section file
# registers itself and defines its run function:
#
#   section NAME "Title" "One paragraph saying what is measured."
#   run_NAME() {
#       peer infini NAME_infini        # run a function for one tool; a failure is reported, the rest goes on
#       peer borg NAME_borg
#   }
#   NAME_infini() { measure infini "put" "$IN" - "$INFINI_BIN" put big; ... }
#
# Helpers a section uses (all record into the current section):
#   measure TOOL OP STDIN STDOUT CMD...   time a command (wall, CPU, peak RSS); rows with the same OP are compared
#   step TOOL CMD...                      an untimed command (its output goes to the tool's log)
#   verify TOOL CMD...                    untimed: CMD must write exactly $STREAM to stdout
#   target OP RATIO                       infini's wall time for OP should be <= RATIO x the best peer's
#   rss_target OP MIB                     infini's peak RSS for OP should be <= MIB
#   check NAME VALUE CMP LIMIT [UNIT]     any other figure with a limit (CMP: le or ge), shown with a mark
#   metric NAME VALUE [UNIT]              a figure without a limit
#   size TOOL BYTES                       a repository's size (compared like a wall time: smaller is better)
#   note TEXT                             a line of Markdown under the section's table
#
# Environment:
#   BENCH_SECTIONS="stream history keys log_path chunks s3"  sections to run, in this order (default: every section whose file is present,
#                        in file order; BENCH_S3=0 leaves the s3 section out)
#   BENCH_SIZE_MB=1300   size of the mixed stream in MB (10^6 bytes)
#   BENCH_WORK=DIR       working directory (default: ./bench-work)
#   INFINI_BIN=PATH      infini binary (default: target/release/infini)
#   BENCH_TOOLS="..."    tools to run (default: infini borg restic rustic git; git is the peer of the log_path section)
#   BENCH_RUSTIC=1       install rustic with `cargo install rustic-rs --locked` if missing (a long build);
#                        BENCH_RUSTIC=0 never runs it; unset: run it when it is on PATH
#   BENCH_VERIFY=0       skip the untimed checks that each tool returns exactly what it stored
#   BENCH_S3=0           leave out the s3 section (a local S3 server, see scripts/bench.d/40-s3.sh)
#   BENCH_KEEP=1         keep the repositories after the run
#   BENCH_COLD=0         leave out the rows measured after dropping the page cache (they need root or sudo -n)
# Sections document their own variables in their files.
#
# Progress goes to stderr; the Markdown report goes to stdout and to bench-work/results.md, machine-readable
# results to bench-work/results.json.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/bench-work}
SIZE_MB=${BENCH_SIZE_MB:-1300}
INFINI_BIN_GIVEN=${INFINI_BIN:+1}
INFINI_BIN=${INFINI_BIN:-$ROOT/target/release/infini}
PASSWORD=bench
GNU_TIME=/usr/bin/time
TOOLS=${BENCH_TOOLS:-infini borg restic rustic git}
PEER_TOOLS="borg restic rustic"

# Make paths absolute: the tools run from their own directories.
[[ $WORK == /* ]] || WORK=$PWD/$WORK
[[ $INFINI_BIN == /* ]] || INFINI_BIN=$PWD/$INFINI_BIN

STREAM=$WORK/stream.bin
LOGS=$WORK/logs
RESULTS_TSV=$WORK/results.tsv   # section, tool, op, wall s, user s, sys s, max RSS KiB
FIGURES_TSV=$WORK/figures.tsv   # section, kind, name, value, unit, cmp, limit (sizes, targets, checks, metrics)
NOTES_TSV=$WORK/notes.tsv       # section, Markdown line
STATUS_TSV=$WORK/status.tsv     # section, tool, ok|failed|skipped, message
SECTIONS_TSV=$WORK/sections.tsv # name, title, description
META_TSV=$WORK/meta.tsv         # key, value
COMMANDS_TXT=$WORK/commands.txt # every command run against a repository

SECTION=""          # the section running now
REGISTERED=()       # sections in file order

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
tab() { local IFS=$'\t'; printf '%s\n' "$*"; }

meta() { tab "$1" "$2" >>"$META_TSV"; }
set_status() { tab "$SECTION" "$1" "$2" "${3:-}" >>"$STATUS_TSV"; }
# Remember why a tool failed, for the report: fail_reason TOOL MESSAGE
fail_reason() { printf '%s' "$2" >"$LOGS/$SECTION-$1.reason"; }

# Figures of the current section.
target() { tab "$SECTION" target "$1" "" "" le "$2" >>"$FIGURES_TSV"; }
rss_target() { tab "$SECTION" rss_target "$1" "" MiB le "$2" >>"$FIGURES_TSV"; }
check() { tab "$SECTION" check "$1" "$2" "${5:-}" "$3" "$4" >>"$FIGURES_TSV"; }
metric() { tab "$SECTION" metric "$1" "$2" "${3:-}" "" "" >>"$FIGURES_TSV"; }
# size TOOL BYTES [ROW]: ROW names the table row (default "repository size"); its target is `target "size:ROW" R`
# (`target size R` for the default row).
size() { tab "$SECTION" size "$1" "$2" bytes "${3:-}" "" >>"$FIGURES_TSV"; }
note() { tab "$SECTION" "$*" >>"$NOTES_TSV"; }

# Register a section (called by the files in bench.d/): section NAME TITLE DESCRIPTION
section() {
    REGISTERED+=("$1")
    eval "SECTION_TITLE_$1=\$2"
    eval "SECTION_DESC_$1=\$3"
}

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
    printf '%-16s %s\n' "$SECTION/$tool:" "$line" >>"$COMMANDS_TXT"
}

# A line of context (environment, directory) in commands.txt.
context() { printf '%-16s (%s)\n' "$SECTION/$1:" "$2" >>"$COMMANDS_TXT"; }

# Run an untimed step; its output goes to the tool's log.
# Usage: step TOOL CMD...
step() {
    local tool=$1 log=$LOGS/$SECTION-$1.log
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
    local tool=$1 op=$2 in=$3 out=$4 log=$LOGS/$SECTION-$1.log tf=$LOGS/$SECTION-$1-${2//[^A-Za-z0-9_.-]/_}.time
    local wall user sys rss
    shift 4
    record "$tool" "$in" "$out" "$@"
    [[ $out != - ]] || out=$log
    printf '+ %s (timed: %s)\n' "$*" "$op" >>"$log"
    say "$SECTION: $tool $op: $*"
    if ! "$GNU_TIME" -f '%e %U %S %M' -o "$tf" "$@" <"$in" >>"$out" 2>>"$log"; then
        fail_reason "$tool" "$op ('$*') failed"
        warn "$tool: $op failed; last lines of $log:"
        tail -n 15 "$log" >&2
        return 1
    fi
    read -r wall user sys rss <"$tf"
    tab "$SECTION" "$tool" "$op" "$wall" "$user" "$sys" "$rss" >>"$RESULTS_TSV"
    say "$SECTION: $tool $op: ${wall}s wall, $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')s CPU, $((rss / 1024)) MiB peak RSS"
}

# Untimed check that CMD writes exactly the stream to stdout.
# Usage: verify TOOL CMD...
verify() {
    local tool=$1
    shift
    [[ ${BENCH_VERIFY:-1} == 1 ]] || return 0
    say "$SECTION: $tool: verifying that '$*' returns the stream"
    if ! "$@" 2>>"$LOGS/$SECTION-$tool.log" </dev/null | cmp -s - "$STREAM"; then
        fail_reason "$tool" "'$*' did not return the exact stream"
        warn "$tool: '$*' did not return the exact stream"
        return 1
    fi
}

# Record the on-disk size of a repository directory: repo_size TOOL DIR
repo_size() {
    local bytes
    if ! bytes=$(du -sb "$2" 2>/dev/null | cut -f1) || [[ -z $bytes ]]; then
        warn "$1: no repository at $2 to measure"
        return 0
    fi
    size "$1" "$bytes" "${3:-}"
}

# Read the stream so that every tool starts from a warm page cache (dropping the cache needs privileges the
# benchmark does not assume).
warm_cache() { cat "$STREAM" >/dev/null; }

# Drop the page cache (with BENCH_COLD=1, the default, and where this user may: root, or sudo without a password),
# so that the next command reads what it needs from the disk, as a restore long after a backup does. Fails where it
# cannot; the rows measured after it are then left out.
drop_page_cache() {
    [[ ${BENCH_COLD:-1} == 1 ]] || return 1
    sync
    if [[ $EUID -eq 0 ]]; then
        echo 3 2>/dev/null >/proc/sys/vm/drop_caches
    else
        echo 3 | sudo -n tee /proc/sys/vm/drop_caches >/dev/null 2>&1
    fi
}

infini_ok() { [[ -x $INFINI_BIN ]] && "$INFINI_BIN" --version >/dev/null 2>&1; }

# Whether TOOL can run: selected, installed (and for rustic, not turned off).
tool_available() {
    local tool=$1
    selected "$tool" || return 1
    case $tool in
    infini) infini_ok ;;
    rustic) [[ ${BENCH_RUSTIC:-} != 0 ]] && have rustic ;;
    *) have "$tool" ;;
    esac
}

# Run FUNC for TOOL in a subshell with errexit on, so that a failing tool is reported and the others still run.
# A tool that is not selected or not installed is recorded as skipped. Usage: peer TOOL FUNC [ARGS...]
peer() {
    local tool=$1 func=$2 rc reason
    shift 2
    # A section that does not run this tool (git is only the log section's peer) has no function for it.
    declare -F "$func" >/dev/null || return 0
    if ! tool_available "$tool"; then
        set_status "$tool" skipped "$(skip_reason "$tool")"
        return 0
    fi
    say "---- $SECTION: $tool ----"
    set +e
    (
        set -e
        "$func" "$@"
    )
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then
        set_status "$tool" ok
    else
        reason=$(cat "$LOGS/$SECTION-$tool.reason" 2>/dev/null || echo "exit $rc")
        set_status "$tool" failed "${reason//$'\t'/ }; log: bench-work/logs/$SECTION-$tool.log"
        warn "$SECTION: $tool failed (exit $rc); its rows are left out of the ratios"
    fi
}

skip_reason() {
    case $1 in
    infini) selected infini && echo "$INFINI_BIN is not an executable infini binary (set INFINI_BIN)" || echo "not in BENCH_TOOLS" ;;
    rustic)
        if ! selected rustic; then echo "not in BENCH_TOOLS"
        elif [[ ${BENCH_RUSTIC:-} == 0 ]]; then echo "BENCH_RUSTIC=0"
        else echo "not installed; BENCH_RUSTIC=1 installs it (cargo install rustic-rs --locked)"; fi ;;
    *) selected "$1" && echo "not installed" || echo "not in BENCH_TOOLS" ;;
    esac
}

# ---------------------------------------------------------------------------
# Tools and machine
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

    if selected rustic && [[ ${BENCH_RUSTIC:-} == 1 ]] && ! have rustic; then
        say "installing rustic with 'cargo install rustic-rs --locked' (this takes a long time)"
        cargo install rustic-rs --locked >>"$LOGS/rustic-install.log" 2>&1 ||
            warn "rustic install failed (see $LOGS/rustic-install.log)"
    fi
    if selected rustic && [[ ${BENCH_RUSTIC:-} != 0 ]] && ! have rustic; then
        say "rustic: not installed, skipped (BENCH_RUSTIC=1 installs it with 'cargo install rustic-rs --locked')"
    fi
    return 0
}

tool_versions() {
    local v
    if infini_ok; then
        v=$("$INFINI_BIN" --version 2>/dev/null | head -n1) || v="unknown"
        meta infini_version "${v:-unknown}"
    fi
    meta infini_bin "$INFINI_BIN"
    local repro="" var
    for var in BENCH_SECTIONS BENCH_SIZE_MB BENCH_TOOLS BENCH_RUSTIC BENCH_S3 BENCH_VERIFY BENCH_KEYS BENCH_CHUNKS BENCH_HISTORY BENCH_LOG_COMMITS; do
        [[ -z ${!var:-} ]] || repro+="$var=$(shquote "${!var}") "
    done
    [[ -z $INFINI_BIN_GIVEN ]] || repro+="INFINI_BIN=$(shquote "$INFINI_BIN") "
    meta reproduce "${repro}${BENCH_TARGET:-make bench}"
    tool_available borg && meta borg_version "$(borg --version 2>/dev/null)"
    tool_available restic && meta restic_version "$(restic version 2>/dev/null | head -n1)"
    tool_available rustic && meta rustic_version "$(rustic --version 2>/dev/null | head -n1)"
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
# The shared input: system files interleaved with seeded pseudo-random bytes
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
# Sections
# ---------------------------------------------------------------------------

for f in "$ROOT"/scripts/bench.d/*.sh; do
    # shellcheck source=/dev/null
    [[ -e $f ]] && source "$f"
done

run_section() {
    local name=$1 title_var="SECTION_TITLE_$1" desc_var="SECTION_DESC_$1"
    declare -F "run_$name" >/dev/null || die "unknown section '$name' (sections: ${REGISTERED[*]})"
    SECTION=$name
    tab "$name" "${!title_var}" "${!desc_var}" >>"$SECTIONS_TSV"
    say "======== section $name: ${!title_var} ========"
    "run_$name"
    SECTION=""
}

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

report() {
    python3 "$ROOT/scripts/bench-report.py" "$WORK"
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

main() {
    [[ $SIZE_MB =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZE_MB must be a positive integer"
    mkdir -p "$WORK"
    rm -rf "$LOGS"
    mkdir -p "$LOGS"
    rm -f "$RESULTS_TSV" "$FIGURES_TSV" "$NOTES_TSV" "$STATUS_TSV" "$SECTIONS_TSV" "$META_TSV" "$COMMANDS_TXT"
    touch "$RESULTS_TSV" "$FIGURES_TSV" "$NOTES_TSV" "$STATUS_TSV" "$SECTIONS_TSV" "$META_TSV" "$COMMANDS_TXT"

    local sections=${BENCH_SECTIONS:-}
    if [[ -z $sections ]]; then
        local s
        for s in "${REGISTERED[@]}"; do
            # Sections that need something extra say so with a default_off_NAME function.
            if declare -F "default_off_$s" >/dev/null && "default_off_$s"; then
                continue
            fi
            sections+="${sections:+ }$s"
        done
    fi

    ensure_tools
    machine_info
    tool_versions
    build_stream # after installing: the packages land in /usr
    warm_cache

    local name
    for name in $sections; do
        run_section "$name"
    done

    if [[ ${BENCH_KEEP:-0} != 1 ]]; then
        find "$WORK" -mindepth 1 -maxdepth 1 -type d ! -name logs ! -name s3 ! -name s3-server ! -name 'keep-*' -exec rm -rf {} +
    fi
    meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
    report
    # Fail (after reporting) when any tool failed, so that `make bench` shows it.
    if cut -f3 "$STATUS_TSV" | grep -qx failed; then
        warn "some tools failed: see the notes in $WORK/results.md"
        return 1
    fi
}

main "$@"
