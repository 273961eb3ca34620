#!/usr/bin/env bash
# Reports against a real engine, checked by their real consumers:
#   JSON: the JSON Schema in docs/report.schema.json (python3-jsonschema);
#   JUnit: xmllint against ../shared/schemas/junit/JUnit.xsd, and Python's
#          xml.etree as a second, independent parser that recounts it;
#   TAP: prove (passes for a passing run, fails for a failing one), and
#        TAP::Parser reading every YAML block.
# Exit codes must not depend on the format; an interrupted run writes a
# partial report.  Usage: tests/e2e/reports.sh CLEANRUN_BINARY ENDPOINT
set -uo pipefail
bin=$1 endpoint=$2
cd "$(dirname "$0")/../.."
xsd=${SHARED:-../shared}/schemas/junit/JUnit.xsd
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
run() { "$bin" run --host "$endpoint" --no-color -q "$@"; }

json_valid() { # FILE: valid against the schema; prints the summary
    "$py" - "$1" <<'PY'
import json, sys, jsonschema
schema = json.load(open("docs/report.schema.json"))
doc = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator(schema).validate(doc)
s = doc["run"]["summary"]
# the summary agrees with the tests, and every step's verdict with the counts
st = [t["status"] for t in doc["tests"]]
assert s["passed"] == st.count("passed") and s["failed"] == st.count("failed"), s
assert s["errors"] == st.count("error") and s["timed_out"] == st.count("timeout"), s
v = [x["isolation"]["verdict"] for t in doc["tests"] for x in t["steps"] if x["isolation"]]
assert s["isolation"]["isolated"] == v.count("isolated"), (s, v)
print("tests=%d passed=%d exit=%d partial=%s" % (s["tests"], s["passed"], doc["run"]["exit_code"], doc["partial"]))
PY
}
junit_count() { # FILE: the second consumer recounts failures+errors over the suites
    "$py" - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
bad = 0
for s in root.findall("testsuite"):
    cases = s.findall("testcase")
    assert int(s.get("tests")) == len(cases), s.get("name")
    f = sum(1 for c in cases if c.find("failure") is not None)
    e = sum(1 for c in cases if c.find("error") is not None)
    k = sum(1 for c in cases if c.find("skipped") is not None)
    assert int(s.get("failures")) == f and int(s.get("errors")) == e and int(s.get("skipped")) == k, s.get("name")
    for c in cases:
        t = c.get("time"); assert t.count(".") == 1 and len(t.split(".")[1]) == 3, t
    props = {p.get("name"): p.get("value") for p in s.find("properties")}
    assert "cleanrun.run" in props and "cleanrun.status" in props, props
    bad += f + e
print("suites=%d failing_cases=%d" % (len(root.findall("testsuite")), bad))
PY
}

# ---- a passing run: every format, every consumer ----
run -j 2 --report json="$tmp/p.json" --report junit="$tmp/p.xml" --report tap="$tmp/p.tap" specs >/dev/null 2>&1
rc=$?
[ $rc = 0 ] && ok "passing run exits 0 with three reports" || bad "passing run exit $rc"
out=$(json_valid "$tmp/p.json" 2>&1) && [[ $out == "tests=9 passed=9 exit=0 partial=False" ]] &&
    ok "JSON report valid against docs/report.schema.json ($out)" || bad "JSON report: $out"
xmllint --noout --schema "$xsd" "$tmp/p.xml" 2>"$tmp/xl" && ok "JUnit valid against JUnit.xsd" || { bad "JUnit schema"; head -5 "$tmp/xl"; }
out=$(junit_count "$tmp/p.xml" 2>&1) && [[ $out == "suites=9 failing_cases=0" ]] && ok "JUnit recounted by xml.etree ($out)" || bad "JUnit consumer: $out"
grep -q 'name="cleanrun.step.1.isolation" value="isolated"' "$tmp/p.xml" && ok "JUnit carries isolation verdicts as properties" || bad "JUnit isolation properties"
prove -e cat "$tmp/p.tap" >"$tmp/prove" 2>&1 && grep -q "^Result: PASS" "$tmp/prove" && ok "prove passes the passing TAP" || { bad "prove on passing TAP"; tail -5 "$tmp/prove"; }

