#!/bin/bash
# `cleanrun import clnrm` (docs/cli.md "cleanrun import clnrm"): the clnrm
# specs of tests/e2e/clnrm/, written from clnrm's documented format, are
# converted; each result must pass `cleanrun validate` and carry the mapped
# values; every loss is a warning at its FILE:LINE:COL and a comment in the
# output; bad input gives exit 2 and writes nothing; -o refuses to
# overwrite without --force, and a failed write leaves nothing half written.
#
#   tests/e2e/import.sh CLEANRUN [ENDPOINT]
#
# With ENDPOINT the converted full.clnrm.toml also runs there end to end
# (its image, localhost/cleanrun/busybox:1, is made by `.ci/setup images`),
# and so does a copy whose expected exit code is wrong, which must fail.
# Any sanitizer report (run with the ASan build and detect_leaks=1) fails.
set -uo pipefail
bin=$(realpath "$1")
endpoint=${2:-}
cd "$(dirname "$0")/../.." || exit 2
D=tests/e2e/clnrm
IMG=localhost/cleanrun/busybox:1
T=$(mktemp -d /tmp/cleanrun-import-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

ok() {
    echo "ok   $1"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL $1"
    for f in "$T/out" "$T/err"; do
        [ -s "$f" ] && sed "s/^/    ${f##*/} | /" "$f" | head -n 30
    done
    fail=$((fail + 1))
}
# run NAME WANT_EXIT CMD...: stdout in $T/out, stderr in $T/err; false (and
# said) on another exit code or a sanitizer report
run() {
    local name=$1 want=$2
    shift 2
    timeout -k 5 300 "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if grep -qE 'Sanitizer|runtime error:' "$T/err"; then
        bad "$name: a sanitizer report"
        return 1
    fi
    if [ "$got" != "$want" ]; then
        bad "$name: exit $got, want $want"
        return 1
    fi
    return 0
}
# chk NAME CMD...: CMD succeeds, else said (and counted)
chk() {
    local name=$1
    shift
    "$@" && return 0
    bad "$name: failed: $*"
    return 1
}
not() { ! "$@"; }
# has NAME FILE TEXT...: each TEXT is a whole line of FILE
has() {
    local name=$1 file=$2
    shift 2
    for t in "$@"; do
        if ! grep -qxF -- "$t" "$file"; then
            bad "$name: ${file##*/} lacks the line: $t"
            return 1
        fi
    done
    return 0
}
# warnings NAME: the warnings of $T/err, without their reasons, are the
# lines on stdin; the output has one "# cleanrun import:" comment for each
warnings() {
    local name=$1
    grep ': warning: ' "$T/err" | sed 's/: not converted (.*//' >"$T/got"
    if ! diff -u /dev/stdin "$T/got" >"$T/diff"; then
        bad "$name: warnings"
        sed 's/^/    | /' "$T/diff"
        return 1
    fi
    local nw nc
    nw=$(wc -l <"$T/got")
    nc=$(grep -c '^# cleanrun import: ' "$T/out")
    if [ "$nw" != "$nc" ]; then
        bad "$name: $nw warnings but $nc '# cleanrun import:' comments"
        return 1
    fi
    return 0
}

validate() { # NAME SPEC [FLAGS...]: cleanrun validate passes
    local name=$1 spec=$2
    shift 2
    run "$name: validate" 0 "$bin" validate "$@" "$spec" && chk "$name" grep -q '^ok: 1 test' "$T/out"
}

# ---- usage ----
n="--help: usage and exit codes"
run "$n" 0 "$bin" import --help && chk "$n" grep -q 'usage: cleanrun import clnrm FILE' "$T/out" &&
    chk "$n" grep -q '^Exit status: 0 converted' "$T/out" && ok "$n"
n="cleanrun help import"
run "$n" 0 "$bin" help import && chk "$n" grep -q 'usage: cleanrun import clnrm' "$T/out" && ok "$n"
n="no format: exit 2"
run "$n" 2 "$bin" import && ok "$n"
n="unknown format: exit 2"
run "$n" 2 "$bin" import cucumber "$D/full.clnrm.toml" &&
    chk "$n" grep -q 'unknown format "cucumber" (known: clnrm)' "$T/err" && ok "$n"
n="no file: exit 2"
run "$n" 2 "$bin" import clnrm && chk "$n" grep -q 'which file?' "$T/err" && ok "$n"
n="two files: exit 2"
run "$n" 2 "$bin" import clnrm "$D/full.clnrm.toml" "$D/meta.clnrm.toml" && ok "$n"
n="unknown option: exit 2"
run "$n" 2 "$bin" import clnrm --frobnicate "$D/full.clnrm.toml" &&
    chk "$n" grep -q 'unknown option --frobnicate' "$T/err" && ok "$n"
n="--default-image without : / @: exit 2"
run "$n" 2 "$bin" import clnrm --default-image busybox "$D/full.clnrm.toml" &&
    chk "$n" grep -q 'give an image reference' "$T/err" && ok "$n"
n="a missing FILE: exit 2"
run "$n" 2 "$bin" import clnrm "$T/nothing.toml" &&
    chk "$n" grep -qF "cannot read $T/nothing.toml: No such file or directory" "$T/err" && ok "$n"

# ---- [test.metadata] + [services.X] + [[steps]]: every mapped key ----
full=$T/full.cleanrun.toml
if run "full" 0 "$bin" import clnrm "$D/full.clnrm.toml" --default-image "$IMG"; then
    cp "$T/out" "$full"
    has "full" "$full" \
        '[test]' \
        'name = "clnrm_full_mapping"' \
        'description = "every mapped key: \"quoted\", a tab\there, $HOME and $${not_a_var}"' \
        'timeout = "2m"' \
        "default_image = \"$IMG\"" \
        '[vars]' 'greeting = "hello"' 'count = 3' \
        '[services.web]' \
        "# note: clnrm's service \"Web\" is \"web\" here (a host name: lower-case letters, digits, '-' and '_')" \
        "image = \"$IMG\"" \
        'command = ["httpd", "-f", "-p", "8080", "-h", "/"]' \
        'env = { MODE = "test", GREETING = "${greeting} world" }' \
        'ports = [8080]' \
        'ready = { exec = "wget -q -O /dev/null http://127.0.0.1:8080/etc/hostname", interval = "1s", timeout = "30s" }' \
        'memory = "256MiB"' 'cpus = 0.5' \
        '# runs in Web, where MODE is set' \
        'name = "in the service, with its environment"' \
        'service = "web"' \
        'run = ["sh", "-c", "echo mode=$MODE count=$COUNT in $(pwd)"]' \
        'workdir = "/tmp"' \
        'env = { COUNT = "${count}" }' \
        'expect.stdout.regex = "(?-m)^mode=test count=3 in /tmp$"' \
        'continue_on_failure = true' \
        'expect.exit = 3' \
        'expect.stdout.regex = "hel+o"' \
        'run = ["echo", "${greeting} from a fresh container"]' \
        'run = "echo one | tr a-z A-Z"' &&
        ok "full: every mapped value is in the output"
    n="full: 4 steps, 2 in the service, 2 in default_image"
    chk "$n" test "$(grep -c '^\[\[steps\]\]$' "$full")" = 4 &&
        chk "$n" test "$(grep -c '^service = "web"$' "$full")" = 2 && ok "$n"
    n="full: the note that the image must be present locally"
    chk "$n" grep -q "^# note: image \"$IMG\" is used as it is: it must be present in the engine's local images" "$full" &&
        ok "$n"
    printf '%s\n' "$D/full.clnrm.toml:17:1: warning: limits.cpu_millicores" | warnings "full" &&
        ok "full: one warning, cpu_millicores for fresh containers, at 17:1"
    n="full: the summary on stderr"
    chk "$n" grep -qx "cleanrun import: $D/full.clnrm.toml: converted, 1 warning" "$T/err" && ok "$n"
    validate "full" "$full" && ok "full: the result validates"
    # the strings read back exactly (our TOML parser, as the loader reads them)
    n="full: the strings decode to what was meant"
    run "$n" 0 "$bin" toml-decode <"$full" && chk "$n" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = lambda x: x["value"]
assert v(d["test"]["description"]) == "every mapped key: \"quoted\", a tab\there, $HOME and $${not_a_var}"
assert [v(a) for a in d["steps"][0]["run"]] == ["sh", "-c", "echo mode=$MODE count=$COUNT in $(pwd)"]
assert v(d["steps"][0]["expect"]["stdout"]["regex"]) == "(?-m)^mode=test count=3 in /tmp$"
assert v(d["services"]["web"]["env"]["GREETING"]) == "${greeting} world"
' "$T/out" && ok "$n"
    n="full: cleanrun list shows the interpolated command"
    run "$n" 0 "$bin" list "$full" &&
        chk "$n" grep -qF 'echo mode=$MODE count=$COUNT in $(pwd)' "$T/out" && ok "$n"
fi
n="full: default_image is clnrm's (alpine:latest) without --default-image"
run "$n" 0 "$bin" import clnrm "$D/full.clnrm.toml" &&
    has "$n" "$T/out" 'default_image = "alpine:latest"' && ok "$n"

# ---- [meta] + [service.X] + [[scenario]] ----
if run "meta" 0 "$bin" import clnrm "$D/meta.clnrm.toml"; then
    cp "$T/out" "$T/meta.cleanrun.toml"
    has "meta" "$T/out" \
        'name = "clnrm_meta_shape"' \
        'description = "the [meta] and [service.X] form"' \
        '[services.app]' 'image = "alpine:3.19"' 'command = ["sleep", "600"]' \
        'env = { "LOG.LEVEL" = "debug" }' \
        'mounts = [{ source = "/etc", target = "/host-etc", read_only = true }]' \
        '[services.cache]' '# note: image "redis" without a tag: clnrm adds ":latest"' \
        'image = "redis:latest"' 'ports = [6379]' \
        'name = "check"' 'service = "app"' 'run = ["cat", "/etc/os-release"]' \
        'expect.stdout.regex = "Alpine"' \
        'name = "smoke"' 'run = ["sh", "-c", "echo \"smoke ok\"", "--"]' 'timeout = "1.5s"' &&
        ok "meta: [meta], [service.X], a scenario as a step"
    n="meta: no default_image (every step has a service)"
    chk "$n" not grep -q '^default_image' "$T/out" && ok "$n"
    printf '%s\n' "$D/meta.clnrm.toml:4:1: warning: meta.version" | warnings "meta" &&
        ok "meta: one warning, meta.version at 4:1"
    validate "meta" "$T/meta.cleanrun.toml" --allow-host-mounts &&
        ok "meta: the result validates (with --allow-host-mounts, for its volume)"
    n="meta: without --allow-host-mounts, validate refuses the volume"
    run "$n" 2 "$bin" validate "$T/meta.cleanrun.toml" && chk "$n" grep -q 'needs --allow-host-mounts' "$T/out" "$T/err" &&
        ok "$n"
fi

# ---- what cannot be converted: each at its line and column ----
if run "lossy" 0 "$bin" import clnrm "$D/lossy.clnrm.toml"; then
    cp "$T/out" "$T/lossy.cleanrun.toml"
    warnings "lossy" <<EOF && ok "lossy: 14 warnings at their FILE:LINE:COL, in file order, each a comment"
$D/lossy.clnrm.toml:3:1: warning: meta.version
$D/lossy.clnrm.toml:5:2: warning: otel
$D/lossy.clnrm.toml:9:1: warning: service.db.plugin
$D/lossy.clnrm.toml:11:1: warning: service.db.username
$D/lossy.clnrm.toml:12:1: warning: service.db.wait_for_span
$D/lossy.clnrm.toml:14:10: warning: service.llm
$D/lossy.clnrm.toml:19:20: warning: steps[0].command[1]
$D/lossy.clnrm.toml:21:1: warning: steps[0].timeout
$D/lossy.clnrm.toml:22:1: warning: steps[0].expected_exit_code
$D/lossy.clnrm.toml:27:1: warning: steps[1].service
$D/lossy.clnrm.toml:33:1: warning: scenario[0].artifacts
$D/lossy.clnrm.toml:34:1: warning: scenario[0].concurrent
$D/lossy.clnrm.toml:36:3: warning: expect
$D/lossy.clnrm.toml:39:2: warning: determinism
EOF
    n="lossy: the reasons"
    chk "$n" grep -qxF "$D/lossy.clnrm.toml:14:10: warning: service.llm: not converted (plugin \"ollama\" without an image: cleanrun starts containers of images, and has no plugins)" "$T/err" &&
        chk "$n" grep -qxF "$D/lossy.clnrm.toml:22:1: warning: steps[0].expected_exit_code: not converted (300 is not an exit code (0-255))" "$T/err" &&
        ok "$n"
    has "lossy" "$T/lossy.cleanrun.toml" \
        '# cleanrun import: otel: not converted (OpenTelemetry export: cleanrun collects no spans)' \
        "# cleanrun import: steps[0].timeout: not converted (not a key of clnrm's steps: clnrm ignores it)" \
        'image = "surrealdb/surrealdb:latest"' 'run = ["echo", "{{ svc }}"]' &&
        ok "lossy: the comments, and what was kept"
    validate "lossy" "$T/lossy.cleanrun.toml" && ok "lossy: the result validates"
fi

# ---- bad input: exit 2, every error at its place, nothing written ----
n="malformed: not TOML, the parser's file:line:col, exit 2, nothing written"
run "$n" 2 "$bin" import clnrm "$D/malformed.clnrm.toml" -o "$T/malformed.cleanrun.toml" &&
    chk "$n" grep -qF "$D/malformed.clnrm.toml:6:20: error: unterminated string" "$T/err" &&
    chk "$n" grep -qF "$D/malformed.clnrm.toml is not TOML, nothing written" "$T/err" &&
    chk "$n" test ! -s "$T/out" && chk "$n" test ! -e "$T/malformed.cleanrun.toml" && ok "$n"
printf '[meta]\nname = "x"\nversion = "1"\n{%% for s in svcs %%}\n' >"$T/template.clnrm.toml"
n="a Tera template: exit 2, render it first"
run "$n" 2 "$bin" import clnrm "$T/template.clnrm.toml" &&
    chk "$n" grep -qF "$T/template.clnrm.toml:4:1: error:" "$T/err" &&
    chk "$n" grep -q 'render it with clnrm first' "$T/err" && ok "$n"
n="wrong types: every error at its place, exit 2, nothing on stdout"
if run "$n" 2 "$bin" import clnrm "$D/wrongtypes.clnrm.toml"; then
    cat >"$T/want" <<EOF
$D/wrongtypes.clnrm.toml:5:9: error: services.a.image must be a string, not an integer
$D/wrongtypes.clnrm.toml:7:1: error: steps[0] has no command (clnrm requires one)
$D/wrongtypes.clnrm.toml:12:11: error: steps[1].command must be an array of strings, not a string
cleanrun import: $D/wrongtypes.clnrm.toml: 3 errors, nothing written
EOF
    chk "$n" diff -u "$T/want" "$T/err" && chk "$n" test ! -s "$T/out" && ok "$n"
fi
n="a cleanrun spec is not a clnrm spec: exit 2"
run "$n" 2 "$bin" import clnrm "$D/notclnrm.toml" &&
    chk "$n" grep -qF "$D/notclnrm.toml:1:2: error: not a clnrm spec: no [test.metadata] or [meta] table (this looks like a cleanrun spec already)" "$T/err" &&
    ok "$n"

# ---- -o, --force ----
o=$T/a.cleanrun.toml
n="-o OUT: the spec in OUT, nothing on stdout"
run "$n" 0 "$bin" import clnrm "$D/meta.clnrm.toml" -o "$o" && chk "$n" test ! -s "$T/out" &&
    chk "$n" cmp "$o" "$T/meta.cleanrun.toml" && ok "$n"
echo "mine" >"$o"
n="-o OUT that exists: refused (exit 2), OUT untouched"
run "$n" 2 "$bin" import clnrm "$D/meta.clnrm.toml" -o "$o" &&
    chk "$n" grep -qF "$o exists (--force to overwrite it)" "$T/err" &&
    chk "$n" test "$(cat "$o")" = mine && ok "$n"
chmod 0640 "$o"
n="--force: OUT replaced, its mode kept"
run "$n" 0 "$bin" import clnrm "$D/meta.clnrm.toml" -o "$o" --force &&
    chk "$n" cmp "$o" "$T/meta.cleanrun.toml" && chk "$n" test "$(stat -c %a "$o")" = 640 && ok "$n"
ln -s a.cleanrun.toml "$T/link.cleanrun.toml"
echo "mine" >"$o"
n="--force through a symbolic link: the file it leads to is replaced, the link kept"
run "$n" 0 "$bin" import clnrm "$D/meta.clnrm.toml" -o "$T/link.cleanrun.toml" --force &&
    chk "$n" test -L "$T/link.cleanrun.toml" && chk "$n" cmp "$o" "$T/meta.cleanrun.toml" && ok "$n"
n="-o -: stdout"
run "$n" 0 "$bin" import clnrm "$D/meta.clnrm.toml" -o - && chk "$n" cmp "$T/out" "$T/meta.cleanrun.toml" &&
    ok "$n"
n="-o in a missing directory: exit 2"
run "$n" 2 "$bin" import clnrm "$D/meta.clnrm.toml" -o "$T/no/such/dir.toml" &&
    chk "$n" grep -qF "cannot create $T/no/such/dir.toml" "$T/err" && ok "$n"
mkdir "$T/dir"
n="--force onto a directory: exit 2"
run "$n" 2 "$bin" import clnrm "$D/meta.clnrm.toml" -o "$T/dir" --force && ok "$n"
# a write that fails (a file size limit of 0): exit 3, nothing half written
# and OUT untouched; SIGXFSZ ignored so that the write fails with EFBIG, and
# stderr a pipe, which the limit does not stop
nofsize=(bash -c '(ulimit -f 0; trap "" XFSZ; exec "$@") 2>&1 | cat >&2; exit "${PIPESTATUS[0]}"' -)
echo "mine" >"$o"
n="a failed write with --force: exit 3, OUT untouched"
run "$n" 3 "${nofsize[@]}" "$bin" import clnrm "$D/meta.clnrm.toml" -o "$o" --force &&
    chk "$n" grep -qF "writing $o: File too large" "$T/err" && chk "$n" test "$(cat "$o")" = mine &&
    ok "$n"
n="a failed write: exit 3, no OUT left"
run "$n" 3 "${nofsize[@]}" "$bin" import clnrm "$D/meta.clnrm.toml" -o "$T/new.cleanrun.toml" &&
    chk "$n" test ! -e "$T/new.cleanrun.toml" && ok "$n"
n="no temporary file left"
chk "$n" test -z "$(find "$T" -name '*.cleanrun.toml.*')" && ok "$n"

# ---- end to end on an engine ----
if [ -n "$endpoint" ]; then
    n="full: the converted spec passes on $endpoint, 4 steps isolated"
    run "$n" 0 "$bin" run --host "$endpoint" "$full" &&
        chk "$n" grep -q '^PASS    clnrm_full_mapping' "$T/out" &&
        chk "$n" grep -q '^isolation: 4 steps isolated, 0 unverified, 0 violated' "$T/out" && ok "$n"
    # the same with a wrong expected exit code: the mapped expectation holds
    n="a wrong expected_exit_code fails the converted test (exit 1)"
    sed 's/^expected_exit_code = 3$/expected_exit_code = 4/' "$D/full.clnrm.toml" >"$T/wrong.clnrm.toml"
    run "$n" 0 "$bin" import clnrm "$T/wrong.clnrm.toml" --default-image "$IMG" \
        -o "$T/wrong.cleanrun.toml" &&
        run "$n" 1 "$bin" run --host "$endpoint" "$T/wrong.cleanrun.toml" &&
        chk "$n" grep -q '^FAIL    clnrm_full_mapping' "$T/out" && ok "$n"
else
    echo "skip the runs on an engine (no ENDPOINT)"
fi

echo "import: $pass passed, $fail failed"
[ "$fail" = 0 ]
