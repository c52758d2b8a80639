//! Where passwords come from: `INFINI_PASSWORD`, a file, a command, or a no-echo prompt on a terminal — never
//! the command line.

use super::Context;
use anyhow::Context as _;
use infini::backends::Backend;
use infini::{Error, KdfParams, Repository, Unlocked};
use std::io::IsTerminal;
use zeroize::Zeroizing;

fn trim_newline(mut s: Vec<u8>) -> Vec<u8> {
    while s.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        s.pop();
    }
    s
}

/// No password could be had: none was given, or its file could not be read. Exit code 12, like a wrong password,
/// but said as what it is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoPassword(pub String);

/// Where a password can come from, for messages.
const SOURCES: &str = "set INFINI_PASSWORD, INFINI_PASSWORD_FILE (--password-file) or INFINI_PASSWORD_COMMAND \
                       (--password-command), or run on a terminal to be asked";

/// Largest password file read: far more than any password, far less than a device that never ends.
pub const MAX_PASSWORD_FILE: u64 = 64 << 10;

/// Read a password file: a regular file, or a pipe (`--password-file <(pass show infini)`), of at most
/// [`MAX_PASSWORD_FILE`] bytes. Anything else (a device such as /dev/zero, a directory, a socket) is refused before
/// a byte is read, and a larger file is refused rather than read on.
fn read_password_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display();
    let f = std::fs::File::open(path).map_err(|e| NoPassword(format!("cannot open password file {shown}: {e}")))?;
    let meta = f.metadata().with_context(|| format!("reading password file {shown}"))?;
    let ft = meta.file_type();
    if !(ft.is_file() || ft.is_fifo()) {
        return Err(super::usage(format!("password file {shown} is not a regular file or a pipe")));
    }
    let mut raw = Zeroizing::new(Vec::new());
    f.take(MAX_PASSWORD_FILE + 1).read_to_end(&mut raw).with_context(|| format!("reading password file {shown}"))?;
    if raw.len() as u64 > MAX_PASSWORD_FILE {
        return Err(super::usage(format!("password file {shown} is larger than {} KiB", MAX_PASSWORD_FILE >> 10)));
    }
    Ok(std::mem::take(&mut *raw))
}

/// Run a password command and take what it prints on stdout, at most [`MAX_PASSWORD_FILE`] bytes (a command that
/// prints more is stopped and refused).
fn run_password_command(cmd: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .with_context(|| format!("running password command {cmd:?}"))?;
    let mut raw = Zeroizing::new(Vec::new());
    let read = match child.stdout.take() {
        Some(out) => out.take(MAX_PASSWORD_FILE + 1).read_to_end(&mut raw),
        None => Ok(0),
    };
    if raw.len() as u64 > MAX_PASSWORD_FILE {
        let _ = child.kill();
        let _ = child.wait();
        return Err(super::usage(format!(
            "password command {cmd:?} printed more than {} KiB",
            MAX_PASSWORD_FILE >> 10
        )));
    }
    let status = child.wait().with_context(|| format!("running password command {cmd:?}"))?;
    read.with_context(|| format!("reading the output of password command {cmd:?}"))?;
    if !status.success() {
        return Err(anyhow::Error::new(Error::WrongPassword).context(format!("password command {cmd:?} failed")));
    }
    Ok(std::mem::take(&mut *raw))
}

fn can_prompt() -> bool {
    std::io::stderr().is_terminal() && std::fs::File::open("/dev/tty").is_ok()
}

/// A password handed over by the process that started this one (`mount --daemon` writes it to the background
/// process's stdin instead of leaving it in its environment).
static HANDED_OVER: std::sync::OnceLock<Zeroizing<Vec<u8>>> = std::sync::OnceLock::new();

/// Use `password` as the one `INFINI_PASSWORD` would give (see [`HANDED_OVER`]).
pub fn hand_over(password: Zeroizing<Vec<u8>>) {
    let _ = HANDED_OVER.set(password);
}

/// The password for opening a repository.
pub fn get(ctx: &Context) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if let Some(p) = HANDED_OVER.get() {
        return Ok(p.clone());
    }
    if let Ok(p) = std::env::var("INFINI_PASSWORD") {
        return Ok(Zeroizing::new(p.into_bytes()));
    }
    if let Some(f) = &ctx.global.password_file {
        return Ok(Zeroizing::new(trim_newline(read_password_file(f)?)));
    }
    if let Some(cmd) = &ctx.global.password_command {
        return Ok(Zeroizing::new(trim_newline(run_password_command(cmd)?)));
    }
    if can_prompt() {
        let p = rpassword::prompt_password("Password: ").context("reading password from the terminal")?;
        return Ok(Zeroizing::new(p.into_bytes()));
    }
    Err(NoPassword(format!("no password given: {SOURCES}")).into())
}

