#!/bin/bash
# Data in and out of containers, and what is asserted on it: files copied
# into fresh-container steps, the owner of copied files (numbers, and names
# looked up in the container's own /etc/passwd and /etc/group), a service's
# user and workdir, [volumes] shared by a test's containers and removed
# with it, tmpfs mounts, expect regex (arrays) / not_regex / json on output
# and on files, and [matrix] include / exclude.  Each check fails when its
# feature breaks: the specs pass only with the exact values the feature
# gives, and the failing specs must fail with readable messages.
#
#   tests/e2e/data.sh CLEANRUN ENDPOINT
#
# ENDPOINT: Docker's or Podman's socket (everything); native:///DIR (no
# builds, no volumes: owners by number only, and a spec with volumes is
# refused at load); or the path of Apple's container CLI (on Linux its
# emulator, tests/emulator/container, whose containers, volumes and images
# are the Docker engine's at $CONTAINER_EMU_DOCKER_HOST; its --tmpfs takes
# no size or mode; builds need CLEANRUN_APPLE_BUILD_NETWORK=allow).
set -uo pipefail
bin=$(realpath "$1")
endpoint=$2
cd "$(dirname "$0")/../.." || exit 2
pass=0 fail=0
T=$(mktemp -d /tmp/cleanrun-data-XXXXXX)
out=$T/out
runs=$T/runs
: >"$runs"
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
IMG=localhost/cleanrun/busybox:1

