#!/usr/bin/env bash
# The layering rules of docs/ARCHITECTURE.md, checked by `make lint`:
#   - runtime/ never includes harness/;
#   - nothing outside runtime/ calls through a vtable (`->ops->`): the
#     harness, the tests and the benchmarks use the cln_rt_* wrappers;
#   - harness/ sees runtime/runtime.h and runtime/base/ only: never a
#     descriptor (runtime/backend.h), the runtime's insides or a backend;
#   - runtime/'s own files include no backend's header: backends are
#     reached through the registry (runtime/registry.c) alone;
#   - a backend includes only its own folder, runtime/base/ and the
#     backend-facing headers (runtime/backend.h, runtime/runtime.h,
#     runtime/tar.h), never another backend.
set -u
cd "$(dirname "$0")/.."
bad=0
fail() { echo "layering: $1"; bad=1; }
inc() { grep -rnE '^\s*#\s*include\s+"' "$@" 2>/dev/null; }

out=$(inc runtime | grep '"harness/')
[ -z "$out" ] || fail "runtime/ includes harness/:
$out"

out=$(grep -rn -- '->ops->' harness tests/unit tests/integration bench 2>/dev/null)
[ -z "$out" ] || fail "a vtable called outside runtime/ (use the cln_rt_* wrappers):
$out"

out=$(inc harness | grep '"runtime/' | grep -vE '"runtime/(runtime\.h|base/[a-z0-9_-]+\.h)"')
[ -z "$out" ] || fail "harness/ includes more of runtime/ than runtime/runtime.h and runtime/base/:
$out"

for f in runtime/*.c runtime/*.h; do
    out=$(inc "$f" | grep -vE '"(runtime/)?(base/[a-z0-9_-]+|runtime|backend|runtime-internal|tar)\.h"')
    [ -z "$out" ] || fail "$f includes a backend's header (reach backends through the registry):
$out"
done

for d in runtime/*/; do
    b=$(basename "$d")
    [ "$b" = base ] && continue
    out=$(inc "$d" | grep '"runtime/' | grep -vE "\"runtime/($b/|base/|backend\.h|runtime\.h|tar\.h)")
    [ -z "$out" ] || fail "backend $b includes another part of runtime/:
$out"
done

[ $bad = 0 ] && echo "layering: clean"
exit $bad
