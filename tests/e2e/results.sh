#!/bin/bash
# Right results and output a person can read ("Trust (2 of 2)"): each check
# here failed on cleanrun before that issue, against the real engine.
#
#   tests/e2e/results.sh CLEANRUN ENDPOINT
#
# The numbers are the issue's items.  Every check is the same on Docker and
# Podman: the script is run once against each.
set -uo pipefail
bin=$(realpath "$1")
endpoint=$2
sock=${endpoint#unix://}
cd "$(dirname "$0")/../.."
pass=0 fail=0
T=$(mktemp -d /tmp/cleanrun-results-XXXXXX)
out=$T/out
runs=$T/runs
: >"$runs"
cleanup() { rm -rf "$T"; }
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
# check NAME WANT_EXIT CMD...: runs it (a hang is killed at 300 s: exit
# 124), output in $out, remembers run ids
check() {
    local name=$1 want=$2
    shift 2
    if declare -F "$1" >/dev/null; then
        "$@" >"$out" 2>&1 # run(): bounded itself
    else
        timeout -k 5 300 "$@" >"$out" 2>&1
    fi
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
run() { timeout 300 "$bin" run --host "$endpoint" --no-color "$@"; }
api() { curl -s --unix-socket "$sock" "http://localhost/v1.41$1"; }
spec() { # NAME: stdin is the spec
    cat >"$T/$1.cleanrun.toml"
    echo "$T/$1.cleanrun.toml"
}
ms() { date +%s%3N; }
labelled() { # RUN_ID: containers + networks still labelled with it
    local f c n
    f=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label":["io.cleanrun.run="+sys.argv[1]]})))' "$1")
    c=$(api "/containers/json?all=1&filters=$f" | python3 -c 'import json,sys; print(len(json.load(sys.stdin) or []))')
    n=$(api "/networks?filters=$f" | python3 -c 'import json,sys; print(len(json.load(sys.stdin) or []))')
    echo $((c + n))
}
# build TAG DIR: an image through the engine's own build endpoint
build() {
    tar -C "$2" -cf "$T/ctx.tar" . &&
        curl -sf --unix-socket "$sock" -X POST -H 'Content-Type: application/x-tar' \
            --data-binary @"$T/ctx.tar" "http://localhost/v1.41/build?t=$1&rm=1" >"$T/build.log" &&
        ! grep -q '"error"' "$T/build.log"
}

# ---- input checks that need no engine ----

# 1. loops and links out of the tree
mkdir -p "$T/loop/sub"
ln -s . "$T/loop/a"
ln -s . "$T/loop/b"
ln -s .. "$T/loop/sub/up"
ln -s "$T/loop" "$T/loop/sub/again"
cat >"$T/loop/one.cleanrun.toml" <<EOF
[test]
name = "one"
[[steps]]
image = "$IMG"
run = ["true"]
EOF
t0=$(ms)
if check "1: validate a tree with links to . and .." 0 timeout 20 "$bin" validate "$T/loop"; then
    lacks "1: links" "also used" && ok "1: a tree with links to . and .. validates in $(($(ms) - t0)) ms, the spec once"
fi
check "1: list the same tree" 0 timeout 20 "$bin" list "$T/loop" &&
    [ "$(grep -c '^one' "$out")" = 1 ] && ok "1: list shows the test once" ||
    bad "1: list shows the test $(grep -c '^one' "$out") times"

# 10. the same spec twice, a directory and a file in it
check "10: a spec named twice" 0 "$bin" validate "$T/loop/one.cleanrun.toml" "$T/loop/one.cleanrun.toml" &&
    check "10: a directory and a spec in it" 0 "$bin" validate "$T/loop" "$T/loop/one.cleanrun.toml" &&
    ok "10: a spec named twice, or a directory and a spec in it, is one spec"

# the checks below need a spec, not a loop
mkdir -p "$T/plain"
cp "$T/loop/one.cleanrun.toml" "$T/plain/"

# 11. loose command-line inputs
check "11: --shard 1/3/4" 2 "$bin" run --shard 1/3/4 "$T/plain" && has "11: --shard 1/3/4 refused" "--shard"
check "11: --runtime ''" 2 "$bin" run --runtime "" "$T/plain" && has "11: --runtime '' refused" "--runtime"
check "11: ps --state bogus" 2 "$bin" ps --host "$endpoint" --state bogus && has "11: ps --state bogus refused" "bogus"

# 6. zero limits
zero=$(spec zero <<EOF
[test]
name = "zero"
timeout = "0s"
[[steps]]
image = "$IMG"
run = ["sleep", "1"]
timeout = "0s"
expect.max_duration = "0s"
EOF
)
check "6: zero durations" 2 "$bin" validate "$zero" && has "6: a zero duration is refused at load time, at its place" \
    "zero.cleanrun.toml:3:11" "test.timeout is zero"

# 15. every error of a file, each once
four=$(spec four <<EOF
[test]
name = "four"
tmeout = "10s"
tags = "x"
[[steps]]
image = "$IMG"
run = 5
expect.exitt = 0
EOF
)
check "15: four mistakes" 2 "$bin" validate "$four"
n=$(grep -c "four.cleanrun.toml:[0-9]*:[0-9]*:" "$out")
if [ "$n" = 4 ] && grep -q ":3:1:" "$out" && grep -q ":4:8:" "$out" && grep -q ":7:7:" "$out" && grep -q ":8:8:" "$out"; then
    ok "15: validate prints all 4 errors of a file, each at its place"
else
    bad "15: $n errors printed, want 4 (3:1, 4:8, 7:7, 8:8)"
fi
tt=$(spec tt <<EOF
[[test]]
name = "array"
[[steps]]
image = "$IMG"
run = ["true"]
EOF
)
check "15: [[test]]" 2 "$bin" validate "$tt"
n=$(grep -c "tt.cleanrun.toml:" "$out")
[ "$n" = 1 ] && ok "15: [[test]] is reported once" || bad "15: [[test]] reported $n times"

# 16. report destinations, before any test starts
check "16: unwritable report" 2 "$bin" run --host "$endpoint" --report json=/nonexistent/dir/r.json "$T/plain" &&
    lacks "16: unwritable report" ", run " && has "16: an unwritable report destination stops the run before it starts" "/nonexistent/dir/r.json"
check "16: one file, two formats" 2 "$bin" run --host "$endpoint" --report json="$T/r" --report tap="$T/r" "$T/plain" &&
    has "16: one file named for two formats is refused" "$T/r"

# 20. help per command
"$bin" help run >"$T/help-run" 2>&1
"$bin" --help >"$T/help-top" 2>&1
"$bin" validate --help >"$T/help-validate" 2>&1
"$bin" list --help >"$T/help-list" 2>&1
if grep -q -- "--keep-on-failure" "$T/help-run" && ! cmp -s "$T/help-run" "$T/help-top" &&
    ! grep -q "a test failed" "$T/help-validate" && ! grep -q "a test failed" "$T/help-list"; then
    ok "20: 'help run' is run's help; validate and list list their own exit codes"
else
    bad "20: help run, validate --help or list --help wrong"
fi

# ---- results, against the engine ----

# many tests, one run: the outcome of each is checked below
mkdir -p "$T/main"
cat >"$T/main.toml" <<'EOF'
[test]
name = "nul-stdout"
[[steps]]
image = "@IMG@"
run = ["printf", 'a\000b']
expect.stdout = "a"

[test]
name = "trailing-space"
[[steps]]
image = "@IMG@"
run = ["printf", 'x  \n']
expect.stdout = "x\n"

[test]
name = "nul-file"
[[steps]]
image = "@IMG@"
run = ["sh", "-c", "printf 'a\\000b' > /f"]
expect.files = [{ path = "/f", equals = "a" }]

[test]
name = "directory-exists"
[[steps]]
image = "@IMG@"
run = ["sh", "-c", "mkdir -p /d && chmod 0750 /d && chown 12:34 /d && ln -s /d /l"]
expect.files = [
  { path = "/d", exists = true },
  { path = "/d", type = "directory", mode = 0o750, owner = "12", group = "34" },
  { path = "/l", type = "symlink" },
  { path = "/nothing", exists = false },
]

[test]
name = "directory-absent"
[[steps]]
image = "@IMG@"
run = ["mkdir", "/d"]
expect.files = [{ path = "/d", exists = false }]

[test]
name = "wrong-mode"
[[steps]]
image = "@IMG@"
run = ["sh", "-c", "mkdir /d && chmod 0700 /d"]
expect.files = [{ path = "/d", mode = 0o755 }]

[test]
name = "wrong-type"
[[steps]]
image = "@IMG@"
run = ["mkdir", "/d"]
expect.files = [{ path = "/d", type = "file" }]

[test]
name = "no-such-program"
[[steps]]
image = "@IMG@"
run = ["/no/such/program"]
expect.exit = "any"

[test]
name = "no-such-user"
[[steps]]
image = "@IMG@"
run = ["true"]
user = "nosuchuser"
expect.exit = "any"

[test]
name = "no-such-workdir"
[[steps]]
image = "@IMG@"
run = ["true"]
workdir = "/no/such/dir"
expect.exit = "any"

[test]
name = "stdin-argv"
[[steps]]
image = "@IMG@"
run = ["cat", "-n"]
stdin = "in\n"
expect.stdout = "out\n"

[test]
name = "host-env"
host_env = ["CLEANRUN_RESULTS_VAR"]
[[steps]]
image = "@IMG@"
run = ["sh", "-c", 'echo "[$CLEANRUN_RESULTS_VAR] [$X]"']
env = { X = "${env.CLEANRUN_RESULTS_VAR}" }
expect.stdout = "[] [from-the-host]\n"

[test]
name = "ready-at-deadline"
[services.s]
image = "@IMG@"
command = ["sh", "-c", "sleep 1.5; touch /ready; sleep 1000"]
ready = { exec = ["test", "-f", "/ready"], interval = "40s", timeout = "3s" }
[[steps]]
service = "s"
run = ["true"]

[test]
name = "never-ready"
[services.s]
image = "@IMG@"
command = ["sleep", "1000"]
ready = { exec = ["false"], interval = "40s", timeout = "3s" }
[[steps]]
service = "s"
run = ["true"]

[test]
name = "service-exits"
[services.s]
image = "@IMG@"
command = ["sh", "-c", "echo bye-bye; exit 3"]
[[steps]]
service = "s"
run = ["true"]

[test]
name = "service-exits-under-a-step"
[services.s]
image = "@IMG@"
command = ["sh", "-c", "echo going; sleep 1; echo gone; exit 4"]
[[steps]]
service = "s"
run = ["sleep", "30"]

[test]
name = "logs-on-failure"
[services.s]
image = "@IMG@"
command = ["sh", "-c", "echo service-says-hello; sleep 1000"]
ready = { log = "service-says-hello" }
[[steps]]
image = "@IMG@"
run = ["false"]

[test]
name = "http-published"
[services.web]
image = "@IMG@"
command = ["sh", "-c", "sleep 1; mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 8080 -h /www"]
ports = [8080]
ready = { http = "http://web:8080/", status = 200, body = "^up", timeout = "20s" }
[[steps]]
service = "web"
run = ["cat", "/www/index.html"]
expect.stdout = "up\n"

[test]
name = "http-hung-answer"
[services.web]
image = "@IMG@"
command = ["sh", "-c", "mkdir -p /www && echo up > /www/index.html; sleep 1000 | nc -l -p 8080 & sleep 2; exec httpd -f -p 8080 -h /www"]
ports = [8080]
ready = { http = "http://web:8080/", timeout = "20s" }
[[steps]]
service = "web"
run = ["true"]

[test]
name = "http-inside"
[services.web]
image = "@IMG@"
command = ["sh", "-c", "sleep 1; mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 8080 -h /www"]
ready = { http = "http://web:8080/index.html", timeout = "20s" }
[[steps]]
image = "@IMG@"
network = true
run = ["wget", "-q", "-O-", "http://web:8080/"]
expect.stdout = "up\n"

[test]
name = "http-inside-header"
[services.web]
image = "@IMG@"
command = ["sh", "-c", "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho \"Server-Note: BaseHTTP/0.6 Python/3.11.2\"\\necho \"Content-Type: text/plain\"\\necho\\necho up\\n' > /www/cgi-bin/h && chmod +x /www/cgi-bin/h && exec httpd -f -p 8080 -h /www"]
ready = { http = "http://web:8080/cgi-bin/h", timeout = "20s" }
[[steps]]
service = "web"
run = ["true"]

[test]
name = "http-wrong-status"
[services.web]
image = "@IMG@"
command = ["sh", "-c", "mkdir -p /www && exec httpd -f -p 8080 -h /www"]
ready = { http = "http://web:8080/missing", timeout = "3s" }
[[steps]]
service = "web"
run = ["true"]
EOF
# one file per test, split at each [test]
awk -v d="$T/main" -v img="$IMG" '
    /^\[test\]$/ { n++; f = sprintf("%s/t%02d.cleanrun.toml", d, n) }
    { gsub("@IMG@", img); print > f }' "$T/main.toml"
main=$T/main
export CLEANRUN_RESULTS_VAR=from-the-host
t0=$(ms)
check "results run" 3 run -j 4 --report json="$T/main.json" "$main"
unset CLEANRUN_RESULTS_VAR
cp "$out" "$T/main.out"
# outcome TEST: passed, failed or error, from the JSON report
outcome() {
    python3 -c 'import json,sys
for t in json.load(open(sys.argv[1]))["tests"]:
    if t["name"] == sys.argv[2]: print(t["status"])' "$T/main.json" "$1"
}
# section TEST: the human output of that test (its block of lines), in $out
section() {
    awk -v t="$1" '
        /^(PASS|FAIL|ERROR|SKIP) / { on = (index($0, " " t " ") > 0 || $0 ~ (" " t "$")) }
        on' "$T/main.out" >"$out"
}
want() { # TEST STATUS WHAT
    local got
    got=$(outcome "$1")
    if [ "$got" = "$2" ]; then
        return 0
    fi
    section "$1" # show that test's own lines, not the run's head
    bad "$3: test $1 is $got, want $2"
    return 1
}

# 2, 14. NUL and invisible characters: compared to the byte, shown visibly
want nul-stdout failed "2: stdout a\\0b equals \"a\"" && section nul-stdout &&
    has "2, 14: stdout a\\0b does not equal \"a\", and the diff shows the NUL" "a^@b"
want trailing-space failed "14: trailing spaces" && section trailing-space &&
    has "14: trailing spaces are marked" 'x  $'
want nul-file failed "2: a file holding a\\0b equals \"a\"" && section nul-file &&
    has "2: a file holding a\\0b does not equal \"a\"" "a^@b"

# 3. directories exist, and type, mode, owner, group
want directory-exists passed "3: a directory exists, with its type, mode, owner and group" &&
    ok "3: a directory exists, with its type, mode, owner and group"
want directory-absent failed "3: exists = false on a directory" && section directory-absent &&
    has "3: exists = false on a directory fails, naming it a directory" "directory"
want wrong-mode failed "3: a wrong mode" && section wrong-mode && has "3: a wrong mode fails, both modes shown" "0700" "0755"
want wrong-type failed "3: a wrong type" && section wrong-type && has "3: a wrong type fails, both types shown" "directory" "file"

# 8. a process the engine cannot start: the same error on both engines
for t in no-such-program no-such-user no-such-workdir; do
    want $t error "8: $t" && section $t &&
        has "8: $t is an error saying the process could not start" "could not start the process" &&
        lacks "8: $t" "stdout:" "OCI runtime"
done

# 17. stdin: the user's argv, not the wrapper
want stdin-argv failed "17: stdin" && section stdin-argv &&
    lacks "17: stdin" ".cleanrun/busybox" && has "17: a step with stdin shows the user's command" '["cat", "-n"]' 

# 21. host_env feeds ${env.NAME}, and only that
want host-env passed "21: host_env" && ok "21: host_env names are for \${env.NAME}; the container does not get them"

# 5. readiness: never past the deadline, once more at it, the real time
want ready-at-deadline passed "5: ready at the deadline" && ok "5: a service ready at 1.5 s passes with interval 40s, timeout 3s (checked at the deadline)"
want never-ready error "5: never ready" && section never-ready
# (3.x s; 4.x s on a loaded machine, where starting the container and
# the probe's exec take their time: never the 40 s interval)
if grep -q "not ready after [34]\.[0-9]*s" "$out"; then
    ok "5: never ready with interval 40s: gives up at 3 s, saying so ($(grep -o 'not ready after [0-9.]*s' "$out"))"
else
    bad "5: never ready: no 'not ready after 3.x s'"
fi

# 19. a service that exits at once, and service logs on every failure
want service-exits error "19: service exits" && section service-exits &&
    has "19: a service that exits at once: said so, with its log" "service s exited with code 3" "bye-bye" &&
    lacks "19: service exits" "HTTP 409"
want service-exits-under-a-step error "19: service exits under a step" && section service-exits-under-a-step &&
    has "19: a service that exits under a step: an error saying so, with its log" "service s exited with code 4" "gone"
want logs-on-failure failed "19: logs on failure" && section logs-on-failure &&
    has "19: a failed step shows the last log lines of the test's services" "service-says-hello"

# 22. readiness by HTTP, through the published port and from inside
want http-published passed "22: http through the published port" && ok "22: ready.http through the published port"
want http-hung-answer passed "22: a hung answer" &&
    ok "22: ready.http: a request that never answers is retried, not waited on for the whole timeout"
want http-inside passed "22: http from inside" && ok "22: ready.http from inside the service (no port published)"
want http-inside-header passed "22: http from inside, a header saying HTTP/" &&
    ok "22: ready.http from inside: a header with \"HTTP/\" in it (Python's Server:) is not a status line"
want http-wrong-status error "22: http wrong status" && section http-wrong-status &&
    has "22: ready.http with a 404 is not ready, saying the status" "404"

# the whole run: no test waited for a deadline it should not have
el=$(($(ms) - t0))
[ $el -lt 120000 ] && ok "the results run took $el ms" || bad "the results run took $el ms"

# 22. the image's HEALTHCHECK, run by cleanrun (the same on both engines)
mkdir -p "$T/hc"
cat >"$T/hc/Dockerfile" <<EOF
FROM $IMG
HEALTHCHECK --interval=1s --timeout=2s CMD test -f /tmp/ok
CMD ["sh", "-c", "sleep 2; touch /tmp/ok; sleep 1000"]
EOF
if build localhost/cleanrun-results/hc:1 "$T/hc"; then
    hc=$(spec hc <<EOF
[test]
name = "healthcheck"
[images.hc]
ref = "localhost/cleanrun-results/hc:1"
pull = "never"
[services.s]
image = "hc"
ready = { healthcheck = true, interval = "500ms", timeout = "20s" }
[[steps]]
service = "s"
run = ["test", "-f", "/tmp/ok"]
EOF
    )
    hc2=$(spec hc2 <<EOF
[test]
name = "no-healthcheck"
[services.s]
image = "$IMG"
command = ["sleep", "1000"]
ready = { healthcheck = true }
[[steps]]
service = "s"
run = ["true"]
EOF
    )
    check "22: healthcheck" 3 run --report json="$T/hc.json" "$hc" "$hc2"
    if python3 -c 'import json,sys
t = {t["name"]: t["status"] for t in json.load(open(sys.argv[1]))["tests"]}
assert t == {"healthcheck": "passed", "no-healthcheck": "error"}, t' "$T/hc.json" &&
        grep -q "has no HEALTHCHECK" "$out"; then
        ok "22: ready.healthcheck waits for the image's HEALTHCHECK; an image without one is an error"
    else
        bad "22: ready.healthcheck"
    fi
else
    out=$T/build.log bad "22: could not build the HEALTHCHECK image"
fi

# 17. stdin runs the image's own program, never busybox's applet of that
# name (busybox's sh prefers its applets), with the step's own argv[0];
# and a program that is not there is the engine's error, not a shell's
mkdir -p "$T/own"
printf '#!/bin/sh\necho "image-cat $0 $*"\n' >"$T/own/cat"
chmod +x "$T/own/cat"
cat >"$T/own/Dockerfile" <<EOF
FROM $IMG
COPY cat /usr/local/bin/cat
ENV PATH=/usr/local/bin:/bin
EOF
if build localhost/cleanrun-results/own:1 "$T/own"; then
    own=$(spec own <<EOF
[test]
name = "stdin-own-program"
[[steps]]
image = "localhost/cleanrun-results/own:1"
run = ["cat", "-n"]
stdin = "x\n"
expect.stdout = "image-cat /usr/local/bin/cat -n\n"
EOF
    )
    own2=$(spec own2 <<EOF
[test]
name = "stdin-no-such-program"
[[steps]]
image = "localhost/cleanrun-results/own:1"
run = ["no-such-program"]
stdin = "x\n"
EOF
    )
    check "17: stdin" 3 run --report json="$T/own.json" "$own" "$own2"
    if python3 -c 'import json,sys
t = {t["name"]: t for t in json.load(open(sys.argv[1]))["tests"]}
assert t["stdin-own-program"]["status"] == "passed", t["stdin-own-program"]["steps"][0]
e = t["stdin-no-such-program"]["steps"][0]["error"] or ""
assert t["stdin-no-such-program"]["status"] == "error" and "could not start the process" in e, e' "$T/own.json"; then
        ok "17: a step with stdin runs the image's program (not busybox's applet); a missing one could not start"
    else
        bad "17: stdin runs the image's own program"
    fi
else
    out=$T/build.log bad "17: could not build the image with its own cat"
fi

# 23. the canary of a fresh container, and of a service with a step, is
# written by the (first) step's own exec (through /.cleanrun/exec); where
# the step cannot write it (another user) or removes it, and in a service
# no step runs in, by a writer of its own; the wrapper
# leaves the step's environment alone (no SHLVL or PWD, as a shell adds)
canary=$(spec canary <<EOF
[test]
name = "canary-by-step"
[[steps]]
image = "$IMG"
run = ["env"]
stdin = "x\n"
[[steps]]
image = "$IMG"
run = ["id", "-u"]
user = "65534"
expect.stdout = "65534\n"
[[steps]]
image = "$IMG"
run = ["sh", "-c", "rm /.cleanrun-canary-*"]
[services.s]
image = "$IMG"
command = ["sleep", "1000"]
[services.idle]
image = "$IMG"
command = ["sleep", "1000"]
[[steps]]
service = "s"
run = ["true"]
EOF
)
if check "23: canary" 0 run --report json="$T/canary.json" "$canary" &&
    python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))["tests"][0]
