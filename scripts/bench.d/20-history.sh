# shellcheck shell=bash
# Section "history": many small versions of a changing source tree, as an hourly snapshot of a project makes. Each
# tool stores BENCH_HISTORY versions (default 80) of the tree scripts/history-tree.py writes, one snapshot each
# (infini: `put -r --delete` + `commit`); then each runs its own maintenance (infini `gc`, borg `compact`, restic and
# rustic `prune`). Repository sizes right after the snapshots and after the maintenance. Then a retention policy
# keeps the last HISTORY_KEEP versions (infini `forget --keep-last` + `gc`, borg `prune` + `compact`, restic and
# rustic `forget --prune`), with the repository's size after it.
#
#   BENCH_HISTORY=80            versions

section history "History: many small versions" \
    "${BENCH_HISTORY:-80} versions of a synthetic 60-file source tree (0.6 MB; each version edits 1 to 4 files, every 10th adds one, every 15th deletes one: \`scripts/history-tree.py\`), one snapshot each, then each tool's maintenance (infini \`gc --min-age 0s --grace 0s\` twice: consolidate, then delete; borg \`compact\`; restic and rustic \`prune\`). Then a retention policy keeps the newest 24 versions and frees the rest (infini \`forget --keep-last 24\` and two gc runs repacking packs at least 10 % garbage, borg compact's default threshold, since what a version's small edits leave behind is a small share of the consolidated packs; borg \`prune --keep-last 24\` + \`compact\`; restic and rustic \`forget --keep-last 24 --prune\`). borg at \`zstd,3\`, restic and rustic at their default compression. Times are for all the snapshots together."

HISTORY_N=${BENCH_HISTORY:-80}
# Versions the retention policy keeps.
HISTORY_KEEP=24

history_src() {
    local dir=$WORK/keep-history-$HISTORY_N
    if [[ ! -f $dir.done ]]; then
        rm -rf "$dir"
        python3 "$ROOT/scripts/history-tree.py" "$dir" "$HISTORY_N"
        touch "$dir.done"
    fi
    echo "$dir"
}

# A script running CMD (with {} replaced by each version's directory) once per version, in order.
history_loop() {
    local src=$1 script=$WORK/history-loop-$2.sh
    shift 2
    {
        printf 'set -e\nfor v in %q/v*; do\n' "$src"
        printf '    %s\n' "$*"
        printf 'done\n'
    } >"$script"
    echo "$script"
}

history_infini() {
    local ws=$WORK/history-infini src loop
    src=$(history_src)
    reset_dir "$ws"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    context infini "in an empty directory, INFINI_PASSWORD=$PASSWORD"
    step infini "$INFINI_BIN" init
    loop=$(history_loop "$src" infini "'$INFINI_BIN' put -q -r --delete \"\$v\" p/ && '$INFINI_BIN' commit -q -m \"\$v\" >/dev/null")
    measure infini "$HISTORY_N snapshots" /dev/null - bash "$loop"
    repo_size infini "$ws/.infini/repo" "repository size after the snapshots"
    measure infini "maintenance" /dev/null - sh -c "'$INFINI_BIN' gc --min-age 0s --grace 0s && '$INFINI_BIN' gc --min-age 0s --grace 0s"
    repo_size infini "$ws/.infini/repo" "repository size after maintenance"
    step infini "$INFINI_BIN" check --read-data
    measure infini "retention: keep the last $HISTORY_KEEP versions" /dev/null - sh -c "'$INFINI_BIN' forget -q --keep-last $HISTORY_KEEP && '$INFINI_BIN' gc -q --min-age 0s --grace 0s --repack-threshold 10 && '$INFINI_BIN' gc -q --min-age 0s --grace 0s --repack-threshold 10"
    repo_size infini "$ws/.infini/repo" "repository size after keeping the last $HISTORY_KEEP versions"
    step infini "$INFINI_BIN" check --read-data
    # A version the policy kept, restored, is that version's tree.
    local mid=$((HISTORY_N - HISTORY_KEEP / 2))
    rm -rf "$WORK/history-restored"
    "$INFINI_BIN" get -q -r p/ "$WORK/history-restored" --at "HEAD~$((HISTORY_N - mid))" &&
        diff -r "$WORK/history-restored" "$src/v$(printf %04d "$mid")" >/dev/null ||
        { fail_reason infini "version $mid does not restore to the same tree"; return 1; }
    rm -rf "$WORK/history-restored"
    cd "$WORK"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$ws"
}

