# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_infini_global_optspecs
    string join \n C= R/repo= branch= password-file= password-command= endpoint= region= mem-cache= cache-size= cache-dir= json q/quiet h/help V/version
end

function __fish_infini_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_infini_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_infini_using_subcommand
    set -l cmd (__fish_infini_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c infini -n "__fish_infini_needs_command" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_needs_command" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_needs_command" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_needs_command" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_needs_command" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_needs_command" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_needs_command" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_needs_command" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_needs_command" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_needs_command" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_needs_command" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_needs_command" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_needs_command" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_needs_command" -s V -l version -d 'Print version'
complete -c infini -n "__fish_infini_needs_command" -f -a "init" -d 'Create an encrypted repository and a workspace in DIR (default: the current directory)'
complete -c infini -n "__fish_infini_needs_command" -f -a "clone" -d 'Create a workspace for an existing repository (a directory, a workspace holding one, or s3://BUCKET[/PREFIX])'
complete -c infini -n "__fish_infini_needs_command" -f -a "put" -d 'Stage a value under KEY, read from FILE or stdin (`-`); with -r, stage every file under DIR as PREFIX/ + its relative path (symbolic links as links; permission bits and mtime kept)'
complete -c infini -n "__fish_infini_needs_command" -f -a "get" -d 'Write the value of KEY to stdout (or -o FILE); with -r, write every key under PREFIX into DIR'
complete -c infini -n "__fish_infini_needs_command" -f -a "rm" -d 'Stage the removal of KEYs (with -r, of every key under each PREFIX)'
complete -c infini -n "__fish_infini_needs_command" -f -a "mv" -d 'Rename SRC to DST, replacing DST if it exists. Only the index changes'
complete -c infini -n "__fish_infini_needs_command" -f -a "cp" -d 'Copy SRC to DST, replacing DST if it exists. Only the index changes; the data is shared'
complete -c infini -n "__fish_infini_needs_command" -f -a "ls" -d 'List keys (starting with PREFIX), in order, from the workspace\'s view or a revision'
complete -c infini -n "__fish_infini_needs_command" -f -a "status" -d 'Show the current branch (or detached commit) and the staged changes'
complete -c infini -n "__fish_infini_needs_command" -f -a "reset" -d 'Unstage every change, or only those of the given KEYs'
complete -c infini -n "__fish_infini_needs_command" -f -a "diff" -d 'Show changed keys. No REV: staged changes against HEAD. One REV: the workspace against REV. Two: REV1 to REV2'
complete -c infini -n "__fish_infini_needs_command" -f -a "commit" -d 'Commit the staged changes and print the new commit\'s id on stdout'
complete -c infini -n "__fish_infini_needs_command" -f -a "update" -d 'Move the workspace to the branch\'s current head while keeping the staged changes on top of it (what to do after `commit` stopped with a conflict, exit code 11)'
complete -c infini -n "__fish_infini_needs_command" -f -a "log" -d 'Show commits reachable from REV (default: HEAD), newest first'
complete -c infini -n "__fish_infini_needs_command" -f -a "show" -d 'Show commit REV (default: HEAD) and the keys it changed relative to its first parent'
complete -c infini -n "__fish_infini_needs_command" -f -a "checkout" -d 'Switch to branch REV, or to commit REV as a detached, read-only HEAD. Refuses while changes are staged'
complete -c infini -n "__fish_infini_needs_command" -f -a "fork" -d 'Create branch NAME at REV (default: HEAD) and switch to it. Staged changes come along'
complete -c infini -n "__fish_infini_needs_command" -f -a "branch" -d 'List branches (the current one marked with `*`), delete one with -d, or accept a branch whose ref went back or vanished with --accept-rollback'
complete -c infini -n "__fish_infini_needs_command" -f -a "check" -d 'Check every pack table, commit and index node; with --read-data also read and verify every data chunk. Exits 13 if anything is damaged'
complete -c infini -n "__fish_infini_needs_command" -f -a "gc" -d 'Collect garbage in two phases: packs no branch reaches are first condemned, and deleted by a later run once they have stayed condemned and unreachable for the grace period, so concurrent writers never lose data. Staged (uncommitted) changes are not reachable from any branch: commit them within the grace period'
complete -c infini -n "__fish_infini_needs_command" -f -a "stats" -d 'Report repository size, object counts, the size of HEAD\'s values against what is stored, and per-tier cache hits, misses and bytes fetched in this workspace'
complete -c infini -n "__fish_infini_needs_command" -f -a "mount" -d 'Mount the repository read-only on MOUNTPOINT: `branches/NAME/…` (following new commits), `commits/ID/…` (full ids; short ids are symlinks) and `HEAD`, or one version with `--at REV`. Runs until unmounted (Ctrl-C, or `fusermount -u MOUNTPOINT`); `--daemon` returns once mounted'
complete -c infini -n "__fish_infini_needs_command" -f -a "key" -d 'Manage key slots: each holds the repository key wrapped under one password'
complete -c infini -n "__fish_infini_needs_command" -f -a "lock" -d 'Remove the workspace\'s unlocked key: later commands need the password'
complete -c infini -n "__fish_infini_needs_command" -f -a "unlock" -d 'Unlock the workspace with the password, so commands no longer ask for it (key kept in .infini/key, mode 0600)'
complete -c infini -n "__fish_infini_needs_command" -f -a "completions" -d 'Print a completion script for SHELL to stdout'
complete -c infini -n "__fish_infini_needs_command" -f -a "exit-codes" -d 'The exit codes every command uses (also `infini help exit-codes`)'
complete -c infini -n "__fish_infini_needs_command" -f -a "gen-docs" -d 'Write completions and man pages into DIR/completions and DIR/man'
complete -c infini -n "__fish_infini_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c infini -n "__fish_infini_using_subcommand init" -l s3 -d 'Keep the repository in an S3 bucket: BUCKET or BUCKET/PREFIX' -r
complete -c infini -n "__fish_infini_using_subcommand init" -l compression -d 'zstd level for new chunks written from this workspace (1-22; 0 stores raw). Default 2' -r
complete -c infini -n "__fish_infini_using_subcommand init" -l storage-class -d 'S3 storage class for data objects (index and refs stay in the standard class)' -r
complete -c infini -n "__fish_infini_using_subcommand init" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand init" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand init" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand init" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand init" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand init" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand init" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand init" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand init" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand init" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand init" -l create-bucket -d 'Create the bucket if it does not exist'
complete -c infini -n "__fish_infini_using_subcommand init" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand init" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c infini -n "__fish_infini_using_subcommand clone" -l checkout -d 'Branch to check out (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand clone" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand clone" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand clone" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand clone" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand clone" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand clone" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand clone" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand clone" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand clone" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand clone" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand clone" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand clone" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand clone" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand put" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand put" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand put" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand put" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand put" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand put" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand put" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand put" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand put" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand put" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand put" -s r -l recursive -d 'Stage a directory tree: `put -r DIR [PREFIX]` (`web` and `web/` are the same prefix)'
complete -c infini -n "__fish_infini_using_subcommand put" -l delete -d 'With -r: also stage the removal of keys under PREFIX that are no longer in DIR (mirror the tree)'
complete -c infini -n "__fish_infini_using_subcommand put" -l tar -d 'Stage the files of a tar archive (from stdin, or FILE) under PREFIX: `put --tar PREFIX [FILE] < x.tar`'
complete -c infini -n "__fish_infini_using_subcommand put" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand put" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand put" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand get" -s o -l output -d 'Write to FILE instead of stdout' -r -F
complete -c infini -n "__fish_infini_using_subcommand get" -l at -d 'Read the value at revision REV instead of the workspace\'s view' -r
complete -c infini -n "__fish_infini_using_subcommand get" -l range -d 'Only bytes A to B, inclusive (`A-B`, `A-` to the end, `-N` for the last N bytes)' -r
complete -c infini -n "__fish_infini_using_subcommand get" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand get" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand get" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand get" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand get" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand get" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand get" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand get" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand get" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand get" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand get" -s r -l recursive -d 'Fetch a whole prefix: `get -r PREFIX DIR`'
complete -c infini -n "__fish_infini_using_subcommand get" -l parents -d 'Create the missing parent directories of -o FILE (otherwise a missing one is an error, exit code 3)'
complete -c infini -n "__fish_infini_using_subcommand get" -l tar -d 'With -r: write PREFIX as a tar archive to stdout (or -o FILE) instead of files in DIR (modes, mtimes and symlinks included)'
complete -c infini -n "__fish_infini_using_subcommand get" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand get" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand get" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand rm" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand rm" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand rm" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand rm" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand rm" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand rm" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand rm" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand rm" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand rm" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand rm" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand rm" -s r -l recursive -d 'Treat each argument as a prefix'
complete -c infini -n "__fish_infini_using_subcommand rm" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand rm" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand rm" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand mv" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand mv" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand mv" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand mv" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand mv" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand mv" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand mv" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand mv" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand mv" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand mv" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand mv" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand mv" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand mv" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand cp" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand cp" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand cp" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand cp" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand cp" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand cp" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand cp" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand cp" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand cp" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand cp" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand cp" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand cp" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand cp" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand ls" -l at -d 'List the keys at revision REV' -r
complete -c infini -n "__fish_infini_using_subcommand ls" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand ls" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand ls" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand ls" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand ls" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand ls" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand ls" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand ls" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand ls" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand ls" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand ls" -s l -l long -d 'Long format: mode (as `ls -l` shows it; `?` where unknown), size, modification time and key (`-> TARGET` for a symbolic link)'
complete -c infini -n "__fish_infini_using_subcommand ls" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand ls" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand ls" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand status" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand status" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand status" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand status" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand status" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand status" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand status" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand status" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand status" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand status" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand status" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand status" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand status" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand reset" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand reset" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand reset" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand reset" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand reset" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand reset" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand reset" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand reset" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand reset" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand reset" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand reset" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand reset" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand reset" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand diff" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand diff" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand diff" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand diff" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand diff" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand diff" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand diff" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand diff" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand diff" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand diff" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand diff" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand diff" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand diff" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand commit" -s m -l message -d 'Commit message' -r
complete -c infini -n "__fish_infini_using_subcommand commit" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand commit" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand commit" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand commit" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand commit" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand commit" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand commit" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand commit" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand commit" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand commit" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand commit" -l allow-empty -d 'Record a commit even when nothing is staged'
complete -c infini -n "__fish_infini_using_subcommand commit" -l rebase -d 'First take the branch\'s current head as the base of the staged changes (`infini update`); stops on conflicts unless --ours or --theirs settles them'
complete -c infini -n "__fish_infini_using_subcommand commit" -l ours -d 'Resolve every conflict with your staged value'
complete -c infini -n "__fish_infini_using_subcommand commit" -l theirs -d 'Resolve every conflict with the branch\'s value (your change of those keys is unstaged)'
complete -c infini -n "__fish_infini_using_subcommand commit" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand commit" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand commit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c infini -n "__fish_infini_using_subcommand update" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand update" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand update" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand update" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand update" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand update" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand update" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand update" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand update" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand update" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand update" -l ours -d 'Resolve every conflict with your staged value'
complete -c infini -n "__fish_infini_using_subcommand update" -l theirs -d 'Resolve every conflict with the branch\'s value (your change of those keys is unstaged)'
complete -c infini -n "__fish_infini_using_subcommand update" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand update" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c infini -n "__fish_infini_using_subcommand log" -s n -l max-count -d 'At most N commits' -r
complete -c infini -n "__fish_infini_using_subcommand log" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand log" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand log" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand log" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand log" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand log" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand log" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand log" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand log" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand log" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand log" -l oneline -d 'One line per commit: short id, time, message'
complete -c infini -n "__fish_infini_using_subcommand log" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand log" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand log" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand show" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand show" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand show" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand show" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand show" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand show" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand show" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand show" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand show" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand show" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand show" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand show" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand show" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand checkout" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand checkout" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand checkout" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand checkout" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand checkout" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand checkout" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand checkout" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand checkout" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand checkout" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand checkout" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand checkout" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand checkout" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand checkout" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand fork" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand fork" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand fork" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand fork" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand fork" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand fork" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand fork" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand fork" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand fork" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand fork" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand fork" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand fork" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand fork" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand branch" -s d -l delete -d 'Delete branch NAME' -r
complete -c infini -n "__fish_infini_using_subcommand branch" -l accept-rollback -d 'Accept branch NAME as the repository holds it now, after its ref went back, vanished or was replaced' -r
complete -c infini -n "__fish_infini_using_subcommand branch" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand branch" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand branch" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand branch" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand branch" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand branch" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand branch" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand branch" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand branch" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand branch" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand branch" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand branch" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand branch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c infini -n "__fish_infini_using_subcommand check" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand check" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand check" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand check" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand check" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand check" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand check" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand check" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand check" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand check" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand check" -l read-data -d 'Also read and authenticate all data'
complete -c infini -n "__fish_infini_using_subcommand check" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand check" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand check" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand gc" -l grace -d 'How long a pack stays condemned before it is deleted (e.g. 24h, 30m, 0s)' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -l min-age -d 'How old (by the storage\'s own clock) an unreachable pack must be before it is condemned: younger packs may hold data a workspace staged and has not committed yet' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -l repack-threshold -d 'Repack packs at least this percent garbage: their live chunks are copied into new packs (readers of old commits follow a sealed forwarding table) and the old packs condemned, so a run after the grace period frees them. 100 never repacks' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand gc" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand gc" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand gc" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand gc" -s n -l dry-run -d 'Show the plan without changing anything'
complete -c infini -n "__fish_infini_using_subcommand gc" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand gc" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand gc" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand stats" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand stats" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand stats" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand stats" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand stats" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand stats" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand stats" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand stats" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand stats" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand stats" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand stats" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand stats" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand stats" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand mount" -l at -d 'Show one version (a revision: branch, commit id prefix, HEAD~N) at the top instead' -r
complete -c infini -n "__fish_infini_using_subcommand mount" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand mount" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand mount" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand mount" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand mount" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand mount" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand mount" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand mount" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand mount" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand mount" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand mount" -l daemon -d 'Return once mounted and keep serving in the background until unmounted'
complete -c infini -n "__fish_infini_using_subcommand mount" -l daemon-child -d 'Internal: the background process `--daemon` starts'
complete -c infini -n "__fish_infini_using_subcommand mount" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand mount" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand mount" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -f -a "passwd" -d 'Change the password (the one given by INFINI_PASSWORD/--password-file/prompt) to a new one (INFINI_NEW_PASSWORD, INFINI_NEW_PASSWORD_FILE, or prompt)'
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -f -a "add" -d 'Add another password'
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -f -a "list" -d 'List key slots'
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -f -a "rm" -d 'Remove a key slot (never the last one)'
complete -c infini -n "__fish_infini_using_subcommand key; and not __fish_seen_subcommand_from passwd add list rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Change the password (the one given by INFINI_PASSWORD/--password-file/prompt) to a new one (INFINI_NEW_PASSWORD, INFINI_NEW_PASSWORD_FILE, or prompt)'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add another password'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "list" -d 'List key slots'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove a key slot (never the last one)'
complete -c infini -n "__fish_infini_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c infini -n "__fish_infini_using_subcommand lock" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand lock" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand lock" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand lock" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand lock" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand lock" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand lock" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand lock" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand lock" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand lock" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand lock" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand lock" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand lock" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand unlock" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand unlock" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand unlock" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand unlock" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand unlock" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand unlock" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand unlock" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand unlock" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand unlock" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand unlock" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand unlock" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand unlock" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand unlock" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand completions" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand completions" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand completions" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand completions" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand completions" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand completions" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand completions" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand completions" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand completions" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand completions" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand completions" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand completions" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand completions" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand exit-codes" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -s C -d 'Run as if started in DIR' -r -F
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -s R -l repo -d 'Use this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace\'s' -r
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -l branch -d 'Branch to use with --repo (default: main)' -r
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -l password-file -d 'Read the password from FILE' -r -F
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -l password-command -d 'Run COMMAND (with sh -c) and use its output as the password' -r
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -l endpoint -d 'S3 endpoint URL (path-style addressing is used whenever one is given)' -r
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -l region -d 'S3 region (default: AWS_REGION, else us-east-1)' -r
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -l mem-cache -d 'Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M' -r
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -l cache-size -d 'Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local ones unless given. Remembered by init/clone' -r
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -l cache-dir -d 'Warm cache directory (default .infini/cache/warm). Remembered by init/clone' -r -F
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -l json -d 'Machine-readable output on stdout; errors as JSON on stderr'
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -s q -l quiet -d 'No progress or informational messages on stderr'
complete -c infini -n "__fish_infini_using_subcommand gen-docs" -s h -l help -d 'Print help'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "init" -d 'Create an encrypted repository and a workspace in DIR (default: the current directory)'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "clone" -d 'Create a workspace for an existing repository (a directory, a workspace holding one, or s3://BUCKET[/PREFIX])'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "put" -d 'Stage a value under KEY, read from FILE or stdin (`-`); with -r, stage every file under DIR as PREFIX/ + its relative path (symbolic links as links; permission bits and mtime kept)'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "get" -d 'Write the value of KEY to stdout (or -o FILE); with -r, write every key under PREFIX into DIR'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "rm" -d 'Stage the removal of KEYs (with -r, of every key under each PREFIX)'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "mv" -d 'Rename SRC to DST, replacing DST if it exists. Only the index changes'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "cp" -d 'Copy SRC to DST, replacing DST if it exists. Only the index changes; the data is shared'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "ls" -d 'List keys (starting with PREFIX), in order, from the workspace\'s view or a revision'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "status" -d 'Show the current branch (or detached commit) and the staged changes'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "reset" -d 'Unstage every change, or only those of the given KEYs'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "diff" -d 'Show changed keys. No REV: staged changes against HEAD. One REV: the workspace against REV. Two: REV1 to REV2'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "commit" -d 'Commit the staged changes and print the new commit\'s id on stdout'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "update" -d 'Move the workspace to the branch\'s current head while keeping the staged changes on top of it (what to do after `commit` stopped with a conflict, exit code 11)'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "log" -d 'Show commits reachable from REV (default: HEAD), newest first'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "show" -d 'Show commit REV (default: HEAD) and the keys it changed relative to its first parent'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "checkout" -d 'Switch to branch REV, or to commit REV as a detached, read-only HEAD. Refuses while changes are staged'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "fork" -d 'Create branch NAME at REV (default: HEAD) and switch to it. Staged changes come along'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "branch" -d 'List branches (the current one marked with `*`), delete one with -d, or accept a branch whose ref went back or vanished with --accept-rollback'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "check" -d 'Check every pack table, commit and index node; with --read-data also read and verify every data chunk. Exits 13 if anything is damaged'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "gc" -d 'Collect garbage in two phases: packs no branch reaches are first condemned, and deleted by a later run once they have stayed condemned and unreachable for the grace period, so concurrent writers never lose data. Staged (uncommitted) changes are not reachable from any branch: commit them within the grace period'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "stats" -d 'Report repository size, object counts, the size of HEAD\'s values against what is stored, and per-tier cache hits, misses and bytes fetched in this workspace'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "mount" -d 'Mount the repository read-only on MOUNTPOINT: `branches/NAME/…` (following new commits), `commits/ID/…` (full ids; short ids are symlinks) and `HEAD`, or one version with `--at REV`. Runs until unmounted (Ctrl-C, or `fusermount -u MOUNTPOINT`); `--daemon` returns once mounted'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "key" -d 'Manage key slots: each holds the repository key wrapped under one password'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "lock" -d 'Remove the workspace\'s unlocked key: later commands need the password'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "unlock" -d 'Unlock the workspace with the password, so commands no longer ask for it (key kept in .infini/key, mode 0600)'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "completions" -d 'Print a completion script for SHELL to stdout'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "exit-codes" -d 'The exit codes every command uses (also `infini help exit-codes`)'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "gen-docs" -d 'Write completions and man pages into DIR/completions and DIR/man'
complete -c infini -n "__fish_infini_using_subcommand help; and not __fish_seen_subcommand_from init clone put get rm mv cp ls status reset diff commit update log show checkout fork branch check gc stats mount key lock unlock completions exit-codes gen-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c infini -n "__fish_infini_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "passwd" -d 'Change the password (the one given by INFINI_PASSWORD/--password-file/prompt) to a new one (INFINI_NEW_PASSWORD, INFINI_NEW_PASSWORD_FILE, or prompt)'
complete -c infini -n "__fish_infini_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "add" -d 'Add another password'
complete -c infini -n "__fish_infini_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "list" -d 'List key slots'
complete -c infini -n "__fish_infini_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "rm" -d 'Remove a key slot (never the last one)'
