#!/usr/bin/env bash
# `cleanrun run --watch` end to end, against a real engine: the first run,
# then only what changed runs again (a spec, a files[].source, a new spec
# file, a new directory with one), a spec error is shown (file:line:col)
# and watching goes on, a burst of writes is one run, SIGINT while idle
# exits at once with the last run's status, SIGINT in the middle of a long
# step exits promptly, 130, with nothing of the run left on the engine or
# on the host.
# Usage: tests/e2e/watch.sh CLEANRUN_BINARY ENDPOINT   (ENDPOINT: unix://...)
#
# cleanrun's output is read through a FIFO, a line at a time, each wait
# bounded (read -t): nothing here waits for ever.
set -uo pipefail
bin=$1 endpoint=$2
sock=${endpoint#unix://}
pass=0 fail=0
tmp=$(mktemp -d /tmp/cleanrun-watch-XXXXXX)
# the runs' TMPDIR, where each run keeps its private host directory: none
# may remain
export TMPDIR=$tmp/runtmp
mkdir -p "$TMPDIR" "$tmp/specs"
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
ok() {
    echo "ok   $1"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL $1"
    [ -n "${seg:-}" ] && printf '%s' "$seg" | sed 's/^/    | /' | tail -n 30
    fail=$((fail + 1))
    # what a failure left coming (a run too many) must not be read as the
    # next check's: read until 3 s pass without a line (at most 60 s)
    local deadline=$((SECONDS + 60)) line
    if [ -n "${pid:-}" ]; then
        while [ "$SECONDS" -lt "$deadline" ] && IFS= read -r -t 3 line <&3; do
            printf '%s\n' "$line" >>"$tmp/log"
        done
    fi
}

# the specs: a fresh container (A), a service with a files[].source (B)
spec_a() { # [STEP_COMMAND]
    local run=${1:-}
    [ -n "$run" ] || run='["echo", "a"]'
    cat <<EOF
[test]
name = "watch-a"
timeout = "90s"
[images.busybox]
ref = "localhost/cleanrun/busybox:1"
pull = "never"
[[steps]]
image = "busybox"
run = $run
EOF
}
spec_b() {
    cat <<'EOF'
[test]
name = "watch-b"
[images.busybox]
ref = "localhost/cleanrun/busybox:1"
pull = "never"
[services.s]
image = "busybox"
command = ["sleep", "1000"]
files = [{ path = "/data/b.txt", source = "data/b.txt" }]
[[steps]]
service = "s"
run = ["cat", "/data/b.txt"]
expect.stdout.contains = ["b"]
EOF
}
spec_named() { # NAME
    cat <<EOF
[test]
name = "$1"
[[steps]]
image = "localhost/cleanrun/busybox:1"
run = ["true"]
EOF
}
# an editor's save: write a new file, rename it over the old one
save() { # FILE (content on stdin)
    cat >"$1.tmp~" && mv -f "$1.tmp~" "$1"
}
mkdir -p "$tmp/specs/data"
spec_a >"$tmp/specs/a.cleanrun.toml"
spec_b >"$tmp/specs/b.cleanrun.toml"
echo b >"$tmp/specs/data/b.txt"

# everything of a run on the engine (containers, networks, volumes)
labelled() { # RUN_ID
    local f c nw v
    f=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label": ["io.cleanrun.run=" + sys.argv[1]]})))' "$1")
    c=$(curl -s --max-time 10 --unix-socket "$sock" "http://localhost/v1.41/containers/json?all=1&filters=$f" | grep -o '"Id":"[0-9a-f]*' | wc -l)
    nw=$(curl -s --max-time 10 --unix-socket "$sock" "http://localhost/v1.41/networks?filters=$f" | grep -o '"Name":"[^"]*' | wc -l)
    v=$(curl -s --max-time 10 --unix-socket "$sock" "http://localhost/v1.41/volumes?filters=$f" | grep -o '"Name":"[^"]*' | wc -l)
    echo $((c + nw + v))
}
running() { # RUN_ID: its running containers
    local f
    f=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label": ["io.cleanrun.run=" + sys.argv[1]], "status": ["running"]})))' "$1")
    curl -s --max-time 10 --unix-socket "$sock" "http://localhost/v1.41/containers/json?filters=$f" | grep -o '"Id":"[0-9a-f]*' | wc -l
}

# start watching; its output (stdout and stderr) comes through fd 3
start() { # ARGS...
    rm -f "$tmp/out.fifo"
    mkfifo "$tmp/out.fifo"
    "$bin" run --watch --host "$endpoint" --no-color "$@" >"$tmp/out.fifo" 2>&1 &
    pid=$!
    exec 3<"$tmp/out.fifo"
}
# read lines until one matches the regex PATTERN, within SECONDS; the lines
# read are in $seg (and the log)
seg=
expect() { # PATTERN SECONDS
    local pat=$1 deadline=$((SECONDS + $2)) line left
    seg=
    while :; do
        left=$((deadline - SECONDS))
        [ "$left" -gt 0 ] || return 1
        IFS= read -r -t "$left" line <&3 || return 1
        printf '%s\n' "$line" >>"$tmp/log"
        seg+="$line"$'\n'
        [[ $line =~ $pat ]] && return 0
    done
}
has() { grep -qE -- "$1" <<<"$seg"; }
ran() { # the tests the lines in $seg ran, sorted, comma-separated
    grep -oE '^(PASS|FAIL|ERROR|TIMEOUT|SKIP) +[^ ]+' <<<"$seg" | awk '{print $2}' | sort | paste -sd, -
}
# $rc: the exit status of $pid if it exits within SECONDS (else empty);
# $ms: how long that took
exits_within() { # SECONDS
    local deadline=$((SECONDS + $1)) t0
    t0=$(date +%s%N)
    rc=
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.05
    done
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        rc=$?
    fi
    ms=$((($(date +%s%N) - t0) / 1000000))
}
# the lines in $seg show no test that did not pass
all_passed() { ! has '^(FAIL|ERROR|TIMEOUT|SKIP) '; }
WATCHING='^watching [0-9]+ files \(Ctrl-C to stop\)$'

# ---- refused combinations ----
"$bin" run --watch --format json "$tmp/specs" >"$tmp/o" 2>&1
rc=$?
if [ $rc = 2 ] && grep -q -- "--watch is not for --format json|tap" "$tmp/o"; then
    ok "--watch --format json refused (exit 2)"
else
    bad "--watch --format json: exit $rc: $(cat "$tmp/o")"
fi
"$bin" run --watch --keep-on-failure "$tmp/specs" >"$tmp/o" 2>&1
rc=$?
if [ $rc = 2 ] && grep -q -- "--watch is not for --keep-on-failure" "$tmp/o"; then
    ok "--watch --keep-on-failure refused (exit 2)"
else
    bad "--watch --keep-on-failure: exit $rc: $(cat "$tmp/o")"
fi
"$bin" validate --watch "$tmp/specs" >"$tmp/o" 2>&1
rc=$?
if [ $rc = 2 ] && grep -q "is an option of 'run'" "$tmp/o"; then
    ok "validate --watch refused (exit 2)"
else
    bad "validate --watch: exit $rc: $(cat "$tmp/o")"
fi

# ---- the first run: both tests ----
start "$tmp/specs"
if expect "$WATCHING" 120 && [ "$(ran)" = "watch-a,watch-b" ] && all_passed && has '^watching 3 files'; then
    ok "first run: both tests ran, then watching 3 files (2 specs, 1 source)"
else
    bad "first run (ran: $(ran))"
fi

# ---- spec A changed: only A ----
spec_a '["echo", "a2"]' | save "$tmp/specs/a.cleanrun.toml"
if expect "$WATCHING" 60 && [ "$(ran)" = "watch-a" ] && all_passed && has '^changed: .*a\.cleanrun\.toml'; then
    ok "spec A saved (by rename): only watch-a ran again"
else
    bad "spec A changed (ran: $(ran))"
fi

# ---- B's source changed (written in place): only B ----
echo bb >"$tmp/specs/data/b.txt"
if expect "$WATCHING" 60 && [ "$(ran)" = "watch-b" ] && all_passed && has '^changed: .*data/b\.txt'; then
    ok "B's files[].source written: only watch-b ran again"
else
    bad "B's source changed (ran: $(ran))"
fi

# ---- an invalid spec: the error, and watching goes on ----
{ spec_a; echo 'imgae = "oops"'; } | save "$tmp/specs/a.cleanrun.toml"
if expect "$WATCHING" 60 && has 'a\.cleanrun\.toml:[0-9]+:[0-9]+: .*imgae' && [ -z "$(ran)" ] &&
    kill -0 "$pid" 2>/dev/null; then
    ok "a spec error is shown with file:line:col, nothing runs, watching goes on"
else
    bad "invalid spec (ran: $(ran))"
fi
# while the specs do not load, nothing runs; what changed meanwhile runs
# once they do
echo b-meanwhile >"$tmp/specs/data/b.txt"
if expect "$WATCHING" 60 && has 'a\.cleanrun\.toml:[0-9]+:[0-9]+: ' && [ -z "$(ran)" ]; then
    ok "B's source changed while spec A is broken: the error again, nothing runs"
else
    bad "a change while broken (ran: $(ran))"
fi
spec_a | save "$tmp/specs/a.cleanrun.toml"
if expect "$WATCHING" 60 && [ "$(ran)" = "watch-a,watch-b" ] && all_passed; then
    ok "the spec fixed: watch-a ran again, and watch-b (its source changed meanwhile)"
else
    bad "spec fixed (ran: $(ran))"
fi

# ---- a burst of 5 writes: one run ----
# (one process writes them 30 ms apart, and says the longest gap it saw: a
# machine so loaded that a gap passed 200 ms would make two bursts)
gap=$(python3 - "$tmp/specs/data/b.txt" <<'PY'
import sys, time
last, gap = None, 0.0
for i in range(1, 6):
    with open(sys.argv[1], "w") as f:
        f.write("b%d\n" % i)
    now = time.monotonic()
    gap = max(gap, now - last) if last else gap
    last = now
    if i < 5:
        time.sleep(0.03)
print(int(gap * 1000))
PY
)
runs=0
if expect "$WATCHING" 60; then
    runs=$(grep -c '^cleanrun [0-9.]*: ' <<<"$seg")
fi
# nothing more comes after it
names=$(ran)
if [ "$runs" = 1 ] && [ "$names" = "watch-b" ] && all_passed && ! expect '^cleanrun [0-9.]*: ' 2; then
    ok "a burst of 5 writes 30 ms apart (longest gap ${gap} ms): one run"
else
    bad "burst (longest gap between writes ${gap:-?} ms): $runs runs (ran: $names), or another after it"
fi

# ---- new spec files: a file, and a new directory holding one ----
spec_named watch-c | save "$tmp/specs/c.cleanrun.toml"
if expect "$WATCHING" 60 && [ "$(ran)" = "watch-c" ] && all_passed; then
    ok "a new spec file: its test ran"
else
    bad "new spec file (ran: $(ran))"
fi
mkdir "$tmp/specs/sub"
spec_named watch-d >"$tmp/specs/sub/d.cleanrun.toml"
if expect "$WATCHING" 60 && [ "$(ran)" = "watch-d" ] && all_passed; then
    ok "a new directory with a spec file: its test ran"
else
    bad "new directory (ran: $(ran))"
fi
# an editor's other files (hidden, backups) run nothing
echo x >"$tmp/specs/.a.cleanrun.toml.swp"
echo x >"$tmp/specs/notes.txt"
if ! expect '^cleanrun [0-9.]*: ' 2; then
    ok "other files in the tree (a hidden swap file, notes.txt) run nothing"
else
    bad "an unrelated file ran tests"
fi

# ---- SIGINT in the middle of a long step: prompt, 130, nothing left ----
spec_a '["sleep", "30"]' | save "$tmp/specs/a.cleanrun.toml"
run_id=
if expect '^cleanrun [0-9.]*: .*, run [0-9a-f]{12}$' 60; then
    run_id=$(grep -oE 'run [0-9a-f]{12}$' <<<"$seg" | tail -n 1 | cut -d' ' -f2)
fi
# until the step's container runs (bounded)
for ((w = 0; w < 300; w++)); do
    [ -n "$run_id" ] && [ "$(running "$run_id")" -gt 0 ] && break
    sleep 0.1
done
if [ -n "$run_id" ] && [ "$(running "$run_id")" -gt 0 ]; then
    kill -INT "$pid"
    exits_within 15
    timeout 5 cat <&3 >>"$tmp/log" # what it said last (it has exited: EOF)
    pid=
    left=$(labelled "$run_id")
    ps=$("$bin" ps --host "$endpoint" --run "$run_id" --format json 2>&1)
    dirs=$(find "$TMPDIR" -mindepth 1 -maxdepth 1 -name 'cleanrun-*' | wc -l)
    if [ "$rc" = 130 ] && [ "$ms" -le 5000 ] && [ "$left" = 0 ] && [ "$ps" = "[]" ] && [ "$dirs" = 0 ]; then
        ok "SIGINT during a 30 s step: exit 130 after ${ms} ms; nothing of run $run_id left (engine, ps, host directories)"
    else
        seg=$(tail -n 20 "$tmp/log")$'\n'
        bad "SIGINT during a run: exit '$rc' after ${ms} ms, $left labelled left, ps: $ps, $dirs host directories"
    fi
else
    bad "the long step never ran (run '$run_id')"
fi
# nothing of any run of this watch is left
all_left=0
for id in $(grep -oE ', run [0-9a-f]{12}$' "$tmp/log" | cut -d' ' -f3 | sort -u); do
    all_left=$((all_left + $(labelled "$id")))
done
nruns=$(grep -cE ', run [0-9a-f]{12}$' "$tmp/log")
if [ "$all_left" = 0 ] && [ "$nruns" -ge 8 ]; then
    ok "nothing left of the $nruns runs of this watch"
else
    bad "$all_left resources left of $nruns runs"
fi

# ---- SIGINT while idle: at once, the last run's status ----
spec_a | save "$tmp/specs/a.cleanrun.toml"
start "$tmp/specs/a.cleanrun.toml"
if expect "$WATCHING" 120 && [ "$(ran)" = "watch-a" ] && all_passed && has '^watching 1 files'; then
    kill -INT "$pid"
    exits_within 10
    pid=
    if [ "$rc" = 0 ] && [ "$ms" -le 2000 ]; then
        ok "SIGINT while idle: exit 0 (the last run passed) after ${ms} ms"
    else
        bad "SIGINT while idle: exit '$rc' after ${ms} ms"
    fi
else
    bad "watching a file named (ran: $(ran))"
fi
spec_a '["false"]' | save "$tmp/specs/a.cleanrun.toml"
start "$tmp/specs/a.cleanrun.toml"
if expect "$WATCHING" 120 && has '^FAIL +watch-a'; then
    kill -INT "$pid"
    exits_within 10
    pid=
    if [ "$rc" = 1 ]; then
        ok "SIGINT while idle after a failed run: exit 1"
    else
        bad "SIGINT while idle after a failed run: exit '$rc'"
    fi
else
    bad "the failing run"
fi

echo "watch: $pass passed, $fail failed"
[ "$fail" = 0 ]
