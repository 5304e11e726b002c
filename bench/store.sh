#!/bin/sh
# Store benchmark: durable appends/s, acked latency, open time and as-of latency at 1M events.
# Writes bench/results/store.md and bench/results/store.json. Usage: bench/store.sh [EVENTS]
set -eu
cd "$(dirname "$0")/.."
mkdir -p bench/results
cargo run --release -q -p orco-store --example store_bench -- bench/results/store "${1:-1000000}"
