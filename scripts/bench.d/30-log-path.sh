# shellcheck shell=bash
# Section "log_path": `infini log -- KEY` (the commits that changed one key) over a long history, against
# `git log -- PATH` over the same history. Both tools commit the same BENCH_LOG_COMMITS versions (default 1000) of a
# 60-file source tree that scripts/log-history.py writes (each version edits 1 to 4 files; the watched file changes
# in about 1 commit in 24); then each lists the commits that changed the watched file, one line each.
#
#   BENCH_LOG_COMMITS=1000      commits in the history

section log_path "History of one key: log -- KEY" \
    "\`infini log --oneline -- KEY\` against \`git log --oneline -- PATH\`, over the same ${BENCH_LOG_COMMITS:-1000} commits of a 60-file source tree (\`scripts/log-history.py\`: each commit edits 1 to 4 files; the watched file, \`src/mod3/file37.rs\`, changes in about 1 commit in 24). infini commits each version with \`put -r --delete\` + \`commit\`, git with \`add -A\` + \`commit\`. Goal: at most 1 s, and within 5× of git."

LOG_N=${BENCH_LOG_COMMITS:-1000}
LOG_FILE=src/mod3/file37.rs
LOG_OP="log -- KEY ($LOG_N commits)"

log_path_infini() {
    local ws=$WORK/log-path-infini out=$WORK/log-path-infini.out wall
    reset_dir "$ws"
    mkdir -p "$ws/tree"
    cd "$ws"
    export INFINI_PASSWORD=$PASSWORD
    context infini "in an empty directory, INFINI_PASSWORD=$PASSWORD"
    step infini "$INFINI_BIN" init
    say "log_path: infini: committing $LOG_N versions"
    step infini python3 "$ROOT/scripts/log-history.py" "$ws/tree" "$LOG_N" \
        "'$INFINI_BIN' put -q -r --delete . p/ && '$INFINI_BIN' commit -q -m \"v\$V\" >/dev/null"
    # A first run warms the caches, as git's repository is warm in the page cache.
    step infini "$INFINI_BIN" log --oneline -- "p/$LOG_FILE"
    measure infini "$LOG_OP" /dev/null "$out" "$INFINI_BIN" log --oneline -- "p/$LOG_FILE"
    wall=$(awk -F'\t' -v op="$LOG_OP" '$1 == "log_path" && $2 == "infini" && $3 == op {w = $4} END {print w}' "$RESULTS_TSV")
    check "infini $LOG_OP, wall time" "$wall" le 1 s
    metric "commits that changed $LOG_FILE (infini)" "$(wc -l <"$out")"
    cd "$WORK"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$ws"
}

log_path_git() {
    local repo=$WORK/log-path-git out=$WORK/log-path-git.out
    reset_dir "$repo"
    cd "$repo"
    export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.org GIT_COMMITTER_NAME=bench
    export GIT_COMMITTER_EMAIL=bench@example.org
    context git "in an empty directory, GIT_AUTHOR_NAME=bench GIT_COMMITTER_NAME=bench"
    step git git init -q
    say "log_path: git: committing $LOG_N versions"
    step git python3 "$ROOT/scripts/log-history.py" "$repo" "$LOG_N" \
        "git add -A && git commit -q -m \"v\$V\""
    step git git log --oneline -- "$LOG_FILE"
    measure git "$LOG_OP" /dev/null "$out" git log --oneline -- "$LOG_FILE"
    metric "commits that changed $LOG_FILE (git)" "$(wc -l <"$out")"
    cd "$WORK"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$repo"
}

run_log_path() {
    target "$LOG_OP" 5.0
    peer infini log_path_infini
    peer git log_path_git
    # Both list the same commits.
    if [[ -f $WORK/log-path-infini.out && -f $WORK/log-path-git.out ]]; then
        local a b
        a=$(wc -l <"$WORK/log-path-infini.out")
        b=$(wc -l <"$WORK/log-path-git.out")
        check "commits listed by infini and by git that differ in number" "$((a > b ? a - b : b - a))" le 0
        [[ $a -eq $b ]] || warn "log_path: infini lists $a commits, git $b"
    fi
    rm -f "$WORK/log-path-infini.out" "$WORK/log-path-git.out"
}