st = t["steps"]
by = [s["isolation"]["canary"]["written_by"] for s in st]
# (a local engine: the fresh containers without stdin are gated, their
# canary checked before the step runs, so the one the third step removes
# was proven by then)
assert by == ["step", "writer", "step", "step"], by
sv = {s["name"]: s["isolation"]["canary"] for s in t["services"]}
assert sv["s"]["written_by"] == "step" and sv["idle"]["written_by"] == "writer", sv
assert all(c["state"] == "proven" for c in sv.values()), sv
assert all(s["isolation"]["canary"]["state"] == "proven" for s in st), st
assert all(s["isolation"]["verdict"] == "isolated" for s in st), st
env = st[0]["stdout"]["text"]
assert "SHLVL=" not in env and "PWD=" not in env and "PATH=" in env, env' "$T/canary.json"; then
    ok "23: the step's own exec writes its canary; another user's, or one it removed, is written apart; the environment is the step's"
else
    bad "23: the canary by the step's exec"
fi

# 4. a built image follows the image in its FROM
mkdir -p "$T/base"
cat >"$T/base/Dockerfile" <<EOF
FROM $IMG
RUN echo one > /v
EOF
rebuilt=$(spec rebuilt <<EOF
[test]
name = "rebuilt"
[images.top]
dockerfile = """
FROM localhost/cleanrun-results/base:1
RUN cp /v /w
"""
[[steps]]
image = "top"
run = ["cat", "/w"]
expect.stdout = "@WANT@\n"
EOF
)
if build localhost/cleanrun-results/base:1 "$T/base"; then
    sed "s/@WANT@/one/" "$rebuilt" >"$T/r1.cleanrun.toml"
    sed "s/@WANT@/two/" "$rebuilt" >"$T/r2.cleanrun.toml"
    if check "4: first build" 0 run "$T/r1.cleanrun.toml"; then
        sed -i 's/one/two/' "$T/base/Dockerfile"
        build localhost/cleanrun-results/base:1 "$T/base" &&
            check "4: base image changed" 0 run "$T/r2.cleanrun.toml" &&
            ok "4: a built image is rebuilt when the image in its FROM changes"
    fi
