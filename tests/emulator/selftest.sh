#!/usr/bin/env bash
# Self-test of the emulator of Apple's container CLI (./container) against
# the real Docker engine, in both schema modes (CONTAINER_EMU_SCHEMA=1, 0).
# Uses only the local image localhost/cleanrun/busybox:1 (never pulls, builds
# FROM it only), names every container, network and volume emu-selftest-* and
# every built image localhost/emu-selftest/*, removes them all on exit, prints
# one "ok ..." or "FAIL ..." line per check and exits non-zero on any failure.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
C="$HERE/container"
IMAGE=localhost/cleanrun/busybox:1
DOCKER=(/usr/bin/docker -H "${CONTAINER_EMU_DOCKER_HOST:-unix:///var/run/docker.sock}")
BASE=$(mktemp -d /tmp/emu-selftest.XXXXXX)
TMP=$BASE
fails=0
unset CONTAINER_EMU_HANG CONTAINER_EMU_HANG_AFTER CONTAINER_EMU_XPC_FAIL CONTAINER_EMU_SYSTEM CONTAINER_EMU_SCHEMA_MINOR \
    CONTAINER_EMU_MACOS

# what the tests made and left: containers, networks, volumes, images
leftovers() {
    "${DOCKER[@]}" ps -aq --filter name=emu-selftest- 2>/dev/null | sed 's/^/container /'
    "${DOCKER[@]}" network ls -q --filter name=emu-selftest- 2>/dev/null | sed 's/^/network /'
    "${DOCKER[@]}" volume ls -q --filter name=emu-selftest- 2>/dev/null | sed 's/^/volume /'
    "${DOCKER[@]}" images -q --filter 'reference=localhost/emu-selftest/*' 2>/dev/null \
        | sed 's/^/image /'
}
cleanup() {
    local ids
    ids=$("${DOCKER[@]}" ps -aq --filter name=emu-selftest- 2>/dev/null)
    [ -n "$ids" ] && "${DOCKER[@]}" rm -f $ids >/dev/null 2>&1
    ids=$("${DOCKER[@]}" network ls -q --filter name=emu-selftest- 2>/dev/null)
    [ -n "$ids" ] && "${DOCKER[@]}" network rm $ids >/dev/null 2>&1
    ids=$("${DOCKER[@]}" volume ls -q --filter name=emu-selftest- 2>/dev/null)
    [ -n "$ids" ] && "${DOCKER[@]}" volume rm -f $ids >/dev/null 2>&1
    ids=$("${DOCKER[@]}" images --format '{{.Repository}}:{{.Tag}}' \
        --filter 'reference=localhost/emu-selftest/*' 2>/dev/null)
    [ -n "$ids" ] && "${DOCKER[@]}" rmi -f $ids >/dev/null 2>&1
    rm -rf "$BASE"
}
trap cleanup EXIT

