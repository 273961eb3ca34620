#!/usr/bin/env python3
"""Runtime benchmark: 1 service container + 50 exec steps + 10 one-shot
containers, through cleanrun's backend and through `cleanrun run` (the
harness path: the same workload as a spec, every step checked on stdout,
stderr and exit, the fresh containers expecting exit 3), beside the same API
calls made by a minimal keep-alive client (the engine floor) and beside the
docker CLI.  Each variant runs RUNS times, interleaved; medians are
reported, with the engine's CPU (dockerd and containerd, and what they
reaped, from /proc) during each run.

usage: runtime-bench.py BUILD_DIR [RUNS]"""
import os
import shutil
import statistics
import subprocess
import sys
import time

SOCK = "/var/run/docker.sock"
IMAGE = "localhost/cleanrun/busybox:test-2"
# the native runtime (no engine): the same image in its store
# (.ci/setup native-images), the same workload, in the same run
NATIVE = "native:///var/lib/cleanrun"


def measure(build, argv):
    """Wall, CPU (user+sys, children included) and peak RSS of argv, taken by
    bench/measure (a small C parent: see measure.c for why)."""
    out = subprocess.run([f"{build}/measure"] + argv, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, check=True).stdout.split()
    wall, cpu, rss_kib, status = float(out[0]), float(out[1]), int(out[2]), int(out[3])
    if status != 0:
        sys.exit(f"runtime-bench: {argv[0]} failed (exit {status})")
    return wall, cpu, rss_kib / 1024.0