else
    out=$T/build.log bad "4: could not build the base image"
fi

# 9. the limit that fired is named
slow=$(spec slow <<EOF
[test]
name = "slow"
[[steps]]
image = "$IMG"
run = ["sleep", "30"]
EOF
)
t0=$(ms)
check "9: run --timeout 3s" 1 run --timeout 3s "$slow"
el=$(($(ms) - t0))
has "9: run --timeout 3s stops the test in $el ms, naming --timeout" "--timeout (3s)" && lacks "9" "1m30s"

# 12. -v streams each line when piped
live=$(spec live <<EOF
[test]
name = "live"
[[steps]]
image = "$IMG"
run = ["sh", "-c", "echo first-line; sleep 3; echo second-line"]
EOF
)
timeout 60 "$bin" run --host "$endpoint" --no-color -v "$live" 2>&1 | python3 -c '
import sys, time
seen = {}
for line in sys.stdin:
    for w in ("first-line", "second-line"):
        if w in line and w not in seen:
            seen[w] = time.monotonic()
    sys.stdout.write(line)
gap = seen.get("second-line", 0) - seen.get("first-line", 0)
sys.stdout.write("GAP %.1f\n" % gap)' >"$out"
gap=$(sed -n 's/^GAP //p' "$out")
sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" >>"$runs"
if python3 -c "import sys; sys.exit(0 if float('$gap') >= 2 else 1)"; then
    ok "12: -v into a pipe: each line arrives as printed (${gap} s apart)"
