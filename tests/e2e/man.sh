#!/usr/bin/env bash
# Man pages and shell completions, checked against the binary and the docs so
# that they cannot drift:
#   - every command of `cleanrun --help`, and every option and action its
#     `cleanrun CMD --help` prints, is documented in its own section of
#     docs/man/cleanrun.1 and in docs/cli.md; cleanrun.1 documents no command
#     or option the binary lacks; its synopsis names every command;
#   - every key of docs/spec.md's key tables is in the section of the same
#     name of docs/man/cleanrun.toml.5;
#   - both pages render with groff -ww and man --warnings without a warning,
#     within 80 columns, with the binary's version;
#   - the bash, zsh and fish completions (completions/) offer every command,
#     every option of every command, the values of --runtime and --format,
#     and spec paths (*.cleanrun.toml files and directories), each asked the
#     way a shell asks it: bash's function with COMP_WORDS/COMP_CWORD, zsh's
#     compinit in a pseudo-terminal (zpty), fish's `complete -C`;
#   - `make install DESTDIR=...` puts the binary, both pages and the three
#     completions where the shells and man(1) look, and `make uninstall`
#     removes them.
# Usage: tests/e2e/man.sh CLEANRUN_BINARY
# Needs groff, man-db, zsh and fish (`make deps`).
set -uo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")/../.."
repo=$PWD
man1=docs/man/cleanrun.1 man5=docs/man/cleanrun.toml.5
bashc=completions/cleanrun.bash zshc=completions/_cleanrun fishc=completions/cleanrun.fish
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

for tool in groff man zsh fish python3; do
    command -v $tool >/dev/null 2>&1 || {
        echo "man.sh: $tool is missing: run 'make deps' (groff-base, man-db, zsh, fish)" >&2
        exit 1
    }
done
[ -x "$bin" ] || {
    echo "man.sh: no binary $bin" >&2
    exit 1
}

# ---- what the binary says: its commands, and each command's options ----

