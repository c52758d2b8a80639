//! The command line: argument definitions, dispatch, and the one place errors become exit codes.

mod branch;
mod check;
mod checkout;
mod clone;
mod commit;
mod complete;
mod completions;
mod copy;
mod cp;
mod diff;
mod find;
mod forget;
mod fork;
mod fuse;
mod gc;
mod get;
mod init;
mod key;
mod lock;
mod log;
mod ls;
mod manual;
mod merge;
mod mount;
mod mv;
mod output;
mod password;
mod progress;
mod put;
mod reset;
mod rewrite;
mod rm;
mod select;
mod session;
mod show;
mod stats;
mod status;
mod tag;
mod tar;
mod update;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use infini::backends::BackendError;
use infini::Error;
use std::path::PathBuf;
use std::process::ExitCode;

/// The documented exit codes and what each means (the README, `--help` and the man pages list them).
pub const EXIT_CODE_TABLE: &[(u8, &str)] = &[
    (0, "success"),
    (code::OTHER, "any other error"),
    (code::USAGE, "usage error (bad arguments, invalid revision or key)"),
    (code::NOT_FOUND, "not found (key, revision, branch, input file)"),
    (code::NO_REPO, "no repository or workspace (or no such bucket)"),
    (code::CONFLICT, "conflict (a concurrent change that could not be merged, or a branch that already exists)"),
    (code::PASSWORD, "wrong password, no usable key, or no password given"),
    (code::INTEGRITY, "integrity failure (corrupt, truncated or tampered data)"),
    (code::UNAVAILABLE, "backend unavailable after retries"),
    (code::ACCESS_DENIED, "access denied by the backend (credentials or permissions)"),
    (code::MOUNT, "cannot mount (no /dev/fuse, no fusermount, or a stale or unusable mountpoint)"),
    (code::WRITE_ONLY, "the key is write-only (it can put and commit, and read nothing)"),
];

/// The exit-code table as printed at the end of every `--help`.
pub fn exit_codes_help() -> String {
    let mut s = String::from("Exit codes:");
    for (c, meaning) in EXIT_CODE_TABLE {
        s.push_str(&format!("\n  {c:<3} {meaning}"));
    }
    s
}

/// Exit codes.
pub mod code {
    /// Anything else.
    pub const OTHER: u8 = 1;
    /// Usage.
    pub const USAGE: u8 = 2;
    /// Not found.
    pub const NOT_FOUND: u8 = 3;
    /// No repository or workspace.
    pub const NO_REPO: u8 = 10;
    /// Conflict.
    pub const CONFLICT: u8 = 11;
    /// Wrong password.
    pub const PASSWORD: u8 = 12;
    /// Integrity failure.
    pub const INTEGRITY: u8 = 13;
    /// Backend unavailable.
    pub const UNAVAILABLE: u8 = 14;
    /// Access denied by the backend.
    pub const ACCESS_DENIED: u8 = 15;
    /// FUSE unavailable or the mountpoint unusable.
    pub const MOUNT: u8 = 16;
    /// A write-only key asked to read (or to do what needs a full key).
    pub const WRITE_ONLY: u8 = 17;
}

