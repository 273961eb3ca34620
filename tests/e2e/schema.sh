#!/usr/bin/env bash
# The spec's JSON Schema (docs/spec.schema.json, for editors: docs/spec.md
# "Editor support") against the loader, with python3-jsonschema:
#   (a) every spec in specs/, selftest/ and tests/ that the loader accepts
#       (cleanrun validate, every --allow-* flag given), and the complete
#       example of docs/spec.md, converted by `cleanrun toml-decode` (toml-test
#       tagged JSON, made plain here), is valid against the schema; so are
#       two specs written here that use every key of the schema between them
#       (a key added to the schema must be added to them);
#   (b) every spec the loader refuses with a schema-level error (an unknown
#       key, a value that "must be" something: a type, a range, a form) is
#       refused by the schema too, at the same key;
#   (c) drift: the keys and types of harness/spec-schema.c's tables, section
#       by section, are the schema's, and every key of the schema has a
#       description found in docs/spec.md;
#   (d) what `cleanrun init NAME` writes is valid (skipped without init).
# Needs no engine.  SCHEMA=FILE checks another schema file (to see a check
# fail).  Usage: tests/e2e/schema.sh CLEANRUN_BINARY
set -uo pipefail
bin=$(realpath "$1")
cd "$(dirname "$0")/../.."
schema=$(realpath "${SCHEMA:-docs/spec.schema.json}")
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir "$tmp/every"
echo data >"$tmp/every/data.txt"
cat >"$tmp/every/every-key.cleanrun.toml" <<'TOML'
# every key of the format at least once (tests/e2e/schema.sh)
[test]
name = "every-key"
description = "every key of docs/spec.md"
tags = ["schema"]
timeout = "1h30m"
host_env = ["HOME"]
default_image = "bb"

[vars]
greeting = "hello"
count = 3
loud = true

[matrix]
n = [1, 2]
mode = ["a", "b"]
include = [{ n = 3, mode = "c" }]
exclude = [{ n = 2, mode = "b" }]

[images.bb]
ref = "localhost/cleanrun/busybox:1"
pull = "never"

[images.built]
dockerfile = "FROM localhost/cleanrun/busybox:1\nCOPY a /a\n"
files = [{ path = "a", content = "x", mode = 0o644 }, { path = "b", source = "data.txt" }]
outbound = true

[volumes.shared]

[services.web]
image = "bb"
command = ["httpd", "-f", "-p", "8080"]
entrypoint = []
env = { A = "${greeting}" }
files = [{ path = "/www/index.html", content = "hi", mode = 0o600, owner = "1000:1000" }]
ports = [8080]
memory = "64MiB"
cpus = 0.5
pids = 100
aliases = ["www"]
ready = { http = "http://web:8080/", status = [200, 301], body = "hi", interval = "100ms", timeout = "5s" }
user = "0:0"
workdir = "/www"
privileged = true
host_pid = true
outbound = true
mounts = [{ source = "/tmp", target = "/host-tmp", read_only = true }]
volumes = [{ volume = "shared", target = "/data", read_only = false }]
tmpfs = ["/scratch", { target = "/big", size = "64MiB", mode = 0o1777 }]
artifacts = ["/www/", "/www/index.html"]

[services.db]
image = "built"
depends_on = ["web"]
ready = { exec = "true" }

[services.logger]
image = "bb"
ready = { log = "started", timeout = "2s" }

[services.tcp]
image = "bb"
ports = [9000]
ready = { tcp = 9000 }
host_network = true

[services.health]
image = "bb"
ready = { healthcheck = true }

[[steps]]
name = "in a service"
service = "web"
run = ["cat", "/www/index.html"]
env = { B = "${env.HOME}" }
workdir = "/"
user = "root"
stdin = "input"
timeout = "10s"
retries = 2
retry_interval = "1s"
continue_on_failure = true
artifacts = ["/tmp/out/"]
expect.exit = [0, 1]
expect.stdout = { equals = "hi", contains = ["h"], not_contains = "x", regex = ["^h", "i$"], not_regex = "z" }
expect.stderr = { empty = true }
expect.max_duration = "5s"

