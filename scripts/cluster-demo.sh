#!/usr/bin/env bash
# A cluster on one machine: `orco server` and three `orco agent`s, each in its own network
# namespace on a bridge, as if on four machines. Needs root, iproute2 and iptables.
#
#   scripts/cluster-demo.sh start           # server 10.213.0.2, agents n1 n2 n3 (.3 .4 .5)
#   export ORCO_HOST=unix:///tmp/orco-demo/server.sock
#   scripts/cluster-demo.sh kill n1         # n1's machine dies: every process in it, at once
#   scripts/cluster-demo.sh partition n2    # n2 cut off (iptables DROP on its link)
#   scripts/cluster-demo.sh heal n2
#   scripts/cluster-demo.sh restart n1      # n1 boots again and rejoins
#   scripts/cluster-demo.sh stop            # everything removed
#
# ORCO (the binary; default: `orco` on PATH, else target/debug/orco), ORCO_DEMO_DIR (default
# /tmp/orco-demo) and ORCO_DEMO_NET (the /24's first three octets, default 10.213.0) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${ORCO_DEMO_DIR:-/tmp/orco-demo}
NET=${ORCO_DEMO_NET:-10.213.0}
ORCO=${ORCO:-$(command -v orco || echo "$PWD/target/debug/orco")}
ORCO=$(realpath "$ORCO")
BRIDGE=orcodemo0
PORT=7443
NODES=(n1 n2 n3)

ns_of() { echo "orco-demo-$1"; }
# The host's index on the bridge: srv .2, n1 .3, n2 .4, n3 .5.
index_of() {
  case "$1" in
    srv) echo 2 ;;
    n*) echo $((${1#n} + 2)) ;;
    *) echo "unknown host $1 (srv, n1, n2, n3)" >&2; exit 2 ;;
  esac
}
link_of() { echo "od$(index_of "$1")"; }

need_root() {
  [ "$(id -u)" -eq 0 ] || { echo "network namespaces need root: run as root (or with sudo)" >&2; exit 1; }
  command -v ip >/dev/null && command -v iptables >/dev/null \
    || { echo "iproute2 and iptables are needed: apt-get install iproute2 iptables" >&2; exit 1; }
}

add_host() {
  local name=$1 ns i
  ns=$(ns_of "$name"); i=$(index_of "$name")
  ip netns add "$ns"
  ip link add "od${i}h" type veth peer name "od${i}"
  ip link set "od${i}" netns "$ns"
  ip link set "od${i}h" master "$BRIDGE" up
  ip -n "$ns" addr add "$NET.$i/24" dev "od${i}"
  ip -n "$ns" link set "od${i}" up
  ip -n "$ns" link set lo up
}

start_agent() {
  local node=$1
  ip netns exec "$(ns_of "$node")" setsid "$ORCO" agent --join "https://$NET.2:$PORT" \
    --token-file "$DIR/join-token" --node "$node" --data-dir "$DIR/$node" \
    --capacity cpu=2,memory=2Gi </dev/null >>"$DIR/$node.log" 2>&1 &
  echo "agent $node: pid $!, $NET.$(index_of "$node"), log $DIR/$node.log"
}

# Every process in a host's namespace, killed at once (the machine dies).
kill_host() {
  local ns pids
  ns=$(ns_of "$1")
  for _ in $(seq 1 50); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    kill -CONT $pids 2>/dev/null || true
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
}

start() {
  need_root
  [ -x "$ORCO" ] || { echo "no orco binary at $ORCO: cargo build, or set ORCO" >&2; exit 1; }
  if [ -e "/run/netns/$(ns_of srv)" ]; then
    echo "a demo is running: scripts/cluster-demo.sh stop first" >&2; exit 1
  fi
  mkdir -p "$DIR" && chmod 700 "$DIR"
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Docker's FORWARD policy (DROP) would drop bridged frames when br_netfilter is loaded.
  iptables -w -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
  for h in srv "${NODES[@]}"; do add_host "$h"; done

  printf 'demo-api-token-%s\n' "$RANDOM$RANDOM" > "$DIR/api-token"
  chmod 600 "$DIR/api-token"
  ip netns exec "$(ns_of srv)" setsid "$ORCO" server --data-dir "$DIR/server" \
    --socket "$DIR/server.sock" --listen "$NET.2:$PORT" --token-file "$DIR/api-token" \
    </dev/null >>"$DIR/server.log" 2>&1 &
  echo "server: pid $!, https://$NET.2:$PORT, log $DIR/server.log"
  export ORCO_HOST="unix://$DIR/server.sock"
  for _ in $(seq 1 100); do
    "$ORCO" cluster health >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$ORCO" cluster health >/dev/null || { echo "the server did not start: see $DIR/server.log" >&2; exit 1; }
  (umask 077 && "$ORCO" cluster token create --reusable > "$DIR/join-token")
  for n in "${NODES[@]}"; do start_agent "$n"; done
  for _ in $(seq 1 100); do
    [ "$("$ORCO" node list 2>/dev/null | grep -c ' ready')" -ge ${#NODES[@]} ] && break
    sleep 0.2
  done
  "$ORCO" node list
  echo
  echo "export ORCO_HOST=unix://$DIR/server.sock"
}

stop() {
  need_root
  for h in "${NODES[@]}" srv; do
    kill_host "$h"
    ip netns del "$(ns_of "$h")" 2>/dev/null || true
  done
  iptables -w -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$DIR"
  echo "stopped"
}

drop_rules() {
  local ns link
  ns=$(ns_of "$2"); link=$(link_of "$2")
  ip netns exec "$ns" iptables -w "$1" INPUT -i "$link" -j DROP
  ip netns exec "$ns" iptables -w "$1" OUTPUT -o "$link" -j DROP
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) need_root; kill_host "${2:?which node}"; echo "$2: every process killed" ;;
  restart) need_root; start_agent "${2:?which node}" ;;
  partition) need_root; drop_rules -A "${2:?which node}"; echo "$2 cut off" ;;
  heal) need_root; drop_rules -D "${2:?which node}"; echo "$2 healed" ;;
  *)
    echo "usage: $0 start|stop|kill NODE|restart NODE|partition NODE|heal NODE" >&2
    exit 2
    ;;
esac
