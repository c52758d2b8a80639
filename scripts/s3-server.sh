#!/usr/bin/env bash
# Start or stop a local S3 server (SeaweedFS `weed mini`) bound to 127.0.0.1, with SigV4 credentials checked.
#   scripts/s3-server.sh start   prints AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
#   scripts/s3-server.sh stop
#   scripts/s3-server.sh reset   stops it and deletes every bucket (start keeps the data of earlier runs)
# State lives in $S3_SERVER_DIR (default bench-work/s3). Ports: $S3_PORT_BASE (default 18300) and up.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${S3_SERVER_DIR:-$PWD/bench-work/s3}
BASE=${S3_PORT_BASE:-18300}
WEED=${INFINI_WEED:-$PWD/.venv-s3/bin/weed}
AK=benchaccesskey
SK=benchsecretkey0123456789

stop() {
    [[ -f $DIR/pid ]] || return 0
    local pid; pid=$(cat "$DIR/pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$DIR/pid" /tmp/seaweedfs-*-grpc-"$((BASE + 10000))".sock 2>/dev/null || true
}

# The S3 gateway answers before the volume server has told the master what it holds: after a restart, reads of
# earlier objects fail with InternalError until it has. Wait (at most 30 s) for a data node, and, when the data
# directory holds volumes from an earlier run, for the node to report them.
wait_for_volumes() {
    local status had=0
    compgen -G "$DIR/data/*.dat" >/dev/null && had=1
    for _ in $(seq 300); do
        status=$(curl -s "http://127.0.0.1:$((BASE + 1))/dir/status" || true)
        if [[ $status == *'"DataNodes":[{'* ]] && { ((had == 0)) || [[ $status != *'"Volumes":0,'* ]]; }; then
            return 0
        fi
        sleep 0.1
    done
}

start() {
    [[ -x $WEED ]] || scripts/install-s3-server.sh >&2
    stop
    # Buckets survive a restart: only `reset` deletes them.
    mkdir -p "$DIR/data" "$DIR/log"
    cat > "$DIR/s3.json" <<JSON
{"identities":[{"name":"bench","credentials":[{"accessKey":"$AK","secretKey":"$SK"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
JSON
    local args=() i=0 c
    for c in s3 master volume filer admin; do
        args+=("-$c.port=$((BASE + i))" "-$c.port.grpc=$((BASE + 10000 + i))")
        i=$((i + 1))
    done
    "$WEED" -logdir="$DIR/log" mini -dir="$DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
        -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -s3.autoCreateBucket=false \
        -s3.config="$DIR/s3.json" -s3.localSocket="$DIR/s3.sock" -filer.localSocket="$DIR/filer.sock" \
        "${args[@]}" >"$DIR/log/stdout" 2>&1 &
    echo $! > "$DIR/pid"
    local url="http://127.0.0.1:$BASE"
    for _ in $(seq 600); do
        if curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" \
            -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$url/" \
            | grep -q 200; then
            kill -0 "$(cat "$DIR/pid")" || { echo "s3 server exited" >&2; exit 1; }
            wait_for_volumes
            printf 'AWS_ENDPOINT_URL=%s\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_REGION=us-east-1\n' \
                "$url" "$AK" "$SK"
            return 0
        fi
        sleep 0.1
    done
    echo "s3 server did not become ready; see $DIR/log" >&2
    stop
    exit 1
}

case ${1:-} in
start) start ;;
stop) stop ;;
reset) stop; rm -rf "$DIR" ;;
*) echo "usage: $0 start|stop|reset" >&2; exit 2 ;;
esac
