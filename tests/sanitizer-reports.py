#!/usr/bin/env python3
"""Judge the sanitizer reports a test binary left in DIR (ASAN_OPTIONS and
UBSAN_OPTIONS log_path): any report fails, except a leak whose every
allocation stack lies in libcriterion and libc, which is Criterion's own
runner (it leaks 48 bytes now and then when tests run in parallel) and not
cleanrun's code.  A leak with one frame of ours still fails, wherever
Criterion called it from.

    tests/sanitizer-reports.py DIR
"""
import os
import re
import sys

THEIRS = re.compile(r"\((/lib|/usr/lib)[^)]*/(libcriterion\.so[^)]*|libc\.so[^)]*)\)|"
                    r"/libsanitizer/|\.\./sysdeps/|\.\./csu/")


def leaks_only_criterion(text):
    if "ERROR: LeakSanitizer" not in text or re.search(r"ERROR: (Address|Undefined)", text):
        return False
    blocks = re.split(r"\n(?=(?:Direct|Indirect) leak of)", text)
    for b in blocks[1:]:
        frames = [l for l in b.splitlines() if re.match(r"\s+#\d+ ", l)]
        # frame #0 is the allocator; every other must be Criterion's or libc's
        if any(not THEIRS.search(f) for f in frames[1:]):
            return False
    return len(blocks) > 1


def main():
    d = sys.argv[1]
    bad = 0
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        text = open(os.path.join(d, name), errors="replace").read()
        if leaks_only_criterion(text):
            print("sanitizers: ignored %s: a leak inside libcriterion only" % name)
            continue
        print("sanitizer report %s:\n%s" % (name, text))
        bad += 1
    if bad:
        sys.exit(1)
    print("sanitizers: no reports")


main()
