#!/usr/bin/env bash
# cleanrun self-test: passes as installed (make install into a temporary
# prefix: the binary finds share/cleanrun/selftest by itself), and fails,
# naming the case, when a case's expectation does not hold.
# Usage: tests/e2e/selftest.sh CLEANRUN_BINARY ENDPOINT
set -uo pipefail
bin=$1 endpoint=$2
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

make --no-print-directory -s install DESTDIR="$tmp" PREFIX=/usr >/dev/null 2>&1 || bad "make install"
"$tmp/usr/bin/cleanrun" self-test --host "$endpoint" >"$tmp/out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "specs in $tmp/usr/bin/../share/cleanrun/selftest" "$tmp/out" &&
    grep -q "^self-test: 9 passed, 0 failed" "$tmp/out"; then
    ok "installed self-test finds its specs and passes (9 cases)"
else
    bad "installed self-test: exit $rc"
    sed 's/^/    | /' "$tmp/out"
fi

# wrong expectations: each must be reported as a failed case
mkdir "$tmp/broken"
cp selftest/* "$tmp/broken/"
python3 - "$tmp/broken/cases.toml" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
s = s.replace('spec = "wrong-output.cleanrun.toml"\nstatus = "failed"\nexit = 1', 'spec = "wrong-output.cleanrun.toml"\nstatus = "failed"\nexit = 0')
s = s.replace('failure = ["stdout equals", "  hello\\n- World\\n+ world\\n"]', 'failure = ["stdout equals", "- world\\n+ World"]')
s = s.replace('spec = "oom.cleanrun.toml"\nstatus = "failed"', 'spec = "oom.cleanrun.toml"\nstatus = "passed"')
s = s.replace('step_within = "2500ms"', 'step_within = "500ms"')
s = s.replace('message = "no container engine answered"', 'message = "engine is fine"')
open(p, "w").write(s)
PY
"$bin" self-test --host "$endpoint" --dir "$tmp/broken" >"$tmp/out" 2>&1
rc=$?
want=("FAIL a failing expectation fails with the right diff" "exit 1, expected 0"
    "FAIL a container killed for memory is reported as OOM" "status failed, expected passed"
    "FAIL a hung step times out within its budget" "more than 500"
    "FAIL an unreachable engine gives exit 3" 'lacks "engine is fine"'
    "self-test: 5 passed, 4 failed")
missing=""
for w in "${want[@]}"; do grep -qF -- "$w" "$tmp/out" || missing="$missing [$w]"; done
if [ $rc = 1 ] && [ -z "$missing" ]; then
    ok "wrong expectations fail the self-test (exit 1, 4 cases named)"
else
    bad "broken self-test: exit $rc, missing:$missing"
    sed 's/^/    | /' "$tmp/out"
fi

echo "self-test e2e on $endpoint: $pass passed, $fail failed"
[ "$fail" = 0 ]
