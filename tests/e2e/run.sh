#!/usr/bin/env bash
# End-to-end tests of the cleanrun command against a real engine: the
# examples pass, the failing examples fail the right way (exit code and
# diagnostics), broken specs are refused, selection works, nothing is left
# behind.  Usage: tests/e2e/run.sh CLEANRUN_BINARY ENDPOINT
# ENDPOINT is an engine's socket, or the path of Apple's container CLI (on
# Linux, its emulator tests/emulator/container, whose containers are the
# Docker engine's at $CONTAINER_EMU_DOCKER_HOST: what is left behind is
# looked for there).
set -uo pipefail
bin=$1 endpoint=$2
cd "$(dirname "$0")/../.."
apple=false api=$endpoint
if [ -x "$endpoint" ] && [ ! -S "$endpoint" ]; then
    apple=true api=${CONTAINER_EMU_DOCKER_HOST:-unix:///var/run/docker.sock}
fi
pass=0 fail=0
out=$(mktemp)
runs=$(mktemp)
trap 'rm -f "$out" "$runs"' EXIT

# check NAME WANT_EXIT CMD... ; then the output (stdout+stderr) is in $out
check() {
    local name=$1 want=$2
    shift 2
    "$@" >"$out" 2>&1
    local got=$?
    # the runs this script started, for the "nothing left behind" check
    sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" >>"$runs"
    if [ "$got" = "$want" ]; then
        return 0
    fi
    echo "FAIL $name: exit $got, want $want"
    sed 's/^/    | /' "$out" | head -n 40
    fail=$((fail + 1))
    return 1
}
has() { # NAME TEXT...: every text appears in $out
    local name=$1
    shift
    for t in "$@"; do
        if ! grep -qF -- "$t" "$out"; then
            echo "FAIL $name: output lacks: $t"
            sed 's/^/    | /' "$out" | head -n 40
            fail=$((fail + 1))
            return 1
        fi
    done
    echo "ok   $name"
    pass=$((pass + 1))
}
run() { "$bin" run --host "$endpoint" --no-color "$@"; }

# every step of the examples observed isolated, with the lockout in force
check examples-pass 0 run -j 2 specs &&
    has examples-pass "tests: " "0 failed, 0 errors" "PASS    http-service" "PASS    matrix-compression[codec=lzop]" \
        "host-exec lockout: in force, seccomp filter" "isolation: 25 steps isolated, 0 unverified, 0 violated"

check tcp-readiness 0 run tests/e2e/passing/tcp-readiness.cleanrun.toml &&
    has tcp-readiness "PASS    tcp-readiness"

check wrong-output 1 run tests/e2e/failing/wrong-output.cleanrun.toml &&
    has wrong-output "FAIL    wrong-output" 'step 1 "greeting"' "expected stdout equals (- expected, + actual):" "- World" "+ world"

start=$(date +%s)
check hung-step 1 run tests/e2e/failing/hung-step.cleanrun.toml &&
    has hung-step "TIMEOUT hung-step" 'step 1 "hangs"' "timed out after 1.0" "0 skipped"
took=$(($(date +%s) - start))
# never the step's 1000 s; a CLI backend (its emulator: ~20 CLI calls of
# ~0.3 s each for this test) takes longer than an engine's API
limit=8
$apple && limit=15
if [ "$took" -le "$limit" ]; then
    echo "ok   hung-step returned in ${took}s"
    pass=$((pass + 1))
else
    echo "FAIL hung-step took ${took}s"
    fail=$((fail + 1))
fi

check missing-file 1 run tests/e2e/failing/missing-file.cleanrun.toml &&
    has missing-file "expected file /tmp/wanted exists: exists, actual: absent"

# (a CLI call takes longer than an API request: the emulator's exec overshoots)
$apple && ready_after="service db not ready after " || ready_after="service db not ready after 1."
check never-ready 3 run tests/e2e/failing/never-ready.cleanrun.toml &&
    has never-ready "ERROR   never-ready" "$ready_after" "(ready.timeout 1s)" "last log lines of service db:" "cannot open config"

check bad-exit 1 run tests/e2e/failing/bad-exit.cleanrun.toml &&
    has bad-exit "expected exit code: 0, actual: 2" "| about to fail"

check missing-image 3 run tests/e2e/failing/missing-image.cleanrun.toml &&
    has missing-image 'image ghost: image localhost/cleanrun/no-such-image:1 is not present' 'pull policy is "never"'

check all-failing-together 3 run -j 3 tests/e2e/failing &&
    has all-failing-together "6 tests: 0 passed, 3 failed, 2 errors, 1 timed out, 0 skipped"

check fail-fast 1 run -j 1 --fail-fast tests/e2e/failing/bad-exit.cleanrun.toml tests/e2e/failing/wrong-output.cleanrun.toml &&
    has fail-fast "SKIP    wrong-output" "1 failed, 0 errors, 0 timed out, 1 skipped"

# hermetic by default: privileges need the spec to ask and the run to allow
check host-network-refused 2 run tests/e2e/privileged/host-network.cleanrun.toml &&
    has host-network-refused "tests/e2e/privileged/host-network.cleanrun.toml:10:1: services.box.host_network = true needs --allow-host-network" \
        "tests/e2e/privileged/host-network.cleanrun.toml:21:1: steps[1].host_network = true needs --allow-host-network"
check host-network-validate 2 "$bin" validate tests/e2e/privileged/host-network.cleanrun.toml &&
    has host-network-validate "needs --allow-host-network"
hnjson=$(mktemp)
if $apple; then
    # a virtual machine cannot share the host's network: refused before anything starts
    check host-network-vm 2 run --allow-host-network tests/e2e/privileged/host-network.cleanrun.toml &&
        has host-network-vm "tests/e2e/privileged/host-network.cleanrun.toml:10:1: services.box.host_network = true: runtime apple runs each container in a virtual machine of its own, which cannot share the host's network" \
            "tests/e2e/privileged/host-network.cleanrun.toml:21:1: steps[1].host_network = true: runtime apple"
else
check host-network-allowed 0 run --allow-host-network --report json="$hnjson" tests/e2e/privileged/host-network.cleanrun.toml &&
    has host-network-allowed "PASS    host-network" \
        'isolation unverified: step 1 "in a host-network service": shares the host'"'"'s net namespace' \
        'isolation unverified: step 2 "in a fresh host-network container": shares the host'"'"'s net namespace' \
        "isolation: 0 steps isolated, 2 unverified, 0 violated"
if python3 -c 'import json, sys
for s in json.load(open(sys.argv[1]))["tests"][0]["steps"]:
    ev = s["isolation"]
    ns = ev["namespaces"]
    assert ev["verdict"] == "unverified" and ev["requested"]["host_network"], ev
    assert ns["net"]["shared"] and ns["net"]["container"] == ns["net"]["host"], ns["net"]
    for n in ("mnt", "pid", "uts"):
        assert not ns[n]["shared"] and ns[n]["container"] != ns[n]["host"], (n, ns[n])
    assert ev["canary"]["state"] == "proven", ev["canary"]' "$hnjson"; then
    echo "ok   host-network evidence: net inode is the host's, mnt/pid/uts are not, canary proven"
    pass=$((pass + 1))
else
    echo "FAIL host-network evidence in the JSON report"
    fail=$((fail + 1))
fi
fi
rm -f "$hnjson"


# strace: the only execve of a whole run is cleanrun's own start
if command -v strace >/dev/null 2>&1; then
    trace=$(mktemp)
    # LeakSanitizer cannot work under ptrace: off for this one run
    if $apple; then
        # the CLI's processes are the broker's children (forked before the
        # lockout): every execve after cleanrun's own start is by one of
        # them or their descendants, none by cleanrun's process
        # (one example, a service and its steps: a CLI process a call, each
        # traced, makes strace slow, and the examples' 60 s limits are near)
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 check strace-run-apple 0 strace -f -qq -e trace=execve,execveat,clone,clone3,fork,vfork -o "$trace" "$bin" run --host "$endpoint" --no-color -q specs/slow-start.cleanrun.toml
        if why=$(python3 - "$trace" "$bin" "$endpoint" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
binary, cli = sys.argv[2], sys.argv[3]
parent, execs, first = {}, [], None
for l in lines:
    # "PID call(...) = R", or split by strace: "PID call(... <unfinished ...>"
    # then "PID <... call resumed>...) = R"
    m = re.match(r"(\d+)\s+(?:<\.\.\. )?(\w+)(?:\(| resumed>)(.*)", l)
    if not m:
        continue
    pid, call, rest = int(m.group(1)), m.group(2), m.group(3)
    if first is None:
        first = pid
    if call in ("clone", "clone3", "fork", "vfork"):
        r = re.search(r"=\s*(\d+)\s*$", l)
        if r:
            parent[int(r.group(1))] = pid
    elif call.startswith("execve") and "resumed>" not in l:
        execs.append((pid, rest.split('"')[1] if '"' in rest else rest))
def by_cli(pid):
    while pid in parent:
        if any(p == pid and path == cli for p, path in execs):
            return True
        pid = parent[pid]
    return any(p == pid and path == cli for p, path in execs)
assert execs and execs[0] == (first, binary), execs[:2]
for pid, path in execs[1:]:
    assert pid != first, "cleanrun's own process ran %s" % path
    assert path == cli or by_cli(pid), "pid %d ran %s, not through the CLI" % (pid, path)
print(len(execs) - 1)
PY
        ); then
            echo "ok   strace: cleanrun's own start, then only the CLI's processes ($why execve calls)"
            pass=$((pass + 1))
        else
            echo "FAIL strace (apple): $why"
            fail=$((fail + 1))
        fi
        rm -f "$trace"
    else
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 check strace-run 0 strace -f -qq -e trace=execve,execveat -o "$trace" "$bin" run --host "$endpoint" --no-color -q -j 2 specs
    n=$(grep -c 'execve' "$trace")
    first=$(grep 'execve' "$trace" | head -n1)
    if [ "$n" = 1 ] && [[ "$first" == *"execve(\"$bin\""* ]]; then
        echo "ok   strace: exactly one execve, cleanrun's own start"
        pass=$((pass + 1))
    else
        echo "FAIL strace: $n execve/execveat calls:"
        grep execve "$trace" | head -n 10 | sed 's/^/    | /'
        fail=$((fail + 1))
    fi
    fi
    rm -f "$trace"
else
    echo "FAIL strace is not installed (.ci/setup deps installs it)"
    fail=$((fail + 1))
fi

# the leak audit: a container carrying the run's label that the run did not
# remove (made here, from outside, while the run goes on) is listed, removed,
# recorded in the report, and fails the run with exit 3
leakout=$(mktemp)
leakjson=$(mktemp)
"$bin" run --host "$endpoint" --no-color --report json="$leakjson" specs/slow-start.cleanrun.toml >"$leakout" 2>&1 &
lpid=$!
rid=""
for _ in $(seq 1 100); do
    rid=$(sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$leakout" | head -n1)
    [ -n "$rid" ] && break
    sleep 0.05
done
if $apple; then
    leakid=$("$endpoint" create --name "cleanrun-leak-$rid" -l "io.cleanrun.run=$rid" -l io.cleanrun.test=made-outside localhost/cleanrun/busybox:1 true)
else
body='{"Image":"localhost/cleanrun/busybox:1","Cmd":["true"],"Labels":{"io.cleanrun.run":"'$rid'","io.cleanrun.test":"made-outside"}}'
leakid=$(curl -s --unix-socket "${endpoint#unix://}" -H 'Content-Type: application/json' -d "$body" \
    "http://localhost/v1.41/containers/create" | sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p')
fi
wait $lpid
lrc=$?
cp "$leakout" "$out"
echo "$rid" >>"$runs"
gone=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "${api#unix://}" "http://localhost/v1.41/containers/$leakid/json")
if [ -n "$rid" ] && [ -n "$leakid" ] && [ $lrc = 3 ] && [ "$gone" = 404 ] &&
    python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))["run"]["leak_audit"]
