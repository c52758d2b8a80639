# shellcheck shell=bash
# Section "history": a repository that keeps snapshots, then trims them by a retention policy. BENCH_HISTORY
# (default 200) hourly snapshots of a tree of 40 small files (a few change each time) and one 256 KiB file of new
# random bytes: `put -r --delete` + `commit --date` (restic: `backup --time`). Then `forget --keep-last 24
# --keep-daily 7` and gc (restic: `forget ... --prune`), with the repository's size before and after.
#
#   BENCH_HISTORY=200           snapshots

section history "History and retention" \
    "N hourly snapshots of a 41-file tree (40 small files, a few changed each time, and a 256 KiB file of new random bytes) committed with their times; then \`forget --keep-last 24 --keep-daily 7\` and garbage collection (infini: three \`gc --grace 0s --min-age 0s\` runs, so the condemned packs are deleted at once; restic: \`forget --prune\`). Sizes are of the repository before and after."

# Write snapshot I of the tree into DIR.
history_tree() {
    python3 - "$1" "$2" <<'PY'
import os, sys
d, i = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
for j in range(40):
    with open(os.path.join(d, f"small-{j:02d}"), "w") as f:
        f.write(f"file {j} at version {i // (j % 7 + 1)} " + "-" * 40)
with open(os.path.join(d, "big"), "wb") as f:
    f.write(os.urandom(256 * 1024))
PY
}

HISTORY_T0=1793579400 # 2026-11-02T00:30:00Z

history_build() {
    local tool=$1 n=$2 src=$3 i
    for ((i = 0; i < n; i++)); do
        history_tree "$src" "$i"
        case $tool in
        infini)
            "$INFINI_BIN" put -q -r --delete "$src" d/
            "$INFINI_BIN" commit -q -m "snapshot $i" --date "@$((HISTORY_T0 + i * 3600))" >/dev/null
            ;;
        restic)
            restic -q backup --host bench --time "$(date -u -d "@$((HISTORY_T0 + i * 3600))" '+%Y-%m-%d %H:%M:%S')" \
                "$src" >/dev/null
            ;;
        esac
    done
}

# A script that builds the history: history-build.sh TOOL N SRC (INFINI_BIN from the environment).
history_script() {
    { printf 'set -e\nHISTORY_T0=%s\n' "$HISTORY_T0"; declare -f history_tree history_build; printf 'history_build "$@"\n'; } \
        >"$WORK/history-build.sh"
}

history_infini() {
    local n=$1 ws=$WORK/history-infini-$1
    history_script
    reset_dir "$ws"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    context infini "in an empty directory, INFINI_PASSWORD=$PASSWORD; snapshots written by scripts/bench.d/50-history.sh"
    step infini "$INFINI_BIN" init
    measure infini "$n snapshots, one at a time" /dev/null - \
        env INFINI_BIN="$INFINI_BIN" bash "$WORK/history-build.sh" infini "$n" "$WORK/history-src"
    metric "infini: repository before forget, $n snapshots" "$(( $(du -sb .infini/repo | cut -f1) / 1024 ))" KiB
    measure infini "forget --keep-last 24 --keep-daily 7, $n snapshots" /dev/null - \
        "$INFINI_BIN" forget --keep-last 24 --keep-daily 7
    measure infini "collect garbage after forget" /dev/null - \
        sh -c "for r in 1 2 3; do '$INFINI_BIN' gc -q --grace 0s --min-age 0s || exit 1; done"
    metric "infini: repository after forget + gc, $n snapshots" "$(( $(du -sb .infini/repo | cut -f1) / 1024 ))" KiB
    repo_size infini "$ws/.infini/repo"
    cd "$WORK"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$ws" "$WORK/history-src" "$WORK/history-build.sh"
}

history_restic() {
    local n=$1 repo=$WORK/history-restic-$1
    history_script
    reset_dir "$repo"
    export RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=$repo
    context restic "RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=bench-work/history-restic-$n"
    rm -rf "$repo"
    step restic restic -q init
    measure restic "$n snapshots, one at a time" /dev/null - \
        bash "$WORK/history-build.sh" restic "$n" "$WORK/history-src-restic"
    metric "restic: repository before forget, $n snapshots" "$(( $(du -sb "$repo" | cut -f1) / 1024 ))" KiB
    measure restic "forget --keep-last 24 --keep-daily 7, $n snapshots" /dev/null - \
        restic -q forget --keep-last 24 --keep-daily 7
    measure restic "collect garbage after forget" /dev/null - restic -q prune
    metric "restic: repository after forget + prune, $n snapshots" "$(( $(du -sb "$repo" | cut -f1) / 1024 ))" KiB
    repo_size restic "$repo"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$repo" "$WORK/history-src-restic" "$WORK/history-build.sh"
}

run_history() {
    local n=${BENCH_HISTORY:-200}
    peer infini history_infini "$n"
    peer restic history_restic "$n"
}
