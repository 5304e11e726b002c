#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every check CI runs:
# formatting, clippy with warnings as errors, all tests, and the documentation build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: graphviz renders `orco graph --dot`; tmux drives the TUI;
# s6 supervises the daemon in the crash test; docker.io runs the docker runtime's tests, with
# busybox-static for the test image and docker-registry for the pull test; a job task in the
# tests reports progress with curl through ORCO_HOST; iproute2 and iptables build the network
# namespaces of the multi-node tests (crates/orco/tests/netns.rs, which need root).
packages=(graphviz tmux s6 docker.io busybox-static docker-registry curl iproute2 iptables)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The docker runtime's tests need a running engine: start dockerd if none answers. No image
# can be pulled here; the tests build theirs from busybox-static.
if ! docker info >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "starting dockerd"
  $sudo sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/dockerd.log"; exit 1; }
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
echo "== cargo test"
cargo test --workspace --locked
echo "all checks passed"
