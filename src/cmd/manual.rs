//! What the man pages say beyond the clap definitions: examples per command, the environment, related pages.

/// Every environment variable the command line reads, with what it does (infini(1), ENVIRONMENT).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "INFINI_REPO",
        "a repository to read directly, as -R/--repo: a directory or s3://BUCKET[/PREFIX] (read-only commands)",
    ),
    ("INFINI_BRANCH", "the branch to read with INFINI_REPO (default main), as --branch"),
    ("INFINI_PASSWORD", "the repository password (prefer INFINI_PASSWORD_FILE or INFINI_PASSWORD_COMMAND)"),
    ("INFINI_PASSWORD_FILE", "a file holding the password, as --password-file"),
    ("INFINI_PASSWORD_COMMAND", "a command (run with sh -c) printing the password, as --password-command"),
    ("INFINI_NEW_PASSWORD", "the new password for key add and key passwd"),
    ("INFINI_TO_PASSWORD", "the password of copy's target repository (its own; never the source's)"),
    ("INFINI_TO_PASSWORD_FILE", "a file holding the password of copy's target, as --to-password-file"),
    (
        "INFINI_TO_PASSWORD_COMMAND",
        "a command (run with sh -c) printing the password of copy's target, as --to-password-command",
    ),
    ("INFINI_NEW_PASSWORD_FILE", "a file holding the new password for key add and key passwd"),
    ("INFINI_RETRIES", "attempts per backend operation before giving up with exit code 14 (default 8)"),
    ("INFINI_TIMEOUT", "seconds an S3 server may take to start answering a request (default 20)"),
    ("INFINI_THREADS", "hashing and compression workers (default: every core)"),
    ("INFINI_UPLOADS", "concurrent uploads of packs"),
    ("INFINI_ZSTD_LEVEL", "zstd level for new chunks (0 stores raw), over the workspace's setting"),
    (
        "INFINI_KDF_LOG_N",
        "scrypt cost of new key slots; below 15 only with INFINI_INSECURE_KDF=1 (throwaway repositories)",
    ),
    ("INFINI_INSECURE_KDF", "set to 1 to allow INFINI_KDF_LOG_N below 15"),
    ("INFINI_SPILL_AT", "staged changes kept in memory before they spill to .infini/staging (default 10000)"),
    ("INFINI_INDEX_MERGE_AT", "dedup index journal entries before a merge (default 65536)"),
    (
        "INFINI_BACKEND_LATENCY_MS",
        "add this latency to every object read and write (a slow backend, for trying things out)",
    ),
    ("AWS_ACCESS_KEY_ID", "S3 access key (with AWS_SECRET_ACCESS_KEY; else the AWS profile or instance credentials)"),
    ("AWS_SECRET_ACCESS_KEY", "S3 secret key"),
    ("AWS_SESSION_TOKEN", "S3 session token, for temporary credentials"),
    ("AWS_PROFILE", "the AWS profile to take credentials and region from"),
    ("AWS_REGION", "S3 region (also AWS_DEFAULT_REGION; default us-east-1), as --region"),
    ("AWS_ENDPOINT_URL", "S3 endpoint of an S3-compatible server, as --endpoint (path-style addressing)"),
];