# ---- a failing run ----
run -j 3 --report json="$tmp/f.json" --report junit="$tmp/f.xml" --report tap="$tmp/f.tap" tests/e2e/failing >/dev/null 2>&1
rc=$?
[ $rc = 3 ] && ok "failing run exits 3 (errors win over failures)" || bad "failing run exit $rc"
out=$(json_valid "$tmp/f.json" 2>&1) && [[ $out == "tests=6 passed=0 exit=3 partial=False" ]] && ok "failing JSON valid ($out)" || bad "failing JSON: $out"
xmllint --noout --schema "$xsd" "$tmp/f.xml" 2>/dev/null && ok "failing JUnit valid" || bad "failing JUnit schema"
# errors kept as values: the chain's root cause is the engine's, with its code
out=$("$py" - "$tmp/f.json" <<'PY' 2>&1
import json, sys
doc = json.load(open(sys.argv[1]))
t = {x["name"]: x for x in doc["tests"]}
def root(name):
    c = t[name]["error_chain"]
    assert c and c[0]["message"] and t[name]["error"], (name, c)
    return c[-1]["code"]
print("missing-image=%s never-ready=%s" % (root("missing-image"), root("never-ready")))
PY
)
[[ $out == "missing-image=not-found never-ready=timeout" ]] &&
    ok "errors carry their chains in JSON, root causes coded ($out)" || bad "error chains: $out"

out=$(junit_count "$tmp/f.xml" 2>&1) && [[ $out == "suites=6 failing_cases=6" ]] && ok "failing JUnit recounted ($out)" || bad "failing JUnit consumer: $out"
grep -q '<failure message="expected stdout equals' "$tmp/f.xml" && grep -q 'type="timeout"' "$tmp/f.xml" &&
    ok "JUnit failure elements carry the expectation and the timeout" || bad "JUnit failure details"
if prove -e cat "$tmp/f.tap" >"$tmp/prove" 2>&1; then bad "prove passed a failing TAP"; else
    grep -q "Failed 6/6 subtests" "$tmp/prove" && ok "prove fails the failing TAP (6/6)" || { bad "prove output"; tail -5 "$tmp/prove"; }
fi
perl -MTAP::Parser -e '
    my $p = TAP::Parser->new({ source => $ARGV[0] }); my $y = 0;
    while (my $r = $p->next) { if ($r->is_yaml) { my $d = $r->data; die "bad yaml" unless ref $d eq "HASH" && $d->{status}; $y++ } }
    die "parse errors: @{[$p->parse_errors]}" if $p->parse_errors; print "$y\n"' "$tmp/f.tap" >"$tmp/y" 2>&1 &&
    [ "$(cat "$tmp/y")" = 6 ] && ok "TAP::Parser reads all 6 YAML blocks" || { bad "TAP YAML"; cat "$tmp/y"; }

# ---- exit codes never depend on the format ----
codes=""
for f in human json tap; do
    run -j 3 --format $f tests/e2e/failing >"$tmp/out.$f" 2>/dev/null
    codes="$codes $?"
done
[ "$codes" = " 3 3 3" ] && ok "same exit code for human, json and tap ($codes)" || bad "exit codes by format:$codes"
"$py" -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out.json" && ok "--format json: stdout is one JSON document" || bad "--format json stdout"
head -n1 "$tmp/out.tap" | grep -q "^TAP version 13" && ! prove -e cat "$tmp/out.tap" >/dev/null 2>&1 && ok "--format tap: stdout is TAP that prove fails" || bad "--format tap stdout"