assert a["done"] and a["removed"] == 1 and a["leaks"] == [{"kind": "container", "name": sys.argv[2], "test": "made-outside"}], a' \
        "$leakjson" "$leakid"; then
    has leak-audit "leak audit: 1 resource of run $rid left behind:" "container $leakid (test made-outside)" "leak audit: removed 1 of them now" "PASS    slow-start"
else
    echo "FAIL leak-audit: run $rid, leak ${leakid:-none}, exit $lrc, leak now $gone"
    sed 's/^/    | /' "$leakout" | tail -n 8
    fail=$((fail + 1))
fi
rm -f "$leakout" "$leakjson"

check validate-broken 2 "$bin" validate tests/specs/invalid/typo-step-key.cleanrun.toml &&
    has validate-broken 'tests/specs/invalid/typo-step-key.cleanrun.toml:8:1: unknown key "rnu" in steps[0] (did you mean "run"?)'

# a zero --timeout is refused, as zero limits in specs are (it once meant "no limit")
check run-timeout-zero 2 run --timeout 0s specs && has run-timeout-zero "a zero limit is refused"

check run-broken 2 run tests/specs/invalid/depends-on-cycle.cleanrun.toml &&
    has run-broken "depends_on forms a cycle among services: a, b"

check validate-examples 0 "$bin" validate specs && has validate-examples "ok: 9 tests"

