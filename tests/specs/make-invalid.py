#!/usr/bin/env python3
"""Writes tests/specs/invalid/: broken specs, each with the place and text of
the error it must get.  In a case, @@ marks where the error must point; ^^
instead means the whole file (reported at 1:1).  The header line added on top
("# expect: LINE:COL: TEXT") is what tests/unit/test-spec.c checks against.
Run from the repository root after adding cases; commit the output."""
import glob
import os

H = '[test]\nname = "x"\n'
IMG = '[images.bb]\nref = "localhost/cleanrun/busybox:1"\n'
STEP = '[[steps]]\nimage = "bb"\nrun = ["true"]\n'
cases = []


def add(name, text, frag):
    cases.append((name, text, frag))


# unknown keys and typos
add("typo-top-level", '@@setps = []\n' + H + IMG + STEP, 'unknown key "setps" in the spec (top level) (did you mean "steps"?)')
add("typo-test-key", '[test]\nname = "x"\n@@timout = "5s"\n' + IMG + STEP, 'unknown key "timout" in [test] (did you mean "timeout"?)')
add("typo-service-key", H + IMG + '[services.web]\n@@imgae = "bb"\n' + STEP, 'unknown key "imgae" in services.web (did you mean "image"?)')
add("typo-step-key", H + IMG + '[[steps]]\nimage = "bb"\n@@rnu = ["true"]\n', 'unknown key "rnu" in steps[0] (did you mean "run"?)')
add("typo-expect-key", H + IMG + STEP + 'expect.@@exti = 0\n', 'unknown key "exti" in steps[0].expect (did you mean "exit"?)')
add("typo-stdout-key", H + IMG + STEP + 'expect.stdout.@@contain = ["a"]\n', 'unknown key "contain" in steps[0].expect.stdout (did you mean "contains"?)')
add("typo-image-key", H + '[images.bb]\n@@reff = "a:b"\n' + STEP, 'unknown key "reff" in images.bb (did you mean "ref"?)')
add("typo-ready-key", H + IMG + '[services.web]\nimage = "bb"\nready = { exec = ["true"], @@intreval = "1s" }\n' + STEP, 'unknown key "intreval" in services.web.ready (did you mean "interval"?)')
add("typo-file-key", H + IMG + '[services.web]\nimage = "bb"\nfiles = [{ path = "/a", @@contnet = "x" }]\n' + STEP, 'unknown key "contnet" in services.web.files[0] (did you mean "content"?)')
add("typo-expect-files-key", H + IMG + STEP + 'expect.files = [{ path = "/a", @@exist = true }]\n', 'unknown key "exist" in steps[0].expect.files[0] (did you mean "exists"?)')
add("unknown-key-no-suggestion", H + IMG + STEP + '@@zzzzzz = 1\n', 'unknown key "zzzzzz" in steps[0]; known keys:')
# missing things
add("no-test-table", '^^' + IMG + STEP, 'no [test] table')
add("no-name", '[@@test]\ndescription = "x"\n' + IMG + STEP, '[test] needs a "name"')
add("empty-name", '[test]\nname = @@""\n' + IMG + STEP, 'test.name is empty')
add("no-steps", '^^' + H + IMG, 'the test has no steps')
add("steps-not-array", 'steps = @@"run"\n' + H + IMG, '"steps" must be an array of tables')
add("step-no-run", H + IMG + '@@[[steps]]\nimage = "bb"\n', 'steps[0]: "run" is required')
add("step-empty-argv", H + IMG + '[[steps]]\nimage = "bb"\nrun = @@[]\n', 'steps[0].run: empty command')
add("step-nowhere", H + IMG + '@@[[steps]]\nrun = ["true"]\n', 'steps[0]: where does it run?')
add("service-no-image", H + IMG + '@@[services.web]\ncommand = ["x"]\n' + STEP, 'services.web: "image" is required')
# wrong types
add("name-not-string", '[test]\nname = @@3\n' + IMG + STEP, 'test.name must be a string, not an integer')
add("run-is-number", H + IMG + '[[steps]]\nimage = "bb"\nrun = @@42\n', 'steps[0].run must be an array (argv, run exactly) or a string')
add("run-item-not-string", H + IMG + '[[steps]]\nimage = "bb"\nrun = ["echo", @@1]\n', 'steps[0].run[1] must be a string, not an integer')
add("tags-not-array", '[test]\nname = "x"\ntags = @@"smoke"\n' + IMG + STEP, 'test.tags must be an array, not a string')
add("env-not-table", H + IMG + STEP + 'env = @@["A=1"]\n', 'steps[0].env must be a table, not an array')
add("env-value-number", H + IMG + STEP + 'env = { A = @@1 }\n', 'steps[0].env.A must be a string, not an integer')
add("retries-string", H + IMG + STEP + 'retries = @@"3"\n', 'steps[0].retries must be an integer, not a string')
add("retries-negative", H + IMG + STEP + 'retries = @@-1\n', 'steps[0].retries must be between 0 and 100')
add("continue-not-bool", H + IMG + STEP + 'continue_on_failure = @@"yes"\n', 'steps[0].continue_on_failure must be a boolean, not a string')
add("port-out-of-range", H + IMG + '[services.web]\nimage = "bb"\nports = [80, @@70000]\n' + STEP, 'services.web.ports[1] must be a port number (1-65535)')
add("exit-bad", H + IMG + STEP + 'expect.exit = @@"zero"\n', 'steps[0].expect.exit must be an exit code (0-255), a list of them, "non-zero" or "any"')
add("exit-too-big", H + IMG + STEP + 'expect.exit = @@300\n', 'steps[0].expect.exit must be an exit code')
add("exit-list-bad-item", H + IMG + STEP + 'expect.exit = [0, @@"x"]\n', 'steps[0].expect.exit[1] must be an exit code (0-255)')
add("stdout-wrong-type", H + IMG + STEP + 'expect.stdout = @@5\n', 'steps[0].expect.stdout must be a string (equals) or a table, not an integer')
add("cpus-string", H + IMG + '[services.web]\nimage = "bb"\ncpus = @@"two"\n' + STEP, 'services.web.cpus must be a positive number of CPUs')
add("memory-bad", H + IMG + '[services.web]\nimage = "bb"\nmemory = @@"lots"\n' + STEP, 'services.web.memory: "lots" is not a size')
add("memory-too-small", H + IMG + '[services.web]\nimage = "bb"\nmemory = @@"1k"\n' + STEP, 'is not a size of at least 4MiB')
# durations
add("duration-no-unit", H + IMG + STEP + 'timeout = @@"5"\n', 'steps[0].timeout: invalid duration "5": missing unit')
add("duration-bad-unit", '[test]\nname = "x"\ntimeout = @@"5 minutes"\n' + IMG + STEP, 'test.timeout: invalid duration "5 minutes"')
add("duration-number", H + IMG + STEP + 'timeout = @@5\n', 'steps[0].timeout must be a duration string such as "5s", not an integer')
add("duration-order", H + IMG + STEP + 'retries = 2\nretry_interval = @@"1s2m"\n', 'units must appear once each, largest first')
add("ready-interval-bad", H + IMG + '[services.web]\nimage = "bb"\nready = { exec = ["true"], interval = @@"fast" }\n' + STEP, 'services.web.ready.interval: invalid duration "fast"')
add("max-duration-bad", H + IMG + STEP + 'expect.max_duration = @@"1x"\n', 'unknown unit')
# references
add("unknown-service-in-step", H + IMG + '[services.web]\nimage = "bb"\n[[steps]]\nservice = @@"wbe"\nrun = ["true"]\n', 'steps[0].service: no service "wbe" in [services] (did you mean "web"?)')
add("unknown-image-in-step", H + IMG + '[[steps]]\nimage = @@"bbb"\nrun = ["true"]\n', 'steps[0]: no image "bbb" in [images] (did you mean "bb"?)')
add("unknown-image-in-service", H + IMG + '[services.web]\nimage = @@"busybox"\n' + STEP, 'services.web: no image "busybox" in [images]')
add("unknown-default-service", '[test]\nname = "x"\ndefault_service = @@"api"\n' + IMG + '[[steps]]\nrun = ["true"]\n', 'test.default_service: no service "api"')
add("depends-on-unknown", H + IMG + '[services.a]\nimage = "bb"\ndepends_on = [@@"bb"]\n' + STEP, 'services.a.depends_on: no service "bb"')
add("depends-on-self", H + IMG + '[services.a]\nimage = "bb"\ndepends_on = [@@"a"]\n' + STEP, 'a service cannot depend on itself')
add("depends-on-cycle", H + IMG + '[services.@@a]\nimage = "bb"\ndepends_on = ["b"]\n[services.b]\nimage = "bb"\ndepends_on = ["a"]\n' + STEP, 'depends_on forms a cycle among services: a, b')
add("undefined-variable", H + IMG + '[[steps]]\nimage = "bb"\nrun = ["echo", @@"${greeting}"]\n', 'unknown variable ${greeting}')
add("unterminated-variable", H + IMG + '[[steps]]\nimage = "bb"\nrun = @@"echo ${x"\n', 'unterminated "${"')
add("matrix-key-missing", H + IMG + '[matrix]\nn = [1, 2]\n[[steps]]\nimage = "bb"\nrun = @@"echo ${matrix.m}"\n', '${matrix.m}: no such key in [matrix]')
add("host-env-not-allowed", H + IMG + '[[steps]]\nimage = "bb"\nrun = @@"echo ${env.HOME}"\n', 'is not in [test] host_env (the allowlist)')
add("service-var-unknown", H + IMG + '[[steps]]\nimage = "bb"\nrun = @@"wget ${service.web.host}"\n', 'no service "web" in this spec')
add("matrix-empty", H + IMG + '[matrix]\nn = @@[]\n' + STEP, 'matrix.n is empty')
add("matrix-not-array", H + IMG + '[matrix]\nn = @@1\n' + STEP, 'matrix.n must be an array, not an integer')
# impossible combinations
add("service-and-image", H + IMG + '[services.web]\nimage = "bb"\n@@[[steps]]\nservice = "web"\nimage = "bb"\nrun = ["true"]\n', 'give "service" (exec in a running service) or "image" (a fresh container), not both')
add("image-ref-and-dockerfile", H + '@@[images.bb]\nref = "a:b"\ndockerfile = "FROM scratch"\n' + STEP, 'give exactly one of "ref" (an image to use) or "dockerfile"')
add("image-neither", H + '@@[images.bb]\npull = "never"\n' + STEP, 'give exactly one of "ref" (an image to use) or "dockerfile"')
add("pull-bad", H + '[images.bb]\nref = "a:b"\npull = @@"sometimes"\n' + STEP, '"sometimes" is not a pull policy (never, if-missing, always)')
add("empty-with-equals", H + IMG + STEP + 'expect.stdout = { equals = "a", @@empty = true }\n', '"empty = true" contradicts the other expectations')
add("file-absent-with-content", H + IMG + STEP + 'expect.files = [@@{ path = "/a", exists = false, equals = "x" }]\n', '"exists = false" contradicts the other expectations')
add("file-relative-path", H + IMG + STEP + 'expect.files = [@@{ path = "a" }]\n', 'an absolute "path" is required')
add("service-file-relative", H + IMG + '[services.web]\nimage = "bb"\nfiles = [@@{ path = "www/index.html", content = "x" }]\n' + STEP, 'must be absolute (in the container)')
add("service-file-both", H + IMG + '[services.web]\nimage = "bb"\nfiles = [@@{ path = "/a", content = "x", source = "b" }]\n' + STEP, 'give exactly one of "content" or "source"')
add("service-file-missing-source", H + IMG + '[services.web]\nimage = "bb"\nfiles = [{ path = "/a", source = @@"does-not-exist.txt" }]\n' + STEP, 'services.web.files[0].source "does-not-exist.txt": No such file or directory')
add("build-file-escapes", H + '[images.bb]\ndockerfile = "FROM scratch"\nfiles = [@@{ path = "../x", content = "y" }]\n' + STEP, 'must be relative to the build context, without ".."')
add("ready-two-kinds", H + IMG + '[services.web]\nimage = "bb"\nready = @@{ exec = ["true"], log = "x" }\n' + STEP, 'give exactly one of "exec", "log", "tcp", "http", "healthcheck"')
add("ready-tcp-unpublished", H + IMG + '[services.web]\nimage = "bb"\nready = { tcp = @@80 }\n' + STEP, 'port 80 must also be listed in services.web.ports')
add("bad-regex", H + IMG + STEP + 'expect.stdout.regex = @@"(unclosed"\n', 'invalid regular expression at offset')
add("bad-log-regex", H + IMG + '[services.web]\nimage = "bb"\nready = { log = @@"[a-" }\n' + STEP, 'invalid regular expression')
add("network-on-service-step", H + IMG + '[services.web]\nimage = "bb"\n[[steps]]\nservice = "web"\nrun = ["true"]\n@@network = true\n', 'network only applies to steps in a fresh container')
add("privileged-on-service-step", H + IMG + '[services.web]\nimage = "bb"\n[[steps]]\nservice = "web"\nrun = ["true"]\n@@privileged = true\n', 'steps[0].privileged only applies to steps in a fresh container')
add("mount-source-relative", H + IMG + '[services.web]\nimage = "bb"\nmounts = [{ source = @@"data", target = "/d" }]\n' + STEP, 'services.web.mounts[0].source must be an absolute host path, not "data"')
add("mount-target-relative", H + IMG + '[services.web]\nimage = "bb"\nmounts = [{ source = "/tmp", target = @@"d" }]\n' + STEP, 'services.web.mounts[0].target must be an absolute path in the container')
add("mount-without-target", H + IMG + '[services.web]\nimage = "bb"\nmounts = [@@{ source = "/tmp" }]\n' + STEP, '"source" (a host path) and "target" are required')
add("mount-typo", H + IMG + '[services.web]\nimage = "bb"\nmounts = [{ source = "/tmp", target = "/t", @@readonly = true }]\n' + STEP, 'unknown key "readonly" in services.web.mounts[0] (did you mean "read_only"?)')
add("network-and-host-network", H + IMG + '[[steps]]\nimage = "bb"\nrun = ["true"]\nnetwork = true\n@@host_network = true\n', 'network (the test network) and host_network exclude each other')
add("step-memory-too-small", H + IMG + '[[steps]]\nimage = "bb"\nrun = ["true"]\nmemory = @@"1KiB"\n', 'steps[0].memory: "1KiB" is not a size of at least 4MiB')
add("retry-interval-without-retries", H + IMG + STEP + '@@retry_interval = "1s"\n', 'retry_interval without retries')
add("bad-service-name", H + IMG + '[services.@@Web_Server]\nimage = "bb"\n' + STEP, 'use lower-case letters')
add("both-defaults", '[test]\nname = "x"\ndefault_service = "web"\n@@default_image = "bb"\n' + IMG + '[services.web]\nimage = "bb"\n[[steps]]\nrun = ["true"]\n', 'give default_service or default_image, not both')
# zero limits (Trust 2 of 2, item 6)
add("zero-test-timeout", '[test]\nname = "x"\ntimeout = @@"0s"\n' + IMG + STEP, 'test.timeout is zero: give a positive duration')
add("zero-step-timeout", H + IMG + STEP + 'timeout = @@"0ms"\n', 'steps[0].timeout is zero')
add("zero-max-duration", H + IMG + STEP + 'expect.max_duration = @@"0s"\n', 'steps[0].expect.max_duration is zero')
add("zero-ready-interval", H + IMG + '[services.web]\nimage = "bb"\nready = { exec = ["true"], interval = @@"0s" }\n' + STEP, 'services.web.ready.interval is zero')
# service facts checked at load (item 7)
add("service-port-unpublished", H + IMG + '[services.web]\nimage = "bb"\nports = [80]\n[[steps]]\nimage = "bb"\nrun = ["echo", @@"${service.web.port.81}"]\n', 'service "web" does not publish port 81')
add("service-port-out-of-range", H + IMG + '[services.web]\nimage = "bb"\nports = [80]\n[[steps]]\nimage = "bb"\nrun = ["echo", @@"${service.web.port.99999}"]\n', '"99999" is not a port number (1-65535)')
add("service-port-not-a-number", H + IMG + '[services.web]\nimage = "bb"\nports = [8080]\n[[steps]]\nimage = "bb"\nrun = ["echo", @@"${service.web.port.8080x}"]\n', '"8080x" is not a port number')
# loose inputs (item 11)
add("alias-bad-name", H + IMG + '[services.web]\nimage = "bb"\naliases = [@@"Bad Name!"]\n' + STEP, 'services.web.aliases[0] "Bad Name!": use lower-case letters')
add("alias-is-a-service", H + IMG + '[services.db]\nimage = "bb"\n[services.web]\nimage = "bb"\naliases = [@@"db"]\n' + STEP, 'services.web.aliases[0] "db" is the name of service "db"')
add("alias-twice", H + IMG + '[services.db]\nimage = "bb"\naliases = ["x"]\n[services.web]\nimage = "bb"\naliases = [@@"x"]\n' + STEP, 'services.web.aliases[0] "x" is also an alias of service "db"')
add("port-twice", H + IMG + '[services.web]\nimage = "bb"\nports = [80, @@80]\n' + STEP, 'services.web.ports[1]: port 80 is listed twice')
add("run-empty-string", H + IMG + '[[steps]]\nimage = "bb"\nrun = @@"  "\n', 'steps[0].run: empty command')
add("contains-empty", H + IMG + STEP + 'expect.stdout.contains = @@[]\n', 'steps[0].expect.stdout.contains is empty: it would check nothing')
add("contains-empty-string", H + IMG + STEP + 'expect.stdout.not_contains = ["a", @@""]\n', 'an empty string would check nothing')
add("host-env-bad-name", '[test]\nname = "x"\nhost_env = ["OK", @@"A=B"]\n' + IMG + STEP, 'test.host_env[1] "A=B" is not an environment variable name')
add("host-env-empty", '[test]\nname = "x"\nhost_env = [@@""]\n' + IMG + STEP, 'test.host_env[0] "" is not an environment variable name')
add("file-path-root", H + IMG + '[services.web]\nimage = "bb"\nfiles = [{ path = @@"/", content = "x" }]\n' + STEP, 'path "/" names a directory, not a file')
# file expectations: types (item 3)
add("file-type-unknown", H + IMG + STEP + 'expect.files = [{ path = "/a", type = @@"pipe" }]\n', 'steps[0].expect.files[0].type "pipe" is not a type (file, directory, symlink)')
add("file-content-of-a-directory", H + IMG + STEP + 'expect.files = [{ path = "/a", @@type = "directory", equals = "x" }]\n', 'a content expectation needs type = "file"')
add("file-mode-bad", H + IMG + STEP + 'expect.files = [{ path = "/a", mode = @@70000 }]\n', 'steps[0].expect.files[0].mode must be between 0 and 4095')
add("file-owner-bad", H + IMG + STEP + 'expect.files = [{ path = "/a", owner = @@"a b" }]\n', 'steps[0].expect.files[0].owner "a b" is not a user or group name or number')
# readiness by http (item 22)
add("ready-http-other-host", H + IMG + '[services.web]\nimage = "bb"\nready = { http = @@"http://db:80/" }\n' + STEP, 'the host must be the service itself')
add("ready-http-no-scheme", H + IMG + '[services.web]\nimage = "bb"\nready = { http = @@"web:80/" }\n' + STEP, 'give a URL of the service, http://web:PORT/path')
add("ready-status-without-http", H + IMG + '[services.web]\nimage = "bb"\nready = { exec = ["true"], @@status = 200 }\n' + STEP, 'services.web.ready.status only goes with "http"')
add("ready-bad-status", H + IMG + '[services.web]\nimage = "bb"\nready = { http = "http://web:80/", status = @@99 }\n' + STEP, 'services.web.ready.status must be HTTP statuses (100-599)')
# TOML-level errors are reported the same way
add("toml-duplicate-key", H + '@@name = "y"\n' + IMG + STEP, 'duplicate key "name"')
add("toml-unterminated-string", '[test]\nname = @@"x\n' + IMG + STEP, 'unterminated string')
add("toml-bad-value", '[test]\nname = @@hello\n' + IMG + STEP, 'expected a value')

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "invalid")
for f in glob.glob(os.path.join(out, "*.cleanrun.toml")):
    os.remove(f)
for name, text, frag in cases:
    if text.startswith('^^'):
        line, col = 1, 1
        text = text[2:]
    else:
        assert text.count('@@') == 1, name
        idx = text.index('@@')
        before = text[:idx]
        line = before.count('\n') + 2  # the header comment is line 1
        col = len(before.split('\n')[-1]) + 1
    with open(os.path.join(out, name + '.cleanrun.toml'), 'w') as f:
        f.write(f'# expect: {line}:{col}: {frag}\n' + text.replace('@@', ''))
print(f"make-invalid: {len(cases)} cases")
