//! `infini diff`: what changed between two revisions, or between a revision and the workspace.

use super::session::Session;
use super::{output, Context};
use infini::fields::Change as MapChange;
use infini::namespace::{Change, Entry, Namespace, NamespaceIndex};
use infini::CommitInfo;
use std::collections::BTreeMap;
use std::io::Write;

/// Show changed keys. No REV: staged changes against HEAD. One REV: the workspace against REV. Two: REV1 to REV2.
#[derive(clap::Args)]
pub struct Args {
    /// Revisions to compare.
    #[arg(num_args = 0..=2, add = super::complete::rev())]
    revs: Vec<String>,
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
        print(ctx, &rows)
    }
}