history_borg() {
    local repo=$WORK/history-borg src loop
    src=$(history_src)
    reset_dir "$repo"
    rmdir "$repo"
    export BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=$WORK/history-borg-home
    export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
    context borg "BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=bench-work/history-borg-home"
    step borg borg init --encryption=repokey-blake2 "$repo"
    loop=$(history_loop "$src" borg "cd \"\$v\" && borg create --compression zstd,3 '$repo::'\"\${v##*/}\" . && cd - >/dev/null")
    measure borg "$HISTORY_N snapshots" /dev/null - bash "$loop"
    repo_size borg "$repo" "repository size after the snapshots"
    measure borg "maintenance" /dev/null - borg compact "$repo"
    repo_size borg "$repo" "repository size after maintenance"
    measure borg "retention: keep the last $HISTORY_KEEP versions" /dev/null - sh -c "borg prune --keep-last $HISTORY_KEEP '$repo' && borg compact '$repo'"
    repo_size borg "$repo" "repository size after keeping the last $HISTORY_KEEP versions"
    rm -rf "$repo" "$WORK/history-borg-home"
}

history_restic() {
    local repo=$WORK/history-restic src loop
    src=$(history_src)
    reset_dir "$repo"
    export RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=$repo RESTIC_CACHE_DIR=$WORK/history-restic-cache
    context restic "RESTIC_PASSWORD=$PASSWORD RESTIC_REPOSITORY=bench-work/history-restic"
    step restic restic init --repository-version 2
    loop=$(history_loop "$src" restic "cd \"\$v\" && restic backup -q --compression auto . && cd - >/dev/null")
    measure restic "$HISTORY_N snapshots" /dev/null - bash "$loop"
    repo_size restic "$repo" "repository size after the snapshots"
    measure restic "maintenance" /dev/null - restic prune
    repo_size restic "$repo" "repository size after maintenance"
    measure restic "retention: keep the last $HISTORY_KEEP versions" /dev/null - restic forget -q --keep-last "$HISTORY_KEEP" --prune
    repo_size restic "$repo" "repository size after keeping the last $HISTORY_KEEP versions"
    rm -rf "$repo" "$WORK/history-restic-cache"
}

history_rustic() {
    local repo=$WORK/history-rustic src loop
    src=$(history_src)
    reset_dir "$repo"
    rmdir "$repo"
    export RUSTIC_PASSWORD=$PASSWORD RUSTIC_REPOSITORY=$repo RUSTIC_CACHE_DIR=$WORK/history-rustic-cache
    context rustic "RUSTIC_PASSWORD=$PASSWORD RUSTIC_REPOSITORY=bench-work/history-rustic"
    step rustic rustic init
    loop=$(history_loop "$src" rustic "cd \"\$v\" && rustic backup --no-progress . && cd - >/dev/null")
    measure rustic "$HISTORY_N snapshots" /dev/null - bash "$loop"
    repo_size rustic "$repo" "repository size after the snapshots"
    measure rustic "maintenance" /dev/null - rustic prune
    repo_size rustic "$repo" "repository size after maintenance"
    measure rustic "retention: keep the last $HISTORY_KEEP versions" /dev/null - rustic forget --keep-last "$HISTORY_KEEP" --prune
    repo_size rustic "$repo" "repository size after keeping the last $HISTORY_KEEP versions"
    rm -rf "$repo" "$WORK/history-rustic-cache"
}

run_history() {
    local tool
    target "$HISTORY_N snapshots" 0.5
    target "size:repository size after the snapshots" 2.0
    target "size:repository size after maintenance" 1.0
    history_src >/dev/null
    peer infini history_infini
    for tool in $PEER_TOOLS; do
        peer "$tool" "history_$tool"
    done
}
