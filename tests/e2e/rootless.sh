#!/usr/bin/env bash
# The native runtime as an ordinary user (rootless: a user namespace per
# container, root mapped to the user, ids 1.. to its subordinate ids by
# newuidmap/newgidmap; no cgroup delegated, so no limits, and the harness
# says so).  Run as root: makes the user (cleanrun-rootless, with
# subordinate ids) when missing, then as that user imports the base image
# into its own store and runs the same integration suite as the engines and
# root's native, and tests/e2e/native.sh (without its strace check: a
# setuid newuidmap under ptrace cannot map).
# Usage: tests/e2e/rootless.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."
repo=$(pwd)
user=cleanrun-rootless
if ! id "$user" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$user" || exit 1
fi
grep -q "^$user:" /etc/subuid || usermod --add-subuids 300000-365535 "$user" || exit 1
grep -q "^$user:" /etc/subgid || usermod --add-subgids 300000-365535 "$user" || exit 1
home=$(getent passwd "$user" | cut -d: -f6)
ep="native://$home/.local/share/cleanrun"
as_user() { su "$user" -s /bin/bash -c "cd '$repo' && $*"; }
fail=0
echo "== rootless: as $user ($(id -u "$user")), store $ep"
as_user "bash .ci/setup native-images '$build/cleanrun'" || exit 1
as_user "CLEANRUN_TEST_ENDPOINT='$ep' '$build/test-integration' --jobs 2" || fail=1
as_user "NATIVE_ROOTLESS=1 bash tests/e2e/native.sh '$build/cleanrun' '$ep'" || fail=1
exit $fail