/// infini: versioned, encrypted key/value state on storage you don't trust.
#[derive(Parser)]
#[command(name = "infini", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes (listed under their own heading, after the command's own).
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Read this repository directly (a directory or s3://BUCKET[/PREFIX]) instead of the workspace's. Read-only:
    /// commands that write refuse it (exit 2) and need a workspace (`infini clone`); `init -R` names where to
    /// create one.
    #[arg(short = 'R', long = "repo", env = "INFINI_REPO", global = true, value_name = "URL")]
    pub repo: Option<String>,
    /// Branch to use with --repo (default: main).
    #[arg(long, env = "INFINI_BRANCH", global = true, value_name = "NAME")]
    pub branch: Option<String>,
    /// Read the password from FILE.
    #[arg(long, env = "INFINI_PASSWORD_FILE", global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Run COMMAND (with sh -c) and use its output as the password.
    #[arg(long, env = "INFINI_PASSWORD_COMMAND", global = true, value_name = "COMMAND")]
    pub password_command: Option<String>,
    /// S3 endpoint URL (path-style addressing is used whenever one is given).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Hot cache budget (decrypted chunks in memory), e.g. 256M. Default 256M.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub mem_cache: Option<u64>,
    /// Warm cache budget (encrypted chunks on local disk), e.g. 1G. Default 1G for S3 repositories; off for local
    /// ones unless given. Remembered by init/clone.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub cache_size: Option<u64>,
    /// Warm cache directory (default .infini/cache/warm). Remembered by init/clone.
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Machine-readable output on stdout; errors as JSON on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress or informational messages on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    Init(init::Args),
    Clone(clone::Args),
    Put(put::Args),
    Get(get::Args),
    Rm(rm::Args),
    Mv(mv::Args),
    Cp(cp::Args),
    Copy(copy::Args),
    Ls(ls::Args),
    Find(find::Args),
    Status(status::Args),
    Reset(reset::Args),
    Diff(diff::Args),
    Commit(commit::Args),
    Update(update::Args),
    Merge(merge::Args),
    Log(log::Args),
    Show(show::Args),
    Checkout(checkout::Args),
    Fork(fork::Args),
    Branch(branch::Args),
    Tag(tag::Args),
    Check(check::Args),
    Gc(gc::Args),
    Forget(forget::Args),
    Rewrite(rewrite::Args),
    Stats(stats::Args),
    Mount(mount::Args),
    Key(key::Args),
    Lock(lock::LockArgs),
    Unlock(lock::UnlockArgs),
    Completions(completions::Args),
    /// The exit codes every command uses (also `infini help exit-codes`).
    #[command(name = "exit-codes", long_about = exit_codes_help())]
    ExitCodes,
    #[command(hide = true)]
    GenDocs(completions::GenDocsArgs),
}

/// What every command gets.
pub struct Context {
    /// Global options.
    pub global: Global,
}

/// Where a subcommand's help points for the exit codes (the table itself is in `infini --help`, `infini help
/// exit-codes` and every man page).
const EXIT_CODES_POINTER: &str = "Exit codes: 0 success, 2 usage, 3 not found, 11 conflict, 13 integrity, ... (all: \
                                  `infini help exit-codes`)";

/// The clap command: the exit-code table at the end of `infini --help`, a pointer to it at the end of each
/// command's help.
pub fn command() -> clap::Command {
    Cli::command().after_help(exit_codes_help()).mut_subcommands(|s| {
        let s = if s.get_name() == "exit-codes" { s } else { s.after_help(EXIT_CODES_POINTER) };
        s.mut_subcommands(|ss| ss.after_help(EXIT_CODES_POINTER))
    })
}

/// Entry point: parse, run, map errors to exit codes.
pub fn main() -> ExitCode {
    // `COMPLETE=SHELL infini ...`: the shell asking for completions (or for its registration script).
    clap_complete::CompleteEnv::with_factory(command).complete();
    let json_requested = std::env::args().any(|a| a == "--json");
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => code::USAGE,
            };
            if code != 0 && json_requested {
                output::json_error(&e.to_string(), code, None);
            } else {
                let _ = e.print();
            }
            return ExitCode::from(code);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(code::USAGE);
        }
    };
    let json = cli.global.json;
    let command_name = matches.subcommand_name().unwrap_or("").to_string();
    let ctx = Context { global: cli.global };
    match run(cli.command, &ctx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let code = exit_code(&e);
            let msg = format!("{e:#}");
            let hint = hint(&e, &command_name);
            if json {
                output::json_error_with(&msg, code, hint.as_deref(), code == code::WRITE_ONLY);
            } else {
                match hint {
                    Some(h) => output::stderr_line(format!("infini: error: {msg}; {h}")),
                    None => output::stderr_line(format!("infini: error: {msg}")),
                }
            }
            ExitCode::from(code)
        }
    }
}

