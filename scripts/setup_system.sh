#!/usr/bin/env bash
# Install, idempotently, what the test suite needs beyond the venv:
# - Debian's chromium for the console's browser tests (never a downloaded browser build), and
#   the playwright wheel, which carries its driver (`playwright install` is never run);
# - Debian's etcd-server, which the benchmarks compare against (tests/bench runs both sides);
# - Debian's postgresql, whose binaries the PostgreSQL backend's tests run clusters with
#   (configd/testing_postgres.py; no service is used).
#   bash scripts/setup_system.sh [PYTHON]     # PYTHON defaults to .venv/bin/python
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${1:-$ROOT/.venv/bin/python}"

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium fonts-dejavu-core)
command -v etcd >/dev/null 2>&1 || packages+=(etcd-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || packages+=(postgresql)
if [ "${#packages[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${packages[@]}"
    # Debian's package starts an etcd service where an init system runs; the benchmarks start
    # their own on free ports, so stop that one if it is there.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
        $SUDO systemctl stop etcd || true
    fi
    # Likewise the cluster Debian's postgresql package creates and starts.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet postgresql 2>/dev/null; then
        $SUDO systemctl stop postgresql || true
    fi
fi

if ! "$PYTHON" -c "import playwright" 2>/dev/null; then
    "$PYTHON" -m pip install -q "playwright>=1.45"
fi

/usr/bin/chromium --version
# No `| head`: under pipefail, etcd killed by SIGPIPE after the first line fails the script (141).
etcd_version="$(etcd --version)"
echo "${etcd_version%%$'\n'*}"
initdb_bin="$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1)"
"$initdb_bin" --version
"$PYTHON" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
