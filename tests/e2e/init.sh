#!/usr/bin/env bash
# `cleanrun init` end to end: the starter spec it writes validates, runs and
# passes for real on the engine (every step isolated, nothing left), it is
# never overwritten without --force, names are derived and checked, --image
# goes into it, and its #:schema line (when cleanrun finds its schema) names
# a file that exists and that the spec satisfies.
# Usage: tests/e2e/init.sh CLEANRUN_BINARY ENDPOINT
set -uo pipefail
bin=$(realpath "$1") endpoint=$2
pass=0 fail=0
tmp=$(mktemp -d /tmp/cleanrun-init-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out
ok() {
    echo "ok   $1"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL $1"
    sed 's/^/    | /' "$out" | head -n 30
    fail=$((fail + 1))
}
# in DIR: run cleanrun with ARGS, output in $out, exit status in $rc
in_dir() { # DIR ARGS...
    local d=$1
    shift
    (cd "$d" && "$bin" "$@") >"$out" 2>&1
    rc=$?
}
has() { grep -qF -- "$1" "$out"; }

# ---- the default name, from the directory's ----
d="$tmp/My Project!"
mkdir -p "$d"
in_dir "$d" init
f="$d/my-project.cleanrun.toml"
if [ $rc = 0 ] && [ -f "$f" ] && has "wrote my-project.cleanrun.toml" &&
    has "cleanrun validate my-project.cleanrun.toml" && has "cleanrun run my-project.cleanrun.toml" &&
    grep -q '^name = "my-project"' "$f" && [ "$(stat -c %a "$f")" = 644 ] &&
    [ -z "$(find "$d" -name '.*.cleanrun.toml.*')" ]; then
    ok "init in \"My Project!\": my-project.cleanrun.toml (mode 644), and the next commands"
else
    bad "init with the default name: exit $rc"
fi

# ---- it teaches: comments on each part, the docs named ----
n_comments=$(grep -c '^#' "$f")
if [ "$n_comments" -ge 30 ] && grep -q 'docs/spec.md' "$f" && grep -q 'cleanrun validate' "$f" &&
    grep -q '^\[services.web\]' "$f" && grep -q '^ready = ' "$f" && grep -q '^files = ' "$f" &&
    grep -q '^service = "web"' "$f" && grep -q '^network = true' "$f" &&
    grep -q '^expect.stdout' "$f" && grep -q '^expect.exit' "$f" &&
    grep -q 'ref = "localhost/cleanrun/busybox:1"' "$f" && grep -q 'pull = "never"' "$f" &&
    grep -q 'your own' "$f"; then
    ok "the spec: $n_comments comment lines, a service (ready, files), steps in it and in fresh containers, expectations"
else
    cp "$f" "$out"
    bad "the spec's content"
fi

# ---- validate, then run it for real ----
in_dir "$d" validate my-project.cleanrun.toml
if [ $rc = 0 ] && has "ok: 1 test, 3 steps"; then
    ok "cleanrun validate: ok: 1 test, 3 steps"
else
    bad "validate: exit $rc"
fi
in_dir "$d" run --host "$endpoint" --no-color my-project.cleanrun.toml
run_id=$(grep -oE ', run [0-9a-f]{12}$' "$out" | cut -d' ' -f3)
if [ $rc = 0 ] && has "PASS    my-project" && has "1 test: 1 passed" &&
    has "isolation: 3 steps isolated, 0 unverified, 0 violated"; then
    ok "cleanrun run on $endpoint: passed, 3 steps isolated"
else
    bad "run: exit $rc"
fi
left=$("$bin" ps --host "$endpoint" --run "${run_id:-none}" --format json 2>&1)
if [ -n "$run_id" ] && [ "$left" = "[]" ]; then
    ok "nothing of run $run_id left"
else
    echo "$left" >"$out"
    bad "left after the run"
fi

# ---- never overwritten without --force ----
echo "# mine" >>"$f"
sum=$(sha256sum <"$f")
in_dir "$d" init
if [ $rc = 2 ] && has "my-project.cleanrun.toml exists: not overwritten (--force replaces it)" &&
    [ "$(sha256sum <"$f")" = "$sum" ]; then
    ok "init again: refused (exit 2), the file untouched"
else
    bad "init over an existing file: exit $rc"
fi
in_dir "$d" init --force
if [ $rc = 0 ] && ! grep -q '^# mine' "$f" && grep -q '^name = "my-project"' "$f" &&
    [ "$(stat -c %a "$f")" = 644 ] && [ -z "$(find "$d" -name '.*.cleanrun.toml.*')" ]; then
    ok "init --force: replaced (mode 644, no temporary file left)"
else
    bad "init --force: exit $rc"
fi

# ---- names ----
in_dir "$d" init web-api
if [ $rc = 0 ] && grep -q '^name = "web-api"' "$d/web-api.cleanrun.toml"; then
    ok "init web-api: web-api.cleanrun.toml, test \"web-api\""
else
    bad "init web-api: exit $rc"
fi
in_dir "$d" init other.cleanrun.toml
if [ $rc = 0 ] && [ -f "$d/other.cleanrun.toml" ] && grep -q '^name = "other"' "$d/other.cleanrun.toml"; then
    ok "init other.cleanrun.toml: the suffix is not doubled"
else
    bad "init other.cleanrun.toml: exit $rc"
fi
bad_names=0
for nm in "../x" ".hidden" "a b" "" "-x" 'q"uote' "$(printf 'x%.0s' {1..70})"; do
    before=$(find "$tmp" | wc -l)
    in_dir "$d" init -- "$nm"
    if [ $rc != 2 ] || ! has "NAME must be" || [ "$(find "$tmp" | wc -l)" != "$before" ]; then
        echo "    name \"$nm\": exit $rc"
        bad_names=$((bad_names + 1))
    fi
done
if [ $bad_names = 0 ]; then
    ok "bad names (../x, .hidden, a b, empty, -x, a quote, 70 characters): exit 2, nothing written"
else
    bad "bad names"
fi
mkdir -p "$tmp/___" "$tmp/!!!"
in_dir "$tmp/___" init
rc1=$rc
in_dir "$tmp/!!!" init
if [ $rc1 = 0 ] && [ $rc = 0 ] && [ -f "$tmp/___/example.cleanrun.toml" ] && [ -f "$tmp/!!!/example.cleanrun.toml" ]; then
    ok "a directory name with nothing usable (___, !!!): example.cleanrun.toml"
else
    bad "fallback name: exit $rc1, $rc"
fi

# ---- --image ----
in_dir "$d" init img --image docker.io/library/alpine:3.20
if [ $rc = 0 ] && grep -q 'ref = "docker.io/library/alpine:3.20"' "$d/img.cleanrun.toml" &&
    grep -q 'pull = "if-missing"' "$d/img.cleanrun.toml" && has "busybox's"; then
    in_dir "$d" validate img.cleanrun.toml
    if [ $rc = 0 ]; then
        ok "--image docker.io/library/alpine:3.20: its ref, pull = \"if-missing\", valid"
    else
        bad "--image: the spec does not validate"
    fi
else
    bad "--image: exit $rc"
fi
in_dir "$d" init img2 --image 'bad"ref'
rc1=$rc
in_dir "$d" init img3 --image ''
if [ $rc1 = 2 ] && [ $rc = 2 ] && [ ! -e "$d/img2.cleanrun.toml" ] && [ ! -e "$d/img3.cleanrun.toml" ]; then
    ok "--image with a quote, or empty: exit 2"
else
    bad "--image refusals: exit $rc1, $rc"
fi

# ---- usage ----
in_dir "$d" init a b
rc1=$rc
in_dir "$d" init --nope
rc2=$rc
in_dir "$d" init --help
if [ $rc1 = 2 ] && [ $rc2 = 2 ] && [ $rc = 0 ] && has "usage: cleanrun init [NAME] [--force] [--image REF]"; then
    ok "two names, an unknown option: exit 2; --help: exit 0"
else
    bad "usage: exit $rc1, $rc2, $rc"
fi
in_dir /proc init x
if [ $rc = 3 ] && has "cannot write x.cleanrun.toml"; then
    ok "a directory that takes no file (/proc): exit 3"
else
    bad "unwritable directory: exit $rc"
fi

# ---- the #:schema line ----
first=$(head -n 1 "$f")
schema=$(dirname "$bin")/../docs/spec.schema.json
[ -f "$schema" ] || schema=$(dirname "$bin")/../../docs/spec.schema.json
if [ -f "$schema" ]; then
    want="#:schema file://$(realpath "$schema")"
    if [ "$first" = "$want" ] && python3 - "$f" "$(realpath "$schema")" >"$out" 2>&1 <<'PY'; then
import json, sys, tomllib
spec = tomllib.load(open(sys.argv[1], "rb"))
schema = json.load(open(sys.argv[2]))
try:
    import jsonschema
except ImportError:
    print("no jsonschema module: the spec is not checked against the schema")
    sys.exit(0)
jsonschema.validate(spec, schema)
PY
        ok "first line: $first (the spec satisfies it)"
    else
        echo "first line: $first, want: $want" >>"$out"
        bad "#:schema"
    fi
elif [ "${first#\#:schema}" = "$first" ]; then
    ok "no schema beside this cleanrun: no #:schema line"
else
    bad "a #:schema line without a schema: $first"
fi

echo "init: $pass passed, $fail failed"
[ "$fail" = 0 ]