/// Whether `cmd` reads what is stored (or needs a full key): a workspace holding a write-only key refuses it before
/// anything else is looked at (exit 17). A write-only key may `put`, `commit`, `key list`, `lock`/`unlock`, and
/// `clone`/`init` elsewhere.
fn needs_full_key(cmd: &Command) -> bool {
    use Command as C;
    match cmd {
        C::Key(k) => !k.is_list(),
        C::Get(_) | C::Rm(_) | C::Mv(_) | C::Cp(_) | C::Ls(_) | C::Status(_) | C::Reset(_) | C::Diff(_) => true,
        C::Update(_)
        | C::Merge(_)
        | C::Log(_)
        | C::Show(_)
        | C::Checkout(_)
        | C::Fork(_)
        | C::Branch(_)
        | C::Tag(_)
        | C::Check(_) => true,
        C::Gc(_) | C::Stats(_) | C::Mount(_) | C::Find(_) | C::Forget(_) | C::Copy(_) | C::Rewrite(_) => true,
        C::Init(_) | C::Clone(_) | C::Put(_) | C::Commit(_) | C::Lock(_) | C::Unlock(_) => false,
        C::Completions(_) | C::ExitCodes | C::GenDocs(_) => false,
    }
}

fn run(cmd: Command, ctx: &Context) -> anyhow::Result<()> {
    if ctx.global.repo.is_none() && needs_full_key(&cmd) {
        if let Some(name) = session::cwd(ctx)
            .ok()
            .and_then(|d| infini::workspace::Workspace::find(&d).ok())
            .and_then(|ws| ws.writer_key_name())
        {
            return Err(session::write_only_refusal(&name));
        }
    }
    match cmd {
        Command::Init(a) => a.run(ctx),
        Command::Clone(a) => a.run(ctx),
        Command::Put(a) => a.run(ctx),
        Command::Get(a) => a.run(ctx),
        Command::Rm(a) => a.run(ctx),
        Command::Mv(a) => a.run(ctx),
        Command::Cp(a) => a.run(ctx),
        Command::Copy(a) => a.run(ctx),
        Command::Ls(a) => a.run(ctx),
        Command::Find(a) => a.run(ctx),
        Command::Status(a) => a.run(ctx),
        Command::Reset(a) => a.run(ctx),
        Command::Diff(a) => a.run(ctx),
        Command::Commit(a) => a.run(ctx),
        Command::Update(a) => a.run(ctx),
        Command::Merge(a) => a.run(ctx),
        Command::Log(a) => a.run(ctx),
        Command::Show(a) => a.run(ctx),
        Command::Checkout(a) => a.run(ctx),
        Command::Fork(a) => a.run(ctx),
        Command::Branch(a) => a.run(ctx),
        Command::Tag(a) => a.run(ctx),
        Command::Check(a) => a.run(ctx),
        Command::Gc(a) => a.run(ctx),
        Command::Forget(a) => a.run(ctx),
        Command::Rewrite(a) => a.run(ctx),
        Command::Stats(a) => a.run(ctx),
        Command::Mount(a) => a.run(ctx),
        Command::Key(a) => a.run(ctx),
        Command::Lock(a) => a.run(ctx),
        Command::Unlock(a) => a.run(ctx),
        Command::Completions(a) => a.run(ctx),
        Command::ExitCodes => output::line(exit_codes_help()),
        Command::GenDocs(a) => a.run(ctx),
    }
}

