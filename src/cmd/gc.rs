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
    /// Drop the claims of commits in progress recorded in the gc ref first. A commit claims the packs it is about
    /// to publish and releases the claim when done; a commit killed in between leaves its claim, which keeps those
    /// packs. Only use this while no commit is running: a commit whose claim is dropped may publish pointers into
    /// packs this run condemns.
    #[arg(long)]
    drop_claims: bool,
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
                drop_claims: self.drop_claims,
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
        if plan.forward_tables_deleted > 0 {
            output::info(
                ctx,
                format!("{verb} delete {} forwarding table(s) no forward names", plan.forward_tables_deleted),
            );
        }
        let freed = if self.dry_run { "would free" } else { "freed" };
        output::info(ctx, format!("{freed} {}", output::bytes(plan.freed_bytes)));
        if plan.claims_dropped > 0 {
            output::info(
                ctx,
                format!("dropped {} claim(s) of commits in progress (--drop-claims)", plan.claims_dropped),
            );
        }
        if plan.claimed_packs > 0 {
            output::info(
                ctx,
                format!(
                    "kept {} unreachable pack(s) claimed by {} commit(s) in progress (a commit that was killed leaves \
                     its claim: see --drop-claims)",
                    plan.claimed_packs, plan.claims
                ),
            );
        }
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
                    "{verb} repack {}, {} (moved {} live chunk(s), {}, into {} new pack(s), {}); \
                     they are deleted once condemned for over {}, freeing {}",
                    match (plan.repack.len() - plan.consolidated, plan.consolidated) {
                        (g, 0) => format!("{g} mostly-garbage pack(s)"),
                        (0, c) => format!("{c} small pack(s) into larger ones"),
                        (g, c) => format!("{g} mostly-garbage and {c} small pack(s)"),
                    },
                    output::bytes(plan.repack_bytes),
                    plan.moved_chunks,
                    output::bytes(plan.moved_bytes),
                    plan.new_packs.len(),
                    output::bytes(plan.new_pack_bytes),
                    self.grace,
                    output::bytes(plan.repack_bytes.saturating_sub(plan.new_pack_bytes))
                ),
            );
        }
        for (p, pct) in &plan.partly_garbage {
            output::info(ctx, format!("kept {p}: {pct}% garbage"));
        }
        Ok(())
    }
}