else
    bad "12: -v into a pipe: lines ${gap} s apart (buffered)"
fi

# 13. a failure on a 20 MB line quotes at most 64 KiB, saying how much was cut
big=$(spec big <<EOF
[test]
name = "big"
[[steps]]
image = "$IMG"
run = ["sh", "-c", "head -c 20000000 /dev/zero | tr '\\\\000' a"]
expect.stdout.contains = ["zzz"]
EOF
)
check "13: a 20 MB line" 1 run --report json="$T/big.json" "$big"
hsize=$(stat -c %s "$out")
jsize=$(stat -c %s "$T/big.json")
if [ "$hsize" -lt 300000 ] && [ "$jsize" -lt 300000 ] && grep -q "more bytes" "$out"; then
    ok "13: a failing contains on a 20 MB line: $hsize bytes of human output, $jsize of JSON, the cut said"
else
    bad "13: a 20 MB line: $hsize bytes of human output, $jsize of JSON"
fi

# 18. pull = "always" with nothing to pull from: the engine's reason
pull=$(spec pull <<EOF
[test]
name = "pull"
[images.gone]
ref = "127.0.0.1:9/cleanrun/nothing:1"
pull = "always"
[[steps]]
image = "gone"
run = ["true"]
EOF
)
check "18: pull always" 3 run "$pull"
if grep -q "pull" "$out" && grep -Eqi "refused|connect|dial|no such host|pinging" "$out"; then
    ok "18: a failed pull carries the engine's reason ($(grep -Eoi '[^:]*(refused|dial)[^)]*' "$out" | head -n1))"
