#!/usr/bin/env bash
# Directory-tree benchmark: `infini put -r` + commit, the same again unchanged,
# and `infini get -r`, against borg, restic and rustic backing up and restoring
# the same directory, in one run, on one machine.
#
#   scripts/bench-tree.sh        # run by `make bench` after the stream benchmark
#
# Environment:
#   BENCH_TREE=DIR       directory to back up (default: /usr/share)
#   BENCH_WORK=DIR       working directory (default: ./bench-work)
#   INFINI_BIN=PATH      infini binary (default: target/release/infini)
#   BENCH_TOOLS="..."    tools to run (default: infini borg restic rustic; missing ones are skipped)
#   BENCH_VERIFY=0       skip the untimed check that every restore equals the tree
#   BENCH_KEEP=1         keep the repositories and restored trees
#
# The report (Markdown) goes to stdout and bench-work/tree.md; raw rows to
# bench-work/tree.tsv (tool, op, wall s, user s, sys s, max RSS KiB).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/bench-work}
TREE=${BENCH_TREE:-/usr/share}
INFINI_BIN=${INFINI_BIN:-$ROOT/target/release/infini}
TOOLS=${BENCH_TOOLS:-infini borg restic rustic}
PASSWORD=bench
GNU_TIME=/usr/bin/time
[[ $WORK == /* ]] || WORK=$PWD/$WORK
[[ $INFINI_BIN == /* ]] || INFINI_BIN=$PWD/$INFINI_BIN
W=$WORK/tree
LOGS=$W/logs
TSV=$WORK/tree.tsv
CMDS=$W/commands.txt

say() { printf '==> tree: %s\n' "$*" >&2; }
warn() { printf 'warning: tree: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
selected() { [[ " $TOOLS " == *" $1 "* ]]; }

fresh() {
    [[ $1 == "$W"/* ]] || { warn "refusing to remove $1"; exit 1; }
    rm -rf "$1"
    mkdir -p "$1"
}

# measure TOOL OP CMD...: time CMD (run by sh -c when it is one string with shell syntax).
measure() {
    local tool=$1 op=$2 tf=$LOGS/$1-$2.time wall user sys rss
    shift 2
    printf '%-7s %s\n' "$tool:" "$*" | sed "s#'$INFINI_BIN'#infini#g; s#$W#bench-work/tree#g; s#$INFINI_BIN#infini#g" >>"$CMDS"
    say "$tool $op"
    if ! "$GNU_TIME" -f '%e %U %S %M' -o "$tf" "$@" </dev/null >>"$LOGS/$tool.log" 2>&1; then
        warn "$tool $op failed; see $LOGS/$tool.log"
        tail -n 5 "$LOGS/$tool.log" >&2
        return 1
    fi
    read -r wall user sys rss <"$tf"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$op" "$wall" "$user" "$sys" "$rss" >>"$TSV"
    say "$tool $op: ${wall}s"
}

# The restored copy must equal the tree: contents, symbolic links, modes.
verify() {
    local tool=$1 dir=$2
    [[ ${BENCH_VERIFY:-1} == 1 ]] || return 0
    # Empty directories are not keys in infini (a key is a file or a link), so they are left out of the
    # comparison for every tool alike.
    { diff -r --no-dereference "$TREE" "$dir" 2>&1 || true; } | while IFS= read -r line; do
        if [[ $line =~ ^Only\ in\ (.*):\ (.*)$ ]]; then
            local p="${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
            [[ -d $p && ! -L $p && -z $(find "$p" ! -type d -print -quit) ]] && continue
        fi
        printf '%s\n' "$line"
    done >"$LOGS/$tool-verify.log"
    if [[ -s $LOGS/$tool-verify.log ]]; then
        warn "$tool: restored tree differs from $TREE (see $LOGS/$tool-verify.log)"
        printf '%s\tverify\tfailed\n' "$tool" >>"$W/status.tsv"
        return 0
    fi
    printf '%s\tverify\tok\n' "$tool" >>"$W/status.tsv"
}

tree_infini() {
    local ws=$W/infini out=$W/infini-out
    fresh "$ws"
    fresh "$out"
    rmdir "$out"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    "$INFINI_BIN" init >>"$LOGS/infini.log" 2>&1
    measure infini backup sh -c "'$INFINI_BIN' -q put -r '$TREE' t && '$INFINI_BIN' commit -m one"
    # Unchanged: nothing is staged, so there is nothing to commit.
    measure infini re-backup sh -c "'$INFINI_BIN' -q put -r '$TREE' t && if [ -n \"\$('$INFINI_BIN' diff)\" ]; then '$INFINI_BIN' commit -m two; fi"
    measure infini restore "$INFINI_BIN" -q get -r t "$out"
    verify infini "$out"
}

tree_borg() {
    local repo=$W/borg-repo out=$W/borg-out
    fresh "$repo"
    rmdir "$repo"
    fresh "$W/borg-home"
    fresh "$out"
    export BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=$W/borg-home
    export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
    borg init --encryption=repokey-blake2 "$repo" >>"$LOGS/borg.log" 2>&1
    measure borg backup borg create --compression zstd,3 "$repo::one" "$TREE"
    measure borg re-backup borg create --compression zstd,3 "$repo::two" "$TREE"
    cd "$out"
    measure borg restore borg extract "$repo::one"
    verify borg "$out${TREE}"
}

tree_restic() {
    local repo=$W/restic-repo out=$W/restic-out
    fresh "$repo"
    fresh "$W/restic-cache"
    fresh "$out"
    export RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=$repo RESTIC_CACHE_DIR=$W/restic-cache
    restic init --repository-version 2 >>"$LOGS/restic.log" 2>&1
    measure restic backup restic backup --compression auto "$TREE"
    measure restic re-backup restic backup --compression auto "$TREE"
    measure restic restore restic restore latest --target "$out"
    verify restic "$out${TREE}"
}

tree_rustic() {
    local repo=$W/rustic-repo out=$W/rustic-out
    fresh "$repo"
    rmdir "$repo"
    fresh "$W/rustic-cache"
    fresh "$out"
    export RUSTIC_PASSWORD=$PASSWORD RUSTIC_REPOSITORY=$repo RUSTIC_CACHE_DIR=$W/rustic-cache
    rustic init >>"$LOGS/rustic.log" 2>&1
    measure rustic backup rustic backup "$TREE"
    measure rustic re-backup rustic backup "$TREE"
    measure rustic restore rustic restore latest "$out"
    verify rustic "$out${TREE}"
}

report() {
    python3 - "$TSV" "$W/status.tsv" "$W/meta.tsv" "$CMDS" <<'PY'
import sys
tsv, status_f, meta_f, cmds_f = sys.argv[1:5]
rows = {}
for line in open(tsv):
    t, op, wall, user, sys_, rss = line.rstrip("\n").split("\t")
    rows[(t, op)] = (float(wall), float(user) + float(sys_), int(rss) / 1024)
status = {}
try:
    for line in open(status_f):
        t, _, s = line.rstrip("\n").split("\t")
        status[t] = s
except FileNotFoundError:
    pass
meta = dict(line.rstrip("\n").split("\t", 1) for line in open(meta_f))
peers = ["borg", "restic", "rustic"]
ops = [("backup", "backup (put -r + commit)"), ("re-backup", "same tree again, unchanged"),
       ("restore", "restore (get -r)")]
out = [f"## Trees ({meta.get('date')})", ""]
out.append(f"Tree: `{meta['tree']}`, {meta['files']} files, {meta['links']} symbolic links, {meta['bytes_mb']} MB. "
           f"Machine: {meta['cores']} cores; load average {meta['load_start']} at the start, "
           f"{meta.get('load_end', '?')} at the end (other work on the machine skews wall times; compare ratios).")
out.append("")
out.append("| operation | tool | wall ms | CPU ms | peak RSS MiB | infini / tool |")
out.append("|---|---|---:|---:|---:|---:|")
summary = []
for op, label in ops:
    base = rows.get(("infini", op))
    best = None
    for t in ["infini"] + peers:
        r = rows.get((t, op))
        if r is None:
            continue
        ratio = f"{base[0] / r[0]:.2f}" if base and t != "infini" and r[0] > 0 else ""
        flag = " (restore differs!)" if status.get(t) == "failed" else ""
        out.append(f"| {label} | {t}{flag} | {r[0] * 1000:,.0f} | {r[1] * 1000:,.0f} | {r[2]:.1f} | {ratio} |")
        if t != "infini" and (best is None or r[0] < best[1]):
            best = (t, r[0])
    if base and best:
        summary.append(f"{op}: infini {base[0] * 1000:,.0f} ms vs best peer {best[0]} {best[1] * 1000:,.0f} ms "
                       f"= **{base[0] / best[1]:.2f}x** (target <= 0.5)")
out.append("")
out += [f"- {s}" for s in summary]
out.append("")
out.append("Commands (each timed with GNU time, in this order):")
out.append("")
out.append("```")
out += open(cmds_f).read().rstrip("\n").splitlines()
out.append("```")
print("\n".join(out))
PY
}

main() {
    [[ -d $TREE ]] || { warn "$TREE is not a directory"; exit 1; }
    mkdir -p "$W"
    rm -rf "$LOGS"
    mkdir -p "$LOGS"
    : >"$TSV"
    : >"$CMDS"
    : >"$W/status.tsv"
    {
        printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf 'tree\t%s\n' "$TREE"
        printf 'files\t%s\n' "$(find "$TREE" -type f | wc -l)"
        printf 'links\t%s\n' "$(find "$TREE" -type l | wc -l)"
        printf 'bytes_mb\t%s\n' "$(du -sb "$TREE" | awk '{print int($1 / 1e6)}')"
        printf 'cores\t%s\n' "$(nproc)"
        printf 'load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$W/meta.tsv"
    # Warm the page cache for every tool alike.
    find "$TREE" -type f -print0 | xargs -0 cat >/dev/null 2>&1 || true
    local tool
    for tool in $TOOLS; do
        case $tool in
        infini) [[ -x $INFINI_BIN ]] || { warn "no infini binary at $INFINI_BIN"; continue; } ;;
        *) have "$tool" || { say "$tool not installed, skipped"; continue; } ;;
        esac
        set +e
        (
            set -e
            "tree_$tool"
        )
        local rc=$?
        set -e
        [[ $rc -eq 0 ]] || warn "$tool failed (exit $rc); its rows are incomplete"
    done
    printf 'load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$W/meta.tsv"
    report | tee "$WORK/tree.md"
    if [[ ${BENCH_KEEP:-0} != 1 ]]; then
        rm -rf "$W"/infini "$W"/infini-out "$W"/borg-* "$W"/restic-* "$W"/rustic-*
    fi
}

main "$@"
