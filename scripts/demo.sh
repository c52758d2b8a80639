#!/usr/bin/env bash
# A scripted round of infini in a fresh local repository: init, put, commit, log, get, fork, diff.
set -euo pipefail
infini=${1:-infini}
work=$(mktemp -d "${TMPDIR:-/tmp}/infini-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export INFINI_PASSWORD=${INFINI_PASSWORD:-demo-password}
run() { printf '\n$ %s\n' "$*" >&2; "$@"; }

run "$infini" init
printf 'name = "demo"\nport = 8080\n' > app.toml
run "$infini" put config/app.toml app.toml
mkdir -p site/css && echo '<h1>hi</h1>' > site/index.html && echo 'h1{}' > site/css/main.css
run "$infini" put -r site web/
run "$infini" status
first=$(run "$infini" commit -m "first measurement")
echo "committed $first" >&2
run "$infini" log
run "$infini" get config/app.toml
run "$infini" fork experiment
echo 'port = 9090' | run "$infini" put config/app.toml
run "$infini" commit -m "try another port" >/dev/null
run "$infini" diff main experiment
run "$infini" checkout "${first:0:10}"
run "$infini" ls -l
run "$infini" get config/app.toml
run "$infini" checkout main
run "$infini" check --read-data
printf '\ndemo finished: repository in %s (removed on exit)\n' "$work/.infini/repo" >&2