else
    bad "18: a failed pull says no reason"
fi

# 19, 20. --keep-on-failure: listed, reachable, readable names, removed by gc
kept=$(spec kept <<EOF
[test]
name = "kept"
[services.db]
image = "$IMG"
command = ["sleep", "1000"]
[services.cache]
image = "$IMG"
command = ["sleep", "1000"]
[[steps]]
name = "fails"
service = "db"
run = ["false"]
EOF
)
check "19: --keep-on-failure" 1 run --keep-on-failure "$kept"
rid=$(sed -n 's/.*, run \([0-9a-f]\{12\}\)$/\1/p' "$out" | head -n1)
cmd=$(grep -o "$engine [^ ]* [^ ]* exec -it [^ ]* sh" "$out" | head -n1)
if has "19: --keep-on-failure lists what it kept, with the command to reach it" "kept for inspection" "$engine" &&
    [ "$(labelled "$rid")" -ge 3 ]; then # two services and their network
    names=$(api "/containers/json?all=1" | python3 -c 'import json,sys
for c in json.load(sys.stdin):
    for n in c["Names"]:
        if sys.argv[1] in n: print(n.lstrip("/"))' "$rid")
    if echo "$names" | grep -q "^cleanrun-$rid-.*kept.*db"; then
        ok "20: containers are named after run, test and service ($names)"
    else
        bad "20: container names: $names"
    fi
    "$bin" ps --host "$endpoint" --run "$rid" >"$out" 2>&1
    has "20: ps shows the service of each container" "SERVICE" "db"
    "$bin" gc --host "$endpoint" >"$out" 2>&1
    n=$(labelled "$rid")
    [ "$n" = 0 ] && ok "19: the next gc removes what --keep-on-failure kept" || bad "19: gc left $n of the kept run"
else
    bad "19: --keep-on-failure kept nothing ($(labelled "$rid") resources)"
fi
[ -n "$cmd" ] || true

# 24. The keep-alive files on a local engine: the run's host directory,
# bound read-only at /.cleanrun into every container (issue 13: no volume
# to fill), removed at the run's end; an engine that does not see this
# host's files (here: cleanrun in a mount namespace of its own, its TMPDIR
# a tmpfs the engine cannot see) refuses the bind once, and the run gets
# them another way and passes.
mkdir -p "$T/tmp" "$T/blind"
bound=$(spec bound <<EOF
[test]
name = "bound"
[services.s]
image = "$IMG"
command = ["sleep", "1000"]
[[steps]]
service = "s"
run = ["grep", " /.cleanrun ", "/proc/self/mountinfo"]
expect.stdout.regex = '/cleanrun-[0-9a-f]{12}-[A-Za-z0-9]{6}/\\.cleanrun /\\.cleanrun ro[, ]'
[[steps]]
image = "$IMG"
run = ["grep", " /.cleanrun ", "/proc/self/mountinfo"]
expect.stdout.regex = '/cleanrun-[0-9a-f]{12}-[A-Za-z0-9]{6}/\\.cleanrun /\\.cleanrun ro[, ]'
EOF
)
blind=$(spec blind <<EOF
[test]
name = "blind"
[services.s]
image = "$IMG"
command = ["sleep", "1000"]
[[steps]]
service = "s"
run = ["/.cleanrun/busybox", "true"]
[[steps]]
image = "$IMG"
run = ["true"]
EOF
)
# (Docker refuses a bind of a path it cannot see; Podman makes the path,
# so it is never given the bind: its containers get copies, as before)
if [ "$engine" = docker ]; then
    if TMPDIR=$T/tmp check "24: bound keep-alive files" 0 run "$bound"; then
        if [ -z "$(ls -A "$T/tmp")" ]; then
            ok "24: on a local engine every container binds the run's host directory read-only at /.cleanrun; gone after the run"
        else
            bad "24: the run left $(ls "$T/tmp")"
        fi
    fi
fi
if check "24: an engine that cannot see the files" 0 unshare -m --propagation private \
    sh -c 'mount -t tmpfs -o mode=0700 none "$1" && TMPDIR=$1 timeout 300 "$2" run --host "$3" --no-color -v "$4"' \
    sh "$T/blind" "$bin" "$endpoint" "$blind"; then
    if [ "$engine" = docker ]; then
        has "24: an engine that cannot see this host's files: the bind refused once, the run passes without it" \
            "the engine does not bind" "1 passed"
    else
        has "24: an engine that does not check binds gets none: the run passes" "1 passed" &&
            lacks "24: no bind tried" "the engine does not bind"
    fi
fi

# 25. The gate (issue 13): on a local engine a fresh container's first
# process is the step itself, behind cleanrun-exec -W: no exec (exec_id
# null), the observed process is the step's parent, the canary the
# step's process wrote; the output is every byte as written (a byte that
# is not UTF-8 too, which an engine's log would have replaced); the exit
# code is the step's; a retry runs in the same container, its files kept;
# at the deadline every process of the container is killed through the
# proven pidfd, none left on the host.  (A step that cannot start, a
# missing workdir or user: the same errors as an exec's, check 8.)
gate=$(spec gate <<EOF
[test]
name = "gate"
[[steps]]
name = "bytes"
image = "$IMG"
run = ["sh", "-c", "printf 'a\\\\377b'; printf e >&2; exit 3"]
expect.exit = 3
expect.stderr = "e"
[[steps]]
name = "retry"
image = "$IMG"
run = ["sh", "-c", "test -f /attempt || { touch /attempt; exit 1; }"]
retries = 2
retry_interval = "100ms"
[[steps]]
name = "env"
image = "$IMG"
run = ["sh", "-c", "echo \$FOO \$(pwd) \$(id -u)"]
env = { FOO = "bar" }
workdir = "/tmp"
user = "65534"
expect.stdout = "bar /tmp 65534\n"
[[steps]]
name = "hang"
image = "$IMG"
run = ["sh", "-c", "sleep 297 & sleep 297"]
timeout = "1s"
EOF
)
if check "25: the gate" 1 run --report json="$T/gate.json" "$gate" &&
    python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))["tests"][0]