check list-filter 0 "$bin" list --filter '^matrix' specs &&
    has list-filter "matrix-compression[codec=gzip]" "3 tests"

check list-tag 0 "$bin" list --tag build --tag retries specs &&
    has list-tag "built-image" "eventual-consistency" "2 tests"

n1=$("$bin" list --shard 1/2 specs | tail -n1 | cut -d' ' -f1)
n2=$("$bin" list --shard 2/2 specs | tail -n1 | cut -d' ' -f1)
if [ $((n1 + n2)) = 9 ] && [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ]; then
    echo "ok   shards ($n1 + $n2)"
    pass=$((pass + 1))
else
    echo "FAIL shards: $n1 + $n2 != 9"
    fail=$((fail + 1))
fi

check no-engine 3 "$bin" run --host unix:///tmp/cleanrun-no-engine.sock specs/ephemeral-tools.cleanrun.toml &&
    has no-engine "no container engine answered" "/tmp/cleanrun-no-engine.sock" "Start one"

check unknown-runtime 2 "$bin" run --runtime dokcer specs && has unknown-runtime "unknown runtime 'dokcer' (known: docker, podman, apple, native)"
# no Apple CLI where it is looked for (this is not a Mac): said, with the way out
CLEANRUN_APPLE_CLI= check apple-runtime 3 "$bin" run --runtime apple specs &&
    has apple-runtime "no container engine answered for runtime apple" "'container system start' (Apple)" "CLEANRUN_APPLE_CLI"

