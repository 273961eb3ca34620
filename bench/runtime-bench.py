#!/usr/bin/env python3
"""Runtime benchmark: 1 service container + 50 exec steps + 10 one-shot
containers, through cleanrun's backend, beside the same API calls made by a
minimal keep-alive client (the engine floor) and beside the docker CLI.
Each variant runs RUNS times, interleaved; medians are reported.

usage: runtime-bench.py BUILD_DIR [RUNS]"""
import os
import shutil
import statistics
import subprocess
import sys
import time

SOCK = "/var/run/docker.sock"
IMAGE = "localhost/cleanrun/busybox:test-2"


def measure(build, argv):
    """Wall, CPU (user+sys, children included) and peak RSS of argv, taken by
    bench/measure (a small C parent: see measure.c for why)."""
    out = subprocess.run([f"{build}/measure"] + argv, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, check=True).stdout.split()
    wall, cpu, rss_kib, status = float(out[0]), float(out[1]), int(out[2]), int(out[3])
    if status != 0:
        sys.exit(f"runtime-bench: {argv[0]} failed (exit {status})")
    return wall, cpu, rss_kib / 1024.0


def main():
    build = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    ep = "unix://" + SOCK
    subprocess.run([f"{build}/bench-runtime", ep, IMAGE, "--ensure-image"], check=True)
    docker = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
    variants = [
        ("floor (raw keep-alive client)", [f"{build}/floor-client", SOCK, IMAGE]),
        ("cleanrun runtime", [f"{build}/bench-runtime", ep, IMAGE]),
    ]
    if docker:
        variants.append(("docker CLI", ["bash", os.path.join(os.path.dirname(__file__),
                                                             "runtime-cli.sh"), docker, IMAGE]))
    results = {name: [] for name, _ in variants}
    for _ in range(runs):
        for name, argv in variants:
            results[name].append(measure(build, argv))
    print(f"runtime-bench: 1 service + 50 exec + 10 one-shot containers, "
          f"median of {runs}, engine {SOCK}")
    print(f"{'variant':32} {'wall s':>8} {'cpu s':>8} {'rss MiB':>8} {'wall/floor':>11}")
    floor_wall = statistics.median(r[0] for r in results[variants[0][0]])
    summary = {}
    for name, _ in variants:
        w = statistics.median(r[0] for r in results[name])
        c = statistics.median(r[1] for r in results[name])
        m = statistics.median(r[2] for r in results[name])
        summary[name] = (w, c, m)
        print(f"{name:32} {w:8.3f} {c:8.3f} {m:8.1f} {w / floor_wall:11.3f}")
    w, c, m = summary["cleanrun runtime"]
    print(f"targets: wall within 2% of the floor: {'met' if w <= floor_wall * 1.02 else 'MISSED'} "
          f"({(w / floor_wall - 1) * 100:+.1f}%); client CPU < 0.15 s: "
          f"{'met' if c < 0.15 else 'MISSED'} ({c:.3f} s); peak RSS < 8 MiB: "
          f"{'met' if m < 8 else 'MISSED'} ({m:.1f} MiB)")


main()
