#!/usr/bin/env bash
# Crash-proof cleanup, against a real engine:
#   N runs interrupted by SIGINT at random moments: nothing labelled remains
#   after each one exits (the run cleans up itself);
#   N runs killed by SIGKILL at random moments (so nothing of theirs can
#   clean up), then one `cleanrun gc`: nothing labelled remains.
# A second SIGINT forces removal at once: checked too.
# Usage: tests/e2e/interrupt.sh CLEANRUN_BINARY ENDPOINT [N]
set -uo pipefail
bin=$1 endpoint=$2 n=${3:-20}
cd "$(dirname "$0")/../.."
sock=${endpoint#unix://}
# Apple's CLI (its emulator): its containers, networks and volumes are the
# Docker engine's at $CONTAINER_EMU_DOCKER_HOST, labelled the same
if [ -x "$endpoint" ] && [ ! -S "$endpoint" ]; then
    sock=${CONTAINER_EMU_DOCKER_HOST:-unix:///var/run/docker.sock}
    sock=${sock#unix://}
fi
# the native runtime: no engine to ask; its containers are records and
# directories under the store's containers/ (and, while they live, cgroups
# under /sys/fs/cgroup/*/cleanrun/ and processes in them)
native=false
case $endpoint in native://*)
    native=true
    store=${endpoint#native://}
    ;;
esac
# the example specs, and one that holds the run open for longer than the
# longest delay below (the examples alone may finish first: runs got faster)
long=$(mktemp -d /tmp/cleanrun-interrupt-XXXXXX)
# the runs' TMPDIR, where a runtime that copies only into running
# containers keeps each run's private host directory: none may remain
runtmp=$(mktemp -d /tmp/cleanrun-interrupt-tmp-XXXXXX)
export TMPDIR=$runtmp
trap 'rm -rf "$long" "$runtmp"' EXIT
hostdirs() { find "$runtmp" -mindepth 1 -maxdepth 1 -name 'cleanrun-*' | wc -l; }
cat >"$long/long.cleanrun.toml" <<'EOF'
[test]
name = "holds-the-run-open"
[services.s]
image = "localhost/cleanrun/busybox:1"
command = ["sleep", "1000"]
[[steps]]
service = "s"
run = ["sleep", "8"]
[[steps]]
image = "localhost/cleanrun/busybox:1"
run = ["true"]
EOF
specs=("$long/long.cleanrun.toml" specs/http-service.cleanrun.toml specs/depends-on.cleanrun.toml
    specs/ephemeral-tools.cleanrun.toml specs/slow-start.cleanrun.toml)
# (native has no networks yet: the examples that need one are refused)
$native && specs=("$long/long.cleanrun.toml" specs/ephemeral-tools.cleanrun.toml
    specs/slow-start.cleanrun.toml specs/matrix.cleanrun.toml)
pass=0 fail=0

# native: the records carrying a label (and directories of containers
# without a record), as JSON ids when asked
native_records() { # LABEL [ids]
    python3 - "$store/containers" "$1" "${2:-}" <<'PY'
import json, os, sys
d, label, ids = sys.argv[1], sys.argv[2], sys.argv[3]
found, n = [], 0
names = os.listdir(d) if os.path.isdir(d) else []
for f in names:
    p = os.path.join(d, f)
    if f.endswith(".json"):
        try:
            r = json.load(open(p))
        except (OSError, ValueError):
            continue
        if label in r.get("labels", {}):
            found.append(r["id"])
    elif os.path.isdir(p) and f + ".json" not in names:
        n += 1
print(json.dumps(found) if ids else len(found) + n)
PY
}
# native: what of a container lives on the host: cgroups, processes in
# them, mounts of the store's containers
native_live() {
    local cg procs mounts
    cg=$(find /sys/fs/cgroup/*/cleanrun -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
    procs=$(cat /sys/fs/cgroup/*/cleanrun/*/cgroup.procs 2>/dev/null | sort -u | wc -l)
    mounts=$(grep -c " $store/containers/" /proc/self/mountinfo)
    echo "$cg cgroups, $procs processes, $mounts mounts"
}

# everything carrying a cleanrun run label: containers, networks, volumes
labelled() {
    if $native; then
        native_records io.cleanrun.run
        return
    fi
    local f='filters=%7B%22label%22%3A%5B%22io.cleanrun.run%22%5D%7D' c nw v
    c=$(curl -s --unix-socket "$sock" "http://localhost/v1.41/containers/json?all=1&$f" | grep -o '"Id":"[0-9a-f]*' | wc -l)
    nw=$(curl -s --unix-socket "$sock" "http://localhost/v1.41/networks?$f" | grep -o '"Name":"[^"]*' | wc -l)
    v=$(curl -s --unix-socket "$sock" "http://localhost/v1.41/volumes?$f" | grep -o '"Name":"[^"]*' | wc -l)
    echo $((c + nw + v))
}
# the containers of services (io.cleanrun.service): not the short-lived
# ones a backend may make on the way (Apple 0.x's image probes), which may
# be gone by the time gc looks
service_containers() {
    if $native; then
        native_records io.cleanrun.service
        return
    fi
    curl -s --unix-socket "$sock" \
        'http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22io.cleanrun.service%22%5D%7D' |
        grep -o '"Id":"[0-9a-f]*' | wc -l
}
# a random delay of 0 to 3.5 s, in ms steps
rnd_sleep() { sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", (r % 3500) / 1000 }')"; }

if [ "$(labelled)" != 0 ]; then
    "$bin" gc --host "$endpoint" >/dev/null
fi

bad=0
for ((i = 1; i <= n; i++)); do
    "$bin" run --host "$endpoint" --no-color -q -j 2 --no-gc "${specs[@]}" >/dev/null 2>&1 &
    pid=$!
    rnd_sleep
    kill -INT "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    left=$(labelled) dirs=$(hostdirs)
    # every run lasts longer than the longest delay: it must end interrupted
    # (a signal taken by a thread that did not block it was once lost)
    if [ "$left" != 0 ] || [ "$rc" != 130 ] || [ "$dirs" != 0 ]; then
        echo "FAIL sigint run $i: exit $rc, $left labelled resources and $dirs host directories left"
        bad=$((bad + 1))
        "$bin" gc --host "$endpoint" >/dev/null
    fi
done
if [ $bad = 0 ]; then
    echo "ok   $n runs interrupted by SIGINT at random moments: nothing left"
    pass=$((pass + 1))
else
    fail=$((fail + 1))
fi

# a second SIGINT: forced removal at once, exit 130
"$bin" run --host "$endpoint" --no-color -q -j 2 --no-gc "${specs[@]}" >/tmp/cleanrun-int2.$$ 2>&1 &
pid=$!
# mid-run, with something of it on the engine (bounded): interrupted before
# anything exists, a run ends before a second SIGINT can find work (CI
# once saw that on Podman under load, 1.5 s after the start)
for ((w = 0; w < 300; w++)); do
    [ "$(labelled)" != 0 ] && break
    sleep 0.1
done
kill -INT "$pid"
# (native removes its containers in a few ms: the second comes at once)
$native || sleep 0.05
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
left=$(labelled)
if [ "$rc" = 130 ] && [ "$left" = 0 ] && grep -q "second SIGINT: removed" /tmp/cleanrun-int2.$$; then
    echo "ok   second SIGINT: forced removal, exit 130, nothing left"
    pass=$((pass + 1))
elif $native && [ "$rc" = 130 ] && [ "$left" = 0 ] && grep -q "interrupted (SIGINT); cleaned up" /tmp/cleanrun-int2.$$; then
    # native's own cleanup can end before the second signal is taken
    echo "ok   second SIGINT: the first one's cleanup had finished, exit 130, nothing left"
    pass=$((pass + 1))
else
    echo "FAIL second SIGINT: exit $rc, $left left (no \"second SIGINT: removed\" line, or not 130, or left)"
    sed 's/^/    | /' /tmp/cleanrun-int2.$$ | tail -n 5
    fail=$((fail + 1))
    "$bin" gc --host "$endpoint" >/dev/null
fi
rm -f /tmp/cleanrun-int2.$$

leftover_runs=0
for ((i = 1; i <= n; i++)); do
    "$bin" run --host "$endpoint" --no-color -q -j 2 --no-gc "${specs[@]}" >/dev/null 2>&1 &
    pid=$!
    rnd_sleep
    # the last run, when every earlier one was killed before it had made
    # anything (a slow engine, few runs): killed once it has, so that gc
    # has something to remove (at most 30 s)
    if [ "$i" = "$n" ] && [ "$leftover_runs" = 0 ]; then
        for ((w = 0; w < 300; w++)); do
            [ "$(labelled)" != 0 ] && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ "$(labelled)" != 0 ] && leftover_runs=$((leftover_runs + 1))
done
before=$(labelled) dirs_before=$(hostdirs)
# ps sees what the killed runs left, and knows their owners are gone
"$bin" ps --host "$endpoint" --format json >/tmp/cleanrun-ps.$$ 2>&1
"$bin" ps --host "$endpoint" --format json --state running --name '*' >/tmp/cleanrun-ps-run.$$ 2>&1
"$bin" ps --host "$endpoint" --format json --test no-such-test >/tmp/cleanrun-ps-none.$$ 2>&1
if $native; then
    native_records io.cleanrun.run ids >/tmp/cleanrun-ps-eng.$$
else
    curl -s --unix-socket "$sock" \
        "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22io.cleanrun.run%22%5D%7D" \
        >/tmp/cleanrun-ps-eng.$$
fi
if python3 - /tmp/cleanrun-ps.$$ /tmp/cleanrun-ps-run.$$ /tmp/cleanrun-ps-none.$$ /tmp/cleanrun-ps-eng.$$ <<'PY'; then
import json, sys
every, running, none = (json.load(open(p)) for p in sys.argv[1:4])
assert all(c["owner"] == "gone" for c in every), [c["owner"] for c in every]
assert all(c["run"] and c["state"] and c["id"] for c in every)
assert {c["id"] for c in running} <= {c["id"] for c in every}
assert all(c["state"] == "running" for c in running)
assert none == []
# the same set as the engine's own label filter (native: its records)
# (Apple's ids are the containers' names: the emulator's Docker names)
ids = {c["id"] for c in every}
eng = json.load(open(sys.argv[4]))
eng = [{"Id": e, "Names": ["/" + e]} if isinstance(e, str) else e for e in eng]
# (runs killed before their first container left only networks or
# volumes: then there is nothing to list, and ps must list nothing)
assert every or not eng, "ps lists nothing, the engine lists %d" % len(eng)
assert {c["Id"] for c in eng} == ids or {c["Names"][0].lstrip("/") for c in eng} == ids, ids
PY
    echo "ok   ps --format json lists the killed runs' containers (owner gone), filters by state, name, test"
    pass=$((pass + 1))
else
    echo "FAIL ps"
    head -c 600 /tmp/cleanrun-ps.$$
    fail=$((fail + 1))
fi
rm -f /tmp/cleanrun-ps.$$ /tmp/cleanrun-ps-run.$$ /tmp/cleanrun-ps-none.$$ /tmp/cleanrun-ps-eng.$$
out=$("$bin" gc --host "$endpoint" | tr '\n' ' ')
after=$(labelled) dirs_after=$(hostdirs)
if [ "$after" = 0 ] && [ "$before" -gt 0 ] && [ "$dirs_after" = 0 ]; then
    echo "ok   $n runs killed by SIGKILL ($before labelled resources, $dirs_before host directories left, $out): nothing remains"
    pass=$((pass + 1))
else
    echo "FAIL SIGKILL then gc: $before before, $after after; host directories $dirs_before before, $dirs_after after ($out)"
    find "$runtmp" -mindepth 1 -maxdepth 1 | sed 's/^/    | /'
    fail=$((fail + 1))
fi
# native: nothing of a container lives on: no cgroup, no process, no mount
if $native; then
    live=$(native_live)
    if [ "$live" = "0 cgroups, 0 processes, 0 mounts" ]; then
        echo "ok   native: after the killed runs and gc, $live"
        pass=$((pass + 1))
    else
        echo "FAIL native: after the killed runs and gc, $live"
        fail=$((fail + 1))
    fi
fi
# gc never touches a live run
"$bin" run --host "$endpoint" --no-color -q -j 1 --no-gc specs/slow-start.cleanrun.toml >/dev/null 2>&1 &
pid=$!
# until its service container exists (bounded): the readiness wait holds
# the run there for 2 s
for ((w = 0; w < 300; w++)); do
    [ "$(service_containers)" -gt 0 ] && break
    sleep 0.1
done
mid=$(labelled) mid_dirs=$(hostdirs)
"$bin" gc --host "$endpoint" >/dev/null
still=$(labelled) still_dirs=$(hostdirs)
wait "$pid"
rc=$?
if [ "$mid" -gt 0 ] && [ "$still" = "$mid" ] && [ "$still_dirs" = "$mid_dirs" ] && [ "$rc" = 0 ]; then
    echo "ok   gc leaves a live run alone ($mid resources, $mid_dirs host directories kept; the run passed)"
    pass=$((pass + 1))
else
    echo "FAIL gc and a live run: $mid before gc, $still after; host directories $mid_dirs, $still_dirs; run exit $rc"
    fail=$((fail + 1))
fi

echo "interrupt e2e on $endpoint: $pass passed, $fail failed"
[ "$fail" = 0 ]
