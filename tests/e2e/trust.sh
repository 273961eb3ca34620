#!/usr/bin/env bash
# End-to-end tests of "Trust (1 of 2)": what cleanrun must never do to the
# host, never hang on, never pass.  Each check names the item it covers.
# Usage: tests/e2e/trust.sh CLEANRUN_BINARY ENDPOINT
#
# The frozen and dead engine checks put tests/e2e/helpers/sockproxy.py, a
# byte-for-byte forwarder, in front of the real engine and stop or kill the
# forwarder (what a frozen or dead daemon looks like on its socket), so that
# the engine itself is never harmed; on Podman the API service itself is
# also stopped for real (its containers run under conmon, unharmed).
set -uo pipefail
bin=$(realpath "$1")
endpoint=$2
sock=${endpoint#unix://}
cd "$(dirname "$0")/../.."
root=$(pwd)
pass=0 fail=0
T=$(mktemp -d /tmp/cleanrun-trust-XXXXXX)
out=$T/out
runs=$T/runs
: >"$runs"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
IMG=localhost/cleanrun/busybox:1
engine=docker
[[ "$endpoint" == *podman* ]] && engine=podman

ok() {
    echo "ok   $1"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL $1"
    [ -f "$out" ] && sed 's/^/    | /' "$out" | head -n 30
    fail=$((fail + 1))
}
# check NAME WANT_EXIT CMD...: runs it, output in $out, remembers run ids
check() {
    local name=$1 want=$2
    shift 2
    "$@" >"$out" 2>&1
    local got=$?
    sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" >>"$runs"
    if [ "$got" = "$want" ]; then
        return 0
    fi
    echo "FAIL $name: exit $got, want $want"
    sed 's/^/    | /' "$out" | head -n 40
    fail=$((fail + 1))
    return 1
}
has() { # NAME TEXT...
    local name=$1
    shift
    for t in "$@"; do
        if ! grep -qF -- "$t" "$out"; then
            bad "$name: output lacks: $t"
            return 1
        fi
    done
    ok "$name"
}
run() { timeout 300 "$bin" run --host "$endpoint" --no-color "$@"; }
api() { curl -s --unix-socket "$sock" "http://localhost/v1.41$1"; }
spec() { # NAME: stdin is the spec
    cat >"$T/$1.cleanrun.toml"
    echo "$T/$1.cleanrun.toml"
}
ms() { date +%s%3N; }
# guard PID SECONDS: a cleanrun that hangs is killed (and the check fails),
# never waited for forever
guard() {
    (sleep "$2" && kill -9 "$1" 2>/dev/null) >/dev/null 2>&1 &
    gpid=$!
    pids+=($gpid)
}
# once the guarded process has been waited for: its pid may be reused
unguard() { kill "$gpid" 2>/dev/null; }
labelled() { # RUN_ID: containers + networks still labelled with it
    local f
    f=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label":["io.cleanrun.run="+sys.argv[1]]})))' "$1")
    local c n
    c=$(api "/containers/json?all=1&filters=$f" | python3 -c 'import json,sys; print(len(json.load(sys.stdin) or []))')
    n=$(api "/networks?filters=$f" | python3 -c 'import json,sys; print(len(json.load(sys.stdin) or []))')
    echo $((c + n))
}

# ---- 1. a step timeout never kills a process it has not proven is the step's ----

# cleanrun in a pid namespace of its own (as in a CI job's container) with
# the host's engine: the engine's pid for the step means another process
# there, which this test makes sure exists; the deadline must not kill it.
hung=$(spec hung <<EOF
[test]
name = "hung-in-pidns"
[[steps]]
image = "$IMG"
run = ["sleep", "1000"]
timeout = "6s"
EOF
)
cat >"$T/pidns.sh" <<'EOF'
#!/bin/bash
# inside a new pid namespace: run cleanrun, and give the step's host pid to
# a process of ours
bin=$1 endpoint=$2 spec=$3 sock=${2#unix://} out=$4
"$bin" run --host "$endpoint" --no-color --report json="$out.json" "$spec" >"$out" 2>&1 &
crp=$!
pid=""
for _ in $(seq 1 100); do
    rid=$(sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" | head -n1)
    if [ -n "$rid" ]; then
        f=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label":["io.cleanrun.run="+sys.argv[1]]})))' "$rid")
        cid=$(curl -s --unix-socket "$sock" "http://localhost/v1.41/containers/json?filters=$f" | python3 -c 'import json,sys; l=json.load(sys.stdin); print(l[0]["Id"] if l else "")')
        if [ -n "$cid" ]; then
            for e in $(curl -s --unix-socket "$sock" "http://localhost/v1.41/containers/$cid/json" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin).get("ExecIDs") or []))'); do
                p=$(curl -s --unix-socket "$sock" "http://localhost/v1.41/exec/$e/json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["Pid"] if d.get("Running") and "sleep" in " ".join(d["ProcessConfig"]["arguments"]+[d["ProcessConfig"]["entrypoint"]]) else "")')
                [ -n "$p" ] && [ "$p" != 0 ] && pid=$p
            done
        fi
    fi
    [ -n "$pid" ] && break
    sleep 0.1
done
victim=""
if [ -n "$pid" ] && [ "$pid" -gt 2 ]; then
    for _ in $(seq 1 50); do
        echo $((pid - 1)) >/proc/sys/kernel/ns_last_pid
        sleep 1000 &
        v=$!
        if [ "$v" = "$pid" ]; then victim=$v; break; fi
        kill -9 "$v"
    done
fi
wait "$crp"
rc=$?
alive=no
[ -n "$victim" ] && kill -0 "$victim" 2>/dev/null && alive=yes
echo "engine-pid=$pid victim=$victim alive=$alive rc=$rc" >>"$out"
[ -n "$victim" ] && kill -9 "$victim"
exit 0
EOF
chmod +x "$T/pidns.sh"
timeout 120 unshare --pid --fork --mount-proc "$T/pidns.sh" "$bin" "$endpoint" "$hung" "$out"
sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" >>"$runs"
if grep -q "victim=[0-9]* alive=yes rc=1" "$out" && grep -q "TIMEOUT hung-in-pidns" "$out" &&
    python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))["tests"][0]["steps"][0]
