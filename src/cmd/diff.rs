//! `infini diff`: what changed between two revisions, or between a revision and the workspace.

use super::session::Session;
use super::{output, Context};
use infini::fields::Change as MapChange;
use infini::namespace::{Change, Entry, Namespace, NamespaceIndex};
use infini::CommitInfo;
use std::collections::BTreeMap;
use std::io::Write;

/// Show changed keys. No REV: staged changes against HEAD. One REV: the workspace against REV. Two: REV1 to REV2.
/// After `--`, keys or directories to limit the comparison to: `infini diff HEAD~1 HEAD -- web/ README`. An added
/// or removed empty directory shows as `A dir/` or `D dir/`; a directory whose mtime alone changed is not listed.
#[derive(clap::Args)]
pub struct Args {
    /// Revisions to compare.
    #[arg(num_args = 0..=2, add = super::complete::rev())]
    revs: Vec<String>,
    /// Also show how each changed value's lines changed (a unified diff; values over 1 MiB or not text are named,
    /// not shown).
    #[arg(short = 'p', long)]
    patch: bool,
    /// Lines of context around each change, with -p.
    #[arg(short = 'U', long, value_name = "N", default_value_t = 3, requires = "patch")]
    unified: usize,
    /// Keys or directories to limit the comparison to (after `--`).
    #[arg(last = true, value_name = "PATH")]
    paths: Vec<String>,
}

/// Largest value `diff -p` compares line by line.
const PATCH_MAX: u64 = 1 << 20;

/// Whether `key` is one of `paths` or under one of them (`web` and `web/` both mean the directory).
pub fn in_paths(key: &str, paths: &[String]) -> bool {
    paths.is_empty()
        || paths.iter().any(|p| {
            let p = p.trim_end_matches('/');
            p.is_empty() || key == p || key.strip_prefix(p).is_some_and(|rest| rest.starts_with('/'))
        })
}

/// Print each row's patch after a `diff --infini` line (`git diff`'s layout).
pub fn print_patches(s: &Session, rows: &[Row], context: usize) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in rows {
        writeln!(out, "diff --infini a/{0} b/{0}", r.key)?;
        if r.word() == "metadata" {
            writeln!(out, "(mode or mtime changed)")?;
            continue;
        }
        out.write_all(patch_of(s, r, context)?.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// A value's bytes as text, if it is text and small enough to compare line by line.
fn text_of(s: &Session, e: Option<&Entry>) -> anyhow::Result<Option<String>> {
    let Some(e) = e else { return Ok(Some(String::new())) };
    if e.size() > PATCH_MAX {
        return Ok(None);
    }
    let mut buf = Vec::new();
    s.repo.copy_range(&e.blob, 0, e.size(), &mut buf)?;
    if buf.contains(&0) {
        return Ok(None);
    }
    Ok(String::from_utf8(buf).ok())
}

/// The patch of one row: a unified diff, or a line saying why there is none.
pub fn patch_of(s: &Session, r: &Row, context: usize) -> anyhow::Result<String> {
    let (old, new) = (text_of(s, r.old.as_ref())?, text_of(s, r.new.as_ref())?);
    let (a, b) = (
        if r.old.is_some() { format!("a/{}", r.key) } else { "/dev/null".into() },
        if r.new.is_some() { format!("b/{}", r.key) } else { "/dev/null".into() },
    );
    match (old, new) {
        (Some(old), Some(new)) if old == new => Ok(String::new()),
        (Some(old), Some(new)) => {
            let diff = similar::TextDiff::from_lines(&old, &new);
            Ok(diff.unified_diff().context_radius(context).header(&a, &b).to_string())
        }
        _ => Ok(format!(
            "Values {a} and {b} differ ({} -> {} bytes; not text, or over 1 MiB)\n",
            r.old.as_ref().map_or(0, Entry::size),
            r.new.as_ref().map_or(0, Entry::size)
        )),
    }
}

/// One changed key.
pub struct Row {
    pub key: String,
    pub old: Option<Entry>,
    pub new: Option<Entry>,
}

impl Row {
    fn change(&self) -> Change {
        Change::between(self.old.as_ref(), self.new.as_ref()).unwrap_or(Change::Metadata)
    }
    fn letter(&self) -> &'static str {
        self.change().letter()
    }
    /// `added`, `removed`, `modified` (the bytes changed) or `metadata` (only mode or mtime changed).
    pub fn word(&self) -> &'static str {
        self.change().word()
    }
}