[[steps]]
image = "bb"
run = "echo '{\"a\": [1]}' ${matrix.n} ${count} ${loud}"
network = true
memory = "32MiB"
pids = 64
files = [{ path = "/in/x", source = "data.txt", owner = "nobody" }]
volumes = [{ volume = "shared", target = "/data" }]
tmpfs = ["/tmp/t"]
expect.exit = "any"
expect.stdout = { json = { path = "$.a[0]", equals = 1, regex = "1" } }
expect.stderr = ""
expect.files = [
  { path = "/in/x", exists = true, type = "file", mode = 0o644, owner = "nobody", group = "0", equals = "data\n", regex = "da", not_regex = ["zz"], json = [{ path = "$['k']", exists = false }] },
  { path = "/gone", exists = false },
]

[[steps]]
run = ["true"]
host_network = true
host_pid = true
privileged = false
outbound = false
mounts = []
expect.exit = "non-zero"
TOML
cat >"$tmp/every/every-key-2.cleanrun.toml" <<'TOML'
# what the first cannot have with it: default_service
[test]
name = "every-key-2"
default_service = "s"

[services.s]
image = "localhost/cleanrun/busybox:1"

[[steps]]
run = ["true"]
TOML

cat >"$tmp/check.py" <<'PY'
import glob, json, os, re, subprocess, sys
import jsonschema

BIN, SCHEMA, TMP = sys.argv[1], sys.argv[2], sys.argv[3]
ALLOW = ["--allow-privileged", "--allow-host-network", "--allow-host-pid", "--allow-host-mounts",
         "--allow-engine-socket", "--allow-outbound", "--allow-host-files"]
passed = failed = 0


def ok(msg):
    global passed
    passed += 1
    print("ok   " + msg)


def bad(msg, details=()):
    global failed
    failed += 1
    print("FAIL " + msg)
    for d in details:
        print("     | " + d)


# ---- toml-test tagged JSON -> plain JSON ----

def plain(v):
    if isinstance(v, list):
        return [plain(x) for x in v]
    if set(v) == {"type", "value"} and isinstance(v["type"], str):
        t, s = v["type"], v["value"]
        if t == "integer":
            return int(s)
        if t == "float":
            return float(s)  # inf, +inf, -inf, nan too
        if t == "bool":
            return s == "true"
        return s  # string; dates and times as their text
    return {k: plain(x) for k, x in v.items()}


def decode(path):
    with open(path, "rb") as f:
        p = subprocess.run([BIN, "toml-decode"], stdin=f, capture_output=True)
    if p.returncode != 0:
        return None
    return plain(json.loads(p.stdout))


def loader(path):
    """(accepted, [messages]) from cleanrun validate"""
    p = subprocess.run([BIN, "validate", *ALLOW, path], capture_output=True, text=True)
    msgs = []
    for line in (p.stdout + p.stderr).splitlines():
        m = re.match(r"^error: .*?:\d+:\d+: (.*)$", line)
        if m:
            msgs.append(m.group(1))
    return p.returncode == 0, msgs


schema = json.load(open(SCHEMA))
V = jsonschema.Draft7Validator
try:
    V.check_schema(schema)
    ok("the schema is a valid draft-07 JSON Schema (%s)" % schema.get("$id"))
except jsonschema.SchemaError as e:
    bad("the schema is not a valid draft-07 schema: " + e.message)
    sys.exit(1)
validator = V(schema)


def errors(doc):
    return sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))


def where(e):
    return "/".join(map(str, e.absolute_path)) or "(top level)"


def all_errors(errs):
    for e in errs:
        yield e
        yield from all_errors(e.context or [])


# ---- the schema's shape: types, keys, maps, items, through $ref and combinators ----

TYPE = {"STRING": "string", "INTEGER": "integer", "FLOAT": "float", "BOOL": "boolean",
        "ARRAY": "array", "TABLE": "table", "DATETIME": "datetime"}
ALL = set(TYPE.values())


