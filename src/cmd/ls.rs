//! `infini ls`: list keys.

use super::session::Session;
use super::{output, Context};
use infini::namespace::{Entry, EntryKind};
use infini::Blob;
use std::io::Write;

/// `-rwxr-xr-x`-style mode of an entry (`l` and `rwxrwxrwx` for links; `-?????????` when unknown).
fn mode_string(e: &Entry) -> String {
    if e.kind == EntryKind::Symlink {
        return "lrwxrwxrwx".into();
    }
    let kind = if e.is_dir() { "d" } else { "-" };
    let Some(m) = e.mode else { return format!("{kind}?????????") };
    let mut s = String::from(kind);
    for (shift, special, lower, upper) in [(6, 0o4000, 's', 'S'), (3, 0o2000, 's', 'S'), (0, 0o1000, 't', 'T')] {
        let bits = (m >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, m & special != 0) {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A link's target as text.
fn link_target(e: &Entry) -> String {
    match &e.blob {
        Blob::Inline(t) => String::from_utf8_lossy(t).into_owned(),
        _ => String::new(),
    }
}

/// List keys (starting with PREFIX), in order, from the workspace's view or a revision. An empty directory stored
/// by `put -r` is listed as its entry, `dir/`; `--dirs` lists every directory's entry.
#[derive(clap::Args)]
pub struct Args {
    /// Only keys starting with PREFIX.
    #[arg(add = super::complete::key())]
    prefix: Option<String>,
    /// Long format: mode (as `ls -l` shows it; `?` where unknown), size, modification time and key (`-> TARGET`
    /// for a symbolic link).
    #[arg(short = 'l', long)]
    long: bool,
    /// List the keys at revision REV.
    #[arg(long, value_name = "REV", add = super::complete::rev())]
    at: Option<String>,
    /// Also list the entries of directories that hold keys (`web/`, as `put -r` stores them). Without it, a
    /// directory entry is listed only for an empty directory, which no other key shows.
    #[arg(long)]
    dirs: bool,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let ns = s.view_at(self.at.as_deref())?;
        let prefix = self.prefix.unwrap_or_default();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let json = ctx.global.json;
        if json {
            out.write_all(b"[")?;
        }
        let mut first = true;
        let mut items = ns.prefix(prefix.as_bytes()).peekable();
        while let Some(item) = items.next() {
            let (key, entry) = item?;
            if entry.is_dir() && !self.dirs {
                // Keys come in order: a directory holding anything is followed by its first key.
                let holds = matches!(items.peek(), Some(Ok((next, _))) if next.starts_with(key.as_str()));
                if holds {
                    continue;
                }
            }
            if json {
                if !first {
                    out.write_all(b",")?;
                }
                let mut v = serde_json::json!({ "key": key, "size": entry.size() });
                if let Some((secs, nsec)) = entry.mtime_parts() {
                    v["mtime"] = serde_json::json!(secs);
                    if nsec != 0 {
                        v["mtime_nsec"] = serde_json::json!(nsec);
                    }
                }
                if let Some(m) = entry.mode {
                    v["mode"] = serde_json::json!(format!("{m:04o}"));
                }
                if entry.kind == EntryKind::Symlink {
                    v["kind"] = serde_json::json!("symlink");
                    v["target"] = serde_json::json!(link_target(&entry));
                } else if entry.is_dir() {
                    v["kind"] = serde_json::json!("dir");
                }
                output::json_to(&mut out, &v)?;
            } else if self.long {
                let t = match (entry.mtime_parts(), entry.mtime) {
                    (Some((secs, _)), _) => output::time(secs),
                    // Stored, but not a valid time (`check` reports it).
                    (None, Some(_)) => "?".into(),
                    (None, None) => "-".into(),
                };
                let mode = mode_string(&entry);
                if entry.kind == EntryKind::Symlink {
                    writeln!(out, "{mode}  {:>12}  {:<20}  {key} -> {}", entry.size(), t, link_target(&entry))?;
                } else {
                    writeln!(out, "{mode}  {:>12}  {:<20}  {key}", entry.size(), t)?;
                }
            } else {
                writeln!(out, "{key}")?;
            }
            first = false;
        }
        if json {
            out.write_all(b"]\n")?;
        }
        out.flush()?;
        Ok(())
    }
}