/// Examples for the man page of the command `name` ("infini", "infini put", "infini key add", ...): a command line and
/// what it does.
pub fn examples(name: &str) -> &'static [(&'static str, &'static str)] {
    match name {
        "infini" => &[
            ("infini init", "create an encrypted repository and a workspace in the current directory"),
            ("infini put config/app.toml < app.toml", "stage a value from standard input"),
            ("infini commit -m \"first\"", "commit what is staged; prints the new commit's id"),
            ("infini log --oneline", "the branch's history"),
            ("infini get config/app.toml > out.toml", "read a value back"),
            ("INFINI_REPO=s3://bucket/team infini ls", "list a repository's keys without a workspace"),
        ],
        "infini init" => &[
            ("infini init", "a repository inside the workspace (.infini/repo)"),
            ("infini init --s3 my-bucket/team-a --create-bucket ws", "a repository in a bucket, the workspace in ws/"),
            (
                "infini -R /mnt/backup/repo init ws",
                "a repository of its own on another disk; clone attaches others to it",
            ),
        ],
        "infini clone" => &[
            ("infini clone s3://my-bucket/team-a ws", "a new workspace for a repository in a bucket"),
            ("infini clone /mnt/backup/repo ws --checkout dev", "a workspace on branch dev of a directory repository"),
        ],
        "infini put" => &[
            ("infini put notes/today < today.txt", "stage a value from standard input"),
            ("infini put photo.jpg ~/Pictures/photo.jpg", "stage a file"),
            ("infini put -r --delete ./site web/", "stage a directory tree; keys no longer in it are removed"),
            ("tar -c -C site . | infini put --tar web/", "stage a tar stream"),
        ],
        "infini get" => &[
            ("infini get -r photos/ ~/restore --include '2024/' --exclude '*.raw'", "restore part of a tree"),
            ("infini get notes/today", "a value to standard output"),
            ("infini get big.iso --range 0-1023 -o head.bin", "the first KiB of a value into a file"),
            ("infini get -r web/ ./restore --at main~3", "a prefix, as files, three commits back"),
        ],
        "infini rm" => &[("infini rm notes/old", "stage the removal of a key")],
        "infini mv" => &[("infini mv notes/a notes/b", "rename a key (no data is copied)")],
        "infini cp" => &[("infini cp notes/a notes/a.bak", "copy a key (no data is copied)")],
        "infini find" => &[
            ("infini find '*.conf'", "every commit holding a key whose last segment ends in .conf"),
            ("infini find 'web/**/*.html' -n 10", "HTML keys under web/ in the last 10 commits"),
            ("infini --json find --all secret.txt", "where secret.txt is, on every branch, as JSON"),
        ],
        "infini ls" => &[
            ("infini ls web/", "the keys under web/"),
            ("infini ls -l --at v1 web/", "with mode, size and time, at another revision"),
        ],
        "infini status" => &[("infini status", "what is staged, and any conflicts")],
        "infini reset" => &[
            ("infini reset notes/a", "unstage one key (after a conflict: take the branch's value)"),
            ("infini reset", "unstage everything"),
        ],
        "infini diff" => &[
            ("infini diff", "staged changes against HEAD"),
            ("infini diff -p HEAD~1 HEAD -- web/", "what the last commit changed under web/, line by line"),
            ("infini diff main~1 main", "what the last commit changed"),
        ],
        "infini commit" => &[
            ("id=$(infini commit -m \"nightly\")", "commit and keep the new id"),
            ("infini commit --rebase -m \"retry\"", "after a conflict: base the changes on the new head, then commit"),
        ],
        "infini update" => &[
            ("infini update", "base the staged changes on the branch's new head (exit 11 while conflicts remain)"),
            ("infini update --theirs", "and settle every conflict with the branch's values"),
        ],
        "infini log" => &[
            ("infini log --oneline -- etc/app.conf", "the commits that changed one key"),
            ("infini log --since 2026-12-01 --until 7d", "commits from December 1st until a week ago"),
            ("infini log -n 5 --oneline", "the last five commits"),
            ("infini log --json dev", "another branch, as JSON"),
        ],
        "infini show" => &[("infini show HEAD~1", "one commit: parents, time, message, changes")],
        "infini checkout" => &[
            ("infini checkout 3f9a1c2e", "look at an earlier commit (detached, read-only)"),
            ("infini checkout main", "back to a branch"),
        ],
        "infini fork" => &[("infini fork experiment", "a new branch at HEAD, switched to")],
        "infini branch" => &[
            ("infini branch", "list branches"),
            ("infini branch -d experiment", "delete a branch"),
            ("infini branch --accept-rollback main", "accept a branch that was rolled back on storage"),
        ],
        "infini merge" => &[
            ("infini merge feature", "merge branch feature into the current branch (a commit of two parents)"),
            ("infini merge --no-ff feature", "a merge commit even where the branch could simply move"),
            ("infini merge v1 -m \"bring in v1\"", "merge a tag, with a message of your own"),
            ("infini reset KEY && infini commit", "after conflicts: keep this branch's value of KEY, record the merge"),
        ],
        "infini tag" => &[
            ("infini tag v1", "name the current commit v1, for good"),
            ("infini tag before-migration main~3", "tag three commits back on main"),
            ("infini get --at v1 config.json", "read a value as tagged"),
            ("infini diff v1 main", "what changed since the tag"),
            ("infini tag -l 'v1.*'", "list the tags matching a glob"),
            ("infini tag -d v1", "delete a tag (the name may then be created again)"),
        ],
        "infini check" => &[("infini check --read-data", "verify every object, reading all data")],
        "infini gc" => &[
            ("infini gc --dry-run", "what would be condemned, deleted and repacked"),
            ("infini gc", "collect garbage (deletes only what was condemned a grace period ago)"),
        ],
        "infini forget" => &[
            (
                "infini forget --keep-last 24 --keep-daily 7 --keep-weekly 4 --dry-run",
                "every commit of the branch with the rules that keep it, or that it would be forgotten",
            ),
            (
                "infini forget --keep-within 30d --branch main",
                "forget main's commits over 30 days older than its newest",
            ),
            ("infini forget --set-policy --all --keep-daily 7", "store a policy for every branch in the repository"),
            ("infini forget && infini gc", "apply the stored policy, then free what only forgotten commits held"),
        ],
        "infini rewrite" => &[
            (
                "infini rewrite --remove config/secret.env --dry-run",
                "the commits that hold the key, and how many keys each would lose",
            ),
            (
                "infini rewrite --remove config/secret.env && infini gc",
                "remove a leaked secret from every commit of the branch; gc frees it after the grace period",
            ),
            ("infini rewrite --remove build/ --all", "remove every key under build/ from every branch"),
            ("infini rewrite --remove dump.sql --after main~3", "only the commits after main~3; older ones keep it"),
        ],
        "infini stats" => &[("infini stats --json", "what the repository holds, and what the caches did")],
        "infini copy" => &[
            (
                "INFINI_TO_PASSWORD_FILE=~/.offsite-pw infini copy --to s3://offsite/team-a --to-endpoint https://s3.example.net",
                "copy the current branch's history to a repository in a bucket (created before with init --s3)",
            ),
            ("infini copy --all --to /mnt/backup/repo", "every branch and tag into a directory repository on another disk"),
            ("infini copy --to /mnt/backup/repo v1.0", "one tag and the history it names, no branch"),
            (
                "infini -R s3://bucket/team-a copy main --to ./restored --to-password-command 'pass show restored'",
                "from S3 back into a directory repository, with the target's password from a command",
            ),
            ("infini copy --to /mnt/backup/repo --json", "run again: only what is new is copied (commits_copied)"),
        ],
        "infini mount" => &[("infini mount /mnt/infini --daemon", "browse branches and commits as files")],
        "infini key" => &[("infini key list", "the key slots")],
        "infini key add" => &[("INFINI_NEW_PASSWORD_FILE=pw infini key add", "another password for the repository")],
        "infini key passwd" => &[("infini key passwd", "change the password (data is not re-encrypted)")],
        "infini key rm" => &[("infini key rm keys/0f3a9c...", "remove a key slot, named as key list names it")],
        "infini key list" => &[("infini key list --json", "the key slots, as JSON")],
        "infini lock" => &[("infini lock", "forget the unlocked key; later commands ask for the password")],
        "infini unlock" => &[("infini unlock", "remember the key again in this workspace")],
        "infini completions" => {
            &[("infini completions bash > ~/.local/share/bash-completion/completions/infini", "bash completion")]
        }
        "infini exit-codes" => &[("infini exit-codes", "the table of exit codes every command uses")],
        _ => &[],
    }
}

