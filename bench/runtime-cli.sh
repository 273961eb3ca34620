#!/usr/bin/env bash
# The runtime benchmark's docker CLI side: the same workload as bench-runtime.
# Usage: runtime-cli.sh DOCKER_BINARY IMAGE
set -euo pipefail
docker=$1 image=$2
id=$("$docker" run -d --network none --label io.cleanrun.run=bench "$image" sleep 3600)
for i in $(seq 0 49); do
    out=$("$docker" exec "$id" echo "$i")
    [ "$out" = "$i" ]
done
for i in $(seq 0 9); do
    out=$("$docker" run --rm --network none --label io.cleanrun.run=bench "$image" echo "$i")
    [ "$out" = "$i" ]
done
"$docker" rm -f "$id" >/dev/null
