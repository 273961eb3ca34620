#!/bin/bash
# --artifacts DIR against a real engine: files and whole directories copied
# out of steps' and services' containers, laid out by test and step, kept
# for tests that did not pass (or always), capped in size with the cut
# recorded, listed in the JSON report and attached in JUnit; the services'
# logs of a failed test; nothing written outside DIR, no link followed.
#
#   tests/e2e/artifacts.sh CLEANRUN ENDPOINT   (unix://... or native:///...
#                                               or the Apple emulator's path)
set -uo pipefail
bin=$(realpath "$1")
endpoint=$2
cd "$(dirname "$0")/../.."
repo=$PWD
SHARED=${SHARED:-../shared}
pass=0 fail=0
T=$(mktemp -d /tmp/cleanrun-artifacts-XXXXXX)
out=$T/out
trap 'rm -rf "$T"' EXIT
IMG=localhost/cleanrun/busybox:1
host=(--host "$endpoint")
[[ "$endpoint" == /* ]] && host=(--runtime apple)
[[ "$endpoint" == /* ]] && export CLEANRUN_APPLE_CLI=$endpoint

ok() {
    echo "ok   $1"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL $1"
    [ -f "$out" ] && sed 's/^/    | /' "$out" | head -n 30
    fail=$((fail + 1))
}
run() { # WANT_EXIT ARGS...: cleanrun run, output in $out
    local want=$1
    shift
    timeout -k 5 300 "$bin" run "${host[@]}" "$@" >"$out" 2>&1
    local got=$?
    [ "$got" = "$want" ] && return 0
    bad "cleanrun run $*: exit $got, want $want"
    return 1
}

mkdir -p "$T/specs"
cat >"$T/specs/art.cleanrun.toml" <<EOF
[test]
name = "fails[a=1]"
[services.s]
image = "$IMG"
command = ["sh", "-c", "mkdir -p /srv/out/sub; echo one > /srv/out/a.txt; echo two > /srv/out/sub/b.txt; ln -s /etc/passwd /srv/out/link; ln /srv/out/a.txt /srv/out/hard.txt; mkfifo /srv/out/fifo; echo service-says-hello; echo service-err >&2; exec sleep 1000"]
artifacts = ["/srv/out/", "/nope"]
[[steps]]
name = "make a log"
image = "$IMG"
run = "echo hello > /tmp/app.log; head -c 300000 /dev/zero > /tmp/big.bin; mkdir -p /tmp/d; echo x > /tmp/d/x; ln -s /etc/passwd /tmp/link; echo '[[ATTACHMENT|/etc/shadow]]'"
artifacts = ["/tmp/app.log", "/tmp/big.bin", "/tmp/d/", "/tmp/link"]
[[steps]]
name = "then fail"
service = "s"
run = ["false"]
artifacts = ["/srv/out/a.txt"]
EOF
cat >"$T/specs/ok.cleanrun.toml" <<EOF
[test]
name = "passes"
[[steps]]
image = "$IMG"
run = "echo fine > /tmp/ok.log"
artifacts = ["/tmp/ok.log"]
EOF

A=$T/art
# 1. the default: kept for the test that failed only
if run 1 --artifacts "$A" --report "json=$T/r.json" --report "junit=$T/j.xml" "$T/specs"; then
    d="$A/fails_a_1_"
    [ -f "$A/.cleanrun-artifacts" ] && ok "1: DIR carries cleanrun's marker" || bad "1: no marker"
    [ "$(cat "$d/01-make_a_log/tmp/app.log" 2>/dev/null)" = hello ] &&
        ok "1: a step's file, under TEST/NN-STEP/PATH" || bad "1: the step's file"
    [ "$(cat "$d/01-make_a_log/tmp/d/x" 2>/dev/null)" = x ] &&
        ok "1: a step's directory (a path ending in /)" || bad "1: the step's directory"
    [ "$(stat -c %s "$d/01-make_a_log/tmp/big.bin" 2>/dev/null)" = 300000 ] &&
        ok "1: 300000 bytes, all of them" || bad "1: big.bin's size"
    [ "$(cat "$d/services/s/srv/out/sub/b.txt" 2>/dev/null)" = two ] &&
        ok "1: a service's directory, under TEST/services/NAME/PATH" || bad "1: the service's directory"
    [ "$(cat "$d/02-then_fail/srv/out/a.txt" 2>/dev/null)" = one ] &&
        ok "1: a step in a service: from the service's container" || bad "1: step 2's file"
    if [ ! -e "$d/services/s/srv/out/link" ] && [ ! -e "$d/services/s/srv/out/fifo" ]; then
        ok "1: a link and a FIFO in a directory are not written (skipped)"
    else
        bad "1: a link or FIFO was written: $(ls -la "$d/services/s/srv/out/")"
    fi
    [ "$(cat "$d/services/s/srv/out/hard.txt" 2>/dev/null)" = one ] &&
        ok "1: a hard link in a directory is saved as a copy of its file" || bad "1: hard link"
    # (Podman's archive API follows a final link itself, inside the
    # container: this one leads nowhere there, so it is not found)
    linkmsg="step 1 /tmp/link: a symbolic link (to /etc/passwd), not saved"
    [[ "$endpoint" == *podman* ]] && linkmsg="step 1 /tmp/link: not found in the container"
    [ ! -e "$d/01-make_a_log/tmp/link" ] && grep -q "$linkmsg" "$out" &&
        ok "1: a path that is a link is not followed by cleanrun, and that is said" || bad "1: a link path"
    # (each stream in a file of its own; Apple's CLI gives them as one)
    if [[ "$endpoint" == /* ]]; then logs=("$d/services/s.stdout.log"); else
        logs=("$d/services/s.stdout.log" "$d/services/s.stderr.log"); fi
    grep -q service-says-hello "${logs[0]}" 2>/dev/null &&
        grep -q service-err "${logs[-1]}" 2>/dev/null &&
        ok "1: the failed test's service log, each stream" || bad "1: the service's log"
    [ ! -e "$A/passes" ] && ok "1: nothing kept of the test that passed" || bad "1: passes/ kept"
    grep -qF "artifacts: $(realpath "$A")/fails_a_1_/" "$out" &&
        grep -qF "service s /nope: not found in the container" "$out" &&
        ok "1: the human output says where, and what could not be saved" ||
        bad "1: human output"
    if python3 - "$T/r.json" "$(realpath "$A")" <<'PY'; then
import json, sys
r = json.load(open(sys.argv[1])); base = sys.argv[2]
t = {x["name"]: x for x in r["tests"]}
f, p = t["fails[a=1]"], t["passes"]
assert f["artifacts_dir"] == base + "/fails_a_1_", f["artifacts_dir"]
assert p["artifacts_dir"] is None and p["steps"][0]["artifacts"] == [], p
s1 = f["steps"][0]["artifacts"]
assert [a["path"] for a in s1] == ["/tmp/app.log", "/tmp/big.bin", "/tmp/d/", "/tmp/link"], s1
assert s1[3]["saved"] is None and (s1[3]["skipped"] == 1 or s1[3]["error"] == "not found in the container"), s1[3]
assert s1[1]["bytes"] == 300000 and not s1[1]["truncated"] and s1[1]["files"] == 1, s1[1]
assert s1[0]["saved"] == base + "/fails_a_1_/01-make_a_log/tmp/app.log", s1[0]
sv = {a["path"]: a for a in f["services"][0]["artifacts"]}
assert sv["/nope"]["error"] == "not found in the container" and sv["/nope"]["saved"] is None, sv
assert sv["/srv/out/"]["files"] == 3 and sv["/srv/out/"]["skipped"] == 2, sv["/srv/out/"]
assert sv["log"]["files"] in (1, 2) and sv["log"]["error"] is None, sv["log"]
PY
        ok "1: the JSON report lists each path: where it went, bytes, files, skipped, errors"
    else
        bad "1: the JSON report"
    fi
    if python3 - "$T/r.json" "$repo/docs/report.schema.json" <<'PY'; then
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))
PY
        ok "1: the report validates against docs/report.schema.json"
    else
        bad "1: the report does not validate"
    fi
    n=$(grep -c "\[\[ATTACHMENT|$(realpath "$A")/fails_a_1_/" "$T/j.xml")
    [ "$n" -ge 7 ] && ok "1: JUnit: $n [[ATTACHMENT|path]] lines (Jenkins, GitLab)" ||
        bad "1: JUnit attachments: $n"
    ! grep -qF "[[ATTACHMENT|/etc/shadow]]" "$T/j.xml" && grep -qF "[[ATTACHMENT |/etc/shadow]]" "$T/j.xml" &&
        ok "1: JUnit: an attachment line a container prints is broken (no agent file attached)" ||
        bad "1: JUnit: a container's [[ATTACHMENT| line"
    xmllint --noout --schema "$SHARED/schemas/junit/JUnit.xsd" "$T/j.xml" 2>"$out" &&
        ok "1: the JUnit report still validates (JUnit.xsd)" || bad "1: JUnit.xsd"
fi

# 2. always; the last run's artifacts replaced
echo stale >"$A/fails_a_1_/stale"
if run 1 --artifacts "$A" --artifacts-when always "$T/specs"; then
    [ "$(cat "$A/passes/01-step_1/tmp/ok.log" 2>/dev/null)" = fine ] &&
        ok "2: --artifacts-when always keeps a passing test's" || bad "2: always"
    [ ! -e "$A/fails_a_1_/stale" ] && ok "2: the last run's artifacts are replaced" ||
        bad "2: stale file kept"
    [ ! -e "$A/passes/services" ] && ok "2: no service log for a test that passed" ||
        bad "2: a passing test's logs"
fi

# 3. the size cap, recorded
B=$T/capped
if run 1 --artifacts "$B" --artifacts-max 100KiB "$T/specs"; then
    [ "$(stat -c %s "$B/fails_a_1_/01-make_a_log/tmp/big.bin" 2>/dev/null)" = 102400 ] &&
        grep -q "step 1 /tmp/big.bin: cut at the size cap" "$out" &&
        ok "3: --artifacts-max cuts a file at the cap, and says so" || bad "3: the cap"
fi

# 4. a directory cleanrun did not make is never emptied
U=$T/users
mkdir -p "$U" && echo mine >"$U/precious"
if run 2 --artifacts "$U" "$T/specs"; then
    grep -q "not empty and not one cleanrun made" "$out" && [ "$(cat "$U/precious")" = mine ] &&
        ok "4: a non-empty directory of the user's is refused (exit 2), untouched" ||
        bad "4: user's directory"
fi
W=$T/open
mkdir -p "$W" && chmod 1777 "$W"
if run 2 --artifacts "$W" "$T/specs"; then
    grep -q "no one else can write in" "$out" &&
        ok "4: a directory others can write in is refused (a link planted there would lead writes elsewhere)" ||
        bad "4: world-writable DIR"
fi
run 2 --artifacts "$A" --artifacts-when sometimes "$T/specs" &&
    grep -q "on-failure or always" "$out" && ok "4: --artifacts-when takes on-failure or always"

# 5. paths are checked at load time, with file:line:col
cat >"$T/bad.cleanrun.toml" <<EOF
[test]
name = "bad"
[[steps]]
image = "$IMG"
run = ["true"]
artifacts = ["/tmp/../etc/shadow"]
EOF
if timeout 60 "$bin" validate "$T/bad.cleanrun.toml" >"$out" 2>&1; then
    bad "5: a path with .. was accepted"
else
    grep -q "bad.cleanrun.toml:6:14: steps\[0\].artifacts\[0\]" "$out" &&
        ok "5: an artifact path with \"..\" is refused at its file:line:col" || bad "5: message"
fi

echo "artifacts ($endpoint): $pass passed, $fail failed"
[ "$fail" = 0 ]
