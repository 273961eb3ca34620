#!/usr/bin/env bash
# End-to-end tests of cleanrun on the native runtime (no engine): the
# examples that need no network pass with every step isolated; those that
# need one are refused before anything runs; the failing examples fail the
# right way; `cleanrun image` imports, lists and removes; and under strace
# every execve after cleanrun's own start is made by a process that had
# left the host's mount namespace (a container's process).
# Usage: tests/e2e/native.sh CLEANRUN_BINARY [ENDPOINT]
# (ENDPOINT: native:///var/lib/cleanrun unless given; the base image
# localhost/cleanrun/busybox:1 must be in that store: .ci/setup native-images)
# NATIVE_ROOTLESS=1 (tests/e2e/rootless.sh, as an ordinary user): no
# cgroup to check, the user namespace's maps checked instead, no strace.
set -uo pipefail
bin=$1 endpoint=${2:-native:///var/lib/cleanrun}
rootless=${NATIVE_ROOTLESS:-0}
cd "$(dirname "$0")/../.."
pass=0 fail=0
out=$(mktemp)
tmp=$(mktemp -d)
trap 'rm -rf "$out" "$tmp"' EXIT

check() { # NAME WANT_EXIT CMD...: then the output is in $out
    local name=$1 want=$2
    shift 2
    "$@" >"$out" 2>&1
    local got=$?
    [ "$got" = "$want" ] && return 0
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

examples=(specs/ephemeral-tools.cleanrun.toml specs/eventual.cleanrun.toml
    specs/matrix.cleanrun.toml specs/slow-start.cleanrun.toml)
check examples-pass 0 run -j 2 "${examples[@]}" &&
    has examples-pass "runtime native (cleanrun native" "6 tests: 6 passed, 0 failed, 0 errors" \
        "host-exec lockout: in force" "isolation: 17 steps isolated, 0 unverified, 0 violated"

# every step's evidence: its own namespaces, the canary proven absent on the host
json=$tmp/report.json
check examples-json 0 run -q --report json="$json" "${examples[@]}" &&
    if python3 - "$json" "$rootless" <<'PY'; then
import json, sys
rootless = sys.argv[2] == "1"
r = json.load(open(sys.argv[1]))
steps = [s for t in r["tests"] for s in t["steps"]]
assert len(steps) == 17, len(steps)
for s in steps:
    ev = s["isolation"]
    assert ev["verdict"] == "isolated", ev
    for n in ("mnt", "pid", "uts", "net", "ipc", "cgroup"):
        assert not ev["namespaces"][n]["shared"], (n, ev["namespaces"][n])
    assert ev["canary"]["state"] == "proven", ev["canary"]
    assert rootless or ev["cgroup"].startswith("/cleanrun/"), ev["cgroup"]
    # (rootless: the user namespace is the container's own too)
    assert not rootless or not ev["namespaces"]["user"]["shared"], ev["namespaces"]["user"]
assert rootless == (r["run"]["engine"]["limits_not_applied"] is not None), r["run"]["engine"]
PY
        echo "ok   examples-json: 17 steps, each in namespaces of its own, canary proven"
        pass=$((pass + 1))
    else
        echo "FAIL examples-json"
        fail=$((fail + 1))
    fi

# a test that needs a network is refused before anything starts (exit 2)
check needs-network 2 run specs/depends-on.cleanrun.toml &&
    has needs-network 'specs/depends-on.cleanrun.toml:4:1: test "depends-on" needs a network' \
        "runtime native cannot create networks"

# privileged as Docker's: every capability, no seccomp filter, and judged
# unverified (a step can leave its namespaces), only with --allow-privileged
cat >"$tmp/priv.cleanrun.toml" <<'EOF'
[test]
name = "priv"
[images.bb]
ref = "localhost/cleanrun/busybox:1"
pull = "never"
[[steps]]
image = "bb"
privileged = true
run = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; grep -c ' /proc/kcore ' /proc/self/mountinfo || true"
expect.stdout = "NoNewPrivs:\t1\nSeccomp:\t0\n0\n"
EOF
check privileged-refused 2 run "$tmp/priv.cleanrun.toml" && has privileged-refused "needs --allow-privileged"
check privileged 0 run --allow-privileged "$tmp/priv.cleanrun.toml" &&
    has privileged "PASS    priv" "isolation: 0 steps isolated, 1 unverified, 0 violated"

# the host's network, with --allow-host-network (as root: the container
# shares the host's net namespace and nothing else; rootless: refused)
if [ "$rootless" = 1 ]; then
    check host-network 3 run --allow-host-network tests/e2e/privileged/host-network.cleanrun.toml &&
        has host-network "runtime native cannot share the host's network when rootless"
else
    check host-network 0 run --allow-host-network --report json="$tmp/hn.json" \
        tests/e2e/privileged/host-network.cleanrun.toml &&
        if python3 - "$tmp/hn.json" <<'PY'; then
import json, sys
for s in json.load(open(sys.argv[1]))["tests"][0]["steps"]:
    ns = s["isolation"]["namespaces"]
    assert s["isolation"]["verdict"] == "unverified", s["isolation"]
    assert ns["net"]["shared"], ns["net"]
    for n in ("mnt", "pid", "uts", "ipc"):
        assert not ns[n]["shared"], (n, ns[n])
PY
            has host-network "PASS    host-network" "isolation: 0 steps isolated, 2 unverified, 0 violated"
        else
            echo "FAIL host-network evidence"
            fail=$((fail + 1))
        fi
fi

# a host directory bound read-only, with --allow-host-mounts (rootless:
# cloned in the container's own mount namespace after the path is checked
# to be what the host opened)
mkdir -p "$tmp/hostdir"
echo hello-from-host >"$tmp/hostdir/f"
chmod -R a+rX "$tmp"
cat >"$tmp/mount.cleanrun.toml" <<EOF
[test]
name = "mount"
[images.bb]
ref = "localhost/cleanrun/busybox:1"
pull = "never"
[[steps]]
image = "bb"
mounts = [{ source = "$tmp/hostdir", target = "/data", read_only = true }]
run = "cat /data/f; touch /data/g 2>&1 | grep -c Read-only"
expect.stdout = "hello-from-host\n1\n"
EOF
check host-mount 0 run --allow-host-mounts "$tmp/mount.cleanrun.toml" && has host-mount "PASS    mount"

# so is a test that builds an image (pulls and builds: "Native 3 of 3")
check needs-build 2 run specs/built-image.cleanrun.toml &&
    has needs-build 'specs/built-image.cleanrun.toml:3:1: test "built-image" builds image tool: runtime native cannot build images' \
        "cleanrun image import"

check wrong-output 1 run tests/e2e/failing/wrong-output.cleanrun.toml &&
    has wrong-output "FAIL    wrong-output" "- World" "+ world"
start=$(date +%s)
check hung-step 1 run tests/e2e/failing/hung-step.cleanrun.toml &&
    has hung-step "TIMEOUT hung-step" "timed out after 1.0" "killed (host-signal)"
took=$(($(date +%s) - start))
if [ "$took" -le 5 ]; then
    echo "ok   hung-step returned in ${took}s"
    pass=$((pass + 1))
else
    echo "FAIL hung-step took ${took}s"
    fail=$((fail + 1))
fi
check missing-file 1 run tests/e2e/failing/missing-file.cleanrun.toml &&
    has missing-file "expected file /tmp/wanted exists: exists, actual: absent"
check never-ready 3 run tests/e2e/failing/never-ready.cleanrun.toml &&
    has never-ready "service db not ready after 1." "last log lines of service db:" "cannot open config"
check bad-exit 1 run tests/e2e/failing/bad-exit.cleanrun.toml &&
    has bad-exit "expected exit code: 0, actual: 2" "| about to fail"
check missing-image 3 run tests/e2e/failing/missing-image.cleanrun.toml &&
    has missing-image "image localhost/cleanrun/no-such-image:1 is not present in native" \
        "cleanrun image import FILE --name localhost/cleanrun/no-such-image:1"

# cleanrun image: a rootfs tarball in, listed, run, removed, pruned
root=$tmp/rootfs
mkdir -p "$root/bin"
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
ln -s busybox "$root/bin/cat"
echo "imported-ok" >"$root/hello.txt"
tar -C "$root" -cf "$tmp/rootfs.tar" .
name="localhost/cleanrun/e2e-native-import:$$"
check image-import 0 "$bin" image import --host "$endpoint" "$tmp/rootfs.tar" --name "$name" &&
    has image-import "imported sha256:" "as $name"
check image-ls 0 "$bin" image ls --host "$endpoint" && has image-ls "$name" "IMAGE ID"
cat >"$tmp/imported.cleanrun.toml" <<EOF
[test]
name = "imported"
[images.mine]
ref = "$name"
pull = "never"
[[steps]]
image = "mine"
run = ["cat", "/hello.txt"]
expect.stdout = "imported-ok\n"
EOF
check image-run 0 run "$tmp/imported.cleanrun.toml" && has image-run "PASS    imported"
check image-rm 0 "$bin" image rm --host "$endpoint" "$name" && has image-rm "removed $name"
check image-gone 3 run "$tmp/imported.cleanrun.toml" && has image-gone "is not present in native"
check image-prune 0 "$bin" image prune --host "$endpoint" && has image-prune "pruned "
check image-hostile 3 "$bin" image import --host "$endpoint" /etc/hostname --name x:y &&
    has image-hostile "cleanrun: runtime native: importing /etc/hostname"

if [ "$rootless" = 1 ]; then
    # the container's root is this user; ids 1.. its subordinate ids
    cat >"$tmp/ids.cleanrun.toml" <<EOF
[test]
name = "ids"
[images.bb]
ref = "localhost/cleanrun/busybox:1"
pull = "never"
[[steps]]
image = "bb"
run = "cat /proc/self/uid_map"
[[steps]]
image = "bb"
user = "65534"
run = "id -u; mkdir /tmp/d && touch /tmp/d/f && chmod 700 /tmp/d"
expect.stdout = "65534\n"
EOF
    me=$(id -u)
    sub=$(awk -F: -v u="$(id -un)" '$1 == u { print $2; exit }' /etc/subuid)
    check rootless-ids 0 run -v "$tmp/ids.cleanrun.toml" &&
        if grep -qE "^ *\[ids / step 1 out\] +0 +$me +1$" "$out" &&
            grep -qE "^ *\[ids / step 1 out\] +1 +$sub +65536$" "$out"; then
            has rootless-ids "limits: memory, pids and cpus are not limited: runtime native runs rootless" \
                "PASS    ids" "isolation: 2 steps isolated"
        else
            echo "FAIL rootless-ids: the maps are not 0 -> $me and 1.. -> $sub"
            sed 's/^/    | /' "$out" | head -n 20
            fail=$((fail + 1))
        fi
    # what uid 65534 wrote (a subordinate id's files) was removed with its container
    left=$(ls -A "${endpoint#native://}/containers")
    if [ -z "$left" ]; then
        echo "ok   rootless: the containers' directories are gone, files of subordinate ids too"
        pass=$((pass + 1))
    else
        echo "FAIL rootless: left in the store's containers/: $left"
        fail=$((fail + 1))
    fi
    echo "native e2e on $endpoint with $bin (rootless, no strace): $pass passed, $fail failed"
    [ "$fail" = 0 ]
    exit
fi

# strace: cleanrun's own start is the only execve of the host; every other
# one is by a process that left the host's mount namespace before it (the
# monitor's unshare, inherited by the init and its children; an exec's
# setns into the init's namespaces)
if command -v strace >/dev/null 2>&1; then
    trace=$tmp/trace
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 check strace-run 0 \
        strace -f -qq --pidns-translation -e trace=execve,execveat,clone,clone3,fork,vfork,unshare,setns -o "$trace" \
        "$bin" run --host "$endpoint" --no-color -q -j 2 "${examples[@]}"
    if why=$(python3 - "$trace" "$bin" <<'PY'
import re, sys
binary = sys.argv[2]
# a call strace split ("... <unfinished ...>", then "<... call resumed>...")
# joined back into one line
lines, pending = [], {}
for l in open(sys.argv[1]).read().splitlines():
    m = re.match(r"(\d+)\s+(.*)", l)
    if not m:
        continue
    pid, rest = m.group(1), m.group(2)
    if rest.endswith("<unfinished ...>"):
        pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
        continue
    r = re.match(r"<\.\.\. \w+ resumed>(.*)", rest)
    if r and pid in pending:
        rest = pending.pop(pid) + r.group(1)
    lines.append(pid + " " + rest)
parent, inside, execs, first = {}, set(), [], None
for l in lines:
    m = re.match(r"(\d+)\s+(?:<\.\.\. )?(\w+)(?:\(| resumed>)(.*)", l)
    if not m:
        continue
    pid, call, rest = int(m.group(1)), m.group(2), m.group(3)
    if first is None:
        first = pid
    r = re.search(r"=\s*(-?\d+)(?: /\* (\d+) in strace's PID NS \*/)?", l.rsplit(")", 1)[-1] if ")" in l else "")
    ok = r is not None and int(r.group(1)) >= 0
    if call in ("clone", "clone3", "fork", "vfork") and ok and int(r.group(1)) > 0:
        # (a child in a pid namespace of its own: its pid as strace sees it)
        child = int(r.group(2) or r.group(1))
        parent[child] = pid
        if pid in inside:
            inside.add(child)
    elif call in ("unshare", "setns") and ok and "CLONE_NEWNS" in l:
        inside.add(pid)
    elif call.startswith("execve") and "resumed>" not in l:
        execs.append((pid, rest.split('"')[1] if '"' in rest else rest, ok))
assert execs and execs[0][:2] == (first, binary), execs[:2]
outside = [(p, path) for p, path, _ in execs[1:] if p not in inside]
assert not outside, "execve on the host's mount namespace: %s" % outside[:5]
print(len(execs) - 1)
PY
    ); then
        echo "ok   strace: cleanrun's own start, then $why execve calls, each by a process in a container's mount namespace"
        pass=$((pass + 1))
    else
        echo "FAIL strace: $why"
        fail=$((fail + 1))
    fi
else
    echo "FAIL strace is not installed (.ci/setup deps installs it)"
    fail=$((fail + 1))
fi

echo "native e2e on $endpoint with $bin: $pass passed, $fail failed"
[ "$fail" = 0 ]