ok() { echo "ok $*"; }
fail() {
    echo "FAIL $*"
    sed 's/^/    stdout: /' "$TMP/out" 2>/dev/null | head -5
    sed 's/^/    stderr: /' "$TMP/err" 2>/dev/null | head -5
    fails=$((fails + 1))
}
# run CMD...: its stdout, stderr and exit status in $TMP/out, $TMP/err, $rc
run() {
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
}
# expect DESC RC [STDOUT [STDERR]]: the last run's status and exact output
expect() {
    local desc=$1 want=$2
    if [ "$rc" != "$want" ]; then
        fail "$desc (exit $rc, wanted $want)"
    elif [ $# -ge 3 ] && [ "$(cat "$TMP/out")" != "$3" ]; then
        fail "$desc (stdout, wanted: $3)"
    elif [ $# -ge 4 ] && [ "$(cat "$TMP/err")" != "$4" ]; then
        fail "$desc (stderr, wanted: $4)"
    else
        ok "$desc"
    fi
}
# pycheck DESC CODE: CODE (python3) reads the last run's stdout as `text`
# and `data` (its JSON, when it is JSON); an assertion failing is a FAIL
pycheck() {
    local desc=$1 code=$2
    if python3 - "$TMP/out" "$code" <<'EOF' 2>"$TMP/py"; then ok "$desc"; else fail "$desc: $(tail -1 "$TMP/py")"; fi
import json, re, sys
text = open(sys.argv[1]).read()
try:
    data = json.loads(text)
except ValueError:
    data = None
exec(sys.argv[2])
EOF
}

if ! "${DOCKER[@]}" image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "FAIL the local image $IMAGE is missing (the selftest never pulls)"
    exit 1
fi

suite() {
    local mode=$1
    export CONTAINER_EMU_SCHEMA=$mode
    local t="[schema $mode]" a=emu-selftest-a-$mode b=emu-selftest-b-$mode c=emu-selftest-c-$mode
    # the two suites run at once, in subshells that share $RANDOM's seed:
    # a range of ports of its own for each
    local port=$((20000 + mode * 10000 + RANDOM % 10000))

    run "$C" system status --format json
    expect "$t system status: running, exit 0" 0
    pycheck "$t system status JSON" 'assert data["status"] == "running"'
    CONTAINER_EMU_SYSTEM=stopped run "$C" system status --format json
    expect "$t system status when stopped: exit 1" 1
    pycheck "$t system status when stopped: not running" 'assert data["status"] == "not running"'

    # create, with labels, env, a port, --name, and -- before the image
    run "$C" create --name "$a" -l com.example.run=st -l tier=web -e FOO=bar \
        -p "127.0.0.1:$port:80/tcp" -- "$IMAGE" sh -c 'echo to-out; echo to-err >&2; exec sleep 300'
    expect "$t create prints the id" 0 "$a"
    run "$C" create --name "$a" "$IMAGE" sleep 300
    expect "$t create of a taken name: exists" 1 "" "Error: exists: \"container with id $a already exists\""
    run "$C" create --name=-bad "$IMAGE"
    expect "$t create of a bad name: invalidArgument" 1 "" \
        'Error: invalidArgument: "container ID -bad is not a valid container ID"'
    run "$C" create --name "$b" "$IMAGE" sleep 300
    expect "$t create of a second container" 0 "$b"
    "${DOCKER[@]}" inspect -f '{{.Name}}' "$a" >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect "$t Docker's name is the id" 0 "/$a"

    run "$C" start "$a"
    expect "$t start prints the id" 0 "$a"

    run "$C" inspect "$a"
    expect "$t inspect: exit 0" 0
    if [ "$mode" = 1 ]; then
        pycheck "$t inspect: 1.x ManagedContainer, pretty, sorted" '
assert "\n  " in text and "\"configuration\" : {" in text, "pretty"
assert text.index("\"configuration\"") < text.index("\"id\" :") < text.index("\"status\""), "sorted"
(o,) = data
assert o["id"] == "'"$a"'" and o["configuration"]["id"] == o["id"]
st = o["status"]
assert st["state"] == "running"
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", st["startedDate"]), st
n = st["networks"][0]
assert n["network"] == "default" and re.fullmatch(r"[\d.]+/\d+", n["ipv4Address"]) and n["ipv4Gateway"]
cfg = o["configuration"]
assert cfg["labels"] == {"com.example.run": "st", "tier": "web"}, cfg["labels"]
assert cfg["image"]["reference"] == "'"$IMAGE"'"
d = cfg["image"]["descriptor"]
assert d["digest"].startswith("sha256:") and d["mediaType"] and d["size"] > 0
p = cfg["initProcess"]
assert p["executable"] == "sh" and p["arguments"][0] == "-c" and "FOO=bar" in p["environment"]
assert p["workingDirectory"] == "/" and p["terminal"] is False and p["user"] == {"id": {"uid": 0, "gid": 0}}
assert cfg["resources"]["cpus"] == 4 and cfg["resources"]["memoryInBytes"] == 1 << 30
assert cfg["publishedPorts"] == [{"hostAddress": "127.0.0.1", "hostPort": '"$port"', "containerPort": 80, "proto": "tcp", "count": 1}]
for k in ("mounts", "readOnly", "capAdd", "capDrop", "useInit", "creationDate"):
    assert k in cfg, k
assert "io.cleanrun.emu" not in text
'
    else
        pycheck "$t inspect: 0.x PrintableContainer" '
(o,) = data
assert "id" not in o and o["configuration"]["id"] == "'"$a"'"
assert o["status"] == "running"
assert isinstance(o["startedDate"], float) and o["startedDate"] > 7e8, o.get("startedDate")
n = o["networks"][0]
assert n["network"] == "default" and "/" in n["ipv4Address"] and n["ipv4Gateway"] and "address" not in n
cfg = o["configuration"]
assert cfg["labels"] == {"com.example.run": "st", "tier": "web"}
assert cfg["publishedPorts"][0]["hostPort"] == '"$port"'
assert cfg["image"]["descriptor"]["digest"].startswith("sha256:")
assert "creationDate" not in cfg and "io.cleanrun.emu" not in text
'
        CONTAINER_EMU_SCHEMA_MINOR=8 run "$C" inspect "$a"
        pycheck "$t inspect: 0.8 attachments use address/gateway" '
n = data[0]["networks"][0]
assert "/" in n["address"] and n["gateway"] and "ipv4Address" not in n'
    fi

    run "$C" ls -a --format json
    expect "$t ls -a --format json: exit 0" 0
    pycheck "$t ls -a --format json: compact, both containers" '
assert text.count("\n") == 1 and text.endswith("]\n"), "compact"
cid = lambda o: o.get("id") or o["configuration"]["id"]
state = lambda o: o["status"]["state"] if isinstance(o["status"], dict) else o["status"]
got = {cid(o): o for o in data if cid(o).startswith("emu-selftest-")}
assert state(got["'"$a"'"]) == "running" and state(got["'"$b"'"]) == "stopped", got.keys()
ob = got["'"$b"'"]
assert "startedDate" not in (ob["status"] if isinstance(ob["status"], dict) else ob), "never started"
assert "io.cleanrun.emu" not in text'
    run "$C" ls --format json
    pycheck "$t ls: running containers only" '
ids = [o.get("id") or o["configuration"]["id"] for o in data]
assert "'"$a"'" in ids and "'"$b"'" not in ids'
    run "$C" ls -a -q
    pycheck "$t ls -a -q: the ids" 'assert {"'"$a"'", "'"$b"'"} <= set(text.split())'

    run "$C" exec "$a" sh -c 'exit 3'
    expect "$t exec: the process's exit code (3)" 3
    run "$C" exec "$a" /no/such/program
    expect "$t exec of a missing program: 255" 255 "" ""
    run "$C" exec "$a" sh -c 'echo O; echo E >&2'
    expect "$t exec: stdout and stderr kept apart" 0 "O" "E"
    run "$C" exec -e X=1 -w /tmp "$a" sh -c 'echo $X $(pwd) $FOO'
    expect "$t exec -e -w" 0 "1 /tmp bar"
    echo piped >"$TMP/in"
    "$C" exec -i "$a" cat <"$TMP/in" >"$TMP/out" 2>"$TMP/err"; rc=$?
    expect "$t exec -i passes stdin" 0 "piped"

    run "$C" logs "$a"
    pycheck "$t logs: stdout and stderr of the container" '
assert text.split() == ["to-out", "to-err"] or sorted(text.split()) == ["to-err", "to-out"], text'
    run "$C" logs -n 1 "$a"
    pycheck "$t logs -n 1: one line" 'assert len(text.splitlines()) == 1'

    echo "copied in" >"$TMP/in.txt"
    if [ "$mode" = 1 ]; then
        run "$C" cp "$TMP/in.txt" "$a:/tmp/st/in.txt"
        expect "$t cp into the container" 0 "$a:/tmp/st/in.txt"
        run "$C" exec "$a" cat /tmp/st/in.txt
        expect "$t cp in: the file is there" 0 "copied in"
        run "$C" cp "$a:/tmp/st/in.txt" "$TMP/back.txt"
        expect "$t cp out of the container" 0 "$TMP/back.txt"
        if cmp -s "$TMP/in.txt" "$TMP/back.txt"; then ok "$t cp out: same content"; else fail "$t cp out: same content"; fi
    else
        run "$C" cp "$TMP/in.txt" "$a:/tmp/in.txt"
        expect "$t cp is no 0.x subcommand: exit 64" 64
    fi

    run "$C" stop -t 2 "$a"
    expect "$t stop prints the id" 0 "$a"
    run "$C" inspect "$a"
    pycheck "$t after stop: stopped, startedDate kept, no networks" '
o = data[0]
if isinstance(o["status"], dict):
    assert o["status"]["state"] == "stopped" and o["status"]["networks"] == [] and o["status"]["startedDate"]
else:
    assert o["status"] == "stopped" and o["networks"] == [] and o["startedDate"]'
    run "$C" exec "$a" true
    expect "$t exec in a stopped container: invalidState" 1 "" \
        "Error: invalidState: \"container $a is not running\""
    if [ "$mode" = 1 ]; then
        run "$C" cp "$TMP/in.txt" "$a:/tmp/in.txt"
        expect "$t cp with a stopped container: invalidState" 1 "" \
            "Error: invalidState: \"container $a is not running\""
    fi

    run "$C" delete "$a" "$b"
    pycheck "$t delete of two ids in one call prints both" 'assert sorted(text.split()) == sorted(["'"$a"'", "'"$b"'"])'
    expect "$t delete of two ids: exit 0" 0
    n=$("${DOCKER[@]}" ps -aq --filter "name=emu-selftest-[ab]-$mode" | wc -l)
    if [ "$n" = 0 ]; then ok "$t delete: the Docker containers are gone"; else fail "$t delete: $n left"; fi

    run "$C" create --name "$c" "$IMAGE" sleep 300
    run "$C" rm "$c" emu-selftest-missing
    expect "$t rm with a missing id: notFound after deleting the other" 1 "$c" \
        'Error: notFound: "container not found: emu-selftest-missing"'

    run "$C" inspect emu-selftest-missing
    if [ "$mode" = 1 ]; then
        expect "$t inspect of a missing id: notFound, exit 1" 1 "" \
            'Error: notFound: "container not found: emu-selftest-missing"'
    else
        expect "$t inspect of a missing id: [] and exit 0" 0 "[]" ""
    fi

    run "$C" image inspect "$IMAGE"
    expect "$t image inspect: exit 0" 0
    if [ "$mode" = 1 ]; then
        pycheck "$t image inspect: 1.x shape" '
(o,) = data
c = o["configuration"]
assert c["name"] == "'"$IMAGE"'" and c["descriptor"]["digest"].startswith("sha256:") and c["creationDate"]
assert isinstance(o["variants"], list)'
    else
        pycheck "$t image inspect: 0.x shape" '
(o,) = data
assert o["reference"] == "'"$IMAGE"'" and o["descriptor"]["digest"].startswith("sha256:")'
    fi
    run "$C" image inspect localhost/cleanrun/no-such-image:0
    expect "$t image inspect of a missing image: notFound" 1 "" \
        'Error: notFound: "image not found: localhost/cleanrun/no-such-image:0"'

    # fault modes
    CONTAINER_EMU_HANG=inspect run timeout 3 "$C" inspect emu-selftest-missing
    expect "$t CONTAINER_EMU_HANG=inspect: the call hangs (timeout 124)" 124
    CONTAINER_EMU_HANG=inspect run "$C" ls -q
    expect "$t CONTAINER_EMU_HANG=inspect: other calls pass" 0
    CONTAINER_EMU_HANG_AFTER=create run timeout 5 "$C" create --name "emu-selftest-$mode-after" \
        "$IMAGE" sleep 100
    expect "$t CONTAINER_EMU_HANG_AFTER=create: the call hangs (timeout 124), printing nothing" 124 ""
    run "$C" ls -a -q
    grep -qx "emu-selftest-$mode-after" "$TMP/out" &&
        ok "$t CONTAINER_EMU_HANG_AFTER=create: the container was made" ||
        fail "$t CONTAINER_EMU_HANG_AFTER=create: the container was made"
    run "$C" delete -f "emu-selftest-$mode-after"
    expect "$t CONTAINER_EMU_HANG_AFTER=create: and is deleted as any other" 0
    CONTAINER_EMU_XPC_FAIL="ls:1:$TMP/xpc-$mode" run "$C" ls -q
    expect "$t CONTAINER_EMU_XPC_FAIL: the first call fails" 1 "" \
        'Error: internalError: "failed to connect: XPC connection error: Connection invalid"
Ensure container system service has been started with `container system start`.'
    CONTAINER_EMU_XPC_FAIL="ls:1:$TMP/xpc-$mode" run "$C" ls -q
    expect "$t CONTAINER_EMU_XPC_FAIL: the second call passes" 0

    # argument errors (swift-argument-parser): exit 64
    run "$C" ls --bogus
    expect "$t an unknown option: exit 64" 64
    grep -qx "Error: Unknown option '--bogus'" "$TMP/err" && ok "$t an unknown option: its message" \
        || fail "$t an unknown option: its message"
    run "$C" start
    expect "$t a missing argument: exit 64" 64
    grep -qx "Error: Missing expected argument '<container-id>'" "$TMP/err" \
        && ok "$t a missing argument: its message" || fail "$t a missing argument: its message"

    networks
    volumes
    build
}

# networks (macOS 26): create, list, inspect, containers on one, delete.  What
# does not depend on the schema (most error lines) is checked in 1.x only.
networks() {
    local net=emu-selftest-net-$mode na=emu-selftest-na-$mode nb=emu-selftest-nb-$mode ip

    run "$C" network create --internal --label com.example.net=st --label tier "$net"
    expect "$t network create prints the name" 0 "$net"
    if [ "$mode" = 1 ]; then
        run "$C" network create "$net"
        expect "$t network create of a taken name: exists" 1 "" \
            "Error: exists: \"network $net already exists\""
    fi
    run "$C" network create Bad_Net
    if [ "$mode" = 1 ]; then want='invalid network name: Bad_Net'; else want='invalid network ID: Bad_Net'; fi
    expect "$t network create of a bad name: invalidArgument" 1 "" "Error: invalidArgument: \"$want\""

    run "$C" network ls --format json
    expect "$t network ls --format json: exit 0" 0
    if [ "$mode" = 1 ]; then
        pycheck "$t network ls: 1.x NetworkResource, compact, default and the new one" '
assert text.count("\n") == 1 and "io.cleanrun.emu" not in text
got = {o["id"]: o for o in data}
d, n = got["default"], got["'"$net"'"]
assert d["configuration"]["labels"] == {"com.apple.container.resource.role": "builtin"}
assert d["configuration"]["mode"] == "nat" and d["configuration"]["name"] == "default"
c = n["configuration"]
assert c["name"] == "'"$net"'" and "id" not in c and c["mode"] == "hostOnly"
assert c["labels"] == {"com.example.net": "st", "tier": ""}, c["labels"]
assert c["plugin"] == "container-network-vmnet" and c["options"] == {}
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c["creationDate"])
assert re.fullmatch(r"[\d.]+/\d+", n["status"]["ipv4Subnet"]) and n["status"]["ipv4Gateway"]'
    else
        pycheck "$t network ls: 0.x PrintableNetwork, default and the new one" '
got = {o["id"]: o for o in data}
d, n = got["default"], got["'"$net"'"]
assert list(n) == ["id", "state", "config", "status"] and n["state"] == "running"
assert d["config"]["labels"] == {"com.apple.container.resource.role": "builtin"}
c = n["config"]
assert c["id"] == "'"$net"'" and c["mode"] == "hostOnly" and isinstance(c["creationDate"], float)
assert c["labels"] == {"com.example.net": "st", "tier": ""}
assert c["pluginInfo"]["plugin"] == "container-network-vmnet"
assert "/" in n["status"]["ipv4Subnet"] and n["status"]["ipv4Gateway"] and "io.cleanrun.emu" not in text'
    fi
    run "$C" network ls
    pycheck "$t network ls: the table" '
lines = text.splitlines()
assert lines[0].split() == (["NETWORK", "SUBNET"] if "'"$mode"'" == "1" else ["NETWORK", "STATE", "SUBNET"])
assert any(l.split()[0] == "'"$net"'" for l in lines[1:])'
    run "$C" network inspect "$net"
    expect "$t network inspect: exit 0" 0
    pycheck "$t network inspect: the network" '
(o,) = data
assert o["id"] == "'"$net"'" and ("\n  " in text) == ("'"$mode"'" == "1")'
    run "$C" network inspect emu-selftest-missing
    if [ "$mode" = 1 ]; then
        expect "$t network inspect of a missing one: notFound" 1 "" \
            'Error: notFound: "network not found: emu-selftest-missing"'
    else
        expect "$t network inspect of a missing one: [] and exit 0" 0 "[]" ""
    fi

    # two containers on the network: an address on it, each reaches the other
    run "$C" run -d --name "$na" --network "$net" "$IMAGE" sleep 300
    expect "$t run -d --network: on the new network" 0 "$na"
    run "$C" run -d --name "$nb" --network "$net" "$IMAGE" sleep 300
    run "$C" inspect "$na"
    pycheck "$t the container has an address on the network" '
o = data[0]
nets = o["status"]["networks"] if isinstance(o["status"], dict) else o["networks"]
(n,) = nets
assert n["network"] == "'"$net"'" and re.fullmatch(r"[\d.]+/\d+", n["ipv4Address"]), n
open("'"$TMP/ip"'", "w").write(n["ipv4Address"].split("/")[0])'
    ip=$(cat "$TMP/ip" 2>/dev/null)
    run "$C" exec "$nb" ping -c 1 -W 3 "${ip:-0.0.0.0}"
    expect "$t a container reaches the other by its address on the network" 0
    if [ "$mode" = 1 ]; then
        run "$C" network delete "$net"
        expect "$t network delete while containers use it: fails" 1 "" \
            "failed to delete network: [\"id\": $net, \"error\": invalidState: \"cannot delete subnet $net with referring containers: $na, $nb\"]
Error: internalError: \"delete failed for one or more networks: [\"$net\"]\""
    fi
    run "$C" delete -f "$na" "$nb"
    run "$C" network rm "$net"
    expect "$t network rm prints the name" 0 "$net"
    if [ "$mode" = 1 ]; then
        run "$C" network delete "$net"
        expect "$t network delete of a missing one: notFound" 1 "" \
            "Error: notFound: \"failed to delete one or more networks: [\"$net\"]\""
        run "$C" network delete default
        expect "$t network delete default: the builtin network stays" 1 "" \
            'Error: invalidArgument: "cannot delete a builtin network: default"'
    fi

    # macOS 15: no network subcommand, no network but the default one
    CONTAINER_EMU_MACOS=15 run "$C" network ls
    expect "$t macOS 15: network is no subcommand (exit 64)" 64
    [ "$(head -1 "$TMP/err")" = "Error: Plugin 'container-network' not found." ] \
        && ok "$t macOS 15: network: the real words" || fail "$t macOS 15: network: the real words"
    if [ "$mode" = 1 ]; then
        CONTAINER_EMU_MACOS=15 run "$C" create --name "$na" --network "$net" "$IMAGE" true
        expect "$t macOS 15: create --network: invalidArgument" 1 "" \
            'Error: invalidArgument: "non-default network configuration requires macOS 26 or newer"'
    fi
}

# volumes: create, list, inspect, mounted by containers, delete (error lines
# that do not depend on the schema: 1.x only)
volumes() {
    local vol=emu-selftest-vol-$mode c1=emu-selftest-v1-$mode c2=emu-selftest-v2-$mode

    run "$C" volume create --label com.example.vol=st -s 64m "$vol"
    expect "$t volume create prints the name" 0 "$vol"
    if [ "$mode" = 1 ]; then
        run "$C" volume create "$vol"
        expect "$t volume create of a taken name" 1 "" \
            "Error: invalidArgument: \"volume '$vol' already exists\""
    fi
    run "$C" volume ls --format json
    expect "$t volume ls --format json: exit 0" 0
    if [ "$mode" = 1 ]; then
        pycheck "$t volume ls: 1.x VolumeResource" '
(o,) = [o for o in data if o["id"] == "'"$vol"'"]
c = o["configuration"]
assert c["name"] == o["id"] and c["driver"] == "local" and c["format"] == "ext4"
assert c["labels"] == {"com.example.vol": "st"} and c["options"] == {"size": "64m"}
assert c["sizeInBytes"] == 64 << 20 and c["source"].endswith("/volumes/'"$vol"'/volume.img")
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c["creationDate"]) and "io.cleanrun.emu" not in text'
    else
        pycheck "$t volume ls: 0.x Volume" '
(o,) = [o for o in data if o.get("name") == "'"$vol"'"]
assert list(o)[:5] == ["name", "driver", "format", "source", "createdAt"] and "id" not in o
assert isinstance(o["createdAt"], float) and o["labels"] == {"com.example.vol": "st"}
assert o["sizeInBytes"] == 64 << 20 and "io.cleanrun.emu" not in text'
    fi
    run "$C" volume inspect "$vol"
    pycheck "$t volume inspect: pretty, the volume" '
(o,) = data
assert "\n  " in text and (o.get("id") or o.get("name")) == "'"$vol"'"'

    run "$C" run --rm --name "$c1" -v "$vol:/data" "$IMAGE" sh -c 'echo kept > /data/f'
    expect "$t run -v VOLUME:/data writes into the volume" 0
    run "$C" create --name "$c2" --mount "type=volume,source=$vol,target=/x" "$IMAGE" cat /x/f
    run "$C" start -a "$c2"
    expect "$t --mount type=volume: another container reads it" 0 "kept"
    if [ "$mode" = 1 ]; then
        run "$C" volume rm "$vol"
        expect "$t volume rm while a container has it: fails" 1 "" \
            "failed to delete volume: [\"id\": $vol, \"error\": invalidArgument: \"volume '$vol' is currently in use and cannot be accessed by another container, or deleted\"]
Error: internalError: \"delete failed for one or more volumes: [\"$vol\"]\""
    fi
    run "$C" delete "$c2"
    run "$C" volume rm "$vol"
    expect "$t volume rm prints the name" 0 "$vol"
    if [ "$mode" = 1 ]; then
        run "$C" volume rm "$vol"
        expect "$t volume rm of a missing one: notFound" 1 "" \
            "Error: notFound: \"failed to delete one or more volumes: [\"$vol\"]\""
    fi
    run "$C" volume inspect "$vol"
    if [ "$mode" = 1 ]; then
        expect "$t volume inspect of a missing one: notFound" 1 "" \
            "Error: notFound: \"volume not found: $vol\""
    else
        expect "$t volume inspect of a missing one: invalidArgument" 1 "" \
            "Error: invalidArgument: \"volume '$vol' not found\""
    fi
}

