//! `infini gc`: remove packs no branch needs any more.

use super::progress::Bar;
use super::session::{refuse_repo, Session};
use super::{output, usage, Context};
use infini::namespace::NamespaceIndex;
use infini::GcOptions;

/// Collect garbage in two phases: packs no branch reaches are first condemned, and deleted by a later run once
/// they have stayed condemned and unreachable for the grace period, so concurrent writers never lose data.
/// Staged (uncommitted) changes are not reachable from any branch: commit them within the grace period.
#[derive(clap::Args)]
pub struct Args {
    /// Show the plan without changing anything.
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// How long a pack stays condemned before it is deleted (e.g. 24h, 30m, 0s).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    grace: String,
    /// How old (by the storage's own clock) an unreachable pack must be before it is condemned: younger packs may
    /// hold data a workspace staged and has not committed yet.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    min_age: String,
    /// Repack packs at least this percent garbage: their live chunks are copied into new packs (readers of old
    /// commits follow a sealed forwarding table) and the old packs condemned, so a run after the grace period
    /// frees them. 100 never repacks.
    #[arg(long, default_value_t = infini::DEFAULT_REPACK_THRESHOLD, value_name = "PCT",
          value_parser = clap::value_parser!(u8).range(1..=100))]
    repack_threshold: u8,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let grace = humantime::parse_duration(&self.grace).map_err(|e| usage(format!("invalid --grace: {e}")))?;
        let min_age = humantime::parse_duration(&self.min_age).map_err(|e| usage(format!("invalid --min-age: {e}")))?;
        if !self.dry_run {
            refuse_repo(ctx, "`infini gc`")?;
        }
        let s = Session::read(ctx)?;
        let bar = Bar::phases(ctx, "gc");
        let plan = s.repo.gc(
            &NamespaceIndex::default(),
            &GcOptions {
                grace_secs: grace.as_secs(),
                min_age_secs: min_age.as_secs(),
                repack_threshold: self.repack_threshold,
                dry_run: self.dry_run,
                progress: bar.sink(),
            },
        )?;
        drop(bar);
        if ctx.global.json {
            let mut v = serde_json::to_value(&plan)?;
            v["dry_run"] = serde_json::json!(self.dry_run);
            return output::json(&v);
        }
        let verb = if self.dry_run { "would" } else { "did" };
        output::info(ctx, format!("{} packs, {} in use", plan.packs, plan.live_packs));
        output::info(ctx, format!("{verb} condemn {} unreachable pack(s)", plan.condemn.len()));
        output::info(
            ctx,
            format!(
                "{verb} delete {} pack(s) condemned for over {}, {}",
                plan.delete.len(),
                self.grace,
                output::bytes(plan.delete_bytes)
            ),
        );
        if plan.too_young > 0 {
            output::info(
                ctx,
                format!("left {} unreachable pack(s) younger than {} alone (--min-age)", plan.too_young, self.min_age),
            );
        }
        if !plan.pardon.is_empty() {
            output::info(ctx, format!("{verb} pardon {} condemned pack(s) in use again", plan.pardon.len()));
        }
        if !plan.repack.is_empty() {
            output::info(
                ctx,
                format!(
                    "{verb} repack {} mostly-garbage pack(s), {} (moved {} live chunk(s), {}, into {} new pack(s)); \
                     they are deleted once condemned for over {}",
                    plan.repack.len(),
                    output::bytes(plan.repack_bytes),
                    plan.moved_chunks,
                    output::bytes(plan.moved_bytes),
                    plan.new_packs.len(),
                    self.grace
                ),
            );
        }
        for (p, pct) in &plan.partly_garbage {
            output::info(ctx, format!("kept {p}: {pct}% garbage"));
        }
        Ok(())
    }
}