def engine_cpu():
    """CPU seconds of dockerd and containerd so far (user + system, with the
    children they reaped: shims, runc), from /proc/PID/stat."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        if comm not in ("dockerd", "containerd"):
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / hz


def harness_spec(path, name="bench-w1", nexec=50, nfresh=10):
    """The workload as a spec for `cleanrun run`."""
    with open(path, "w") as f:
        f.write("\n".join(test_lines(name, nexec, nfresh)) + "\n")


def breakdown(build, ep, runs):
    """What one exec step and one fresh container cost, through the floor
    client and through `cleanrun run`: the workload with 50 more exec steps,
    and with 10 more fresh containers, against the service and one step (medians;
    differences divided by the count).  The rest is the fixed cost of a run
    with one service (start-up, the service, teardown)."""
    shapes = {"base": (1, 0), "exec": (51, 0), "fresh": (1, 10)}
    variants = []
    for shape, (n, f) in shapes.items():
        spec = os.path.join(build, f"bench-shape-{shape}.cleanrun.toml")
        harness_spec(spec, f"bench-{shape}", n, f)
        variants.append((("floor", shape), [f"{build}/floor-client", SOCK, IMAGE, str(n), str(f)]))
        variants.append((("harness", shape), [f"{build}/cleanrun", "run", "--host", ep, "--no-gc",
                                               "-q", "--no-color", spec]))
        variants.append((("native", shape), [f"{build}/cleanrun", "run", "--host", NATIVE,
                                              "--no-gc", "-q", "--no-color", spec]))
    res = {key: [] for key, _ in variants}
    for _ in range(runs):
        for key, argv in variants:
            e0 = engine_cpu()
            wall, _, _ = measure(build, argv)
            res[key].append((wall, engine_cpu() - e0))
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
           for k, v in res.items()}
    print(f"per operation (median of {runs}; wall ms / engine CPU ms each):")
    print(f"{'':32} {'floor':>17} {'cleanrun run':>17} {'native run':>17}")
    for label, shape, count in (("fixed (1 service + 1 step)", "base", 1),
                                ("an exec step in the service", "exec", 50),
                                ("a fresh container and its step", "fresh", 10)):
        cells, walls = [], {}
        for who in ("floor", "harness", "native"):
            w, e = med[(who, shape)]
            if shape != "base":
                w -= med[(who, "base")][0]
                e -= med[(who, "base")][1]
            walls[who] = w / count
            cells.append(f"{w / count * 1000:7.1f} / {e / count * 1000:7.1f}")
        print(f"{label:32} {cells[0]:>17} {cells[1]:>17} {cells[2]:>17}")
        if shape != "base":
            target = 20 if shape == "fresh" else 8
            ratio = walls["harness"] / walls["native"] if walls["native"] > 0 else float("inf")
            print(f"{'':32} native is {ratio:.1f}x cheaper than through dockerd "
                  f"(target {target}x: {'met' if ratio >= target else 'MISSED'})")


def test_lines(name, nexec=50, nfresh=10):
    lines = ['[test]', f'name = "{name}"', '[services.s]', f'image = "{IMAGE}"',
             'command = ["sleep", "3600"]']
    for i in range(nexec):
        lines += ['[[steps]]', 'service = "s"', f'run = ["echo", "{i}"]',
                  f'expect.stdout = "{i}\\n"', 'expect.stderr = ""', 'expect.exit = 0']
    for _ in range(nfresh):
        lines += ['[[steps]]', f'image = "{IMAGE}"', 'run = ["sh", "-c", "exit 3"]',
                  'expect.exit = 3']
    return lines


def w2(build, ep, runs):
    """W2: 8 copies of the workload, 4 at a time: the floor client 8 times
    through xargs -P 4, cleanrun run -j 4 over 8 specs."""
    d = os.path.join(build, "bench-w2")
    os.makedirs(d, exist_ok=True)
    for k in range(8):
        harness_spec(os.path.join(d, f"w{k}.cleanrun.toml"), f"bench-w2-{k}")
    variants = [
        ("W2 floor", ["bash", "-c", f"seq 8 | xargs -P 4 -I{{}} {build}/floor-client {SOCK} {IMAGE}"]),
        ("W2 cleanrun run -j 4", [f"{build}/cleanrun", "run", "--host", ep, "--no-gc", "-q",
                                  "--no-color", "-j", "4", d]),
    ]
    res = {name: [] for name, _ in variants}
    for _ in range(max(1, runs // 2)):
        for name, argv in variants:
            e0 = engine_cpu()
            wall, cpu, rss = measure(build, argv)
            res[name].append((wall, cpu, rss, engine_cpu() - e0))
    fw = statistics.median(r[0] for r in res["W2 floor"])
    fe = statistics.median(r[3] for r in res["W2 floor"])
    for name, _ in variants:
        w = statistics.median(r[0] for r in res[name])
        c = statistics.median(r[1] for r in res[name])
        m = statistics.median(r[2] for r in res[name])
        e = statistics.median(r[3] for r in res[name])
        print(f"{name:32} {w:8.3f} {c:8.3f} {m:8.1f} {e:9.2f} {w / fw:11.3f} "
              f"{e / fe if fe else 0:13.3f}")


def main():
    build = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    ep = "unix://" + SOCK
    subprocess.run([f"{build}/bench-runtime", ep, IMAGE, "--ensure-image"], check=True)
    docker = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
    spec = os.path.join(build, "bench-w1.cleanrun.toml")
    harness_spec(spec)
    variants = [
        ("floor (raw keep-alive client)", [f"{build}/floor-client", SOCK, IMAGE]),
        ("cleanrun runtime", [f"{build}/bench-runtime", ep, IMAGE]),
        ("cleanrun run (harness path)", [f"{build}/cleanrun", "run", "--host", ep, "--no-gc",
                                         "-q", "--no-color", spec]),
        ("native runtime", [f"{build}/bench-runtime", NATIVE, IMAGE]),
        ("native cleanrun run", [f"{build}/cleanrun", "run", "--host", NATIVE, "--no-gc",
                                 "-q", "--no-color", spec]),
    ]
    if docker:
        variants.append(("docker CLI", ["bash", os.path.join(os.path.dirname(__file__),
                                                             "runtime-cli.sh"), docker, IMAGE]))
    results = {name: [] for name, _ in variants}
    for _ in range(runs):
        for name, argv in variants:
            e0 = engine_cpu()
            wall, cpu, rss = measure(build, argv)
            results[name].append((wall, cpu, rss, engine_cpu() - e0))
    print(f"runtime-bench: 1 service + 50 exec + 10 one-shot containers, "
          f"median of {runs}, engine {SOCK}")
    print(f"{'variant':32} {'wall s':>8} {'cpu s':>8} {'rss MiB':>8} {'engine s':>9} "
          f"{'wall/floor':>11} {'engine/floor':>13}")
    floor_wall = statistics.median(r[0] for r in results[variants[0][0]])
    floor_eng = statistics.median(r[3] for r in results[variants[0][0]])
    summary = {}
    for name, _ in variants:
        w = statistics.median(r[0] for r in results[name])
        c = statistics.median(r[1] for r in results[name])
        m = statistics.median(r[2] for r in results[name])
        e = statistics.median(r[3] for r in results[name])
        summary[name] = (w, c, m, e)
        print(f"{name:32} {w:8.3f} {c:8.3f} {m:8.1f} {e:9.2f} {w / floor_wall:11.3f} "
              f"{e / floor_eng if floor_eng else 0:13.3f}")
    w, c, m, _ = summary["cleanrun runtime"]
    print(f"targets: wall within 2% of the floor: {'met' if w <= floor_wall * 1.02 else 'MISSED'} "
          f"({(w / floor_wall - 1) * 100:+.1f}%); client CPU < 0.15 s: "
          f"{'met' if c < 0.15 else 'MISSED'} ({c:.3f} s); peak RSS < 8 MiB: "
          f"{'met' if m < 8 else 'MISSED'} ({m:.1f} MiB)")
    breakdown(build, ep, max(3, runs))
    if os.environ.get("BENCH_W2"):
        w2(build, ep, runs)
    nw, nc, nm, _ = summary["native cleanrun run"]
    print(f"native: W1 through `cleanrun run` {floor_wall / nw:.1f}x faster than the Docker floor "
          f"(target 10x: {'met' if floor_wall >= nw * 10 else 'MISSED'}); client CPU {nc:.3f} s, "
          f"peak RSS {nm:.1f} MiB")
    w, c, m, e = summary["cleanrun run (harness path)"]
    print(f"harness path: wall {w / floor_wall:.3f}x the floor (target 1.05x: "
          f"{'met' if w <= floor_wall * 1.05 else 'MISSED'}), engine CPU "
          f"{e / floor_eng if floor_eng else 0:.3f}x (target 1.10x: "
          f"{'met' if floor_eng and e <= floor_eng * 1.10 else 'MISSED'})")


main()
