//! `infini key`: manage the passwords that open the repository. Changing one never re-encrypts data.

use super::session::{cwd, open_backend, Session};
use super::{output, password, Context};
use infini::workspace::Workspace;
use infini::Repository;
use std::io::Write;

/// Manage key slots: each holds the repository key wrapped under one password.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: KeyCmd,
}

#[derive(clap::Subcommand)]
enum KeyCmd {
    /// Change the password (the one given by INFINI_PASSWORD/--password-file/prompt) to a new one
    /// (INFINI_NEW_PASSWORD, INFINI_NEW_PASSWORD_FILE, or prompt).
    Passwd,
    /// Add another password.
    Add,
    /// List key slots.
    List,
    /// Remove a key slot (never the last one).
    Rm {
        /// Slot name as listed by `key list`.
        name: String,
    },
}

fn backend(ctx: &Context) -> anyhow::Result<std::sync::Arc<dyn infini::backends::Backend>> {
    match &ctx.global.repo {
        Some(r) => {
            let loc = if r.starts_with("s3://") { r.clone() } else { cwd(ctx)?.join(r).display().to_string() };
            open_backend(ctx, &loc, None, false)
        }
        None => {
            let ws = Workspace::find(&cwd(ctx)?)?;
            open_backend(ctx, &ws.repo_location(), Some(&ws), false)
        }
    }
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match self.cmd {
            KeyCmd::Passwd => {
                let b = backend(ctx)?;
                let old = password::get(ctx)?;
                let (slot, key) = Repository::unlock_slot(&*b, &old)?;
                let new = password::new(ctx, false)?;
                let repo = Repository::with_key(b, key, Default::default())?;
                let added = repo.add_key(&new, password::kdf_params())?;
                repo.remove_key(&slot)?;
                if ctx.global.json {
                    output::json(&serde_json::json!({ "added": added, "removed": slot }))?;
                } else {
                    output::info(ctx, "password changed");
                }
            }
            KeyCmd::Add => {
                let s = Session::read(ctx)?;
                let new = password::new(ctx, false)?;
                let name = s.repo.add_key(&new, password::kdf_params())?;
                if ctx.global.json {
                    output::json(&serde_json::json!({ "added": name }))?;
                } else {
                    output::info(ctx, format!("added {name}"));
                }
            }
            KeyCmd::List => {
                let b = backend(ctx)?;
                Repository::header(&*b)?;
                let slots = Repository::key_slots(&*b)?;
                if ctx.global.json {
                    let v: Vec<_> = slots
                        .iter()
                        .map(|(n, s)| serde_json::json!({ "name": n, "created": s.created, "host": s.host, "kdf": { "log_n": s.kdf.log_n, "r": s.kdf.r, "p": s.kdf.p } }))
                        .collect();
                    output::json(&serde_json::Value::Array(v))?;
                } else {
                    let mut out = std::io::stdout().lock();
                    for (n, s) in &slots {
                        writeln!(out, "{n}  {}  {}", output::time(s.created), s.host)?;
                    }
                }
            }
            KeyCmd::Rm { name } => {
                let s = Session::read(ctx)?;
                s.repo.remove_key(&name)?;
                if ctx.global.json {
                    output::json(&serde_json::json!({ "removed": name }))?;
                } else {
                    output::info(ctx, format!("removed {name}"));
                }
            }
        }
        Ok(())
    }
}
