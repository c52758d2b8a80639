//! `infini status`: where HEAD is and what is staged.

use super::session::Session;
use super::{diff, output, Context};
use infini::namespace::Entry;
use infini::workspace::Head;

/// A value's content id, in hex.
fn value_id(e: &Entry) -> String {
    hex::encode(e.blob.content_id())
}

/// Show the current branch (or detached commit) and the staged changes.
///
/// Prints where HEAD is, then one line per staged change (`A`dded, `M`odified, `D`eleted, a TAB, the key), or
/// `nothing staged`, then any unresolved conflicts. With `--short`, only the change lines: nothing at all when
/// nothing is staged, so `infini status --short | wc -l` counts staged changes. An added or removed empty directory
/// is listed as `A dir/` or `D dir/`; directories whose mtime (or mode) alone changed are staged but only counted.
#[derive(clap::Args)]
pub struct Args {
    /// Only the change lines (`A<TAB>key`, `M<TAB>key`, `D<TAB>key`) and conflict lines, nothing else.
    #[arg(short, long, alias = "porcelain")]
    short: bool,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let idx = infini::namespace::NamespaceIndex::default();
        s.repo.load_index(&idx, s.tip.as_ref())?;
        let (rows, dir_times) = diff::visible(diff::to_workspace(&s, s.tip.as_ref(), &idx.ns)?);
        // Each conflicted key: the staged value (ours) against the branch's committed one (theirs).
        let view = s.view()?;
        let mut conflicts = Vec::new();
        for key in s.conflicts() {
            let ours = view.get(&key)?;
            let theirs = idx.ns.get(&key)?;
            conflicts.push((key, ours, theirs));
        }
        let side = |e: &Option<Entry>| e.as_ref().map(|e| serde_json::json!({ "size": e.size(), "id": value_id(e) }));
        let side_text = |e: &Option<Entry>| match e {
            Some(e) => format!("{} {}", e.size(), &value_id(e)[..10]),
            None => "deleted".to_string(),
        };
        if ctx.global.json {
            let (branch, detached) = match &s.head {
                Head::Branch(b) => (Some(b.clone()), None),
                Head::Detached(p) => (None, Some(output::id(p))),
            };
            let staged: Vec<_> = rows
                .iter()
                .map(|r| serde_json::json!({ "key": r.key, "change": r.word(), "size": r.new.as_ref().map(|e| e.size()) }))
                .collect();
            return output::json(&serde_json::json!({
                "branch": branch,
                "detached": detached,
                "head": s.tip.as_ref().map(|c| output::id(&c.ptr)),
                "merging": s.staged.merge.as_ref().map(|m| m.name.clone()),
                "staged": staged,
                "directory_times": dir_times,
                "conflicts": conflicts.iter().map(|(k, o, t)| serde_json::json!({
                    "key": k, "ours": side(o), "theirs": side(t),
                })).collect::<Vec<_>>(),
            }));
        }
        if !self.short {
            output::line(match &s.head {
                Head::Branch(b) => format!("On branch {b}"),
                Head::Detached(p) => format!("HEAD detached at {} (read-only)", output::short(p)),
            })?;
            if let Some(m) = &s.staged.merge {
                output::line(format!(
                    "Merging {} ({}): `infini commit` records the merge commit once no conflict remains; `infini \
                     reset` abandons the merge",
                    m.name,
                    output::short(&m.commit)
                ))?;
            }
            if rows.is_empty() && dir_times == 0 {
                output::line("nothing staged")?;
            }
            if dir_times > 0 {
                output::line(format!(
                    "{dir_times} directory time{} staged (not listed)",
                    if dir_times == 1 { "" } else { "s" }
                ))?;
            }
        }
        diff::print(ctx, &rows)?;
        if !conflicts.is_empty() {
            let summary = format!(
                "{} unresolved conflict(s) (C<TAB>key<TAB>ours: size id<TAB>theirs: size id); {}",
                conflicts.len(),
                super::update::RESOLVE_HINT
            );
            if self.short {
                output::info(ctx, summary);
            } else {
                output::line(summary)?;
            }
            let mut text = String::new();
            for (k, o, t) in &conflicts {
                text.push_str(&format!("C\t{k}\tours: {}\ttheirs: {}\n", side_text(o), side_text(t)));
            }
            output::line(text.trim_end())?;
        }
        Ok(())
    }
}
