//! `infini tag`: create, list or delete tags, fixed names for commits.

use super::session::{refuse_repo, Session};
use super::{output, usage, Context};
use globset::GlobBuilder;
use infini::namespace::NamespaceIndex;
use std::io::Write;

/// Name a commit for good: `infini tag NAME [REV]` creates tag NAME at REV (default HEAD), `infini tag` (or `-l
/// [PATTERN]`) lists tags, `infini tag -d NAME` deletes one.
///
/// A tag never moves: creating a tag that exists is refused (exit 11, naming the commit it names); delete it
/// first with -d, after which the name may be created again. A tag name is usable wherever a revision is
/// (`checkout v1`, `get --at v1`, `log v1`, `diff v1 main`, `v1~2`). A branch and a tag never share a name: each is
/// refused while the other exists, and a revision name is looked up as a branch first, then as a tag.
///
/// A tag keeps its commit as a branch keeps its head: `gc` keeps everything the tagged commit reaches (on a
/// deleted branch too), and `forget` never forgets a tagged commit. Like a branch's, a tag's ref is checked by every
/// workspace that saw it: a tag that vanished, went back or was replaced on storage is an integrity error (exit 13)
/// naming it; `--accept-rollback NAME` accepts it as the repository holds it now. A write-only key cannot create or
/// delete tags (exit 17).
#[derive(clap::Args)]
pub struct Args {
    /// Tag name to create (or, with -l, a glob of the tags to list).
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// The commit to tag (default: HEAD).
    #[arg(value_name = "REV", add = super::complete::rev())]
    rev: Option<String>,
    /// Delete tag NAME.
    #[arg(short = 'd', long = "delete", value_name = "NAME", conflicts_with_all = ["name", "list", "accept_rollback"],
          add = super::complete::tag())]
    delete: Option<String>,
    /// List tags (the default without NAME); NAME, if given, is a glob of the tags to list (`v1.*`).
    #[arg(short = 'l', long = "list", conflicts_with_all = ["rev", "accept_rollback"])]
    list: bool,
    /// Accept tag NAME as the repository holds it now, after its ref vanished, went back or was replaced.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["name", "rev"], add = super::complete::tag())]
    accept_rollback: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if let Some(name) = &self.delete {
            refuse_repo(ctx, "`infini tag -d`")?;
            let s = Session::write(ctx)?;
            let commit = s.repo.delete_tag(name)?;
            if ctx.global.json {
                return output::json(&serde_json::json!({ "deleted": name, "commit": output::id(&commit) }));
            }
            output::info(ctx, format!("Deleted tag {name} (was {})", output::short(&commit)));
            return Ok(());
        }
        if let Some(name) = &self.accept_rollback {
            refuse_repo(ctx, "`infini tag --accept-rollback`")?;
            let s = Session::write(ctx)?;
            let (before, now) = s.repo.accept_tag(name)?;
            if ctx.global.json {
                return output::json(&serde_json::json!({
                    "accepted": name,
                    "commit": now.as_ref().map(|t| output::id(&t.commit)),
                    "seen_commit": before.as_ref().filter(|b| !b.deleted).map(|b| output::id(&b.head)),
                }));
            }
            match now {
                Some(t) => output::info(ctx, format!("Accepted tag {name} at {}", output::short(&t.commit))),
                None => output::info(ctx, format!("Accepted that tag {name} does not exist")),
            }
            return Ok(());
        }
        match self.name {
            Some(name) if !self.list => create(ctx, &name, self.rev.as_deref()),
            pattern => list(ctx, pattern.as_deref()),
        }
    }
}

fn create(ctx: &Context, name: &str, rev: Option<&str>) -> anyhow::Result<()> {
    refuse_repo(ctx, "`infini tag NAME`")?;
    let s = Session::write(ctx)?;
    let commit = match rev {
        Some(r) => s.repo.resolve(r, s.tip_ptr().as_ref())?,
        None => s.tip_ptr().ok_or_else(|| infini::Error::not_found("revision HEAD (nothing committed yet)"))?,
    };
    let tag = s.repo.create_tag(name, &commit, &NamespaceIndex::default())?;
    if ctx.global.json {
        return output::json(&serde_json::json!({ "tag": tag.name, "commit": output::id(&tag.commit) }));
    }
    output::info(ctx, format!("Tagged {} as {name}", output::short(&tag.commit)));
    Ok(())
}

fn list(ctx: &Context, pattern: Option<&str>) -> anyhow::Result<()> {
    let glob = pattern
        .map(|p| {
            GlobBuilder::new(p)
                .literal_separator(false)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| usage(format!("invalid pattern {p:?}: {e}")))
        })
        .transpose()?;
    let s = Session::read(ctx)?;
    let tags: Vec<_> =
        s.repo.tags()?.into_iter().filter(|t| glob.as_ref().is_none_or(|g| g.is_match(&t.name))).collect();
    if ctx.global.json {
        let v: Vec<_> = tags
            .iter()
            .map(|t| {
                let c = s.repo.read_commit(&t.commit)?;
                Ok(serde_json::json!({
                    "name": t.name,
                    "commit": output::id(&t.commit),
                    "message": c.message(),
                    "time": c.time(),
                }))
            })
            .collect::<anyhow::Result<_>>()?;
        return output::json(&serde_json::Value::Array(v));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for t in &tags {
        writeln!(out, "{} {}", t.name, output::short(&t.commit))?;
    }
    out.flush()?;
    Ok(())
}