assert s["attempts"][0]["kill_method"] == "container-kill", s["attempts"][0]["kill_method"]
ev = s["isolation"]
assert ev["verdict"] == "unverified" and not ev["pid_proven"], ev' "$out.json"; then
    ok "1: in another pid namespace, the engine's pid for the step ($(sed -n 's/^engine-pid=\([0-9]*\).*/\1/p' "$out")) is another process: not killed; the container was; evidence unverified"
else
    bad "1: a process that had the step's pid number was killed, or the step was not stopped"
fi

# "local" is decided from the engine, not its address: through a TCP
# forwarder on 127.0.0.1 (an SSH tunnel looks the same) nothing is taken
# for a process of this machine.
python3 tests/e2e/helpers/sockproxy.py tcp:127.0.0.1:0 "unix:$sock" >"$T/port" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port")
check "1: tcp 127.0.0.1" 1 timeout 120 "$bin" run --host "tcp://127.0.0.1:$port" --no-color --report json="$T/tcp.json" "$hung" &&
    if python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))
assert r["run"]["engine"]["local"] is False, r["run"]["engine"]
s = r["tests"][0]["steps"][0]
assert s["attempts"][0]["kill_method"] == "container-kill", s["attempts"][0]
assert s["isolation"]["verdict"] == "unverified" and "not on this machine" in s["isolation"]["reason"], s["isolation"]' "$T/tcp.json"; then
        ok "1: an engine reached over TCP, even 127.0.0.1, is not local: container-kill, unverified"
    else
        bad "1: an engine reached over TCP on 127.0.0.1 was taken for local"
    fi
kill -9 "${pids[-1]}" 2>/dev/null; wait "${pids[-1]}" 2>/dev/null

# ---- 2. gc never removes a live run from another pid namespace ----