st = {s["name"]: s for s in t["steps"]}
for n in ("bytes", "retry", "env", "hang"):
    iso = st[n]["isolation"]
    assert iso["exec_id"] is None and iso["method"] == "container-init", (n, iso)
    assert iso["exec_host_pid"] == iso["observed_pid"] > 0, (n, iso)
    assert iso["verdict"] == "isolated" and iso["canary"]["state"] == "proven", (n, iso)
b = st["bytes"]
assert b["status"] == "passed", b
assert b["isolation"]["canary"]["written_by"] == "step", b
def caps(o):
    if isinstance(o, dict):
        if "replaced_bytes" in o:
            yield o
        for v in o.values():
            yield from caps(v)
    elif isinstance(o, list):
        for v in o:
            yield from caps(v)
# a, 0xff, b: three bytes, one of them not UTF-8 (a log would hold EF BF BD)
assert any(c["size"] == 3 and c["replaced_bytes"] == 1 for c in caps(b)), b
assert st["retry"]["status"] == "passed" and len(st["retry"]["attempts"]) == 2, st["retry"]
assert st["env"]["status"] == "passed", st["env"]
h = st["hang"]
assert h["status"] == "timeout", h
assert "host-signal" in json.dumps(h), h' "$T/gate.json"; then
    sleep 1
    if pgrep -f "sleep 297" >/dev/null; then
        bad "25: the hung step's processes are still there: $(pgrep -af 'sleep 297')"
    else
        ok "25: a fresh container's step is its own process behind the gate: exact bytes, exit code, retries in the same container, a killed deadline leaves nothing"
    fi
else
    bad "25: the gate"
fi

# ---- nothing left ----
leftover=0
while read -r r; do
    [ -n "$r" ] || continue
    n=$(labelled "$r")
    [ "$n" != 0 ] && { echo "    run $r left $n"; leftover=$((leftover + n)); }
done < <(sort -u "$runs")
for i in hc:1 base:1; do api "/images/localhost/cleanrun-results/$i" >/dev/null; done
curl -s --unix-socket "$sock" -X DELETE "http://localhost/v1.41/images/localhost/cleanrun-results/hc:1?force=1" >/dev/null
curl -s --unix-socket "$sock" -X DELETE "http://localhost/v1.41/images/localhost/cleanrun-results/own:1?force=1" >/dev/null
curl -s --unix-socket "$sock" -X DELETE "http://localhost/v1.41/images/localhost/cleanrun-results/base:1?force=1" >/dev/null
if [ $leftover = 0 ]; then
    ok "nothing left by the $(sort -u "$runs" | grep -c .) runs of this script"
else
    bad "$leftover resources left"
fi

echo "results e2e on $endpoint with $bin: $pass passed, $fail failed"
[ "$fail" = 0 ]
