#!/usr/bin/env bash
# Browsing a snapshot through FUSE: `infini mount` against `restic mount` and `borg mount` of the same tree, in one
# run on one machine. Times `find MOUNT | wc -l` and `cat` of every file, each on a fresh mount (nothing cached by
# the kernel for the mount), and reports each tool's time and its ratio to the best peer.
#
#   scripts/bench-mount.sh       # also run by `make bench`
#
# Environment:
#   BENCH_TREE=/usr/share   the tree to back up and browse
#   BENCH_WORK=DIR          working directory (default: ./bench-work); this script uses DIR/mount
#   INFINI_BIN=PATH         infini binary (default: target/release/infini)
#   BENCH_TOOLS="..."       tools to run (default: infini restic borg)
#
# The Markdown report goes to stdout and to bench-work/mount.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=${BENCH_WORK:-$ROOT/bench-work}
[[ $BASE == /* ]] || BASE=$PWD/$BASE
WORK=$BASE/mount
TREE=${BENCH_TREE:-/usr/share}
INFINI_BIN=${INFINI_BIN:-$ROOT/target/release/infini}
[[ $INFINI_BIN == /* ]] || INFINI_BIN=$PWD/$INFINI_BIN
TOOLS=${BENCH_TOOLS:-infini restic borg}
REPORT=$BASE/mount.md
export INFINI_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_BASE_DIR=$WORK/borg-home RESTIC_CACHE_DIR=$WORK/restic-cache

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
selected() { [[ " $TOOLS " == *" $1 "* ]]; }
fusermount_bin() { if have fusermount3; then echo fusermount3; else echo fusermount; fi; }

[[ -e /dev/fuse ]] || die "/dev/fuse is missing: FUSE mounts cannot be benchmarked here"
[[ -x $INFINI_BIN ]] || die "$INFINI_BIN is missing (cargo build --release)"
[[ -d $TREE ]] || die "$TREE is not a directory"

# Peers from Debian's packages when missing (borg mount needs llfuse or pyfuse3).
need=()
selected restic && ! have restic && need+=(restic)
selected borg && ! have borg && need+=(borgbackup)
# borg's own interpreter (its shebang), not whichever python3 is first on PATH.
borg_python() { local b; b=$(command -v borg 2>/dev/null) && head -1 "$b" | sed -n 's/^#! *\([^ ]*\).*/\1/p'; }
BORG_PY=$(borg_python || true); BORG_PY=${BORG_PY:-/usr/bin/python3}
if selected borg && ! "$BORG_PY" -c 'import llfuse' 2>/dev/null && ! "$BORG_PY" -c 'import pyfuse3' 2>/dev/null; then
    need+=(python3-llfuse)
fi
if ((${#need[@]})); then
    say "installing ${need[*]}"
    SUDO=(); [[ $EUID -eq 0 ]] || SUDO=(sudo)
    "${SUDO[@]}" apt-get install -y -qq "${need[@]}" >&2 || die "could not install ${need[*]}"
fi

mounted() { grep -qs " $1 " /proc/self/mountinfo; }
cleanup() {
    for m in "$WORK"/mnt/*; do
        [[ -d $m ]] && mounted "$m" && "$(fusermount_bin)" -uz "$m" 2>/dev/null || true
    done
}
trap cleanup EXIT
cleanup
rm -rf "$WORK"
mkdir -p "$WORK/mnt" "$WORK/logs"

# Seconds of wall time of a shell command (its stdout goes to $WORK/logs/NAME.out).
timed() {
    local name=$1; shift
    local t0 t1
    t0=$(date +%s.%N)
    bash -c "$*" >"$WORK/logs/$name.out" 2>"$WORK/logs/$name.err" || die "$name failed: $(tail -3 "$WORK/logs/$name.err")"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l | xargs printf '%.2f'
}

# Wait until a path exists under a mount (the tool serves it).
wait_for() {
    local i
    for i in $(seq 1 600); do
        [[ -e $1 ]] && return 0
        sleep 0.1
    done
    die "timed out waiting for $1"
}

declare -A FIND CAT COUNT BYTES
# Mount, time find and cat (each on a fresh mount), unmount. Args: tool, mount dir, path inside, mount command.
browse() {
    local tool=$1 mnt=$2 inner=$3; shift 3
    local mount_cmd=$*
    for op in find cat; do
        mkdir -p "$mnt"
        say "$tool: mount for $op"
        bash -c "$mount_cmd" >"$WORK/logs/$tool-mount-$op.log" 2>&1 &
        wait_for "$mnt/$inner"
        if [[ $op == find ]]; then
            FIND[$tool]=$(timed "$tool-find" "find '$mnt/$inner' | wc -l")
            COUNT[$tool]=$(cat "$WORK/logs/$tool-find.out")
        else
            CAT[$tool]=$(timed "$tool-cat" "find '$mnt/$inner' -type f -print0 | xargs -0 cat | wc -c")
            BYTES[$tool]=$(cat "$WORK/logs/$tool-cat.out")
        fi
        "$(fusermount_bin)" -u "$mnt" || "$(fusermount_bin)" -uz "$mnt"
        wait
    done
}

files=$(find "$TREE" -type f | wc -l)
say "tree: $TREE ($files files)"

if selected infini; then
    say "infini: put -r + commit"
    ws=$WORK/infini-ws
    mkdir -p "$ws"
    (cd "$ws" && "$INFINI_BIN" init -q >/dev/null && "$INFINI_BIN" put -q -r "$TREE" tree/ >/dev/null \
        && "$INFINI_BIN" commit -q -m snapshot >/dev/null 2>&1) || die "infini backup failed"
    browse infini "$WORK/mnt/infini" tree "cd '$ws' && exec '$INFINI_BIN' mount --at HEAD '$WORK/mnt/infini'"
fi
if selected restic; then
    say "restic: backup"
    restic init -q -r "$WORK/restic" >/dev/null
    restic backup -q -r "$WORK/restic" "$TREE" >/dev/null
    browse restic "$WORK/mnt/restic" "snapshots/latest$TREE" "exec restic -q -r '$WORK/restic' mount '$WORK/mnt/restic'"
fi
if selected borg; then
    say "borg: create"
    borg init -e repokey "$WORK/borg" >/dev/null 2>&1
    borg create "$WORK/borg::snap" "$TREE" >/dev/null 2>&1
    browse borg "$WORK/mnt/borg" "${TREE#/}" "exec borg mount -f '$WORK/borg::snap' '$WORK/mnt/borg'"
fi

best() { # best peer time for an op: best find|cat
    local -n arr=$1
    local b="" t
    for t in restic borg; do
        [[ -n ${arr[$t]:-} ]] || continue
        if [[ -z $b ]] || (($(echo "${arr[$t]} < $b" | bc -l))); then b=${arr[$t]}; fi
    done
    echo "$b"
}
ratio() { [[ -n $1 && -n $2 ]] && echo "$1 / $2" | bc -l | xargs printf '%.2f' || echo "-"; }

bf=$(best FIND)
bc_=$(best CAT)
{
    echo "## Browsing a snapshot through FUSE ($TREE, $files files; $(nproc) cores, $(date -u +%Y-%m-%d))"
    echo
    echo "Fresh mount per operation. Ratio: infini's time over the best peer's (goal: ≤ 0.5)."
    echo
    echo "| tool | \`find MOUNT \\| wc -l\` s | entries | \`cat\` every file s | bytes |"
    echo "|---|---|---|---|---|"
    for t in infini restic borg; do
        selected "$t" || continue
        echo "| $t | ${FIND[$t]:-} | ${COUNT[$t]:-} | ${CAT[$t]:-} | ${BYTES[$t]:-} |"
    done
    if selected infini; then
        echo
        echo "infini / best peer: find $(ratio "${FIND[infini]:-}" "$bf"), cat $(ratio "${CAT[infini]:-}" "$bc_")"
    fi
} | tee "$REPORT"
