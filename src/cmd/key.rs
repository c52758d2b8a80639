//! `infini key`: manage the passwords that open the repository. Changing one never re-encrypts data.

use super::session::{cwd, open_backend, refuse_repo, Session};
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
    ///
    /// A new key slot is added for the new password and the old password's slot removed. This is not revocation:
    /// the repository key stays the same, so a copy of the old slot file (keys/…), put back by anyone who can write
    /// to the storage, opens the repository with the old password again, and anyone who knew the old password could
    /// have kept the repository key itself (e.g. a workspace's .infini/key). Only a new repository key with the data
    /// sealed again under it (a new repository: init, then put and commit the data) locks out someone who had it.
    Passwd,
    /// Add another password.
    ///
    /// With --write-only, the new password opens a write-only key named NAME: a workspace cloned with it can `put`
    /// and `commit`, and reads nothing back (values, keys, messages, history: every other command exits 17). Its
    /// commits are sealed to this repository's full key, which reads them as any others (`log` names the writer).
    /// Give such a machine storage credentials without delete permission too (see the README).
    Add {
        /// Make the new key write-only.
        #[arg(long, requires = "name")]
        write_only: bool,
        /// The write-only key's name (shown by `key list` and in `log`).
        #[arg(long, requires = "write_only")]
        name: Option<String>,
    },
    /// List key slots.
    List,
    /// Remove a key slot (never the last one).
    ///
    /// This is not revocation: the repository key stays the same, so a copy of the slot file (keys/…), put back by
    /// anyone who can write to the storage, opens the repository with that slot's password again, and anyone who
    /// knew the password could have kept the repository key itself (e.g. a workspace's .infini/key). Only a new
    /// repository key with the data sealed again under it (a new repository: init, then put and commit the data)
    /// locks out someone who had it.
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
    /// Whether this is `key list` (which a write-only key may run: the slots are public, their details sealed).
    pub fn is_list(&self) -> bool {
        matches!(self.cmd, KeyCmd::List)
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match &self.cmd {
            KeyCmd::Passwd => refuse_repo(ctx, "`infini key passwd`")?,
            KeyCmd::Add { .. } => refuse_repo(ctx, "`infini key add`")?,
            KeyCmd::Rm { .. } => refuse_repo(ctx, "`infini key rm`")?,
            KeyCmd::List => {}
        }
        match self.cmd {
            KeyCmd::Passwd => {
                let b = backend(ctx)?;
                let old = password::get(ctx)?;
                let unlocked = password::unlock(ctx, &*b, &old)?;
                let (slot, key) = (unlocked.slot, unlocked.key);
                let new = password::new(ctx, false)?;
                let repo = Repository::with_key(b, key, Default::default())?;
                let added = repo.add_key(&new, password::kdf_params()?)?;
                repo.remove_key(&slot)?;
                if ctx.global.json {
                    output::json(&serde_json::json!({ "added": added, "removed": slot }))?;
                } else {
                    output::info(ctx, "password changed");
                }
            }
            KeyCmd::Add { write_only, name: writer } => {
                let s = Session::read(ctx)?;
                let new = password::new(ctx, false)?;
                let name = match (&writer, write_only) {
                    (Some(w), true) => s.repo.add_writer_key(&new, password::kdf_params()?, w)?,
                    _ => s.repo.add_key(&new, password::kdf_params()?)?,
                };
                if ctx.global.json {
                    output::json(&serde_json::json!({ "added": name, "write_only": write_only, "writer": writer }))?;
                } else if let Some(w) = &writer {
                    output::info(ctx, format!("added {name}: write-only key {w}"));
                } else {
                    output::info(ctx, format!("added {name}"));
                }
            }
            KeyCmd::List => {
                let b = backend(ctx)?;
                let header = Repository::header(&*b)?;
                let slots = Repository::key_slots(&*b)?;
                // When and where a slot was made is sealed; shown when this workspace holds the key.
                let key = match &ctx.global.repo {
                    None => Workspace::find(&cwd(ctx)?)?.read_key(&header.id)?,
                    Some(_) => None,
                };
                let info = |n: &str, s: &infini::KeySlot| key.as_ref().and_then(|k| s.info_with(k, &header.id, n));
                if ctx.global.json {
                    let mut v: Vec<_> = slots
                        .slots
                        .iter()
                        .map(|(n, s)| {
                            let i = info(n, s);
                            serde_json::json!({
                                "name": n,
                                "created": i.as_ref().map(|i| i.created),
                                "host": i.as_ref().map(|i| i.host.clone()),
                                "kdf": { "log_n": s.kdf.log_n, "r": s.kdf.r, "p": s.kdf.p },
                                "write_only": s.is_write_only(),
                                "writer": i.as_ref().and_then(|i| i.name.clone()),
                            })
                        })
                        .collect();
                    v.extend(slots.damaged.iter().map(|(n, why)| serde_json::json!({ "name": n, "damaged": why })));
                    output::json(&serde_json::Value::Array(v))?;
                } else {
                    let mut out = std::io::stdout().lock();
                    for (n, s) in &slots.slots {
                        let kind = match (s.is_write_only(), info(n, s).and_then(|i| i.name)) {
                            (true, Some(w)) => format!("  write-only {w}"),
                            (true, None) => "  write-only".to_string(),
                            (false, _) => String::new(),
                        };
                        match info(n, s) {
                            Some(i) => writeln!(out, "{n}  {}  {}{kind}", output::time(i.created), i.host)?,
                            None => writeln!(out, "{n}{kind}")?,
                        }
                    }
                    for (n, why) in &slots.damaged {
                        writeln!(out, "{n}  damaged: {why}")?;
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
