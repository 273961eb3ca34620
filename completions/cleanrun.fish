# fish completion for cleanrun(1)
#
# Installed as share/fish/vendor_completions.d/cleanrun.fish.  Kept in step
# with the binary's --help by tests/e2e/man.sh.

# The command: the first word after cleanrun that is not an option.
function __cleanrun_command
    for t in (commandline -opc)[2..-1]
        switch $t
            case '-*'
            case '*'
                echo $t
                return 0
        end
    end
    return 1
end

# __cleanrun_using CMD...: the command is one of these
function __cleanrun_using
    set -l cmd (__cleanrun_command); or return 1
    contains -- $cmd $argv
end

# the words after the command that are neither options nor their values
function __cleanrun_operands
    set -l seen 0
    set -l skip 0
    for t in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $t
            case -j -o --jobs --filter --tag --shard --timeout --runtime --host --format --report \
                --artifacts --artifacts-when --artifacts-max --image --test --state --name --run \
                --dir --output --default-image
                set skip 1
            case '-*'
            case '*'
                if test $seen = 1
                    echo $t
                end
                set seen 1
        end
    end
end

# __cleanrun_operand_count N: the command has N operands before the cursor
function __cleanrun_operand_count
    test (count (__cleanrun_operands)) -eq $argv[1]
end

# __cleanrun_suffix SUFFIX: files ending in SUFFIX, and directories (fish's
# own __fish_complete_suffix lists every other file after them)
function __cleanrun_suffix
    set -l suffix (string escape --style=regex -- $argv[1])
    set -l files (complete -C "__fish_command_without_completions "(commandline -ct) | string replace -r -- '\t.*' '')
    string match -r -- "^.*$suffix\$" $files
    string match -r -- '^.*/$' $files
end

# --report FORMAT=FILE
function __cleanrun_report
    set -l tok (string replace -r -- '^--report=' '' (commandline -ct))
    if string match -q -- '*=*' $tok
        set -l parts (string split -m1 -- = $tok)
        __fish_complete_path $parts[2] | string replace -r -- '^' "$parts[1]="
    else
        printf '%s=\t%s\n' json 'the JSON report' junit 'JUnit XML' tap 'TAP version 13'
    end
end

set -l commands run validate list ps self-test image gc init import help toml-decode

complete -c cleanrun -f

# before the command
complete -c cleanrun -n 'not __cleanrun_command' -l version -d 'Print the version'
complete -c cleanrun -n 'not __cleanrun_command' -s h -l help -d 'List the commands'
complete -c cleanrun -n 'not __cleanrun_command' -a run -d 'Run the tests in spec files'
complete -c cleanrun -n 'not __cleanrun_command' -a validate -d 'Check spec files without running anything'
complete -c cleanrun -n 'not __cleanrun_command' -a list -d 'List tests and steps after matrix expansion'
complete -c cleanrun -n 'not __cleanrun_command' -a ps -d 'List the containers cleanrun owns'
complete -c cleanrun -n 'not __cleanrun_command' -a self-test -d 'Check this cleanrun against the engine'
complete -c cleanrun -n 'not __cleanrun_command' -a image -d 'Images of the native runtime\'s store'
complete -c cleanrun -n 'not __cleanrun_command' -a gc -d 'Remove what runs whose owner is gone left behind'
complete -c cleanrun -n 'not __cleanrun_command' -a init -d 'Write a commented starter spec'
complete -c cleanrun -n 'not __cleanrun_command' -a import -d 'Convert a spec of another tool'
complete -c cleanrun -n 'not __cleanrun_command' -a help -d 'A command\'s options and exit codes'
complete -c cleanrun -n 'not __cleanrun_command' -a toml-decode -d 'Read TOML on stdin, print tagged JSON'

# every command
complete -c cleanrun -n "__cleanrun_using $commands" -l help -d 'This command\'s options and exit codes'

# run, validate, list: privileges, selection, spec paths
set -l specs 'run validate list'
complete -c cleanrun -n "__cleanrun_using $specs" -l allow-privileged -d 'Let specs ask for privileged = true'
complete -c cleanrun -n "__cleanrun_using $specs" -l allow-host-network -d 'Let specs ask for host_network = true'
complete -c cleanrun -n "__cleanrun_using $specs" -l allow-host-pid -d 'Let specs ask for host_pid = true'
complete -c cleanrun -n "__cleanrun_using $specs" -l allow-host-mounts -d 'Let specs bind-mount host paths'
complete -c cleanrun -n "__cleanrun_using $specs" -l allow-engine-socket -d 'Let a mount hand a container an engine socket'
complete -c cleanrun -n "__cleanrun_using $specs" -l allow-outbound -d 'Let specs ask for outbound = true'
complete -c cleanrun -n "__cleanrun_using $specs" -l allow-host-files -d 'Let files.source name host files outside the spec\'s directory'
complete -c cleanrun -n "__cleanrun_using $specs" -l filter -x -d 'Only tests whose name matches (PCRE2)'
complete -c cleanrun -n "__cleanrun_using $specs" -l tag -x -d 'Only tests with this tag (repeatable)'
complete -c cleanrun -n "__cleanrun_using $specs" -l shard -x -d 'Only shard I of N'
complete -c cleanrun -n "__cleanrun_using $specs" -k -a '(__cleanrun_suffix .cleanrun.toml)'