check bad-option 2 "$bin" run --jobs 0 specs && has bad-option "-j needs a number from 1 to 256"

# nothing left behind by the runs this script started (other runs on the
# same engine, a CI job's neighbours, are not this script's to count)
left=0
while read -r rid; do
    [ -n "$rid" ] || continue
    f=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label":["io.cleanrun.run="+sys.argv[1]]})))' "$rid")
    c=$(curl -s --unix-socket "${api#unix://}" "http://localhost/v1.41/containers/json?all=1&filters=$f")
    nw=$(curl -s --unix-socket "${api#unix://}" "http://localhost/v1.41/networks?filters=$f")
    if { [ "$c" != "[]" ]; } || { [ "$nw" != "[]" ] && [ "$nw" != "null" ]; }; then
        echo "    run $rid left: containers $c networks $nw"
        left=$((left + 1))
    fi
done < <(sort -u "$runs")
if [ "$left" = 0 ] && [ -s "$runs" ]; then
    echo "ok   nothing left behind by the $(sort -u "$runs" | grep -c .) runs of this script"
    pass=$((pass + 1))
else
    echo "FAIL left behind by $left runs"
    fail=$((fail + 1))
fi

echo "e2e on $endpoint with $bin:"
echo "e2e: $pass passed, $fail failed"
[ "$fail" = 0 ]