slow=$(spec slow <<EOF
[test]
name = "slow-in-pidns"
[services.app]
image = "$IMG"
command = ["sleep", "3600"]
[services.side]
image = "$IMG"
command = ["sleep", "3600"]
[[steps]]
service = "app"
run = ["sleep", "6"]
EOF
)
unshare --pid --fork --mount-proc "$bin" run --host "$endpoint" --no-color "$slow" >"$T/slow.out" 2>&1 &
spid=$!
guard $spid 120
rid=""
for _ in $(seq 1 100); do
    rid=$(sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$T/slow.out" | head -n1)
    [ -n "$rid" ] && [ "$(labelled "$rid")" -gt 2 ] && break # both services and their network
    sleep 0.1
done
echo "$rid" >>"$runs"
sgpid=$gpid
before=$(labelled "$rid")
timeout 60 "$bin" gc --host "$endpoint" >"$T/gc1" 2>&1
timeout 60 unshare --pid --fork --mount-proc "$bin" gc --host "$endpoint" >"$T/gc2" 2>&1
after=$(labelled "$rid")
wait $spid
src=$?
kill $sgpid 2>/dev/null
if [ -n "$rid" ] && [ "$before" -gt 2 ] && [ "$after" = "$before" ] && [ $src = 0 ] &&
    grep -Eq "left [0-9]+ runs? alone" "$T/gc2"; then
    ok "2: gc from the host's pid namespace (which sees the owner) and from a sibling one (which cannot) leave a live run alone ($before resources; the run passed)"
else
    echo "    before=$before after=$after run-exit=$src"
    cat "$T/gc1" "$T/gc2" | sed 's/^/    gc| /'
    sed 's/^/    run| /' "$T/slow.out" | tail -n 8
    bad "2: gc touched a live run of another pid namespace"
fi

# ---- 3. host files need consent ----

mkdir -p "$T/consent"
cat >"$T/consent/c.cleanrun.toml" <<EOF
[test]
name = "consent"
[services.s]
image = "$IMG"
files = [{ path = "/x", source = "/etc/shadow" }]
[[steps]]
service = "s"
run = ["true"]
EOF
check "3: host file" 2 "$bin" validate "$T/consent/c.cleanrun.toml" &&
    has "3: a source outside the spec's directory needs --allow-host-files, at its position" \
        "c.cleanrun.toml:5:34: services.s.files[0].source \"/etc/shadow\" is the host file /etc/shadow, outside the spec's directory" \
        "needs --allow-host-files"
mkfifo "$T/consent/fifo"
sed -i 's|/etc/shadow|fifo|' "$T/consent/c.cleanrun.toml"
t0=$(ms)
check "3: fifo" 2 timeout 20 "$bin" validate "$T/consent/c.cleanrun.toml" &&
    has "3: a FIFO as source is refused at once ($(($(ms) - t0)) ms), not waited on" "is not a regular file"

# ---- 4. an engine socket never reaches a container unasked ----

ln -s /var/run "$T/runlink"
cat >"$T/consent/m.cleanrun.toml" <<EOF
[test]
name = "mounts"
[[steps]]
image = "$IMG"
run = ["true"]
mounts = [{ source = "/var/./run", target = "/a" }, { source = "$T/runlink", target = "/b" }]
EOF
check "4: engine socket" 2 "$bin" validate --allow-host-mounts "$T/consent/m.cleanrun.toml" &&
    has "4: /var/./run and a symlink to /var/run need --allow-engine-socket too" \
        "m.cleanrun.toml:6:22: steps[0].mounts[0] hands the container /run" \
        "steps[0].mounts[1] hands the container /run" "needs --allow-engine-socket"

# ---- 5. test networks do not reach the host ----

python3 -m http.server 0 --bind 0.0.0.0 --directory "$T" >"$T/http.log" 2>&1 &
pids+=($!)
hport=""
for _ in $(seq 1 50); do
    hport=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$T/http.log" | head -n1)
    [ -n "$hport" ] && break
    sleep 0.1
done
# every address of this host, the engines' default bridges, and (inside)
# the container's own gateway
addrs="$(hostname -I) 172.17.0.1 10.88.0.1 127.0.0.1"
probe='for a in $ADDRS $(ip route | while read x y g r; do [ "$x" = default ] && echo "$g"; done); do (timeout 3 wget -q -O /dev/null "http://$a:$PORT/" 2>/dev/null && echo "REACHED $a") & done; wait; echo probed'
net=$(spec net <<EOF
[test]
name = "networks"
host_env = ["ADDRS", "PORT"]
[images.probe]
dockerfile = """
FROM $IMG
RUN ADDRS='\${env.ADDRS}' PORT=\${env.PORT} sh -c '$probe' > /build-probe.txt
"""
[services.quiet]
image = "$IMG"
command = ["sleep", "3600"]
env = { ADDRS = "\${env.ADDRS}", PORT = "\${env.PORT}" }
[services.web]
image = "$IMG"
command = ["httpd", "-f", "-p", "8080", "-h", "/"]
ports = [8080]
ready = { tcp = 8080 }
env = { ADDRS = "\${env.ADDRS}", PORT = "\${env.PORT}" }
[[steps]]
name = "a service without ports"
service = "quiet"
run = '$probe'
expect.stdout = { contains = "probed", not_contains = "REACHED" }
[[steps]]
name = "a fresh container on the test network"
image = "$IMG"
network = true
env = { ADDRS = "\${env.ADDRS}", PORT = "\${env.PORT}" }
run = '$probe'
expect.stdout = { contains = "probed", not_contains = "REACHED" }
[[steps]]
name = "the test network still reaches the services"
image = "$IMG"
network = true
run = ["wget", "-q", "-O", "/dev/null", "http://web:8080/bin/busybox"]
[[steps]]
name = "a build's RUN steps"
image = "probe"
run = ["cat", "/build-probe.txt"]
expect.stdout = { contains = "probed", not_contains = "REACHED" }
EOF
)
ADDRS="$addrs" PORT="$hport" check "5: networks" 0 run --report json="$T/net.json" "$net" &&
    if python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))["tests"][0]