impl Row {
    /// Whether this is a directory entry whose permission bits or mtime alone changed.
    pub fn dir_time_only(&self) -> bool {
        self.new.as_ref().is_some_and(Entry::is_dir) && self.old.as_ref().is_some_and(Entry::is_dir)
    }
}

/// The rows worth listing, in key order, and how many directory entries were left out because only their time
/// (or mode) changed. A directory entry is listed when the directory is added or removed and no listed row lies
/// under it (an empty directory: one holding changed keys is shown by them); a directory whose mtime alone changed
/// (as it does whenever a file in it is added or removed) is not listed, though it is staged and committed.
pub fn visible(rows: Vec<Row>) -> (Vec<Row>, usize) {
    let mut out: Vec<Row> = Vec::with_capacity(rows.len());
    let mut times = 0;
    for r in rows.into_iter().rev() {
        if r.dir_time_only() {
            times += 1;
            continue;
        }
        let is_dir = r.new.as_ref().or(r.old.as_ref()).is_some_and(Entry::is_dir);
        if is_dir && out.last().is_some_and(|next| next.key.starts_with(r.key.as_str())) {
            continue;
        }
        out.push(r);
    }
    out.reverse();
    (out, times)
}

/// Differences between two commits, by walking only the differing parts of their trees.
pub fn between(s: &Session, a: Option<&CommitInfo>, b: Option<&CommitInfo>) -> anyhow::Result<Vec<Row>> {
    let (ia, ib) = (NamespaceIndex::default(), NamespaceIndex::default());
    s.repo.load_index(&ia, a)?;
    s.repo.load_index(&ib, b)?;
    let mut rows = Vec::new();
    for d in ia.ns.diff(&ib.ns)? {
        rows.push(match d? {
            MapChange::Added { key, value } => Row { key, old: None, new: Some(value) },
            MapChange::Removed { key, value } => Row { key, old: Some(value), new: None },
            MapChange::Changed { key, old, new } => Row { key, old: Some(old), new: Some(new) },
        });
    }
    Ok(rows)
}

/// Differences from commit `a` to the workspace view (HEAD plus staged changes).
pub fn to_workspace(s: &Session, a: Option<&CommitInfo>, ns_a: &Namespace) -> anyhow::Result<Vec<Row>> {
    let mut rows: BTreeMap<String, Row> =
        between(s, a, s.tip.as_ref())?.into_iter().map(|r| (r.key.clone(), r)).collect();
    let view = s.view()?;
    for change in view.staged_iter() {
        let (key, new) = change?;
        let old = ns_a.get(&key)?;
        if old == new {
            rows.remove(&key);
        } else {
            rows.insert(key.clone(), Row { key, old, new });
        }
    }
    Ok(rows.into_values().collect())
}

/// Print rows as `A|M|T|D<TAB>key` lines (`T`: only metadata changed) or a JSON array.
pub fn print(ctx: &Context, rows: &[Row]) -> anyhow::Result<()> {
    if ctx.global.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "key": r.key,
                    "change": r.word(),
                    "old_size": r.old.as_ref().map(|e| e.size()),
                    "new_size": r.new.as_ref().map(|e| e.size()),
                })
            })
            .collect();
        return output::json(&serde_json::Value::Array(v));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in rows {
        writeln!(out, "{}\t{}", r.letter(), r.key)?;
    }
    out.flush()?;
    Ok(())
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let rows = match self.revs.as_slice() {
            [] => {
                let base = s.tip.clone();
                let idx = NamespaceIndex::default();
                s.repo.load_index(&idx, base.as_ref())?;
                to_workspace(&s, base.as_ref(), &idx.ns)?
            }
            [a] => {
                let (ca, ns) = s.at(a)?;
                to_workspace(&s, Some(&ca), &ns)?
            }
            [a, b] => {
                let (ca, _) = s.at(a)?;
                let (cb, _) = s.at(b)?;
                between(&s, Some(&ca), Some(&cb))?
            }
            _ => unreachable!("clap limits revisions to two"),
        };
        let (rows, _) = visible(rows.into_iter().filter(|r| in_paths(&r.key, &self.paths)).collect());
        if !self.patch {
            return print(ctx, &rows);
        }
        if ctx.global.json {
            let mut v = Vec::new();
            for r in &rows {
                v.push(serde_json::json!({
                    "key": r.key,
                    "change": r.word(),
                    "old_size": r.old.as_ref().map(|e| e.size()),
                    "new_size": r.new.as_ref().map(|e| e.size()),
                    "patch": patch_of(&s, r, self.unified)?,
                }));
            }
            return output::json(&serde_json::Value::Array(v));
        }
        print_patches(&s, &rows, self.unified)
    }
}