mkdir -p "$tmp/help" "$tmp/opts"
"$bin" --help >"$tmp/help/_top" 2>&1 </dev/null || bad "cleanrun --help: exit $?"
mapfile -t commands < <(sed -n 's/^  \([a-z][a-z0-9-]*\)  .*/\1/p' "$tmp/help/_top")
if [ ${#commands[@]} -lt 5 ]; then
    bad "cleanrun --help lists ${#commands[@]} commands"
    sed 's/^/    | /' "$tmp/help/_top"
fi
for c in "${commands[@]}"; do
    "$bin" "$c" --help >"$tmp/help/$c" 2>&1 </dev/null || bad "cleanrun $c --help: exit $?"
done

# (a) cleanrun.1 and docs/cli.md against --help, (b) cleanrun.toml.5 against
# docs/spec.md.  Writes $tmp/opts/CMD: CMD's options, one a line.
python3 - "$tmp" "$man1" "$man5" docs/cli.md docs/spec.md "${commands[@]}" >"$tmp/py.out" <<'PY'
import os, re, sys

tmp, man1, man5, clidoc, specdoc = sys.argv[1:6]
commands = sys.argv[6:]
OPT = re.compile(r'(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])')
fails, counts = [], {'commands': 0, 'options': 0, 'actions': 0, 'keys': 0}


def bad(msg):
    fails.append(msg)


def parse_help(text, cmd):
    """The options (long and short) and actions a command's --help shows:
    on its usage lines, and on lines that start with an option (before the
    description, which starts after two spaces)."""
    opts, subs = [], []
    usage = False
    for line in text.splitlines():
        if line.startswith('usage:'):
            usage = True
        elif not (usage and re.match(r'\s+cleanrun\b', line)):
            usage = False
        if usage:
            opts += OPT.findall(line)
            m = re.match(r'(?:usage:)?\s*cleanrun\s+' + re.escape(cmd) + r'\s+([a-z][a-z0-9-]*)\b', line)
            if cmd and m:
                subs.append(m.group(1))
            continue
        m = re.match(r'\s+(-.*)', line)
        if m:
            opts += OPT.findall(re.split(r'\s{2,}', m.group(1).strip())[0])
    dedup = lambda xs: list(dict.fromkeys(xs))
    return dedup(opts), dedup(subs)


def roff(line):
    return (line.replace('\\-', '-').replace('\\&', '').replace('\\%', '')
            .replace('\\|', '').replace('\\e', '\\'))


def nofont(s):
    return re.sub(r'\\f(\[[^]]*\]|\(..|.)', '', s)


def sections(path):
    """[(title, lines)] of a man page: each .SH and .SS, up to the next."""
    out = [('', [])]
    for line in open(path, encoding='utf-8'):
        line = line.rstrip('\n')
        if line.startswith('.\\"'):
            continue
        line = roff(line)
        m = re.match(r'\.(SH|SS)\s+(.*)', line)
        if m:
            title = nofont(m.group(2)).strip()
            if len(title) > 1 and title[0] == title[-1] == '"':
                title = title[1:-1]
            out.append((title, []))
        else:
            out[-1][1].append(line)
    return out


def bold(lines, word):
    """WORD in bold (\\fBWORD, or a .B/.BR/.BI line starting with it)."""
    w = re.escape(word) + r'(?![\w-])'
    pat = re.compile(r'\\fB' + w + r'|^\.B[IR]?\s+"?' + w)
    return any(pat.search(l) for l in lines)


def tp_tags(lines):
    """The lines that are .TP tags (the line after each .TP)."""
    return [lines[i + 1] for i, l in enumerate(lines[:-1]) if l.strip() == '.TP']


def documented(lines, word):
    """WORD is the tag (or one of the tags) of an entry of the section: in
    bold on the line after a .TP, not merely mentioned in a paragraph."""
    return bold(tp_tags(lines), word)


# ---- (a) cleanrun.1 and docs/cli.md: every command, option, action ----
man = sections(man1)
cli = open(clidoc, encoding='utf-8').read()
helps = {'': open(os.path.join(tmp, 'help', '_top')).read()}
for c in commands:
    helps[c] = open(os.path.join(tmp, 'help', c)).read()

synopsis = next((l for t, l in man if t == 'SYNOPSIS'), [])
synopsis_text = nofont('\n'.join(synopsis))
for cmd, text in helps.items():
    opts, subs = parse_help(text, cmd)
    with open(os.path.join(tmp, 'opts', cmd or '_top'), 'w') as f:
        f.write(''.join(o + '\n' for o in opts))
    name = 'cleanrun ' + cmd if cmd else 'cleanrun'
    if cmd:
        counts['commands'] += 1
        if not re.search(r'^#+ .*`cleanrun ' + re.escape(cmd) + r'[ `]', cli, re.M):
            bad(f'{clidoc}: no section for command "{cmd}" (a heading "`cleanrun {cmd}`")')
        if not re.search(r'(^|\n)cleanrun ' + re.escape(cmd) + r'(\s|$)', synopsis_text):
            bad(f'{man1}: SYNOPSIS does not show "cleanrun {cmd}"')
        found = [(t, l) for t, l in man if re.match(r'cleanrun ' + re.escape(cmd) + r'(\s|$)', t)]
        if not found:
            bad(f'{man1}: no section for command "{cmd}" (a .SS "cleanrun {cmd} ...")')
            continue
        title, lines = found[0]
    else:
        title, lines = next(((t, l) for t, l in man if t == 'OPTIONS'), ('OPTIONS', []))
    for o in opts:
        counts['options'] += 1
        if not documented(lines, o):
            bad(f'{man1}: {name} {o} is not documented in section "{title}" (a .TP entry)')
        if not re.search(r'(?<![\w-])' + re.escape(o) + r'(?![\w-])', cli):
            bad(f'{clidoc}: {name} {o} is not documented')
    for s in subs:
        counts['actions'] += 1
        if f'{name} {s}' not in nofont('\n'.join([title] + lines)):
            bad(f'{man1}: "{name} {s}" is not in section "{title}"')
        if f'{name} {s}' not in cli:
            bad(f'{clidoc}: "{name} {s}" is not documented')
    # the other way: what the page documents, the binary has
    longs = {o for o in opts if o.startswith('--')}
    for tag in tp_tags(lines):
        for o in re.findall(r'\\fB(--[a-z][a-z0-9-]*)', tag) + re.findall(r'^\.B[IR]?\s+"?(--[a-z][a-z0-9-]*)', tag):
            if o not in longs:
                bad(f'{man1}: section "{title}" documents {o}, which "{name} --help" does not show')
for t, l in man:
    m = re.match(r'cleanrun ([a-z][a-z0-9-]*)', t)
    if m and m.group(1) not in commands and m.group(1) != 'help':
        bad(f'{man1}: section "{t}" documents a command that "cleanrun --help" does not list')

# ---- (b) cleanrun.toml.5: every key of docs/spec.md's key tables ----
toml5 = sections(man5)
heading, in_keys, keys = None, False, []
lines = open(specdoc, encoding='utf-8').read().splitlines()
for i, line in enumerate(lines):
    m = re.match(r'#{2,}\s+(.*)', line)
    if m:
        heading, in_keys = m.group(1).replace('`', '').strip(), False
        continue
    if not line.startswith('|') or re.match(r'\|\s*-', line):
        continue
    cells = [c.strip() for c in line.strip().strip('|').split('|')]
    if i + 1 < len(lines) and re.match(r'\|\s*:?-', lines[i + 1]):  # a header row
        in_keys = cells[0] == 'key'
        continue
    if in_keys:
        first = re.sub(r'\([^)]*\)', '', cells[0])  # "(or a string for `sh -c`)"
        for item in re.findall(r'`([^`]*)`', first):
            k = re.match(r'[A-Za-z_][A-Za-z0-9_]*', item)
            if k:
                keys.append((heading, k.group(0)))
if len(keys) < 40:
    bad(f'{specdoc}: only {len(keys)} keys found in its key tables (the parser is broken?)')
for heading, key in keys:
    counts['keys'] += 1
    found = [l for t, l in toml5 if t.lower() == heading.lower()]
    if not found:
        bad(f'{man5}: no section "{heading}" (docs/spec.md has one, with the key {key})')
    elif not documented(found[0], key):
        bad(f'{man5}: key "{key}" of docs/spec.md\'s "{heading}" is not documented in its section (a .TP entry)')

for f in fails:
    print('FAIL ' + f)
print('ok   {} documents {commands} commands, {options} options and {actions} actions of --help; '
      'so does {}'.format(man1, clidoc, **counts) if not any(
          f.startswith((man1, clidoc)) for f in fails) else '')
print('ok   {} documents all {keys} keys of {}\'s key tables, each in its section'.format(
    man5, specdoc, **counts) if not any(f.startswith((man5, specdoc)) for f in fails) else '')
PY
[ $? = 0 ] || bad "the documentation checks (python) failed to run"
sed '/^$/d' "$tmp/py.out"
pass=$((pass + $(grep -c '^ok ' "$tmp/py.out")))
fail=$((fail + $(grep -c '^FAIL ' "$tmp/py.out")))

mapfile -t run_opts <"$tmp/opts/run"

# ---- (c) rendering: no warning, 80 columns, the binary's version ----

version=$("$bin" --version | awk '{print $2}')
for page in "$man1" "$man5"; do
    groff -ww -man -Tutf8 "$page" >"$tmp/render" 2>"$tmp/warn"
    rc=$?
    LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" \
        >/dev/null 2>>"$tmp/warn"
    if [ $rc = 0 ] && [ ! -s "$tmp/warn" ] && [ -s "$tmp/render" ]; then
        ok "$page renders with groff -ww and man --warnings, no warning"
    else
        bad "$page: groff exit $rc, warnings:"
        sed 's/^/    | /' "$tmp/warn"
    fi
    MANWIDTH=80 man -l "$page" >"$tmp/text" 2>&1
    wide=$(LC_ALL=C.UTF-8 awk 'length($0) > 80 { n++ } END { print n + 0 }' "$tmp/text")
    if [ "$wide" = 0 ] && grep -q '^NAME' "$tmp/text"; then
        ok "$page: man -l at 80 columns, no line wider"
    else
        bad "$page: $wide lines wider than 80 columns:"
        LC_ALL=C.UTF-8 awk 'length($0) > 80' "$tmp/text" | sed 's/^/    | /'
    fi
    if grep -q "^\.TH [^ ]* [15] [^ ]* \"cleanrun $version\"" "$page"; then
        ok "$page: .TH says cleanrun $version (the binary's --version)"
    else
        bad "$page: .TH does not say \"cleanrun $version\": $(grep '^\.TH' "$page")"
    fi
done

# ---- (d) completions ----

# has NAME GOT WANT...: every WANT is a line of GOT
has() {
    local name=$1 got=$2 missing=() w
    shift 2
    for w; do grep -qxF -- "$w" <<<"$got" || missing+=("$w"); done
    if [ ${#missing[@]} = 0 ]; then
        return 0
    fi
    bad "$name: missing ${missing[*]}; got: $(tr '\n' ' ' <<<"$got")"
    return 1
}
# exactly NAME GOT WANT...: GOT is the set WANT (order and duplicates aside)
exactly() {
    local name=$1 got=$2
    shift 2
    local a b
    a=$(sort -u <<<"$got" | sed '/^$/d')
    b=$(printf '%s\n' "$@" | sort -u)
    [ "$a" = "$b" ] && return 0
    bad "$name: got [$(tr '\n' ' ' <<<"$a")], want [$*]"
    return 1
}

# A directory of spec paths to complete: specs and directories are offered,
# other files are not.
specdir=$tmp/specdir
mkdir -p "$specdir/sub" "$specdir/more.d"
touch "$specdir/a.cleanrun.toml" "$specdir/b.cleanrun.toml" "$specdir/plain.toml" \
    "$specdir/notes.txt" "$specdir/sub/c.cleanrun.toml" "$specdir/sub/d.txt"
spec_want=(a.cleanrun.toml b.cleanrun.toml sub more.d)

# static: every command and every long option of run is named in each file
# (as --name, or fish's -l name)
for f in "$bashc" "$zshc" "$fishc"; do
    missing=()
    for w in "${commands[@]}" "${run_opts[@]}"; do
        [[ $w == -[a-zA-Z] ]] && continue
        w=${w#--}
        grep -qE -- "(^|[^a-z0-9-])(--)?$w([^a-z0-9-]|$)" "$f" || missing+=("$w")
    done
    if [ ${#missing[@]} = 0 ]; then
        ok "$f names every command and every option of run"
    else
        bad "$f does not name: ${missing[*]}"
    fi
done

# bash: the completion function, called as bash calls it
bcomp() { # DIR LINE: what bash completes LINE<TAB> to (COMPREPLY), one a line
    (
        cd "$1" || exit
        # shellcheck source=/dev/null
        source "$repo/$bashc" || exit
        line=$2
        read -ra COMP_WORDS <<<"$line"
        [[ $line == *' ' ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE=$line COMP_POINT=${#line}
        COMPREPLY=()
        fn=$(complete -p cleanrun | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
        [ -n "$fn" ] || exit
        "$fn" cleanrun "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        [ ${#COMPREPLY[@]} = 0 ] || printf '%s\n' "${COMPREPLY[@]%/}"
    ) 2>&1
}
if bash -n "$bashc" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
    ok "$bashc: bash -n"
else
    bad "$bashc: bash -n: $(cat "$tmp/err")"
fi
b=0
has "bash: cleanrun <TAB>" "$(bcomp . 'cleanrun ')" "${commands[@]}" || b=1
exactly "bash: cleanrun ru<TAB>" "$(bcomp . 'cleanrun ru')" run || b=1
has "bash: cleanrun run --ru<TAB>" "$(bcomp . 'cleanrun run --ru')" --runtime || b=1
exactly "bash: cleanrun run --runtime <TAB>" "$(bcomp . 'cleanrun run --runtime ')" docker podman apple native || b=1
exactly "bash: cleanrun run --format <TAB>" "$(bcomp . 'cleanrun run --format ')" human json tap || b=1
exactly "bash: cleanrun ps --format <TAB>" "$(bcomp . 'cleanrun ps --format ')" table json || b=1
exactly "bash: cleanrun run --artifacts-when <TAB>" "$(bcomp . 'cleanrun run --artifacts-when ')" on-failure always || b=1
exactly "bash: cleanrun run --report <TAB>" "$(bcomp . 'cleanrun run --report ')" json= junit= tap= || b=1
for c in run validate list; do
    exactly "bash: cleanrun $c <TAB> (spec paths)" "$(bcomp "$specdir" "cleanrun $c ")" "${spec_want[@]}" || b=1
done
exactly "bash: cleanrun run sub/<TAB>" "$(bcomp "$specdir" 'cleanrun run sub/')" sub/c.cleanrun.toml || b=1
for c in "${commands[@]}"; do
    mapfile -t o <"$tmp/opts/$c"
    [ ${#o[@]} = 0 ] || has "bash: cleanrun $c -<TAB>" "$(bcomp . "cleanrun $c -")" "${o[@]}" || b=1
done
[ $b = 0 ] && ok "bash: commands, every command's options, --runtime/--format values, spec paths"

# zsh: compinit, the completion in $fpath, <TAB> typed in a pseudo-terminal
if zsh -n "$zshc" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
    ok "$zshc: zsh -n"
else
    bad "$zshc: zsh -n: $(cat "$tmp/err")"
fi
cat >"$tmp/capture.zsh" <<'ZSH'
# capture.zsh COMPDIR LINE...: for each LINE, a line "<<LINE>> LINE" and then
# the candidates zsh's completion system offers for LINE<TAB>, one a line
zmodload zsh/zpty || exit 2
compdir=$1
shift
setup=$(mktemp) || exit 2
cat >$setup <<SETUP
PS1= PROMPT= RPROMPT=
unsetopt zle_bracketed_paste 2>/dev/null
fpath=($compdir \$fpath)
autoload -Uz compinit && compinit -u -D
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
compadd() {
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "\$@"; return; fi
  local -a __hits; builtin compadd -A __hits "\$@"
  local h; for h in \$__hits; do print -r -- "<<CA""ND>>\$IPREFIX\$h"; done
  builtin compadd "\$@"
}
_cap_complete() { zle complete-word; print -r -- "<<END""-OF-CANDIDATES>>" }
zle -N _cap_complete
bindkey '^I' _cap_complete
print -r -- "<<REA""DY>>"
SETUP
zpty z zsh -f -i
zpty -w z "source $setup"
zpty -r z out '*<<READY>>*' || exit 3
for line; do
  zpty -w -n z "$line"$'\t'
  zpty -r z out '*<<END-OF-CANDIDATES>>*' || exit 4
  print -r -- "<<LINE>> $line"
  print -rl -- ${${(M)${(f)out//$'\r'/}:#*<<CAND>>*}#*<<CAND>>}
  zpty -w -n z $'\C-e\C-u'
done
zpty -d z
rm -f $setup
ZSH
mkdir -p "$tmp/zfunc"
cp "$zshc" "$tmp/zfunc/_cleanrun"
zq=('cleanrun ' 'cleanrun ru' 'cleanrun run --ru' 'cleanrun run --runtime ' 'cleanrun run --format '
    'cleanrun ps --format ' 'cleanrun run --artifacts-when ' 'cleanrun run ' 'cleanrun validate '
    'cleanrun list ')
for c in "${commands[@]}"; do zq+=("cleanrun $c -"); done
(cd "$specdir" && timeout 120 zsh -f "$tmp/capture.zsh" "$tmp/zfunc" "${zq[@]}") >"$tmp/zsh.out" 2>&1
rc=$?
zget() { awk -v q="<<LINE>> $1" '$0 == q { on = 1; next } /^<<LINE>> / { on = 0 } on' "$tmp/zsh.out"; }
z=0
if [ $rc != 0 ]; then
    bad "zsh: the capture in a pseudo-terminal failed (exit $rc)"
    sed 's/^/    | /' "$tmp/zsh.out" | head -20
    z=1
else
    has "zsh: cleanrun <TAB>" "$(zget 'cleanrun ')" "${commands[@]}" || z=1
    exactly "zsh: cleanrun ru<TAB>" "$(zget 'cleanrun ru')" run || z=1
    has "zsh: cleanrun run --ru<TAB>" "$(zget 'cleanrun run --ru')" --runtime || z=1
    exactly "zsh: cleanrun run --runtime <TAB>" "$(zget 'cleanrun run --runtime ')" docker podman apple native || z=1
    exactly "zsh: cleanrun run --format <TAB>" "$(zget 'cleanrun run --format ')" human json tap || z=1
    exactly "zsh: cleanrun ps --format <TAB>" "$(zget 'cleanrun ps --format ')" table json || z=1
    exactly "zsh: cleanrun run --artifacts-when <TAB>" "$(zget 'cleanrun run --artifacts-when ')" on-failure always || z=1
    for c in run validate list; do
        exactly "zsh: cleanrun $c <TAB> (spec paths)" "$(zget "cleanrun $c ")" "${spec_want[@]}" || z=1
    done
    for c in "${commands[@]}"; do
        mapfile -t o <"$tmp/opts/$c"
        [ ${#o[@]} = 0 ] || has "zsh: cleanrun $c -<TAB>" "$(zget "cleanrun $c -")" "${o[@]}" || z=1
    done
fi
[ $z = 0 ] && ok "zsh (compinit, zpty): commands, every command's options, --runtime/--format values, spec paths"

# fish: complete -C, as fish asks it
if fish --no-execute "$fishc" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
    ok "$fishc: fish --no-execute"
else
    bad "$fishc: fish --no-execute: $(cat "$tmp/err")"
fi
# autoloaded by name from a directory of its own, as from vendor_completions.d
# (and no other cleanrun.fish, such as an installed one); fish autoloads the
# completions of a command found in $PATH only
mkdir -p "$tmp/fishc" "$tmp/path"
cp "$fishc" "$tmp/fishc/cleanrun.fish"
ln -s "$bin" "$tmp/path/cleanrun"
fcomp() { # DIR LINE: what fish completes LINE to, one a line
    (cd "$1" && PATH=$tmp/path:$PATH fish --no-config -c \
        'set -g fish_complete_path $argv[1]; complete -C"$argv[2]"' "$tmp/fishc" "$2" 2>&1 |
        cut -f1 | sed 's:/$::')
}
f=0
has "fish: cleanrun <TAB>" "$(fcomp . 'cleanrun ')" "${commands[@]}" || f=1
exactly "fish: cleanrun ru<TAB>" "$(fcomp . 'cleanrun ru')" run || f=1
has "fish: cleanrun run --ru<TAB>" "$(fcomp . 'cleanrun run --ru')" --runtime || f=1
exactly "fish: cleanrun run --runtime <TAB>" "$(fcomp . 'cleanrun run --runtime ')" docker podman apple native || f=1
exactly "fish: cleanrun run --format <TAB>" "$(fcomp . 'cleanrun run --format ')" human json tap || f=1
exactly "fish: cleanrun ps --format <TAB>" "$(fcomp . 'cleanrun ps --format ')" table json || f=1
exactly "fish: cleanrun run --artifacts-when <TAB>" "$(fcomp . 'cleanrun run --artifacts-when ')" on-failure always || f=1
for c in run validate list; do
    exactly "fish: cleanrun $c <TAB> (spec paths)" "$(fcomp "$specdir" "cleanrun $c ")" "${spec_want[@]}" || f=1
done
for c in "${commands[@]}"; do
    mapfile -t o <"$tmp/opts/$c"
    [ ${#o[@]} = 0 ] || has "fish: cleanrun $c -<TAB>" "$(fcomp . "cleanrun $c -")" "${o[@]}" || f=1
done
[ $f = 0 ] && ok "fish (complete -C): commands, every command's options, --runtime/--format values, spec paths"

# ---- make install / uninstall ----

# The binary given is installed as it is (-o: never rebuilt here).
rel=$(dirname "$bin")
dest=$tmp/dest
installed=(
    "usr/bin/cleanrun:$bin"
    "usr/share/man/man1/cleanrun.1:$man1"
    "usr/share/man/man5/cleanrun.toml.5:$man5"
    "usr/share/bash-completion/completions/cleanrun:$bashc"
    "usr/share/zsh/site-functions/_cleanrun:$zshc"
    "usr/share/fish/vendor_completions.d/cleanrun.fish:$fishc"
)
if make --no-print-directory -s -o "$rel/cleanrun" install DESTDIR="$dest" PREFIX=/usr REL="$rel" \
    >"$tmp/make" 2>&1; then
    i=0
    for e in "${installed[@]}"; do
        if ! cmp -s "$dest/${e%%:*}" "${e#*:}"; then
            bad "make install: /${e%%:*} is not ${e#*:}"
            i=1
        fi
    done
    [ $i = 0 ] && ok "make install DESTDIR=... PREFIX=/usr: the binary, cleanrun.1, cleanrun.toml.5, the bash, zsh and fish completions"
    m1=$(MANWIDTH=80 man -M "$dest/usr/share/man" 1 cleanrun 2>&1)
    m5=$(MANWIDTH=80 man -M "$dest/usr/share/man" 5 cleanrun.toml 2>&1)
    ml=$(MANWIDTH=80 man -l "$dest/usr/share/man/man5/cleanrun.toml.5" 2>&1)
    if grep -q '^ *cleanrun run \[OPTIONS\]' <<<"$m1" && grep -q '^ *\[\[steps\]\]' <<<"$m5" &&
        grep -q '^CLEANRUN.TOML(5)' <<<"$ml"; then
        ok "man finds the installed pages by name in their man1 and man5 (man -M), and man -l reads them"
    else
        bad "the installed pages: man -M ... 1 cleanrun / 5 cleanrun.toml / man -l:"
        head -5 <<<"$m1$m5$ml" | sed 's/^/    | /'
    fi
    if bash -c 'source "$1" && complete -p cleanrun' _ "$dest/usr/share/bash-completion/completions/cleanrun" \
        >/dev/null 2>&1; then
        ok "the installed bash completion registers itself for cleanrun"
    else
        bad "the installed bash completion does not register a completion for cleanrun"
    fi
    make --no-print-directory -s uninstall DESTDIR="$dest" PREFIX=/usr REL="$rel" >>"$tmp/make" 2>&1
    left=$(cd "$dest" && find . -type f | sed 's:^\./::')
    if [ -z "$left" ]; then
        ok "make uninstall removes every file make install put there"
    else
        bad "make uninstall left: $(tr '\n' ' ' <<<"$left")"
    fi
else
    bad "make install DESTDIR=$dest failed:"
    sed 's/^/    | /' "$tmp/make" | tail -20
fi

echo "man pages and completions: $pass passed, $fail failed"
[ "$fail" = 0 ]
