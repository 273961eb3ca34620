# bash completion for cleanrun(1)                          -*- shell-script -*-
#
# Installed as share/bash-completion/completions/cleanrun (bash-completion
# loads it on the first <TAB> after `cleanrun`), or source it.  Self-contained:
# it needs none of bash-completion's helpers.  Kept in step with the binary's
# --help by tests/e2e/man.sh.

# _cleanrun_specs CUR: spec paths, *.cleanrun.toml files and directories
_cleanrun_specs()
{
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY+=($(compgen -d -- "$1") $(compgen -f -X '!*.cleanrun.toml' -- "$1"))
}

# _cleanrun_files CUR [GLOB]: files (those matching GLOB) and directories
_cleanrun_files()
{
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    if [[ -n ${2-} ]]; then
        COMPREPLY+=($(compgen -d -- "$1") $(compgen -f -X "!$2" -- "$1"))
    else
        COMPREPLY+=($(compgen -f -- "$1"))
    fi
}

_cleanrun_dirs()
{
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY+=($(compgen -d -- "$1"))
}

_cleanrun()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev= cword=$COMP_CWORD
    local commands="run validate list ps self-test image gc init import help toml-decode"
    local runtimes="docker podman apple native"
    COMPREPLY=()
    ((cword > 0)) && prev=${COMP_WORDS[cword - 1]}

    # --opt=value: COMP_WORDBREAKS splits it into "--opt" "=" "value"
    if [[ $cur == = ]]; then
        cur=
    elif [[ $prev == = ]] && ((cword > 1)); then
        prev=${COMP_WORDS[cword - 2]}
    fi
    # --report FORMAT=FILE: the FILE part
    if [[ ${COMP_WORDS[cword - 1]} == = && ${COMP_WORDS[cword - 3]-} == --report ]] ||
        [[ ${COMP_WORDS[cword]} == = && ${COMP_WORDS[cword - 2]-} == --report ]]; then
        _cleanrun_files "$cur"
        return
    fi

    # the command: the first word after cleanrun that is not an option
    local cmd= cmd_i=0 sub= i
    for ((i = 1; i < cword; i++)); do
        case ${COMP_WORDS[i]} in
        -* | =) ;;
        *)
            if [[ -z $cmd ]]; then
                cmd=${COMP_WORDS[i]} cmd_i=$i
            elif [[ -z $sub && ($cmd == image || $cmd == import) ]]; then
                case ${COMP_WORDS[i - 1]} in --name | --runtime | --host | -o | --output | --default-image | =) ;;
                *) sub=${COMP_WORDS[i]} ;;
                esac
            fi
            ;;
        esac
    done

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--version --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    # an option's value
    case $prev in
    --runtime)
        COMPREPLY=($(compgen -W "$runtimes" -- "$cur"))
        return
        ;;
    --host)
        COMPREPLY=($(compgen -W "unix:///var/run/docker.sock unix:///run/podman/podman.sock native:///var/lib/cleanrun" -- "$cur"))
        compopt -o nospace 2>/dev/null
        return
        ;;
    --format)
        if [[ $cmd == ps ]]; then
            COMPREPLY=($(compgen -W "table json" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "human json tap" -- "$cur"))
        fi
        return
        ;;
    --report)
        COMPREPLY=($(compgen -W "json= junit= tap=" -- "$cur"))
        compopt -o nospace 2>/dev/null
        return
        ;;
    --artifacts-when)
        COMPREPLY=($(compgen -W "on-failure always" -- "$cur"))
        return
        ;;
    --state)
        COMPREPLY=($(compgen -W "created running paused restarting removing exited dead" -- "$cur"))
        return
        ;;
    --artifacts | --dir)
        _cleanrun_dirs "$cur"
        return
        ;;
    -o | --output)
        _cleanrun_files "$cur" '*.cleanrun.toml'
        return
        ;;
    -j | --jobs | --filter | --tag | --shard | --timeout | --image | --test | --name | --run | --default-image | --artifacts-max)
        return # a value of the user's own
        ;;
    esac

    local privileges="--allow-privileged --allow-host-network --allow-host-pid --allow-host-mounts
        --allow-engine-socket --allow-outbound --allow-host-files"
    local selection="--filter --tag --shard"
    local engine="--runtime --host"
    local opts=
    case $cmd in
    run)
        opts="$privileges $selection $engine -j --jobs --fail-fast --timeout --no-gc
            --keep-on-failure --no-lockout --watch -v --verbose -q --quiet --no-color
            --format --report --artifacts --artifacts-when --artifacts-max --help"
        ;;
    validate | list) opts="$privileges $selection --help" ;;
    ps) opts="--image --test --state --name --run --format $engine --help" ;;
    gc) opts="--run $engine --help" ;;
    self-test) opts="$engine --dir --help" ;;
    image) opts="--name --quiet $engine --help" ;;
    init) opts="-f --force --image --help" ;;
    import) opts="-o --output -f --force --default-image --help" ;;
    toml-decode) opts="--help" ;;
    help)
        ((cword == cmd_i + 1)) && COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        return
        ;;
    *) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi

    # operands
    case $cmd in
    run | validate | list) _cleanrun_specs "$cur" ;;
    image)
        case $sub in
        '') COMPREPLY=($(compgen -W "import ls rm prune" -- "$cur")) ;;
        import) _cleanrun_files "$cur" ;;
        esac
        ;;
    import)
        case $sub in
        '') COMPREPLY=($(compgen -W "clnrm" -- "$cur")) ;;
        *) _cleanrun_files "$cur" '*.toml' ;;
        esac
        ;;
    esac
}

complete -F _cleanrun cleanrun