/// Whether `e` comes from writing into a closed stdout (a reader like `head` that stopped early): never an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>().is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
            || matches!(c.downcast_ref::<Error>(), Some(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// What to do next about an error, when the command line knows better than the engine (which names only what
/// went wrong). `command` is the subcommand that failed.
pub fn hint(e: &anyhow::Error, command: &str) -> Option<String> {
    let backend = e.chain().find_map(|c| {
        c.downcast_ref::<BackendError>().or_else(|| match c.downcast_ref::<Error>() {
            Some(Error::Backend(b)) => Some(b),
            _ => None,
        })
    });
    if let Some(b) = backend {
        return match b {
            BackendError::NoBucket { .. } if command == "init" => {
                Some("add --create-bucket to create it, or check the bucket name and --endpoint".into())
            }
            BackendError::NoBucket { .. } => Some("check the bucket name and --endpoint (or AWS_ENDPOINT_URL)".into()),
            BackendError::AccessDenied { .. } => Some(
                "check the access key and secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile) and \
                 the bucket's permissions"
                    .into(),
            ),
            BackendError::WrongService { .. } => {
                Some("check the endpoint (--endpoint, AWS_ENDPOINT_URL): it must be an S3-compatible server".into())
            }
            BackendError::Unavailable { .. } => Some(
                "check that the endpoint is right and reachable (--endpoint, AWS_ENDPOINT_URL); INFINI_RETRIES sets \
                 the number of attempts"
                    .into(),
            ),
            _ => None,
        };
    }
    for c in e.chain() {
        if let Some(Error::WriteOnly { .. }) = c.downcast_ref::<Error>() {
            return Some(
                "a write-only key can put and commit, and read nothing back; read with a full key (a workspace \
                 cloned with a reader's password)"
                    .into(),
            );
        }
    }
    for c in e.chain() {
        if let (Some(Error::AlreadyExists { .. }), "get") = (c.downcast_ref::<Error>(), command) {
            return Some("add --overwrite to replace them, or write into an empty directory".into());
        }
        if let Some(u) = c.downcast_ref::<update::Unresolved>() {
            return Some(u.next_steps());
        }
        if let Some(r) = c.downcast_ref::<infini::RefChanged>() {
            if let Some(tag) = r.tag() {
                return Some(format!(
                    "nothing was changed; if tag {tag} was removed or replaced on purpose, accept it as it is now with \
                     `infini tag --accept-rollback {tag}`"
                ));
            }
            return Some(format!(
                "nothing was changed; put back the last head this workspace saw with `infini branch --restore {0}`, \
                 or, if branch {0} was rolled back or removed on purpose (a restored backup), accept it with \
                 `infini branch --accept-rollback {0}`",
                r.branch
            ));
        }
        if let Some(Error::MergeConflict { .. }) = c.downcast_ref::<Error>() {
            return Some(if command == "commit" {
                "run `infini update` to base your staged changes on the branch's new head (or `infini commit \
                 --rebase`), then resolve each conflict: `infini status` lists them"
                    .into()
            } else {
                format!("resolve each conflict: {}", update::RESOLVE_HINT)
            });
        }
    }
    None
}

/// The documented exit code for an error.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for c in e.chain() {
        if let Some(u) = c.downcast_ref::<UsageError>() {
            let _ = u;
            return code::USAGE;
        }
        if c.is::<mount::MountError>() {
            return code::MOUNT;
        }
        if c.is::<password::NoPassword>() {
            return code::PASSWORD;
        }
        if c.is::<update::Unresolved>() || c.is::<branch::Unmerged>() || c.is::<merge::StagedChanges>() {
            return code::CONFLICT;
        }
        if let Some(m) = c.downcast_ref::<mount::ChildError>() {
            return m.code;
        }
        if let Some(err) = c.downcast_ref::<Error>() {
            return engine_code(err);
        }
        if let Some(b) = c.downcast_ref::<BackendError>() {
            return backend_code(b);
        }
    }
    code::OTHER
}

fn engine_code(e: &Error) -> u8 {
    match e {
        Error::Backend(b) => backend_code(b),
        Error::Integrity { .. } => code::INTEGRITY,
        // To the command line, whose schema is fixed, data of another schema under its field is data it cannot
        // use, as if damaged.
        Error::TypeMismatch { .. } => code::INTEGRITY,
        Error::NotFound { .. } => code::NOT_FOUND,
        Error::WrongPassword => code::PASSWORD,
        Error::Conflict { .. } | Error::MergeConflict { .. } | Error::AlreadyExists { .. } => code::CONFLICT,
        Error::NoRepository { .. } => code::NO_REPO,
        Error::WriteOnly { .. } => code::WRITE_ONLY,
        Error::Invalid(_) | Error::TooLarge { .. } => code::USAGE,
        Error::Internal { .. } => code::OTHER,
        _ => code::OTHER,
    }
}

fn backend_code(b: &BackendError) -> u8 {
    match b {
        BackendError::Unavailable { .. } | BackendError::Transient { .. } | BackendError::WrongService { .. } => {
            code::UNAVAILABLE
        }
        BackendError::NotFound { .. } => code::INTEGRITY,
        BackendError::AccessDenied { .. } => code::ACCESS_DENIED,
        BackendError::NoBucket { .. } => code::NO_REPO,
        _ => code::OTHER,
    }
}

/// Parse a byte size: a number with an optional K, M, G or T suffix (powers of 1024; `KiB`, `MB` etc. accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("invalid size {s:?} (use e.g. 512K, 256M, 1G)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} is too large"))
}

/// A usage error raised by a command (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Shorthand for a usage error.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}
