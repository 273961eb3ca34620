#!/usr/bin/env bash
# TOML parser speed: a generated 10 MB document must parse in under 0.2 s.
# Usage: bench/toml-speed.sh build/bench-toml [SIZE_BYTES]
set -euo pipefail
bin=${1:?usage: toml-speed.sh BENCH_BINARY [SIZE]}
size=${2:-10000000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 "$(dirname "$0")/gen-toml.py" "$size" > "$dir/doc.toml"
bytes=$(stat -c %s "$dir/doc.toml")
best=$("$bin" "$dir/doc.toml" 5)
awk -v b="$bytes" -v t="$best" 'BEGIN {
    printf "toml-speed: %.1f MB parsed in %.3f s (best of 5) = %.0f MB/s; target < 0.200 s: %s\n",
        b / 1e6, t, b / 1e6 / t, (t < 0.2 ? "met" : "MISSED") }'
