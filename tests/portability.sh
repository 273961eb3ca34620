#!/usr/bin/env bash
# The host OS seam (runtime/base/os.h, docs/ARCHITECTURE.md), checked by
# `make lint`: outside its Linux half (runtime/base/os-linux*.c),
# harness/inside/ (which runs inside Linux guests) and runtime/native/ (the
# native runtime, a Linux backend the Makefile builds on Linux only), no
# file of harness/ or runtime/
#   - includes a Linux-only header, or uses a Linux-only call, flag or
#     constant (by grep: the list below);
#   - names a /proc or /sys path of the host;
#   - needs more than POSIX, glibc's _DEFAULT_SOURCE set and the BSD
#     functions macOS's libc has (tests/portability/macos-libc.h): every
#     such file is compiled without _GNU_SOURCE, and an undeclared function
#     or constant fails.
set -u
cd "$(dirname "$0")/.."
bad=0
fail() { echo "portability: $1"; bad=1; }

files=$(ls harness/*.[ch] harness/*/*.[ch] runtime/*.[ch] runtime/*/*.[ch] \
    | grep -vE '^(runtime/base/os(-[a-z]+)*\.[ch]|harness/inside/|runtime/native/)')

hdr='#\s*include\s*<(linux/|sys/(prctl|signalfd|syscall|statfs|vfs|epoll|eventfd|inotify|timerfd|random|mount|sysmacros|personality|capability)\.h|seccomp\.h|sched\.h)'
out=$(grep -nE "$hdr" $files)
[ -z "$out" ] || fail "a Linux-only header outside runtime/base/os-linux*.c:
$out"

calls='\b(pipe2|dup3|accept4|close_range|signalfd|prctl|syscall|pidfd_[a-z_]+|P_PIDFD|getrandom|sigabbrev_np|sigdescr_np|O_PATH|SOCK_CLOEXEC|SOCK_NONBLOCK|MSG_CMSG_CLOEXEC|MSG_NOSIGNAL|CLOCK_BOOTTIME|fstatfs|statfs|unshare|setns|clone3?|memfd_create|openat2|seccomp_[a-z_]+|program_invocation_[a-z_]+)\b'
# comments and strings may name them
out=$(grep -nE "$calls" $files | grep -vE '^[^:]+:[0-9]+:\s*(/?\*|//)' | \
    perl -ne 'my ($f,$l,$code)=/^([^:]+):(\d+):(.*)$/; $code =~ s{/\*.*?(\*/|$)}{}g; $code =~ s{"(\\.|[^"\\])*"}{""}g; print if $code =~ /\b(pipe2|dup3|accept4|close_range|signalfd|prctl|syscall|pidfd_[a-z_]+|P_PIDFD|getrandom|sigabbrev_np|sigdescr_np|O_PATH|SOCK_CLOEXEC|SOCK_NONBLOCK|MSG_CMSG_CLOEXEC|MSG_NOSIGNAL|CLOCK_BOOTTIME|fstatfs|statfs|unshare|setns|clone3?|memfd_create|openat2|seccomp_[a-z_]+|program_invocation_[a-z_]+)\b/')
[ -z "$out" ] || fail "a Linux-only call or constant outside runtime/base/os-linux*.c (put it behind runtime/base/os.h):
$out"

out=$(grep -nE '"/(proc|sys)(/|")' $files)
[ -z "$out" ] || fail "a host /proc or /sys path outside runtime/base/os-linux*.c:
$out"

cflags=$(pkg-config --cflags libcurl libcjson libarchive libpcre2-8 libxml-2.0 yaml-0.1 2>/dev/null)
for f in $(echo "$files" | grep '\.c$'); do
    # shellcheck disable=SC2086
    o=$(${CC:-cc} -std=gnu11 -fsyntax-only -I. $cflags -U_GNU_SOURCE -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE \
        -DCLN_VERSION='"0"' -DCLN_INSIDE_EXEC='"x"' -include tests/portability/macos-libc.h \
        -Werror=implicit-function-declaration "$f" 2>&1 | grep -E 'error' | head -5)
    [ -z "$o" ] || fail "$f needs more than POSIX and macOS's libc (without _GNU_SOURCE):
$o"
done

[ $bad = 0 ] && echo "portability: clean"
exit $bad