modes = {s["name"]: s["isolation"]["network"]["mode"] for s in t["services"]}
assert modes == {"quiet": "internal", "web": "routed"}, modes
assert "publishes ports" in [s for s in t["services"] if s["name"] == "web"][0]["isolation"]["network"]["reason"]
assert t["steps"][1]["isolation"]["network"]["mode"] == "internal", t["steps"][1]["isolation"]["network"]' "$T/net.json"; then
        ok "5: no route from a service, a network step or a build to this host ($addrs, the gateways); services still reach each other; evidence says internal, and routed for the service that publishes ports"
    else
        bad "5: network evidence"
    fi
out_spec=$(spec outbound <<EOF
[test]
name = "outbound"
host_env = ["ADDRS", "PORT"]
[[steps]]
image = "$IMG"
outbound = true
env = { ADDRS = "\${env.ADDRS}", PORT = "\${env.PORT}" }
run = '$probe'
expect.stdout.contains = "REACHED"
EOF
)
ADDRS="$addrs" PORT="$hport" check "5: outbound refused" 2 run "$out_spec" &&
    has "5: outbound = true needs --allow-outbound" "steps[0].outbound = true needs --allow-outbound"
ADDRS="$addrs" PORT="$hport" check "5: outbound allowed" 0 run --allow-outbound "$out_spec" &&
    has "5: with --allow-outbound the step reaches the host, and is unverified" "isolation unverified" "as the spec asked (outbound"

# ---- 6. nothing from a step reaches the terminal raw ----

esc=$(spec esc <<'EOF'
[test]
name = "escape\u001b[2J\u0007 in a name\nFAKE"
[[steps]]
name = "step\u001b]0;title\u0007"
image = "localhost/cleanrun/busybox:1"
run = ["sh", "-c", "printf '\\033[2J\\033]0;pwned\\007\\rPASS fake\\n'; exit 3"]
EOF
)
check "6: escapes" 1 run -v "$esc"
if ! LC_ALL=C grep -qP '[\x01-\x08\x0b-\x1f\x7f]' "$out" && grep -qF '^[[2J^[]0;pwned^G^MPASS fake' "$out" &&
    grep -qF 'escape^[[2J^G in a name^JFAKE' "$out"; then
    ok "6: ESC, OSC, BEL and CR from a step and from names are shown as ^[ ^G ^M, never raw"
else
    bad "6: a control character reached the human output raw"
fi

# ---- 7. a frozen engine hangs nothing ----