/// Related pages for the command `name`.
pub fn see_also(name: &str) -> Vec<&'static str> {
    let related: &[&str] = match name {
        "infini" => &["infini-init(1)", "infini-put(1)", "infini-get(1)", "infini-commit(1)", "infini-log(1)"],
        "infini put" | "infini rm" | "infini mv" | "infini cp" => {
            &["infini-status(1)", "infini-commit(1)", "infini-reset(1)"]
        }
        "infini get" | "infini ls" | "infini find" => {
            &["infini-checkout(1)", "infini-log(1)", "infini-mount(1)", "infini-find(1)", "infini-ls(1)"]
        }
        "infini commit" | "infini update" | "infini status" | "infini reset" | "infini merge" => {
            &["infini-update(1)", "infini-status(1)", "infini-reset(1)", "infini-commit(1)", "infini-merge(1)"]
        }
        "infini gc" | "infini check" | "infini forget" | "infini rewrite" => {
            &["infini-check(1)", "infini-gc(1)", "infini-forget(1)", "infini-rewrite(1)", "infini-branch(1)"]
        }
        "infini init" | "infini clone" => &["infini-init(1)", "infini-clone(1)", "infini-lock(1)", "infini-copy(1)"],
        "infini copy" => &["infini-init(1)", "infini-clone(1)", "infini-branch(1)", "infini-forget(1)"],
        "infini log" | "infini show" | "infini checkout" | "infini fork" | "infini branch" | "infini diff"
        | "infini tag" => {
            &["infini-log(1)", "infini-checkout(1)", "infini-fork(1)", "infini-branch(1)", "infini-tag(1)"]
        }
        _ => &["infini-key(1)"],
    };
    let own = format!("{}(1)", name.replace(' ', "-"));
    let mut v: Vec<&str> = if name == "infini" { vec![] } else { vec!["infini(1)"] };
    v.extend(related.iter().copied().filter(|r| *r != own));
    v
}