# build: FROM the local image, then run what it built
build() {
    local img=localhost/emu-selftest/built:$mode c=emu-selftest-built-$mode
    mkdir -p "$TMP/ctx"
    printf 'FROM %s\nARG GREETING=none\nRUN echo "built-$GREETING" >/built\nCMD ["cat", "/built"]\n' \
        "$IMAGE" >"$TMP/ctx/Dockerfile"

    run "$C" build -t "$img" --build-arg GREETING=yes --progress plain "$TMP/ctx"
    if [ "$mode" = 1 ]; then want=$img; else want="Successfully built $img"; fi
    expect "$t build: exit 0, the final line" 0 "$want"
    grep -q '^#[0-9]* \[[0-9]*/[0-9]*\] RUN ' "$TMP/err" && ok "$t build: its progress on stderr" \
        || fail "$t build: its progress on stderr"
    run "$C" run --rm --name "$c" "$img"
    expect "$t build: run of the built image" 0 "built-yes"

    if [ "$mode" = 1 ]; then
        run "$C" image inspect "$img"
        expect "$t build: image inspect finds the image" 0
        mkdir -p "$TMP/bad" "$TMP/none"
        printf 'FROM %s\nRUN exit 3\n' "$IMAGE" >"$TMP/bad/Containerfile"
        run "$C" build -q -t "$img-bad" "$TMP/bad"
        expect "$t build: a failing step (the Containerfile): exit 1, BuildKit's words" 1 "" \
            'Error: unknown: "failed to solve: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3"'
        run "$C" build "$TMP/none"
        expect "$t build: no Dockerfile: exit 64" 64
        [ "$(head -1 "$TMP/err")" = "Error: dockerfile not found in context dir" ] \
            && ok "$t build: no Dockerfile: its message" || fail "$t build: no Dockerfile: its message"
    fi
    run "$C" image delete "$img"
    expect "$t image delete of the built image" 0
}

# The two schemas' suites run at once (their names differ), each in its own
# directory; their lines are printed in order when both are done.
for mode in 1 0; do
    (
        TMP=$BASE/schema$mode
        mkdir -p "$TMP"
        fails=0
        suite "$mode" >"$BASE/log$mode" 2>&1
        echo "$fails" >"$BASE/fails$mode"
    ) &
done
wait
for mode in 1 0; do
    cat "$BASE/log$mode"
    fails=$((fails + $(cat "$BASE/fails$mode" 2>/dev/null || echo 1)))
done

left=$(leftovers | wc -l)
[ "$left" = 0 ] && ok "every emu-selftest- container, network, volume and image removed by the tests" \
    || { echo "FAIL $left emu-selftest- objects left (removed now):"; leftovers | sed 's/^/    /'
         fails=$((fails + 1)); }

if [ "$fails" -ne 0 ]; then
    echo "FAIL $fails check(s) failed"
    exit 1
fi
echo "ok all checks passed"