# what the endpoint can do
kind=docker
case $endpoint in
native://*) kind=native ;;
unix://*podman*) kind=podman ;;
unix://*) kind=docker ;;
*) if [ -x "$endpoint" ] && [ ! -S "$endpoint" ]; then kind=apple; fi ;;
esac
engine=true  # builds and volumes
sized_tmpfs=true # tmpfs size and mode
api_ep=$endpoint
case $kind in
native) engine=false api_ep= ;;
apple)
    sized_tmpfs=false
    api_ep=${CONTAINER_EMU_DOCKER_HOST:-unix:///var/run/docker.sock}
    export CLEANRUN_APPLE_BUILD_NETWORK=${CLEANRUN_APPLE_BUILD_NETWORK:-allow}
    ;;
esac
sock=${api_ep#unix://}
echo "data e2e: $kind at $endpoint (builds and volumes: $engine, tmpfs size and mode: $sized_tmpfs)"

ok() {
    echo "ok   $1"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL $1"
    [ -f "$out" ] && sed 's/^/    | /' "$out" | head -n 40
    fail=$((fail + 1))
}
# check NAME WANT_EXIT CMD...: runs it (bounded), output in $out, run ids
# remembered
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
    sed 's/^/    | /' "$out" | head -n 60
    fail=$((fail + 1))
    return 1
}
has() { # NAME TEXT...: ok when the output has every TEXT
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
lacks() { # NAME TEXT...: fails (and says so) when the output has a TEXT
    local name=$1
    shift
    for t in "$@"; do
        if grep -qF -- "$t" "$out"; then
            bad "$name: output has: $t"
            return 1
        fi
    done
    return 0
}
run() { timeout -k 5 900 "$bin" run --host "$endpoint" --no-color "$@"; }
api() { curl -s --unix-socket "$sock" "http://localhost/v1.41$1"; }
filter() { # LABEL=VALUE, url-encoded as the engine's filters
    python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label":[sys.argv[1]]})))' "$1"
}
volumes_of() { # RUN_ID: names of the engine's volumes labelled with it
    api "/volumes?filters=$(filter "io.cleanrun.run=$1")" |
        python3 -c 'import json,sys; print(" ".join(sorted(v["Name"] for v in (json.load(sys.stdin).get("Volumes") or []))))'
}
labelled() { # RUN_ID: containers + networks + volumes still labelled with it
    local f c n
    f=$(filter "io.cleanrun.run=$1")
    c=$(api "/containers/json?all=1&filters=$f" | python3 -c 'import json,sys; print(len(json.load(sys.stdin) or []))')
    n=$(api "/networks?filters=$f" | python3 -c 'import json,sys; print(len(json.load(sys.stdin) or []))')
    v=$(volumes_of "$1" | wc -w)
    echo $((c + n + v))
}
spec() { # NAME: stdin is the spec; prints its path
    cat >"$T/$1.cleanrun.toml"
    echo "$T/$1.cleanrun.toml"
}
# tests DIR: stdin is several specs, each beginning at a [test] line: one
# file each in DIR (numbered on from what DIR has), @IMG@ the base image
tests() {
    mkdir -p "$1"
    awk -v d="$1" -v img="$IMG" -v n="$(find "$1" -name '*.cleanrun.toml' | wc -l)" '
        /^\[test\]$/ { n++; f = sprintf("%s/t%02d.cleanrun.toml", d, n) }
        { gsub("@IMG@", img); print > f }'
}
# report FILE PYTHON: runs PYTHON with r (the JSON report), t(NAME) (a test),
# st(TEST, STEP) (a step by name), fails(TEST, STEP) (its failures as
# {what: (expected, actual)}) and passed(TEST[, NSTEPS]) (asserts it passed,
# every step); an AssertionError says what was wrong
report() {
    python3 - "$1" "$2" <<'PY' >"$T/py" 2>&1
import json, sys
r = json.load(open(sys.argv[1]))
def t(name):
    for x in r["tests"]:
        if x["name"] == name:
            return x
    raise AssertionError("no test %r in %s" % (name, [x["name"] for x in r["tests"]]))
def st(test, step):
    for s in t(test)["steps"]:
        if s["name"] == step:
            return s
    raise AssertionError("no step %r in %s" % (step, test))
def fails(test, step):
    return {f["what"]: (f["expected"], f["actual"]) for f in st(test, step)["failures"]}
def passed(name, nsteps=None):
    x = t(name)
    assert x["status"] == "passed", (name, x["status"], x["error"],
        [(s["name"], s["status"], s["failures"], s["error"]) for s in x["steps"]])
    assert nsteps is None or len(x["steps"]) == nsteps, len(x["steps"])
exec(sys.argv[2])
PY
}
# rcheck NAME FILE PYTHON: ok when the assertions hold
rcheck() {
    if [ ! -s "$2" ]; then
        out=/dev/null bad "$1: no report $2 (the run failed: above)"
    elif report "$2" "$3"; then
        ok "$1"
    else
        local o=$out
        out=$T/py bad "$1"
        out=$o
    fi
}
# section FILE TEST: the human output of that test (its block of lines)
section() {
    awk -v t="$2" '
        /^(PASS|FAIL|ERROR|TIMEOUT|SKIP) / { on = (index($0, " " t " ") > 0 || $0 ~ (" " t "$")) }
        on' "$1" >"$out"
}

# ---- at load time: no container needed ----

# 7. matrix include / exclude
mx=$(spec mx <<'EOF'
[test]
name = "mx"
[matrix]
os = ["a", "b"]
v = [1, 2]
exclude = [{ os = "a", v = 2 }]
include = [{ os = "c", v = 9 }]
[[steps]]
image = "@IMG@"
run = ["echo", "${matrix.os}${matrix.v}"]
expect.stdout = "${matrix.os}${matrix.v}\n"
EOF
)
sed -i "s|@IMG@|$IMG|" "$mx"
if check "7: list a matrix with include and exclude" 0 "$bin" list "$mx"; then
    got=$(grep -o '^mx\[[^]]*\]' "$out" | tr '\n' ' ')
    if [ "$got" = "mx[os=a,v=1] mx[os=b,v=1] mx[os=b,v=2] mx[os=c,v=9] " ] && grep -q '^4 tests$' "$out" &&
        grep -q '"echo", "c9"' "$out"; then
        ok "7: exclude removes a2, include adds c9: exactly a1, b1, b2, c9 (the included values in \${matrix.KEY})"
    else
        bad "7: the combinations are: $got"
    fi
fi
sed 's/^exclude = .*/exclude = [{ os = "a", v = 3 }]/' "$mx" >"$T/mx-none.cleanrun.toml"
check "7: an exclude matching nothing" 2 "$bin" validate "$T/mx-none.cleanrun.toml" &&
    has "7: an exclude that matches no combination is an error at its place" \
        "mx-none.cleanrun.toml:6:12: matrix.exclude[0] matches no combination"
sed 's/^include = .*/include = [{ os = "c" }]/' "$mx" >"$T/mx-part.cleanrun.toml"
check "7: an include missing a key" 2 "$bin" validate "$T/mx-part.cleanrun.toml" &&
    has "7: an include that does not give every key is an error at its place" \
        "mx-part.cleanrun.toml:7:12: matrix.include[0]: no value for \"v\""
sed 's/^exclude = .*/exclude = [{ os = "a", vv = 2 }]/' "$mx" >"$T/mx-key.cleanrun.toml"
check "7: an exclude with an unknown key" 2 "$bin" validate "$T/mx-key.cleanrun.toml" &&
    has "7: an exclude naming a key the matrix has not: did you mean" \
        "mx-key.cleanrun.toml:6:24: matrix.exclude[0]: \"vv\" is not a key of the matrix (did you mean \"v\"?)"

# 4. a volume that is not declared; on native, a volume at all
vtypo=$(spec vtypo <<EOF
[test]
name = "vtypo"
[volumes.shared]
[[steps]]
image = "$IMG"
run = ["true"]
volumes = [{ volume = "sharde", target = "/d" }]
EOF
)
check "4: an undeclared volume" 2 "$bin" validate "$vtypo" &&
    has "4: a volume not in [volumes] is refused at its place, with did-you-mean" \
        "vtypo.cleanrun.toml:7:23: steps[0].volumes[0].volume: no volume \"sharde\" in [volumes] (did you mean \"shared\"?)"
vnat=$(spec vnat <<EOF
[test]
name = "vnat"
[volumes.keep]
[[steps]]
image = "$IMG"
run = ["true"]
volumes = [{ volume = "keep", target = "/d" }]
EOF
)
if [ $kind = native ]; then
    check "4: volumes on native" 2 run "$vnat" &&
        has "4: native refuses a spec with volumes before anything runs, naming the file:line" \
            "vnat.cleanrun.toml:1:1: test \"vnat\" has volumes ([volumes.keep]): runtime native cannot create volumes" &&
        lacks "4: volumes on native" "PASS" ", run "
else
    check "4: a spec with volumes validates" 0 "$bin" validate "$vnat" && ok "4: a spec with volumes validates"
fi

# ---- specs that pass: every value exactly as the feature gives it ----

P=$T/pass
tests "$P" <<'EOF'
[test]
name = "fresh-files"
[[steps]]
name = "gated"
image = "@IMG@"
files = [
  { path = "/in.json", content = '{"status":"ok","items":[{"name":"a"},{"name":"b"}]}', mode = 0o640, owner = "33:44" },
  { path = "/deep/new/dir/f.txt", content = "deep\n" },
  { path = "/etc/only-uid", content = "u", owner = "77" },
]
run = ["sh", "-c", "stat -c '%n %a %u %g %s' /in.json /deep/new/dir/f.txt /etc/only-uid; cat /in.json"]
expect.stdout = '''
/in.json 640 33 44 51
/deep/new/dir/f.txt 644 0 0 5
/etc/only-uid 644 77 77 1
{"status":"ok","items":[{"name":"a"},{"name":"b"}]}'''
[[steps]]
name = "examined"
image = "@IMG@"
files = [{ path = "/in.json", content = '{"status":"ok","n":2}', mode = 0o600, owner = "5:6" }]
run = ["sh", "-c", "cat /in.json > /out.json"]
expect.files = [
  { path = "/in.json", type = "file", mode = 0o600, owner = "5", group = "6", json = { path = "$.status", equals = "ok" } },
  { path = "/out.json", json = [{ path = "$.n", equals = 2 }, { path = "$.missing", exists = false }] },
]

[test]
name = "service-owners-by-number"
[services.s]
image = "@IMG@"
command = ["sleep", "1000"]
files = [
  { path = "/srv/a", content = "a", owner = "7" },
  { path = "/srv/b", content = "b", owner = "7:8", mode = 0o600 },
  { path = "/srv/c", content = "c" },
]
[[steps]]
service = "s"
run = ["sh", "-c", "cd /srv && stat -c '%n %a %u %g' a b c"]
expect.stdout = "a 644 7 7\nb 600 7 8\nc 644 0 0\n"

[test]
name = "service-user-workdir"
[services.s]
image = "@IMG@"
user = "1234:5678"
workdir = "/www"
command = ["sh", "-c", "{ id -u; id -g; pwd; } > /tmp/who; exec sleep 1000"]
ready = { exec = ["test", "-s", "/tmp/who"], timeout = "30s" }
[[steps]]
name = "what the service's own process wrote"
service = "s"
run = ["cat", "/tmp/who"]
expect.stdout = "1234\n5678\n/www\n"

[test]
name = "tmpfs-plain"
[services.s]
image = "@IMG@"
command = ["sleep", "1000"]
tmpfs = ["/scratch"]
[[steps]]
name = "service"
service = "s"
run = ["sh", "-c", "awk '$2 == \"/scratch\" {print $3}' /proc/mounts; echo x > /scratch/f && cat /scratch/f"]
expect.stdout = "tmpfs\nx\n"
[[steps]]
name = "fresh"
image = "@IMG@"
tmpfs = ["/fresh"]
run = ["sh", "-c", "awk '$2 == \"/fresh\" {print $3}' /proc/mounts; echo y > /fresh/f && cat /fresh/f"]
expect.stdout = "tmpfs\ny\n"

[test]
name = "assertions"
[[steps]]
name = "stdout"
image = "@IMG@"
run = ["echo", '{"status":"ok","count":3,"ratio":0.5,"ok":true,"items":[{"name":"a"},{"name":"b"}],"meta":{"k":[1,"x"]},"none":null,"a key":"v"}']
expect.stdout.regex = ['"status":"ok"', '"count":3', '^\{.*\}$']
expect.stdout.not_regex = ["error", "^fail"]
expect.stdout.json = [
  { path = "$.status", equals = "ok" },
  { path = "$.count", equals = 3 },
  { path = "$.ratio", equals = 0.5 },
  { path = "$.ok", equals = true },
  { path = "$.items[1].name", equals = "b" },
  { path = "$.items", equals = [{ name = "a" }, { name = "b" }] },
  { path = "$.meta", equals = { k = [1, "x"] } },
  { path = "$['a key']", regex = "^v$" },
  { path = "$.count", regex = "^[0-9]+$" },
  { path = "$.missing", exists = false },
  { path = "$.items[2]", exists = false },
  { path = "$.none", exists = true },
]
[[steps]]
name = "single"
image = "@IMG@"
run = ["echo", '{"status":"ok"}']
expect.stdout.json = { path = "$.status", equals = "ok" }
expect.stdout.not_regex = "fail"
expect.stderr.not_regex = ["."]
[[steps]]
name = "files"
image = "@IMG@"
run = ["sh", "-c", "echo '{\"v\":{\"w\":[2,3]}}' > /o.json; printf 'INFO a\\nINFO b\\n' > /o.log"]
expect.files = [
  { path = "/o.json", json = [{ path = "$.v.w[1]", equals = 3 }, { path = "$.v", equals = { w = [2, 3] } }], not_regex = "error" },
  { path = "/o.log", regex = ["^INFO a$", "^INFO b$"], not_regex = ["^ERROR", "WARN"] },
]
EOF
# (tmpfs with a size and mode: not on runtime apple, whose --tmpfs takes none)
$sized_tmpfs && tests "$P" <<'EOF'
[test]
name = "tmpfs-sized"
[services.s]
image = "@IMG@"
command = ["sleep", "1000"]
tmpfs = ["/scratch", { target = "/t", size = "8MiB", mode = 0o700 }]
[[steps]]
name = "service"
service = "s"
run = ["sh", "-c", "df -k /t | awk 'NR == 2 {print $1, $2}'; stat -c '%a' /t /scratch; awk '$2 == \"/scratch\" || $2 == \"/t\" {print $2, $3}' /proc/mounts | sort"]
expect.stdout = "tmpfs 8192\n700\n1777\n/scratch tmpfs\n/t tmpfs\n"
continue_on_failure = true
[[steps]]
name = "fresh"
image = "@IMG@"
tmpfs = [{ target = "/fresh", size = "4MiB", mode = 0o750 }, "/x"]
run = ["sh", "-c", "df -k /fresh | awk 'NR == 2 {print $1, $2}'; stat -c '%a' /fresh /x; awk '$2 == \"/fresh\" || $2 == \"/x\" {print $2, $3}' /proc/mounts | sort"]
expect.stdout = "tmpfs 4096\n750\n1777\n/fresh tmpfs\n/x tmpfs\n"
EOF
# (names need an image with /etc/passwd and /etc/group: built; volumes)
$engine && tests "$P" <<'EOF'
[test]
name = "owners-by-name"
[images.withusers]
dockerfile = "FROM @IMG@\nCOPY passwd /etc/passwd\nCOPY group /etc/group\n"
files = [
  { path = "passwd", content = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www:/var/www:/bin/sh\napp:x:1001:2002:app:/home/app:/bin/sh\n" },
  { path = "group", content = "root:x:0:\nwww-data:x:33:\nstaff:x:50:\napps:x:2002:\n" },
]
[services.s]
image = "withusers"
command = ["sleep", "1000"]
files = [
  { path = "/srv/a", content = "a", owner = "app" },
  { path = "/srv/b", content = "b", owner = "www-data:staff" },
  { path = "/srv/c", content = "c", owner = "app:50" },
  { path = "/srv/d", content = "d", owner = "1001:staff" },
  { path = "/srv/e", content = "e", owner = "33:apps" },
]
[[steps]]
name = "service files"
service = "s"
run = ["sh", "-c", "cd /srv && stat -c '%n %u %g' a b c d e"]
expect.stdout = "a 1001 2002\nb 33 50\nc 1001 50\nd 1001 50\ne 33 2002\n"
[[steps]]
name = "fresh files"
image = "withusers"
files = [
  { path = "/in/a", content = "a", owner = "app" },
  { path = "/in/b", content = "b", owner = "www-data:staff", mode = 0o640 },
]
run = ["sh", "-c", "cd /in && stat -c '%n %a %u %g' a b"]
expect.stdout = "a 644 1001 2002\nb 640 33 50\n"

[test]
name = "service-user-by-name"
[images.withusers]
dockerfile = "FROM @IMG@\nCOPY passwd /etc/passwd\nCOPY group /etc/group\n"
files = [
  { path = "passwd", content = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www:/var/www:/bin/sh\napp:x:1001:2002:app:/home/app:/bin/sh\n" },
  { path = "group", content = "root:x:0:\nwww-data:x:33:\nstaff:x:50:\napps:x:2002:\n" },
]
[services.s]
image = "withusers"
user = "app"
workdir = "/www"
command = ["sh", "-c", "{ id -u; id -g; pwd; } > /tmp/who; exec sleep 1000"]
ready = { exec = ["test", "-s", "/tmp/who"], timeout = "30s" }
[[steps]]
name = "what the service's own process wrote"
service = "s"
run = ["cat", "/tmp/who"]
expect.stdout = "1001\n2002\n/www\n"

[test]
name = "volume-shared"
[volumes.dshared]
[services.w]
image = "@IMG@"
command = ["sh", "-c", "echo from-service > /data/svc; exec sleep 1000"]
volumes = [{ volume = "dshared", target = "/data" }]
ready = { exec = ["test", "-s", "/data/svc"], timeout = "30s" }
[[steps]]
name = "read-only"
image = "@IMG@"
volumes = [{ volume = "dshared", target = "/ro", read_only = true }]
run = ["sh", "-c", "cat /ro/svc; echo no > /ro/new"]
expect.exit = "non-zero"
expect.stdout = "from-service\n"
expect.stderr.regex = "Read-only file system"
[[steps]]
name = "write"
image = "@IMG@"
volumes = [{ volume = "dshared", target = "/rw" }]
run = ["sh", "-c", "echo from-step > /rw/step && sleep 4"]
[[steps]]
name = "read"
image = "@IMG@"
volumes = [{ volume = "dshared", target = "/v", read_only = true }]
run = ["sh", "-c", "cat /v/svc /v/step; ls /v"]
expect.stdout = "from-service\nfrom-step\nstep\nsvc\n"
[[steps]]
name = "the service sees it"
service = "w"
run = ["cat", "/data/step"]
expect.stdout = "from-step\n"
EOF
cp "$mx" "$P/"

# during the run: the volume is there, labelled with the run and the test
watch_volumes() {
    local rid=
    for _ in $(seq 1 1200); do
        [ -z "$rid" ] && rid=$(sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" 2>/dev/null | head -n1)
        if [ -n "$rid" ]; then
            api "/volumes?filters=$(filter "io.cleanrun.run=$rid")" >"$T/vols.json"
            if grep -q 'vol-dshared' "$T/vols.json"; then
                cp "$T/vols.json" "$T/vols-seen.json"
                return
            fi
        fi
        sleep 0.25
    done
}
: >"$T/vols-seen.json"
$engine && {
    watch_volumes &
    watcher=$!
}
check "the passing specs" 0 run -j 4 --report json="$T/pass.json" "$P"
$engine && { kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null; }
cp "$out" "$T/pass.out"
prid=$(sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$T/pass.out" | head -n1)

rcheck "1: files in fresh containers: content, mode, owner by number, missing directories made (gated and examined)" "$T/pass.json" '
passed("fresh-files", 2)'
rcheck "2: service files owned by number: \"uid\" is uid:uid, \"uid:gid\", default root" "$T/pass.json" '
passed("service-owners-by-number", 1)'
rcheck "3: a service runs as its user (1234:5678) in its workdir (/www)" "$T/pass.json" '
passed("service-user-workdir", 1)'
rcheck "5: tmpfs (a path) on a service and a fresh step" "$T/pass.json" '
passed("tmpfs-plain", 2)'
$sized_tmpfs && rcheck "5: tmpfs with size and mode on a service (8MiB, 0700) and a fresh step (4MiB, 0750), the default mode 1777" "$T/pass.json" '
passed("tmpfs-sized", 2)'
rcheck "6: regex arrays, not_regex, json (strings, numbers, booleans, arrays, tables, exists, regex), on stdout and files" "$T/pass.json" '
passed("assertions", 3)'
rcheck "7: the matrix runs a1, b1, b2, c9, each passing with its own values" "$T/pass.json" '
got = sorted((x["name"], x["status"]) for x in r["tests"] if x["name"].startswith("mx["))
assert got == [("mx[os=a,v=1]", "passed"), ("mx[os=b,v=1]", "passed"), ("mx[os=b,v=2]", "passed"), ("mx[os=c,v=9]", "passed")], got
c9 = t("mx[os=c,v=9]")
assert c9["steps"][0]["command"] == ["echo", "c9"], c9["steps"][0]["command"]'
if $engine; then
    rcheck "2: owners by name from the image's /etc/passwd and /etc/group (a user alone: its primary group), on a service and a fresh step" "$T/pass.json" '
passed("owners-by-name", 2)'
    rcheck "3: a service's user by name (its primary group) and workdir" "$T/pass.json" '
passed("service-user-by-name", 1)'
    rcheck "4: a volume shared by a service and fresh steps: read-only refuses writes, what one step writes the next reads" "$T/pass.json" '
passed("volume-shared", 4)'
    if [ -n "$prid" ] && python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))["Volumes"]
v = [x for x in v if x["Name"].endswith("vol-dshared")]
assert len(v) == 1, v
l = v[0]["Labels"]
assert l["io.cleanrun.run"] == sys.argv[2] and l["io.cleanrun.test"] == "volume-shared", l
assert v[0]["Name"].startswith("cleanrun-" + sys.argv[2] + "-"), v[0]["Name"]' "$T/vols-seen.json" "$prid" 2>"$out"; then
        ok "4: during the run the volume is the engine's, named for the run, labelled with the run and the test"
    else
        bad "4: the volume was not seen during the run (or not labelled): $(cat "$T/vols-seen.json")"
    fi
    left=$(volumes_of "$prid")
    if [ -n "$prid" ] && [ -z "$left" ]; then
        ok "4: the volume is removed with the test (no volume labelled io.cleanrun.run=$prid)"
    else
        out=/dev/null bad "4: volumes of run $prid left: $left"
    fi
    # --keep-on-failure: a failed test's volume is kept with its containers
    # (not a leak, the run's exit code that of the failure), and gc removes
    # it with them
    kv=$(spec keepvol <<EOF
[test]
name = "keep-volume"
[volumes.kept]
[[steps]]
image = "$IMG"
volumes = [{ volume = "kept", target = "/k" }]
run = ["sh", "-c", "echo x > /k/f; exit 1"]
EOF
    )
    check "4: --keep-on-failure with a volume" 1 run --keep-on-failure "$kv" &&
        lacks "4: --keep-on-failure: the kept volume is no leak" "leak audit" "volume is in use" &&
        ok "4: --keep-on-failure: a failed test's volume is kept with its container, exit 1, no leak reported"
    krid=$(sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" | head -n1)
    if [ -n "$krid" ]; then
        kept=$(volumes_of "$krid")
        ctrs=$(api "/containers/json?all=1&filters=$(filter "io.cleanrun.run=$krid")" |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin) or []))')
        if [ "$kept" = "cleanrun-$krid-0-vol-kept" ] && [ "$ctrs" = 1 ]; then
            ok "4: --keep-on-failure: the volume is still there with its container ($kept)"
        elif [ -z "$kept" ] && [ "$ctrs" = 0 ]; then
            # the run is over: another cleanrun on this engine may have
            # collected it already (a run's gc removes dead runs' leftovers)
            echo "skip 4: --keep-on-failure: run $krid was collected (container and volume) by a concurrent gc"
            krid=
        else
            out=/dev/null bad "4: --keep-on-failure: run $krid has $ctrs containers and the volumes '$kept'"
        fi
    fi
    if [ -n "$krid" ]; then
        if check "4: gc --run" 0 "$bin" gc --host "$endpoint" --run "$krid"; then
            if [ -z "$(volumes_of "$krid")" ]; then
                has "4: gc removes the kept volume with its container" "1 volumes"
            else
                bad "4: gc --run $krid left its volumes: $(volumes_of "$krid")"
            fi
        fi
    fi
fi

# ---- specs that fail: the failure says what and where ----

F=$T/fail
tests "$F" <<'EOF'
[test]
name = "assertions-fail"
[[steps]]
name = "wrong value"
image = "@IMG@"
run = ["echo", '{"status":"fail","items":[1]}']
expect.stdout.json = { path = "$.status", equals = "ok" }
continue_on_failure = true
[[steps]]
name = "missing key"
image = "@IMG@"
run = ["echo", '{"status":"ok","data":{"a":1,"b":2}}']
expect.stdout.json = { path = "$.data.c", equals = 1 }
continue_on_failure = true
[[steps]]
name = "not json"
image = "@IMG@"
run = ["echo", '{"status": ok}']
expect.stdout.json = { path = "$.status", equals = "ok" }
continue_on_failure = true
[[steps]]
name = "not regex"
image = "@IMG@"
run = ["echo", "an error happened"]
expect.stdout.not_regex = ["warning", "err(or)?"]
continue_on_failure = true
[[steps]]
name = "regex array"
image = "@IMG@"
run = ["echo", "alpha beta"]
expect.stdout.regex = ["alpha", "gamma"]
continue_on_failure = true
[[steps]]
name = "exists"
image = "@IMG@"
run = ["echo", '{"items":[1],"n":{"x":true}}']
expect.stdout.json = [
  { path = "$.items[3]", equals = 1 },
  { path = "$.items[0]", exists = false },
  { path = "$.n.x", equals = [true] },
  { path = "$.items[0]", regex = "^2$" },
]
continue_on_failure = true
[[steps]]
name = "files"
image = "@IMG@"
run = ["sh", "-c", "echo '{\"v\":{\"w\":2}}' > /o.json; echo 'ERROR x' > /o.log"]
expect.files = [
  { path = "/o.json", json = { path = "$.v.w", equals = 3 } },
  { path = "/o.log", not_regex = "^ERROR" },
  { path = "/o.log", json = { path = "$" } },
]
continue_on_failure = true
[[steps]]
name = "last"
image = "@IMG@"
run = ["true"]

[test]
name = "owner-unknown-user"
[[steps]]
name = "fresh"
image = "@IMG@"
files = [{ path = "/in/a", content = "a", owner = "nobody" }]
run = ["true"]

[test]
name = "owner-unknown-group"
[services.s]
image = "@IMG@"
command = ["sleep", "1000"]
files = [{ path = "/in/a", content = "a", owner = "0:wheel" }]
[[steps]]
service = "s"
run = ["true"]
EOF
# (runtime apple: a tmpfs with a size is refused when the container is made)
$sized_tmpfs || tests "$F" <<'EOF'
[test]
name = "tmpfs-sized-apple"
[[steps]]
image = "@IMG@"
tmpfs = [{ target = "/t", size = "8MiB" }]
run = ["true"]
EOF
# (exit 3: some tests are errors)
check "the failing specs" 3 run -j 4 --report json="$T/fail.json" "$F"
cp "$out" "$T/fail.out"

rcheck "6: failures: json equals, a missing key (named, the keys listed), not JSON (at byte N), not_regex, regex arrays, exists, files" "$T/fail.json" '
a = "assertions-fail"
assert t(a)["status"] == "failed", t(a)["status"]
assert fails(a, "wrong value") == {"stdout json $.status equals": ("\"ok\"", "\"fail\"")}, fails(a, "wrong value")
f = fails(a, "missing key")
assert list(f) == ["stdout json $.data.c exists"], f
assert "$.data has no key \"c\"" in f["stdout json $.data.c exists"][1], f
assert "(its keys: \"a\", \"b\")" in f["stdout json $.data.c exists"][1], f
f = fails(a, "not json")
assert list(f) == ["stdout is JSON"] and f["stdout is JSON"][1].startswith("not JSON (at byte 11)"), f
assert fails(a, "not regex") == {"stdout does not match regex": ("err(or)?", "an error happened\n")}, fails(a, "not regex")
assert fails(a, "regex array") == {"stdout matches regex": ("gamma", "alpha beta\n")}, fails(a, "regex array")
f = fails(a, "exists")
assert f["stdout json $.items[3] exists"][1] == "$.items has 1 elements: no [3]", f
assert f["stdout json $.items[0] is absent"][1] == "1", f
assert f["stdout json $.n.x equals"] == ("[true]", "true"), f
assert f["stdout json $.items[0] matches regex"] == ("^2$", "1"), f
assert len(f) == 4, f
f = fails(a, "files")
assert f["file /o.json json $.v.w equals"] == ("3", "2"), f
assert f["file /o.log does not match regex"] == ("^ERROR", "ERROR x\n"), f
assert f["file /o.log is JSON"][1].startswith("not JSON (at byte 0)"), f
assert len(f) == 3, f
assert st(a, "last")["status"] == "passed"'
section "$T/fail.out" assertions-fail
has "6: the human output says each failure readably" \
    'expected stdout json $.status equals: "ok", actual: "fail"' \
    '$.data has no key "c" (its keys: "a", "b")' \
    'not JSON (at byte 11): {"status": ok}' \
    'expected stdout does not match regex: err(or)?' \
    'expected stdout matches regex: gamma' \
    'expected file /o.json json $.v.w equals: 3, actual: 2' \
    'expected file /o.log does not match regex: ^ERROR'
lacks "6: a not_regex that does not match is no failure" "regex: warning"

rcheck "2: an owner name the image does not have: the test is an error saying so (fresh step, service)" "$T/fail.json" '
u = t("owner-unknown-user")
assert u["status"] == "error", (u["status"], u["steps"][0]["error"], u["steps"][0]["failures"])
e = u["steps"][0]["error"] or ""
assert "no user \"nobody\" in the image'"'"'s /etc/passwd" in e, (e, u["steps"][0]["failures"])
g = t("owner-unknown-group")
assert g["status"] == "error", g["status"]
e = (g["error"] or "") + " ".join(s["error"] or "" for s in g["steps"]) + " ".join(sv["error"] or "" for sv in g["services"])
assert "no group \"wheel\" in the image'"'"'s /etc/group" in e, e'
section "$T/fail.out" owner-unknown-user
has "2: ... in the human output" 'owner "nobody": no user "nobody" in the image'"'"'s /etc/passwd'
$sized_tmpfs || rcheck "5: runtime apple: a tmpfs with a size is an error saying so" "$T/fail.json" '
x = t("tmpfs-sized-apple")
e = (x["error"] or "") + " ".join(s["error"] or "" for s in x["steps"])
assert x["status"] == "error" and "tmpfs /t: --tmpfs takes no size or mode" in e, (x["status"], e)'

# ---- nothing left ----
if [ -n "$api_ep" ]; then
    leftover=0
    while read -r r; do
        [ -n "$r" ] || continue
        n=$(labelled "$r")
        [ "$n" != 0 ] && { echo "    run $r left $n"; leftover=$((leftover + n)); }
    done < <(sort -u "$runs")
    if [ $leftover = 0 ]; then
        ok "nothing left (containers, networks, volumes) by the $(sort -u "$runs" | grep -c .) runs of this script"
    else
        out=/dev/null bad "$leftover resources left"
    fi
fi

echo "data e2e on $endpoint with $bin: $pass passed, $fail failed"
[ "$fail" = 0 ]