python3 tests/e2e/helpers/mute.py "$T/mute.sock" >/dev/null &
pids+=($!)
for _ in $(seq 1 50); do [ -S "$T/mute.sock" ] && break; sleep 0.1; done
for cmd in run ps gc; do
    t0=$(ms)
    if [ $cmd = run ]; then
        check "7: mute $cmd" 3 timeout 60 "$bin" run --host "unix://$T/mute.sock" "$hung"
    else
        check "7: mute $cmd" 3 timeout 60 "$bin" $cmd --host "unix://$T/mute.sock"
    fi
    took=$(($(ms) - t0))
    if [ $took -lt 10000 ]; then
        has "7: $cmd against an engine that accepts but never answers: exit 3 in $took ms" "did not answer GET /version within 5 s"
    else
        bad "7: $cmd took $took ms against a mute engine"
    fi
done

# frozen mid-run, with the run's and the test's limits far away: behind a
# forwarder that is then stopped
frozen=$(spec frozen <<EOF
[test]
name = "frozen"
timeout = "20s"
[services.app]
image = "$IMG"
command = ["sleep", "3600"]
[[steps]]
service = "app"
run = ["sleep", "1000"]
timeout = "5s"
EOF
)
freeze() { # NAME PROXY_PID|engine: stop it once the step runs, time the exit
    local name=$1 target=$2 host=$3
    local t0 tstop rc
    "$bin" run --host "$host" --no-color "$frozen" >"$out" 2>&1 &
    local crp=$!
    guard $crp 60
    for _ in $(seq 1 100); do grep -q "host-exec lockout" "$out" && break; sleep 0.1; done
    sleep 2
    kill -STOP "$target"
    tstop=$(ms)
    wait $crp
    rc=$?
    unguard
    local took=$(($(ms) - tstop))
    kill -CONT "$target"
    sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" >>"$runs"
    if [ $rc = 3 ] && [ $took -lt 20000 ] && grep -q "stopped answering" "$out"; then
        ok "7: $name: the engine frozen mid-run: exit 3 after $took ms, saying it stopped answering"
    else
        bad "7: $name: exit $rc after $took ms"
    fi
}
python3 tests/e2e/helpers/sockproxy.py "unix:$T/p1.sock" "unix:$sock" >/dev/null &
pp=$!
pids+=($pp)
for _ in $(seq 1 50); do [ -S "$T/p1.sock" ] && break; sleep 0.1; done
freeze "its socket stopped" $pp "unix://$T/p1.sock"
kill -9 $pp 2>/dev/null; wait $pp 2>/dev/null
if [ $engine = podman ]; then
    svc=$(pgrep -f "podman system service" | head -n1)
    [ -n "$svc" ] && freeze "the Podman API service stopped (SIGSTOP)" "$svc" "$endpoint"
fi
timeout 60 "$bin" gc --host "$endpoint" >/dev/null 2>&1

# SIGINT while the engine is frozen: a prompt exit
python3 tests/e2e/helpers/sockproxy.py "unix:$T/p2.sock" "unix:$sock" >/dev/null &
pp=$!
pids+=($pp)
for _ in $(seq 1 50); do [ -S "$T/p2.sock" ] && break; sleep 0.1; done
"$bin" run --host "unix://$T/p2.sock" --no-color "$frozen" >"$out" 2>&1 &
crp=$!
guard $crp 60
for _ in $(seq 1 100); do grep -q "host-exec lockout" "$out" && break; sleep 0.1; done
sleep 2
kill -STOP $pp
sleep 0.5
t0=$(ms)
kill -INT $crp
sleep 0.5
kill -INT $crp
wait $crp
rc=$?
unguard
took=$(($(ms) - t0))
kill -CONT $pp
kill -9 $pp; wait $pp 2>/dev/null
sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" >>"$runs"
if [ $rc = 130 ] && [ $took -lt 12000 ]; then
    ok "7: SIGINT twice with the engine frozen: exit 130 after $took ms"
else
    bad "7: SIGINT with the engine frozen: exit $rc after $took ms"
fi
timeout 60 "$bin" gc --host "$endpoint" >/dev/null 2>&1

# ---- 8. a dead engine is noticed at once ----

