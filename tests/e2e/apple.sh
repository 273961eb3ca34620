#!/usr/bin/env bash
# The Apple backend against the emulator of its CLI (tests/emulator/
# container, containers run by the Docker engine): the examples pass with
# --runtime apple in both JSON schemas, and the CLI's failures are handled
# as the issue "Apple's `container` as a backend" asks: a hung call is
# killed within its deadline and the run says which command hung; a
# transient XPC failure is retried and the run passes; a notFound is not
# retried; on macOS 15 (no `container network`) a spec that needs a
# network is refused at load time.
# Usage: tests/e2e/apple.sh CLEANRUN_BINARY
set -uo pipefail
bin=$1
cd "$(dirname "$0")/../.."
emu=$PWD/tests/emulator/container
api=${CONTAINER_EMU_DOCKER_HOST:-unix:///var/run/docker.sock}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() {
    echo "FAIL $1"
    sed 's/^/    | /' "$tmp/out" | tail -n 30
    fail=$((fail + 1))
}
run() { "$bin" run --runtime apple --host "$emu" --no-color "$@" >"$tmp/out" 2>&1; }
has() { for t in "$@"; do grep -qF -- "$t" "$tmp/out" || return 1; done; }
now() { date +%s%N | cut -b1-13; }
# containers and networks of a run left in the engine under the emulator
left() {
    local f
    f=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label":["io.cleanrun.run="+sys.argv[1]]})))' "$1")
    echo "$(curl -s --unix-socket "${api#unix://}" "http://localhost/v1.41/containers/json?all=1&filters=$f")$(curl -s --unix-socket "${api#unix://}" "http://localhost/v1.41/networks?filters=$f")"
}
runid() { sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$tmp/out" | head -n1; }

# (schema 1's examples: tests/e2e/run.sh with the emulator as the endpoint)
for schema in 0; do
    export CONTAINER_EMU_SCHEMA=$schema
    if run -j 2 --report json="$tmp/r.json" specs && has "9 tests: 9 passed" "isolation: 25 steps isolated" &&
        python3 - "$tmp/r.json" <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))
assert d["run"]["backend"] == "apple", d["run"]["backend"]
procs = d["run"]["host_processes"]
assert procs and all(p["path"].endswith("/tests/emulator/container") for p in procs), procs[:3]
for t in d["tests"]:
    for s in t["steps"]:
        k = s["isolation"]["kernel"]
        # the emulator's containers share this kernel: judged by their process
        assert k["vm"] and k["shared"] and s["isolation"]["method"] == "canary-search", k
PY
        ok "schema $schema: cleanrun run --runtime apple specs passes, 25 steps isolated, every CLI call in the report"
    else
        bad "schema $schema: the examples on the emulator"
    fi
    rid=$(runid)
    [ -n "$rid" ] && [ "$(left "$rid")" = "[][]" ] && ok "schema $schema: nothing left behind" ||
        bad "schema $schema: left behind by run $rid: $(left "$rid")"
done
export CONTAINER_EMU_SCHEMA=1

# a hung inspect (the API server stuck): killed at the call's bound, named,
# and every later call fails at once
t0=$(now)
CLEANRUN_APPLE_TIMEOUT_MS=5000 CONTAINER_EMU_HANG=inspect run specs/slow-start.cleanrun.toml
rc=$?
took=$(($(now) - t0))
if [ $rc = 3 ] && has "container inspect cleanrun-" "did not finish within 5000 ms: killed" "stopped answering" && [ "$took" -lt 40000 ]; then
    ok "a hung inspect is killed within its 5 s bound and named (exit 3, run took ${took} ms)"
else
    bad "hung inspect: exit $rc, ${took} ms"
fi
rid=$(runid)
"$bin" gc --runtime apple --host "$emu" >/dev/null 2>&1
[ -n "$rid" ] && [ "$(left "$rid")" = "[][]" ] && ok "what the stuck run left, gc removed" ||
    bad "after the stuck run and gc: $(left "$rid")"

# (a step that hangs is killed at its deadline: tests/e2e/run.sh's hung-step)

# transient XPC failures: retried with backoff, and the run passes
: >"$tmp/xpc"
if CONTAINER_EMU_XPC_FAIL="create:2:$tmp/xpc" run --report json="$tmp/x.json" specs/ephemeral-tools.cleanrun.toml &&
    has "1 test: 1 passed" && python3 - "$tmp/x.json" <<'PY'; then
import json, sys
procs = json.load(open(sys.argv[1]))["run"]["host_processes"]
creates = [p for p in procs if p["argv"][1] == "create"]
steps = json.load(open(sys.argv[1]))["tests"][0]["steps"]
# each step's container once, and the two failed tries again
assert len(creates) == len(steps) + 2, (len(creates), len(steps))
PY
    ok "two XPC failures of create are retried and the run passes"
else
    bad "XPC retries"
fi

# notFound is permanent: one try
if run --report json="$tmp/n.json" tests/e2e/failing/missing-image.cleanrun.toml; [ $? = 3 ] &&
    has "is not present" && python3 - "$tmp/n.json" <<'PY'; then
import json, sys
procs = json.load(open(sys.argv[1]))["run"]["host_processes"]
inspects = [p for p in procs if p["argv"][1:3] == ["image", "inspect"]]
assert len(inspects) == 1, inspects
PY
    ok "an image's notFound is not retried (one image inspect)"
else
    bad "notFound retried"
fi

# the service not started: the exact next step
if CONTAINER_EMU_SYSTEM=stopped run specs/ephemeral-tools.cleanrun.toml; [ $? = 3 ] &&
    has "run \`container system start\`"; then
    ok "a stopped container service: exit 3, 'run \`container system start\`'"
else
    bad "stopped service"
fi

# macOS 15: no `container network`, so no network manager; refused at load time
if CONTAINER_EMU_MACOS=15 run specs/depends-on.cleanrun.toml; [ $? = 2 ] &&
    has 'specs/depends-on.cleanrun.toml:4:1: test "depends-on" needs a network' \
        "runtime apple cannot create networks (requires macOS 26)"; then
    ok "macOS 15: a spec that needs a network fails at load time (exit 2, requires macOS 26)"
else
    bad "macOS 15 networks"
fi
if CONTAINER_EMU_MACOS=15 run specs/ephemeral-tools.cleanrun.toml && has "1 test: 1 passed"; then
    ok "macOS 15: a spec that needs no network runs"
else
    bad "macOS 15 without networks"
fi

echo "apple e2e (emulator): $pass passed, $fail failed"
[ "$fail" = 0 ]