/// Where the password of a second repository (`copy --to`'s target) comes from: its own variable, file and
/// command, never the first repository's.
pub struct TargetSources<'a> {
    /// `--to-password-file` (`INFINI_TO_PASSWORD_FILE`).
    pub file: Option<&'a std::path::Path>,
    /// `--to-password-command` (`INFINI_TO_PASSWORD_COMMAND`).
    pub command: Option<&'a str>,
    /// What the prompt names (the target's location).
    pub what: &'a str,
}

/// The password of a second repository: `INFINI_TO_PASSWORD`, else its file, else its command, else a no-echo
/// prompt on a terminal naming it; without any of them, [`NoPassword`] (nothing prompts without a terminal).
pub fn get_target(src: &TargetSources<'_>) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if let Ok(p) = std::env::var("INFINI_TO_PASSWORD") {
        return Ok(Zeroizing::new(p.into_bytes()));
    }
    if let Some(f) = src.file {
        return Ok(Zeroizing::new(trim_newline(read_password_file(f)?)));
    }
    if let Some(cmd) = src.command {
        return Ok(Zeroizing::new(trim_newline(run_password_command(cmd)?)));
    }
    if can_prompt() {
        let p = rpassword::prompt_password(format!("Password of {}: ", src.what))
            .context("reading password from the terminal")?;
        return Ok(Zeroizing::new(p.into_bytes()));
    }
    Err(NoPassword(format!(
        "no password given for the target repository {}: set INFINI_TO_PASSWORD, INFINI_TO_PASSWORD_FILE \
         (--to-password-file) or INFINI_TO_PASSWORD_COMMAND (--to-password-command), or run on a terminal to be asked",
        src.what
    ))
    .into())
}

/// A new password (for `init`, `key add`, `key passwd`): `INFINI_NEW_PASSWORD`, else the usual sources (for
/// `init`), else a prompt asked twice.
pub fn new(ctx: &Context, for_init: bool) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if let Ok(p) = std::env::var("INFINI_NEW_PASSWORD") {
        return check(Zeroizing::new(p.into_bytes()));
    }
    if let Some(f) = std::env::var_os("INFINI_NEW_PASSWORD_FILE") {
        return check(Zeroizing::new(trim_newline(read_password_file(std::path::Path::new(&f))?)));
    }
    let given = HANDED_OVER.get().is_some()
        || std::env::var_os("INFINI_PASSWORD").is_some()
        || ctx.global.password_file.is_some()
        || ctx.global.password_command.is_some();
    if for_init && !given && !can_prompt() {
        return Err(NoPassword(
            "no password given for the new repository's first key: set INFINI_NEW_PASSWORD or INFINI_PASSWORD, \
             INFINI_PASSWORD_FILE (--password-file) or INFINI_PASSWORD_COMMAND (--password-command), or run on a \
             terminal to be asked"
                .into(),
        )
        .into());
    }
    if for_init && !can_prompt() {
        return check(get(ctx)?);
    }
    if for_init && (std::env::var_os("INFINI_PASSWORD").is_some() || ctx.global.password_file.is_some()) {
        return check(get(ctx)?);
    }
    if !can_prompt() {
        return Err(NoPassword(
            "no new password given: set INFINI_NEW_PASSWORD or INFINI_NEW_PASSWORD_FILE, or run on a terminal to be \
             asked"
                .into(),
        )
        .into());
    }
    let a = Zeroizing::new(rpassword::prompt_password("New password: ")?.into_bytes());
    let b = Zeroizing::new(rpassword::prompt_password("Repeat password: ")?.into_bytes());
    if a != b {
        anyhow::bail!(super::UsageError("passwords do not match".into()));
    }
    check(a)
}

fn check(p: Zeroizing<Vec<u8>>) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if p.is_empty() {
        anyhow::bail!(super::UsageError("empty passwords are not allowed".into()));
    }
    Ok(p)
}