for i in 1 2 3 4 5 6 7 8; do
    spec "dead$i" >/dev/null <<EOF
[test]
name = "dead-$i"
[[steps]]
image = "$IMG"
run = ["sleep", "3"]
EOF
done
python3 tests/e2e/helpers/sockproxy.py "unix:$T/p3.sock" "unix:$sock" >/dev/null &
pp=$!
pids+=($pp)
for _ in $(seq 1 50); do [ -S "$T/p3.sock" ] && break; sleep 0.1; done
mkdir -p "$T/dead"
mv "$T"/dead?.cleanrun.toml "$T/dead/"
"$bin" run --host "unix://$T/p3.sock" --no-color -j 1 "$T/dead" >"$out" 2>&1 &
crp=$!
guard $crp 90
for _ in $(seq 1 100); do grep -q "host-exec lockout" "$out" && break; sleep 0.1; done
sleep 1.5
kill -9 $pp; wait $pp 2>/dev/null
t0=$(ms)
wait $crp
rc=$?
unguard
took=$(($(ms) - t0))
sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" >>"$runs"
if [ $rc = 3 ] && [ $took -lt 8000 ] && grep -q "stopped answering" "$out" &&
    grep -q "not started: the engine at unix://$T/p3.sock stopped answering" "$out"; then
    ok "8: the engine gone mid-run: exit 3 after $took ms, the queued tests errors naming it"
else
    bad "8: the engine gone mid-run: exit $rc after $took ms"
fi
timeout 60 "$bin" gc --host "$endpoint" >/dev/null 2>&1

# ---- 9. SIGINT during an image build ----

build=$(spec build <<EOF
[test]
name = "slow-build"
[images.slow]
dockerfile = """
FROM $IMG
RUN echo $RANDOM$RANDOM && sleep 30
"""
[[steps]]
image = "slow"
run = ["true"]
EOF
)
"$bin" run --host "$endpoint" --no-color "$build" >"$out" 2>&1 &
crp=$!
guard $crp 90
for _ in $(seq 1 100); do grep -q "host-exec lockout" "$out" && break; sleep 0.1; done
sleep 2
t0=$(ms)
kill -INT $crp
wait $crp
rc=$?
unguard
took=$(($(ms) - t0))
sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" >>"$runs"
if [ $rc = 130 ] && [ $took -lt 5000 ]; then
    ok "9: SIGINT during a 30 s build: exit 130 after $took ms"
else
    bad "9: SIGINT during a build: exit $rc after $took ms"
fi

# ---- 10. a closed stdout stops the output, not the run ----

two=$(spec two <<EOF
[test]
name = "two"
[services.app]
image = "$IMG"
command = ["sleep", "3600"]
[[steps]]
service = "app"
run = ["true"]
[[steps]]
service = "app"
run = ["true"]
EOF
)
timeout 120 "$bin" run --host "$endpoint" --no-color --report json="$T/pipe.json" "$two" 2>"$T/pipe.err" | head -n 1 >"$out"
rcs=("${PIPESTATUS[@]}")
rid=$(sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out")
echo "$rid" >>"$runs"
if [ "${rcs[0]}" = 0 ] && [ -s "$T/pipe.json" ] && [ -n "$rid" ] && [ "$(labelled "$rid")" = 0 ]; then
    ok "10: run | head -1: exit 0, report written, nothing left"
else
    bad "10: run | head -1: exit ${rcs[0]}"
fi

# ---- 12. a test's verdict counts its services ----

mkdir -p "$T/hostdir"
svcmount=$(spec svcmount <<EOF
[test]
name = "service-mount"
[services.app]
image = "$IMG"
command = ["sleep", "3600"]
mounts = [{ source = "$T/hostdir", target = "/host" }]
[[steps]]
image = "$IMG"
run = ["true"]
EOF
)
check "12: service evidence" 0 run --allow-host-mounts --report json="$T/sm.json" "$svcmount" &&
    if python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))["tests"][0]
assert t["steps"][0]["isolation"]["verdict"] == "isolated"
assert t["services"][0]["isolation"]["verdict"] == "unverified"
assert t["verdict"] == "unverified", t["verdict"]' "$T/sm.json" && grep -q "isolation unverified: service app: host paths mounted" "$out"; then
        ok "12: a service with a host mount makes its test unverified, though its step was isolated"
    else
        bad "12: the test's verdict ignored its service"
    fi

