//! Where passwords come from: `INFINI_PASSWORD`, a file, a command, or a no-echo prompt on a terminal — never
//! the command line.

use super::Context;
use anyhow::Context as _;
use infini::Error;
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

/// Key-derivation parameters for new key slots: the default, or cheaper ones when `INFINI_KDF_LOG_N` asks (for
/// tests only: it lowers the cost of brute-forcing the password).
pub fn kdf_params() -> infini::KdfParams {
    let mut p = infini::KdfParams::default();
    if let Some(n) = std::env::var("INFINI_KDF_LOG_N").ok().and_then(|v| v.parse::<u8>().ok()) {
        p.log_n = n.clamp(10, 22);
    }
    p
}
