#!/bin/sh
# The benchmark suite: installs the peers, builds orco (release) and runs every scenario for
# orco and its peers side by side, alternating runs. Writes bench/results/LATEST.md and
# bench/results/LATEST.json. Arguments are passed to bench/bench.py (e.g. `--only respawn,ready`,
# `--no-docker`, `--respawn-tries 5`; `bench/bench.py --help` lists them).
set -eu
cd "$(dirname "$0")/.."

# --help only tells how to run it: nothing is installed, built or started.
for arg in "$@"; do
    case "$arg" in
    -h | --help)
        echo "usage: bench/run.sh [bench.py options]"
        echo "Installs the peers (Debian packages, supervisord in a venv), builds orco (release)"
        echo "and runs every scenario; writes bench/results/LATEST.md and LATEST.json."
        echo
        exec python3 bench/bench.py --help
        ;;
    esac
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# Peers from Debian. docker.io only when no docker is there already (an engine installed
# another way must not be replaced).
need=""
for pair in runsv:runit s6-svscan:s6 make:make ninja:ninja-build busybox:busybox-static \
    docker-compose:docker-compose; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need="$need ${pair#*:}"
done
command -v docker >/dev/null 2>&1 || need="$need docker.io"
python3 -c 'import venv, ensurepip' 2>/dev/null || need="$need python3-venv"
if [ -n "$need" ]; then
    echo "installing:$need" >&2
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $need >&2
fi
# Start a docker engine only if none answers and one is installed; the suite skips docker
# peers (and says why) when the engine still does not answer.
# It is stopped again when the suite ends.
DOCKERD_PID=""
if command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
    echo "starting dockerd (stopped again at the end)" >&2
    $SUDO dockerd >/tmp/orco-bench-dockerd.log 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
stop_dockerd() {
    if [ -n "$DOCKERD_PID" ]; then
        $SUDO kill -TERM "$DOCKERD_PID" 2>/dev/null || true
        wait "$DOCKERD_PID" 2>/dev/null || true
    fi
}
trap stop_dockerd EXIT

# supervisord from PyPI, in a venv outside the checkout.
VENV="${ORCO_BENCH_VENV:-$HOME/.cache/orco-bench/venv}"
if [ ! -x "$VENV/bin/supervisord" ]; then
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q supervisor >&2 ||
        echo "supervisor could not be installed: the supervisord rows are skipped" >&2
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p orco -p orco-fixture -p orco-bench
BIN="$CARGO_TARGET_DIR/release"

python3 bench/bench.py --orco "$BIN/orco" --fixture "$BIN/orco-fixture" \
    --bench-bin "$BIN/orco-bench" --supervisord "$VENV/bin/supervisord" "$@"