# ---- 13. an engine the user named is the only one tried ----

for dh in "unix://$T/nothing.sock" "tcp://127.0.0.1:1" "garbage"; do
    for cmd in run ps gc; do
        if [ $cmd = run ]; then
            DOCKER_HOST=$dh check "13: $cmd $dh" 3 timeout 120 "$bin" run --no-color "$two"
        else
            DOCKER_HOST=$dh check "13: $cmd $dh" 3 timeout 120 "$bin" $cmd
        fi && has "13: DOCKER_HOST=$dh: '$cmd' exits 3 naming it, tries nothing else" \
            "the engine named by \$DOCKER_HOST ($dh)" "only the engine named is tried"
    done
done

# ---- smaller: files streamed, -v by line, report modes, kill method ----

big=$(spec big <<EOF
[test]
name = "big-file"
[[steps]]
image = "$IMG"
run = ["sh", "-c", "dd if=/dev/zero of=/tmp/big bs=1M count=200 2>/dev/null"]
memory = "512MiB"
expect.files = [{ path = "/tmp/big", regex = "never" }]
EOF
)
rss=$(python3 - "$bin" "$endpoint" "$big" <<'EOF'
import resource, subprocess, sys
subprocess.run([sys.argv[1], "run", "--host", sys.argv[2], "--no-color", sys.argv[3]],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
EOF
)
if [ "$rss" -lt 100 ]; then
    ok "files: a 200 MB file under expect.files peaks at $rss MiB (streamed, capped)"
else
    bad "files: a 200 MB file under expect.files took $rss MiB"
fi

lines=$(spec lines <<EOF
[test]
name = "lines"
[[steps]]
name = "many"
image = "$IMG"
run = ["sh", "-c", "seq 1 200000"]
EOF
)
run -v "$lines" >"$T/v.out" 2>&1
n=$(grep -c '^  \[lines / many out\] [0-9]*$' "$T/v.out")
last=$(grep '^  \[lines / many out\]' "$T/v.out" | tail -n 1)
if [ "$n" = 200000 ] && [ "$last" = "  [lines / many out] 200000" ]; then
    ok "-v: 200000 lines printed as 200000 lines"
else
    bad "-v: 200000 lines printed as $n ($last)"
fi

(umask 077 && timeout 120 "$bin" run --host "$endpoint" --no-color --report json="$T/u1.json" --report tap="$T/u1.tap" "$hung" >/dev/null 2>&1)
(umask 022 && timeout 120 "$bin" run --host "$endpoint" --no-color --report json="$T/u2.json" "$two" >/dev/null 2>&1)
m1=$(stat -c %a "$T/u1.json") m2=$(stat -c %a "$T/u2.json")
if [ "$m1" = 600 ] && [ "$m2" = 644 ]; then
    ok "reports honour the umask (077: $m1, 022: $m2)"
else
    bad "reports: modes $m1 and $m2 under umask 077 and 022"
fi
if python3 -c 'import json,sys
a = json.load(open(sys.argv[1]))["tests"][0]["steps"][0]["attempts"][0]
assert a["timed_out"] and a["kill_method"] == "host-signal", a' "$T/u1.json" &&
    grep -q "^# host-exec lockout: in force" "$T/u1.tap"; then
    ok "reports: JSON has the kill method, TAP the lockout state"
else
    bad "reports: kill_method or the TAP lockout line missing"
fi

# ---- nothing left, of the runs this script made ----
leftover=0
while read -r r; do
    [ -n "$r" ] || continue
    n=$(labelled "$r")
    [ "$n" != 0 ] && { echo "    run $r left $n"; leftover=$((leftover + n)); }
done < <(sort -u "$runs")
if [ $leftover = 0 ]; then
    ok "nothing left by the $(sort -u "$runs" | grep -c .) runs of this script"
else
    bad "$leftover resources left"
fi

echo "trust e2e on $endpoint with $bin: $pass passed, $fail failed"
[ "$fail" = 0 ]