/// scrypt parameters for a new key slot: the default, or a cheaper `INFINI_KDF_LOG_N` for tests — honoured only
/// together with `INFINI_INSECURE_KDF=1`, so a stray variable can never quietly make a real password cheap to guess.
pub fn kdf_params() -> anyhow::Result<KdfParams> {
    let mut p = KdfParams::default();
    let Ok(v) = std::env::var("INFINI_KDF_LOG_N") else { return Ok(p) };
    let n: u8 = v.parse().map_err(|_| super::usage(format!("INFINI_KDF_LOG_N={v:?} is not a number")))?;
    p.log_n = n;
    p.validate().map_err(|e| super::usage(format!("INFINI_KDF_LOG_N={v}: {e}")))?;
    if p.is_weak() && std::env::var("INFINI_INSECURE_KDF").as_deref() != Ok("1") {
        return Err(super::usage(format!(
            "INFINI_KDF_LOG_N={n} is below {} and would make the password cheap to guess; \
             set INFINI_INSECURE_KDF=1 as well if this is a throwaway test repository",
            KdfParams::MIN_LOG_N
        )));
    }
    Ok(p)
}

/// Trying one key slot taking longer than this is worth a warning naming the slot (the default parameters take
/// about half a second; [`KdfParams::MAX_WORK`] bounds a stored slot at about eight times that).
const SLOW_SLOT: std::time::Duration = std::time::Duration::from_secs(3);

/// A warning naming a key slot that took more than [`SLOW_SLOT`] to try.
fn warn_slow(ctx: &Context) -> impl FnMut(&str, std::time::Duration) + '_ {
    move |name, took| {
        if took > SLOW_SLOT {
            super::output::warn(
                ctx,
                format!(
                    "key slot {name} took {:.1} s to try: its key derivation is costly (`infini key list --json` \
                     shows its parameters; replace it with `infini key add` and `infini key rm {name}`)",
                    took.as_secs_f64()
                ),
            );
        }
    }
}

/// What unlocking came to, with the skipped slots said on stderr: those of the slot that opened, or, when no slot
/// opened for the password, the slots that could not even be tried (they may be why; after a backend failure,
/// listing again would only wait as long once more).
fn reported<U>(
    ctx: &Context,
    backend: &dyn Backend,
    r: infini::Result<U>,
    skipped: impl Fn(&U) -> &[(String, String)],
) -> anyhow::Result<U> {
    match r {
        Ok(u) => {
            warn_skipped(ctx, skipped(&u));
            Ok(u)
        }
        Err(e) => {
            if matches!(e, Error::WrongPassword) {
                if let Ok(slots) = Repository::key_slots(backend) {
                    warn_skipped(ctx, &slots.damaged);
                }
            }
            Err(e.into())
        }
    }
}

/// Recover the master key of the repository in `backend` with `password`, saying on stderr which key slots were
/// skipped (damaged, or beyond the cost ceiling) and which took more than a few seconds to try.
pub fn unlock(ctx: &Context, backend: &dyn Backend, password: &[u8]) -> anyhow::Result<Unlocked> {
    let r = Repository::unlock_with(backend, password, &mut warn_slow(ctx));
    reported(ctx, backend, r, |u| &u.skipped)
}

/// [`unlock`] for either kind of key: a full key's master key or a write-only key's key set.
pub fn unlock_any(ctx: &Context, backend: &dyn Backend, password: &[u8]) -> anyhow::Result<infini::UnlockedAny> {
    let r = Repository::unlock_any_with(backend, password, &mut warn_slow(ctx));
    reported(ctx, backend, r, |u| &u.skipped)
}

/// Open the repository in `backend` with what [`unlock_any`] recovered.
pub fn open_unlocked(
    backend: std::sync::Arc<dyn Backend>,
    u: infini::UnlockedAny,
    opts: infini::StoreOptions,
) -> anyhow::Result<Repository> {
    Ok(match u.key {
        infini::SlotKey::Master(m) => Repository::with_key(backend, m, opts)?,
        infini::SlotKey::Writer(set) => Repository::with_writer_keys(backend, &set, u.writer.unwrap_or(u.slot), opts)?,
    })
}

/// Say on stderr which key slots were skipped while unlocking (damaged, foreign or absurd), once each.
pub fn warn_skipped(ctx: &Context, skipped: &[(String, String)]) {
    for (name, why) in skipped {
        super::output::warn(ctx, format!("key slot {name} skipped: it {why}"));
    }
}
