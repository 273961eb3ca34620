#!/usr/bin/env bash
# The real-services examples (docs/examples/real/: PostgreSQL, redis, nginx,
# a python3 app over PostgreSQL, from Debian's packages) on each engine given:
# the image made or found by .ci/real-image, then `cleanrun run` with a JSON
# report that must say every test passed, every step passed and was observed
# isolated, every service ran the real image and was ready, and nothing leaked.
# Usage: tests/e2e/real.sh CLEANRUN_BINARY ENDPOINT...   (REAL_EXAMPLES=DIR: other specs)
set -uo pipefail
bin=$1
shift
cd "$(dirname "$0")/../.." || exit 2
examples=${REAL_EXAMPLES:-docs/examples/real}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

if bash .ci/real-image "$@"; then
    ok "the image localhost/cleanrun/debian-real:1 on $*"
else
    bad "the image localhost/cleanrun/debian-real:1 (.ci/real-image $*)"
    echo "real services e2e: $pass passed, $fail failed"
    exit 1
fi
want=$(find "$examples" -name '*.cleanrun.toml' | wc -l)

for endpoint in "$@"; do
    json=$tmp/run.json
    rm -f "$json"
    "$bin" run --host "$endpoint" --no-color --report json="$json" "$examples" >"$tmp/out" 2>&1
    rc=$?
    sed 's/^/    | /' "$tmp/out"
    if [ $rc = 0 ]; then ok "$endpoint: cleanrun run $examples exits 0"; else bad "$endpoint: cleanrun run $examples exit $rc"; fi
    if out=$(python3 - "$json" "$want" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
problems = []
run = d["run"]
if run["exit_code"] != 0:
    problems.append("run exit_code %s" % run["exit_code"])
s = run["summary"]
if s["tests"] != want or s["passed"] != want:
    problems.append("%d tests, %d passed (want %d)" % (s["tests"], s["passed"], want))
if s["isolation"]["unverified"] or s["isolation"]["violated"]:
    problems.append("isolation %s" % s["isolation"])
if run["leak_audit"]["leaks"]:
    problems.append("leaks %s" % run["leak_audit"]["leaks"])
steps = services = 0
for t in d["tests"]:
    if t["status"] != "passed":
        problems.append("%s: %s (%s)" % (t["name"], t["status"], t["error"]))
    for sv in t["services"]:
        services += 1
        if sv["image"] != "localhost/cleanrun/debian-real:1" or sv["ready_ms"] is None or sv["error"]:
            problems.append("%s: service %s: image %s, ready_ms %s, error %s"
                            % (t["name"], sv["name"], sv["image"], sv["ready_ms"], sv["error"]))
    for st in t["steps"]:
        steps += 1
        iso = st["isolation"] or {}
        if st["status"] != "passed" or iso.get("verdict") != "isolated":
            problems.append("%s: step %r: %s, isolation %s (%s)"
                            % (t["name"], st["name"], st["status"], iso.get("verdict"), iso.get("reason")))
if problems:
    sys.exit("\n".join(problems))
print("%d tests passed, %d services ready, %d steps isolated" % (want, services, steps))
PY
    ); then
        ok "$endpoint: JSON report: $out"
    else
        bad "$endpoint: JSON report:"
        echo "$out" | sed 's/^/    | /'
    fi
done

echo "real services e2e: $pass passed, $fail failed"
[ "$fail" = 0 ]