def defs_ref(s):
    while isinstance(s, dict) and "$ref" in s:
        assert s["$ref"].startswith("#/"), s["$ref"]
        node = schema
        for part in s["$ref"][2:].split("/"):
            node = node[part]
        s = node
    return s


def shape(schemas):
    """what a key's schemas allow, merged over $ref, allOf, anyOf, oneOf:
    types, object properties, extra properties (a map), array items"""
    info = {"types": set(), "typed": False, "props": {}, "addl": [], "items": []}

    def walk(s):
        s = defs_ref(s)
        if not isinstance(s, dict):
            return
        t = s.get("type")
        if t is not None:
            info["typed"] = True
            for x in [t] if isinstance(t, str) else t:
                info["types"].update({"number": {"integer", "float"}, "object": {"table"}}.get(x, {x}))
        for v in s.get("enum", []) + ([s["const"]] if "const" in s else []):
            info["typed"] = True
            info["types"].add({str: "string", bool: "boolean", int: "integer", float: "float",
                               list: "array", dict: "table"}[type(v)])
        for k, v in s.get("properties", {}).items():
            info["props"].setdefault(k, []).append(v)
        if isinstance(s.get("additionalProperties"), dict):
            info["addl"].append(s["additionalProperties"])
        if isinstance(s.get("items"), dict):
            info["items"].append(s["items"])
        for c in ("allOf", "anyOf", "oneOf"):
            for sub in s.get(c, []):
                walk(sub)

    for s in schemas:
        walk(s)
    if not info["typed"]:
        info["types"] = set(ALL)
    return info


# ---- (a) accepted specs, (b) refused ones ----

files = sorted(f for d in ("specs", "selftest", "tests") for f in glob.glob(d + "/**/*.cleanrun.toml", recursive=True))
accepted, refused = [], []
for f in files:
    good, msgs = loader(f)
    if os.path.exists(f):  # not removed meanwhile (tests/specs/make-invalid.py rewrites them all)
        (accepted if good else refused).append((f, msgs))

# the complete example(s) of docs/spec.md: every toml block that is a whole spec
docs = open("docs/spec.md").read()
for i, block in enumerate(re.findall(r"```toml\n(.*?)```", docs, re.S)):
    if "[test]" in block and "[[steps]]" in block:
        p = os.path.join(TMP, "docs-example-%d.cleanrun.toml" % (i + 1))
        open(p, "w").write(block)
        good, msgs = loader(p)
        if good:
            accepted.append(("docs/spec.md example %d" % (i + 1), p))
        else:
            bad("docs/spec.md example %d: the loader refuses it" % (i + 1), msgs)

problems = []
for name, extra in accepted:
    path = extra if isinstance(extra, str) else name
    doc = decode(path)
    if doc is None:
        problems.append("%s: toml-decode failed" % name)
        continue
    for e in errors(doc):
        problems.append("%s: %s: %s" % (name, where(e), e.message[:300]))
if problems:
    bad("(a) specs the loader accepts that the schema refuses", problems)
else:
    ok("(a) all %d specs the loader accepts (%d files, %d of docs/spec.md) are valid against the schema"
       % (len(accepted), *(sum(isinstance(x, str) == d for _, x in accepted) for d in (False, True))))

# ---- every key of the schema, in specs the loader accepts ----

def resolve_ptr(s, ptr):
    while isinstance(s, dict) and "$ref" in s:
        ptr = s["$ref"]
        s = defs_ref(s)
    return s, ptr


def ptr_shape(items):
    """like shape(), each schema with its place in the schema file"""
    info = {"props": {}, "addl": [], "items": []}

    def walk(s, ptr):
        s, ptr = resolve_ptr(s, ptr)
        if not isinstance(s, dict):
            return
        for k, v in s.get("properties", {}).items():
            info["props"].setdefault(k, []).append((v, "%s/properties/%s" % (ptr, k)))
        if isinstance(s.get("additionalProperties"), dict):
            info["addl"].append((s["additionalProperties"], ptr + "/additionalProperties"))
        if isinstance(s.get("items"), dict):
            info["items"].append((s["items"], ptr + "/items"))
        for c in ("allOf", "anyOf", "oneOf"):
            for i, sub in enumerate(s.get(c, [])):
                walk(sub, "%s/%s/%d" % (ptr, c, i))

    for s, ptr in items:
        walk(s, ptr)
    return info


