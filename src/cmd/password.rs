//! Where passwords come from: `INFINI_PASSWORD`, a file, a command, or a no-echo prompt on a terminal — never
//! the command line.

use super::Context;
use anyhow::Context as _;
use infini::{Error, KdfParams};
use std::io::IsTerminal;
use zeroize::Zeroizing;

fn trim_newline(mut s: Vec<u8>) -> Vec<u8> {
    while s.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        s.pop();
    }
    s
}

fn can_prompt() -> bool {
    std::io::stderr().is_terminal() && std::fs::File::open("/dev/tty").is_ok()
}

/// The password for opening a repository.
pub fn get(ctx: &Context) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if let Ok(p) = std::env::var("INFINI_PASSWORD") {
        return Ok(Zeroizing::new(p.into_bytes()));
    }
    if let Some(f) = &ctx.global.password_file {
        let raw = std::fs::read(f).with_context(|| format!("reading password file {}", f.display()))?;
        return Ok(Zeroizing::new(trim_newline(raw)));
    }
    if let Some(cmd) = &ctx.global.password_command {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("running password command {cmd:?}"))?;
        if !out.status.success() {
            return Err(anyhow::Error::new(Error::WrongPassword).context(format!("password command {cmd:?} failed")));
        }
        return Ok(Zeroizing::new(trim_newline(out.stdout)));
    }
    if can_prompt() {
        let p = rpassword::prompt_password("Password: ").context("reading password from the terminal")?;
        return Ok(Zeroizing::new(p.into_bytes()));
    }
    Err(anyhow::Error::new(Error::WrongPassword)
        .context("no password given: set INFINI_PASSWORD, INFINI_PASSWORD_FILE or INFINI_PASSWORD_COMMAND"))
}

/// A new password (for `init`, `key add`, `key passwd`): `INFINI_NEW_PASSWORD`, else the usual sources (for
/// `init`), else a prompt asked twice.
pub fn new(ctx: &Context, for_init: bool) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if let Ok(p) = std::env::var("INFINI_NEW_PASSWORD") {
        return check(Zeroizing::new(p.into_bytes()));
    }
    if let Some(f) = std::env::var_os("INFINI_NEW_PASSWORD_FILE") {
        let raw = std::fs::read(&f).with_context(|| format!("reading password file {}", f.to_string_lossy()))?;
        return check(Zeroizing::new(trim_newline(raw)));
    }
    if for_init && !can_prompt() {
        return check(get(ctx)?);
    }
    if for_init && (std::env::var_os("INFINI_PASSWORD").is_some() || ctx.global.password_file.is_some()) {
        return check(get(ctx)?);
    }
    if !can_prompt() {
        return Err(anyhow::Error::new(Error::WrongPassword)
            .context("no new password given: set INFINI_NEW_PASSWORD or INFINI_NEW_PASSWORD_FILE"));
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

/// Say on stderr which key slots were skipped while unlocking (damaged, foreign or absurd), once each.
pub fn warn_skipped(ctx: &Context, skipped: &[(String, String)]) {
    for (name, why) in skipped {
        super::output::warn(ctx, format!("key slot {name} skipped: it {why}"));
    }
}
