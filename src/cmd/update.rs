//! `infini update`: take the branch's new head as the base of the staged changes, keeping them.

use super::session::{Rebased, Session, Side};
use super::{output, Context};

/// Move the workspace to the branch's current head while keeping the staged changes on top of it (what to do
/// after `commit` stopped with a conflict, exit code 11).
///
/// Keys that both sides changed differently become conflicts, listed by `infini status`: keep your value with
/// `infini put KEY ...` (or all of them with --ours), take the branch's with `infini reset KEY` (or all with
/// --theirs); `infini commit` refuses while any is unresolved, and `update` itself exits 11 while any remains.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub side: SideArgs,
}

/// `--ours` / `--theirs`.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct SideArgs {
    /// Resolve every conflict with your staged value.
    #[arg(long, conflicts_with = "theirs")]
    pub ours: bool,
    /// Resolve every conflict with the branch's value (your change of those keys is unstaged).
    #[arg(long)]
    pub theirs: bool,
}

impl SideArgs {
    /// The side asked for, if any.
    pub fn side(self) -> Option<Side> {
        match (self.ours, self.theirs) {
            (true, _) => Some(Side::Ours),
            (_, true) => Some(Side::Theirs),
            _ => None,
        }
    }
}

/// Conflicts an update left that are not resolved yet (exit code 11): neither `update` nor `commit` can go on until
/// each is settled by staging it again or unstaging it.
#[derive(Debug, thiserror::Error)]
#[error("{} unresolved conflict(s): {}", keys.len(), keys.join(", "))]
pub struct Unresolved {
    /// The conflicted keys.
    pub keys: Vec<String>,
}

impl Unresolved {
    /// The exact commands that settle the conflicts, naming the first key.
    pub fn next_steps(&self) -> String {
        let k = self.keys.first().map(String::as_str).unwrap_or("KEY");
        let k = if k.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) {
            k.to_string()
        } else {
            format!("'{}'", k.replace('\'', "'\\''"))
        };
        format!(
            "for each key, keep yours with `infini put {k} FILE` (the same bytes again are fine) or `infini rm {k}`, \
             or take the branch's with `infini reset {k}`; all at once: `infini update --ours` or `infini update \
             --theirs`; `infini status` shows both sides; then `infini commit`"
        )
    }
}

/// What to do about the conflicts an update left, for messages.
pub const RESOLVE_HINT: &str = "keep yours with `infini put KEY` (all: `infini update --ours`), take the branch's \
                                with `infini reset KEY` (all: `infini update --theirs`), then `infini commit`";

/// Report an update on stderr (or as JSON on stdout).
pub fn report(ctx: &Context, s: &Session, r: &Rebased) -> anyhow::Result<()> {
    let head = s.tip.as_ref().map(|c| output::id(&c.ptr));
    if ctx.global.json {
        return output::json(&serde_json::json!({
            "head": head,
            "staged": r.staged,
            "dropped": r.dropped,
            "conflicts": r.conflicts,
        }));
    }
    let at = s.tip.as_ref().map(|c| output::short(&c.ptr)).unwrap_or_else(|| "an empty branch".into());
    output::info(ctx, format!("now based on {at}; {} staged change(s) kept", r.staged));
    if !r.conflicts.is_empty() {
        output::info(ctx, format!("{} conflict(s): {}", r.conflicts.len(), r.conflicts.join(", ")));
    }
    Ok(())
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mut s = Session::write(ctx)?;
        s.branch_for_write()?;
        let r = s.update(self.side.side())?;
        report(ctx, &s, &r)?;
        match s.conflicts() {
            keys if keys.is_empty() => Ok(()),
            keys => Err(Unresolved { keys }.into()),
        }
    }
}