def used_keys(doc, items, out):
    """the keys of the schema (places in its file) that doc uses"""
    info = ptr_shape(items)
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in info["props"]:
                out.update(ptr for _, ptr in info["props"][k])
                used_keys(v, info["props"][k], out)
            elif info["addl"]:
                used_keys(v, info["addl"], out)
    elif isinstance(doc, list) and info["items"]:
        for v in doc:
            used_keys(v, info["items"], out)


def all_keys(node, ptr, out):
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            out.update("%s/properties/%s" % (ptr, k) for k in node["properties"])
        for k, v in node.items():
            all_keys(v, "%s/%s" % (ptr, k), out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            all_keys(v, "%s/%d" % (ptr, i), out)


allowed, used, problems = set(), set(), []
all_keys(schema, "#", allowed)
for every in sorted(glob.glob(os.path.join(TMP, "every", "*.cleanrun.toml"))):
    name = os.path.basename(every)
    good, msgs = loader(every)
    doc = decode(every)
    problems += ["%s: the loader refuses it: %s" % (name, m) for m in msgs] if not good else []
    if doc is None:
        problems.append("%s: toml-decode failed" % name)
        continue
    problems += ["%s: the schema: %s: %s" % (name, where(e), e.message[:200]) for e in errors(doc)]
    used_keys(doc, [(schema, "#")], used)
problems += ["a key of the schema they do not use: " + u for u in sorted(allowed - used)]
if problems:
    bad("(a) the specs with every key of the schema (written by tests/e2e/schema.sh)", problems)
else:
    ok("(a) specs that use every one of the schema's %d keys are valid for the loader and against the schema" % len(allowed))

# relations between parts of a spec: the loader's, not a schema's
RELATIONAL = [r"the host must be the service itself"]


def loader_path(msg):
    """(the key a schema-level message is about, as a list; the unknown key
    or None), or None for a message that is not schema-level"""
    m = re.match(r'unknown key "([^"]*)" in (.+?)(?: \(did you mean|;|:|$)', msg)
    if m:
        key, w = m.group(1), m.group(2)
        base = [] if w == "the spec (top level)" else keypath(w.strip("[]") if w == "[test]" else w)
        return base + [key], key
    if "must be" in msg and not any(re.search(r, msg) for r in RELATIONAL):
        return keypath(msg.split()[0].rstrip(":").strip('"')), None
    return None


def refuses_at(errs, want, unknown):
    """an error of the schema about that key: for an unknown key, the
    table's additionalProperties naming it; else at the key or within it"""
    for e in all_errors(errs):
        g = list(e.absolute_path)
        if unknown is not None:
            if g == want[:-1] and e.validator == "additionalProperties" and repr(unknown) in e.message:
                return True
        elif g[:len(want)] == want:
            return True
    return False


def keypath(s):
    out = []
    for key, idx in re.findall(r"([^.\[\]]+)|\[(\d+)\]", s):
        out.append(int(idx) if idx else key)
    return out


checked, wrong, other, other_rejected = 0, [], [], 0
for f, msgs in refused:
    paths = [p for p in map(loader_path, msgs) if p is not None]
    doc = decode(f)
    if not paths:
        other.append(f)
        if doc is not None and errors(doc):
            other_rejected += 1
        continue
    checked += 1
    if doc is None:
        wrong.append("%s: toml-decode failed (%s)" % (f, msgs[0]))
        continue
    errs = errors(doc)
    for (want, unknown), msg in zip(paths, [m for m in msgs if loader_path(m) is not None]):
        if not refuses_at(errs, want, unknown):
            wrong.append("%s: the loader says \"%s\"; the schema %s" % (
                f, msg[:160], "accepts it" if not errs else
                "refuses it elsewhere: " + "; ".join("%s: %s" % (where(e), e.message[:120]) for e in errs)))
if wrong:
    bad("(b) specs refused by the loader for a schema-level error that the schema does not refuse at that key", wrong)
else:
    ok("(b) the schema refuses all %d specs the loader refuses for a schema-level error, each at the loader's key" % checked)
print("     (b) %d other refused specs (checks of meaning: references, cycles, regexes, consent, TOML syntax): "
      "the schema refuses %d of them too" % (len(other), other_rejected))


# ---- (c) drift: harness/spec-schema.c against the schema, the schema against docs/spec.md ----



def split_top(s):
    """split at commas outside brackets and string literals"""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(s):
        c = s[i]
        if c == '"':
            j = i + 1
            while s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            cur.append(s[i:j + 1])
            i = j + 1
            continue
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def braced(s, start):
    """the text inside the braces that open at or after start"""
    i = s.index("{", start)
    depth, j = 0, i
    while True:
        c = s[j]
        if c == '"':
            j += 1
            while s[j] != '"':
                j += 2 if s[j] == "\\" else 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return s[i + 1:j]
        j += 1


def parse_c(path):
    src = open(path).read()
    # comments out, string and character literals kept ("http://" is no comment)
    src = re.sub(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|/\*.*?\*/|//[^\n]*',
                 lambda m: m.group(0) if m.group(0)[0] in "\"'" else " ", src, flags=re.S)
    src = src.replace("\\\n", " ")
    macros = {}
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?!\()[ \t]*(.*)$", src, re.M):
        macros[m.group(1)] = m.group(2).strip()
    src = re.sub(r"^[ \t]*#.*$", " ", src, flags=re.M)

    def types(expr):
        out = set()
        for name in re.findall(r"[A-Za-z_]\w*", expr):
            name = macros.get(name, name)
            m = re.match(r"CLN_SCHEMA_(\w+)$", name)
            if m and m.group(1) in TYPE:
                out.add(TYPE[m.group(1)])
        return out

    def key(text):
        k = {"name": None, "types": set(), "items": set(), "table": None, "item_table": None}
        for field in split_top(text):
            m = re.match(r"\.(\w+)\s*=\s*(.*)$", field, re.S)
            if not m:
                continue
            f, v = m.group(1), m.group(2).strip()
            if f == "name":
                k["name"] = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', v))
            elif f in ("types", "items"):
                k[f] = types(v)
            elif f in ("table", "item_table"):
                k[f] = v.lstrip("&").strip()
        return k

    def entries(text):
        out = []
        for item in split_top(text):
            if item.startswith("{"):
                out.append(key(braced(item, 0)))
            elif item in macros:
                out.extend(entries(macros[item]))
        return out

    arrays, singles, tables = {}, {}, {}
    for m in re.finditer(r"struct\s+cln_schema_key\s+(\w+)\s*(\[\s*\])?\s*=", src):
        body = braced(src, m.end())
        if m.group(2):
            arrays[m.group(1)] = entries(body)
        else:
            singles[m.group(1)] = key(body)
    for m in re.finditer(r"struct\s+cln_schema_table\s+(\w+)\s*=", src):
        parts = split_top(braced(src, m.end()))
        t = {"keys": None, "value": None}
        if parts and parts[0].startswith("."):
            for p in parts:
                f, _, v = p.partition("=")
                f, v = f.strip().lstrip("."), v.strip()
                if f in ("keys", "value"):
                    t[f] = v.lstrip("&").strip()
        else:
            t["keys"] = parts[0].strip() if parts else None
            t["value"] = parts[2].lstrip("&").strip() if len(parts) > 2 else None
        for f in ("keys", "value"):
            if t[f] in ("NULL", "0", ""):
                t[f] = None
        tables[m.group(1)] = t
    return arrays, singles, tables


def drift():
    arrays, singles, tables = parse_c("harness/spec-schema.c")
    out = []

    def ts(x):
        return "|".join(sorted(x)) or "(none)"

    def cmp_table(tname, info, path):
        t = tables.get(tname)
        if t is None:
            out.append("%s: spec-schema.c table %s not found" % (path, tname))
            return
        ckeys = {k["name"]: k for k in arrays.get(t["keys"], [])} if t["keys"] else {}
        for k in sorted(set(ckeys) - set(info["props"])):
            out.append("%s.%s: in harness/spec-schema.c, not in the schema" % (path, k))
        for k in sorted(set(info["props"]) - set(ckeys)):
            out.append("%s.%s: in the schema, not in harness/spec-schema.c" % (path, k))
        for k in sorted(set(ckeys) & set(info["props"])):
            cmp_key(ckeys[k], info["props"][k], "%s.%s" % (path, k) if path else k)
        if t["value"]:
            if not info["addl"]:
                out.append("%s.*: spec-schema.c takes any key here, the schema does not" % path)
            else:
                cmp_key(singles[t["value"]], info["addl"], path + ".*")
        elif info["addl"]:
            out.append("%s.*: the schema takes any key here, spec-schema.c does not" % path)

    def cmp_key(k, schemas, path):
        info = shape(schemas)
        if k["types"] != info["types"]:
            out.append("%s: types differ: spec-schema.c %s, the schema %s" % (path, ts(k["types"]), ts(info["types"])))
        if "table" in k["types"] and k["table"]:
            cmp_table(k["table"], info, path)
        if "array" in k["types"] and (k["items"] or k["item_table"]):
            items = shape(info["items"]) if info["items"] else {"types": set(ALL), "props": {}, "addl": [], "items": []}
            if k["items"] and k["items"] != items["types"]:
                out.append("%s[]: item types differ: spec-schema.c %s, the schema %s" % (path, ts(k["items"]), ts(items["types"])))
            if k["item_table"]:
                cmp_table(k["item_table"], items, path + "[]")

    cmp_table("cln_spec_schema", shape([schema]), "")
    return out


problems = drift()
if problems:
    bad("(c) drift between harness/spec-schema.c and the schema (%d)" % len(problems), problems)
else:
    ok("(c) every key of harness/spec-schema.c is in the schema at the same place with the same types, and no other")


def norm(s):
    return " ".join(s.split())


ndocs = norm(docs)
missing, nkeys = [], 0


def descs(node, ptr):
    global nkeys
    if isinstance(node, dict):
        for k, v in node.get("properties", {}).items() if isinstance(node.get("properties"), dict) else []:
            nkeys += 1
            d = v.get("description") if isinstance(v, dict) else None
            if not d:
                missing.append("%s/properties/%s: no description" % (ptr, k))
            elif norm(d) not in ndocs:
                missing.append("%s/properties/%s: description not in docs/spec.md: \"%s\"" % (ptr, k, d))
        for k, v in node.items():
            descs(v, "%s/%s" % (ptr, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            descs(v, "%s/%d" % (ptr, i))


descs(schema, "#")
if missing:
    bad("(c) keys of the schema whose description is not found in docs/spec.md (%d of %d)" % (len(missing), nkeys), missing)
else:
    ok("(c) all %d keys of the schema have a description found in docs/spec.md" % nkeys)

# ---- (d) cleanrun init ----
d = os.path.join(TMP, "init")
os.mkdir(d)
p = subprocess.run([BIN, "init", "schema-probe"], cwd=d, capture_output=True, text=True)
out = p.stdout + p.stderr
f = os.path.join(d, "schema-probe.cleanrun.toml")
if p.returncode != 0 and "unknown command" in out:
    print("skip (d) cleanrun init: not a command of this cleanrun")
elif p.returncode != 0 or not os.path.isfile(f):
    bad("(d) cleanrun init schema-probe: exit %d, no schema-probe.cleanrun.toml" % p.returncode, out.splitlines()[:10])
else:
    good, msgs = loader(f)
    doc = decode(f)
    errs = errors(doc) if doc is not None else []
    if good and doc is not None and not errs:
        ok("(d) what cleanrun init writes is valid for the loader and against the schema")
    else:
        bad("(d) what cleanrun init writes: loader %s, schema errors:" % ("accepts it" if good else "refuses it"),
            msgs + ["%s: %s" % (where(e), e.message[:200]) for e in errs] + (["toml-decode failed"] if doc is None else []))

print("schema: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY

"$py" "$tmp/check.py" "$bin" "$schema" "$tmp"