# ---- output no format can carry as it is ----
run --report json="$tmp/n.json" --report junit="$tmp/n.xml" --report tap="$tmp/n.tap" tests/e2e/reports/nasty-output.cleanrun.toml >/dev/null 2>&1
rc=$?
[ $rc = 1 ] && ok "nasty output: the step fails (exit 1)" || bad "nasty exit $rc"
out=$(json_valid "$tmp/n.json" 2>&1) && ok "nasty output: JSON valid" || bad "nasty JSON: $out"
"$py" - "$tmp/n.json" <<'PY' && ok "nasty output: JSON keeps the text, replaces the bad bytes and counts them" || bad "nasty JSON content"
import json, sys
s = json.load(open(sys.argv[1]))["tests"][0]["steps"][0]["stdout"]
assert "café" in s["text"] and "<tag attr=\"x\"> & ]]>" in s["text"], s
assert "\ufffd" in s["text"] and s["replaced_bytes"] >= 3, s
PY
xmllint --noout --schema "$xsd" "$tmp/n.xml" 2>/dev/null && ok "nasty output: JUnit valid" || bad "nasty JUnit"
"$py" - "$tmp/n.xml" <<'PY' && ok "nasty output: xml.etree reads it back, forbidden characters removed" || bad "nasty JUnit content"
import sys, xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot().find("testsuite")
assert s.get("name") == "nasty # output <&>", s.get("name")
out = s.find("system-out").text
assert "ab" in out and "<tag attr=\"x\"> & ]]>" in out and "café" in out and "\x01" not in out, repr(out)
PY
perl -MTAP::Parser -e 'my $p = TAP::Parser->new({ source => $ARGV[0] }); my ($t, $y) = (0, 0);
    while (my $r = $p->next) { $t++ if $r->is_test; $y++ if $r->is_yaml }
    die "errors" if $p->parse_errors; die "t=$t y=$y" unless $t == 1 && $y == 1' "$tmp/n.tap" 2>/dev/null &&
    grep -q '^not ok 1 - nasty \\# output <&>' "$tmp/n.tap" && ok "nasty output: TAP parses, '#' escaped in the name" || bad "nasty TAP"

# ---- an interrupted run writes what it has, marked partial ----
"$bin" run --host "$endpoint" --no-color -q -j 1 --report json="$tmp/i.json" --report junit="$tmp/i.xml" \
    --report tap="$tmp/i.tap" specs >/dev/null 2>&1 &
pid=$!
sleep 3
kill -INT $pid
wait $pid
rc=$?
out=$(json_valid "$tmp/i.json" 2>&1)
[ $rc = 130 ] && [[ $out == *"exit=130 partial=True" ]] && ok "interrupted run: partial JSON written ($out)" || bad "interrupted: exit $rc, $out"
xmllint --noout --schema "$xsd" "$tmp/i.xml" 2>/dev/null && grep -q "PARTIAL" "$tmp/i.tap" && ok "interrupted run: JUnit valid, TAP says partial" || bad "interrupted JUnit/TAP"
left=$(ls "$tmp" | grep -c '\.tmp\.' || true)
[ "$left" = 0 ] && ok "no temporary report files left (atomic writes)" || bad "temporary files left: $left"
check_dir=$(mktemp -d)
chmod 0555 "$check_dir"
# a report that cannot be written is refused before any test runs
run --report json="$check_dir/sub/x.json" specs/matrix.cleanrun.toml >"$tmp/e" 2>&1
rc=$?
mkdir "$tmp/adir"
run --report json="$tmp/adir" specs/matrix.cleanrun.toml >"$tmp/e2" 2>&1
rc2=$?
run --report json="$tmp/same" --report tap="$tmp/same" specs/matrix.cleanrun.toml >"$tmp/e3" 2>&1
rc3=$?
[ $rc = 2 ] && grep -q "report $check_dir/sub/x.json: no directory $check_dir/sub" "$tmp/e" &&
    [ $rc2 = 2 ] && grep -q "report $tmp/adir: exists and is not a file" "$tmp/e2" &&
    [ $rc3 = 2 ] && grep -q "the same file as --report number 1" "$tmp/e3" && ! grep -q "PASS" "$tmp/e" "$tmp/e2" "$tmp/e3" &&
    ok "a report that cannot be written (no directory, a directory, one file for two formats): exit 2 before any test" ||
    { bad "unwritable report: exit $rc $rc2 $rc3"; cat "$tmp/e" "$tmp/e2" "$tmp/e3"; }
rm -rf "$check_dir"

echo "reports e2e on $endpoint: $pass passed, $fail failed"
[ "$fail" = 0 ]