# run
complete -c cleanrun -n '__cleanrun_using run' -s j -l jobs -x -d 'Tests in parallel (1-256)'
complete -c cleanrun -n '__cleanrun_using run' -l fail-fast -d 'Start no more tests after one fails'
complete -c cleanrun -n '__cleanrun_using run' -l timeout -x -d 'Limit for the whole run (e.g. 10m)'
complete -c cleanrun -n '__cleanrun_using run' -l no-gc -d 'Do not remove what dead runs left before starting'
complete -c cleanrun -n '__cleanrun_using run' -l keep-on-failure -d 'Leave a failed test\'s containers running'
complete -c cleanrun -n '__cleanrun_using run' -l no-lockout -d 'Do not install the host-exec lockout'
complete -c cleanrun -n '__cleanrun_using run' -l watch -d 'After the run, re-run the tests whose files change'
complete -c cleanrun -n '__cleanrun_using run' -s v -l verbose -d 'Stream step output'
complete -c cleanrun -n '__cleanrun_using run' -s q -l quiet -d 'Only failures and the summary'
complete -c cleanrun -n '__cleanrun_using run' -l no-color -d 'No colour'
complete -c cleanrun -n '__cleanrun_using run' -l format -x -a 'human json tap' -d 'What goes to stdout'
complete -c cleanrun -n '__cleanrun_using run' -l report -x -a '(__cleanrun_report)' -d 'Also write a report: FORMAT=FILE'
complete -c cleanrun -n '__cleanrun_using run' -l artifacts -x -a '(__fish_complete_directories)' -d 'Copy the artifacts of tests into DIR'
complete -c cleanrun -n '__cleanrun_using run' -l artifacts-when -x -a 'on-failure always' -d 'Whose artifacts are kept'
complete -c cleanrun -n '__cleanrun_using run' -l artifacts-max -x -d 'At most this much of each path (default 16MiB)'

# the engine: run, ps, gc, self-test, image
set -l engine 'run ps gc self-test image'
complete -c cleanrun -n "__cleanrun_using $engine" -l runtime -x -a 'docker podman apple native' -d 'The runtime'
complete -c cleanrun -n "__cleanrun_using $engine" -l host -x -a 'unix:///var/run/docker.sock unix:///run/podman/podman.sock native:///var/lib/cleanrun' -d 'The engine\'s address'

# ps
complete -c cleanrun -n '__cleanrun_using ps' -l image -x -d 'Only containers of this image'
complete -c cleanrun -n '__cleanrun_using ps' -l test -x -d 'Only this test\'s'
complete -c cleanrun -n '__cleanrun_using ps' -l state -x -a 'created running paused restarting removing exited dead' -d 'Only in this state'
complete -c cleanrun -n '__cleanrun_using ps' -l name -x -d 'Only names matching the shell pattern'
complete -c cleanrun -n '__cleanrun_using ps' -l run -x -d 'Only this run\'s'
complete -c cleanrun -n '__cleanrun_using ps' -l format -x -a 'table json' -d 'Output format'

# gc
complete -c cleanrun -n '__cleanrun_using gc' -l run -x -d 'Remove this run\'s resources whatever its owner\'s state'

# self-test
complete -c cleanrun -n '__cleanrun_using self-test' -l dir -x -a '(__fish_complete_directories)' -d 'The self-test directory'

# image
complete -c cleanrun -n '__cleanrun_using image; and __cleanrun_operand_count 0' -a import -d 'Import an archive, an OCI layout, a rootfs tarball'
complete -c cleanrun -n '__cleanrun_using image; and __cleanrun_operand_count 0' -a ls -d 'List the images'
complete -c cleanrun -n '__cleanrun_using image; and __cleanrun_operand_count 0' -a rm -d 'Remove images by name, id or id prefix'
complete -c cleanrun -n '__cleanrun_using image; and __cleanrun_operand_count 0' -a prune -d 'Remove layers and blobs no image uses'
complete -c cleanrun -n '__cleanrun_using image; and contains -- import (__cleanrun_operands)' -F
complete -c cleanrun -n '__cleanrun_using image' -l name -x -d 'Name the imported image'
complete -c cleanrun -n '__cleanrun_using image' -l quiet -d 'Ids only'

# init
complete -c cleanrun -n '__cleanrun_using init' -s f -l force -d 'Replace an existing NAME.cleanrun.toml'
complete -c cleanrun -n '__cleanrun_using init' -l image -x -d 'The image of the service and steps'

# import
complete -c cleanrun -n '__cleanrun_using import; and __cleanrun_operand_count 0' -a clnrm -d 'A clnrm spec'
complete -c cleanrun -n '__cleanrun_using import; and __cleanrun_operand_count 1' -k -a '(__cleanrun_suffix .toml)'
complete -c cleanrun -n '__cleanrun_using import' -s o -l output -r -F -d 'Where to write the cleanrun spec (default stdout)'
complete -c cleanrun -n '__cleanrun_using import' -s f -l force -d 'Overwrite OUT if it exists'
complete -c cleanrun -n '__cleanrun_using import' -l default-image -x -d 'Where steps without a service run'

# help
complete -c cleanrun -n '__cleanrun_using help; and __cleanrun_operand_count 0' -a "$commands"
