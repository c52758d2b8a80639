//! `infini forget`: apply a retention policy, forgetting the commits it does not keep.

use super::progress::Bar;
use super::session::{refuse_repo, Session};
use super::{output, usage, Context};
use infini::retention::{KeepRule, RetentionPolicy};
use infini::{CommitRetention, ForgetOptions, ForgetOutcome, ForgetRun, ForgetScope};

/// Forget the commits a retention policy does not keep, so that `infini gc` frees what only they held.
///
/// Rules work like restic's, on commit time: --keep-last N keeps the newest N commits; --keep-hourly, --keep-daily,
/// --keep-weekly, --keep-monthly and --keep-yearly N keep the newest commit of each of the last N hours, days, ISO
/// weeks, months or years that have one (calendar periods in UTC, so every host decides the same); --keep-within
/// DURATION keeps every commit at most DURATION older than the newest. A commit any rule keeps is kept, and so are
/// branch heads and commits another branch reaches. The policy walks the branch's first-parent history (HEAD's
/// branch, the one --branch names, or every branch with --all).
///
/// Forgotten commits keep their ids and headers: `infini log` shows each forgotten stretch as one line, kept
/// commits keep their ids, and a concurrent commit is never lost. Reading a forgotten commit (`checkout`,
/// `get --at`) fails (exit 3) naming the run that forgot it. The data is freed by `infini gc`, after its grace
/// period.
///
/// Without rules, forget applies the policy stored in the repository for the branch (else the one stored for every
/// branch): store one with --set-policy, so every host applies the same rule.
#[derive(clap::Args)]
pub struct Args {
    /// Keep the newest N commits.
    #[arg(long, value_name = "N")]
    keep_last: Option<u32>,
    /// Keep the newest commit of each of the last N hours that have one.
    #[arg(long, value_name = "N")]
    keep_hourly: Option<u32>,
    /// Keep the newest commit of each of the last N days (UTC) that have one.
    #[arg(long, value_name = "N")]
    keep_daily: Option<u32>,
    /// Keep the newest commit of each of the last N ISO weeks (UTC) that have one.
    #[arg(long, value_name = "N")]
    keep_weekly: Option<u32>,
    /// Keep the newest commit of each of the last N months (UTC) that have one.
    #[arg(long, value_name = "N")]
    keep_monthly: Option<u32>,
    /// Keep the newest commit of each of the last N years (UTC) that have one.
    #[arg(long, value_name = "N")]
    keep_yearly: Option<u32>,
    /// Keep every commit at most DURATION older than the branch's newest commit (e.g. 30d, 36h).
    #[arg(long, value_name = "DURATION")]
    keep_within: Option<String>,
    /// Apply to every branch (default: HEAD's branch, or the one --branch names).
    #[arg(long)]
    all: bool,
    /// List every commit with the rules that keep it, or that it would be forgotten; change nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// Store the given rules in the repository as the branch's policy (with --all: every branch's), instead of
    /// applying them; `forget` without rules applies it.
    #[arg(long)]
    set_policy: bool,
    /// Remove the stored policy of the branch (with --all: the one for every branch).
    #[arg(long, conflicts_with = "set_policy")]
    clear_policy: bool,
}

impl Args {
    fn policy(&self) -> anyhow::Result<Option<RetentionPolicy>> {
        let within = match &self.keep_within {
            Some(d) => Some(
                humantime::parse_duration(d).map_err(|e| usage(format!("invalid --keep-within {d:?}: {e}")))?.as_secs(),
            ),
            None => None,
        };
        let p = RetentionPolicy {
            last: self.keep_last,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
            within,
        };
        let given = p != RetentionPolicy::default();
        if given && p.is_empty() {
            return Err(usage("every --keep rule given keeps nothing (0): a policy must keep something"));
        }
        Ok(given.then_some(p))
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let policy = self.policy()?;
        if !self.dry_run {
            refuse_repo(ctx, "`infini forget`")?;
        }
        let s = Session::read(ctx)?;
        let scope = if self.all {
            if ctx.global.branch.is_some() {
                return Err(usage("--all and --branch exclude each other"));
            }
            ForgetScope::All
        } else {
            match &ctx.global.branch {
                Some(b) => ForgetScope::Branch(b.clone()),
                None => ForgetScope::Branch(s.branch_for_write()?.to_string()),
            }
        };
        let target = match &scope {
            ForgetScope::All => "every branch".to_string(),
            ForgetScope::Branch(b) => format!("branch {b}"),
        };
        if self.set_policy || self.clear_policy {
            if self.set_policy && policy.is_none() {
                return Err(usage("--set-policy needs at least one --keep rule"));
            }
            if self.dry_run {
                return Err(usage(
                    "--dry-run shows what forget would do; it does not go with --set-policy or --clear-policy",
                ));
            }
            s.repo.set_retention_policy(&scope, policy.clone())?;
            if ctx.global.json {
                return output::json(&serde_json::json!({
                    "scope": target,
                    "policy": policy.as_ref().map(|p| p.to_string()),
                }));
            }
            match policy {
                Some(p) => output::info(ctx, format!("stored the policy of {target}: {p}")),
                None => output::info(ctx, format!("removed the stored policy of {target}")),
            }
            return Ok(());
        }
        let bar = Bar::phases(ctx, "forget");
        let outcome = s.repo.forget(&scope, &ForgetOptions { policy, dry_run: self.dry_run, progress: bar.sink() })?;
        drop(bar);
        if ctx.global.json {
            return output::json(&outcome_json(&outcome, self.dry_run));
        }
        let verb = if self.dry_run { "would forget" } else { "forgot" };
        for b in &outcome.branches {
            let kept = b.commits.iter().filter(|c| !c.forget && !c.already_forgotten).count();
            let newly = b.commits.iter().filter(|c| c.forget).count();
            let already = b.commits.iter().filter(|c| c.already_forgotten).count();
            output::info(
                ctx,
                format!(
                    "branch {} ({}): {} commit(s), keep {kept}, {verb} {newly}{}",
                    b.branch,
                    b.policy,
                    b.commits.len(),
                    if already > 0 { format!(", {already} forgotten before") } else { String::new() }
                ),
            );
            if self.dry_run {
                for c in &b.commits {
                    output::line(format!(
                        "{} {} {:<24} {}",
                        &c.id.to_hex()[..10],
                        output::time(c.time),
                        action(c),
                        c.message.lines().next().unwrap_or("")
                    ))?;
                }
            }
        }
        match &outcome.run {
            Some(run) => output::info(
                ctx,
                format!(
                    "forgot {} commit(s): {run}; `infini gc` frees their data once it has been condemned for the grace \
                     period",
                    run.forgotten
                ),
            ),
            None if !self.dry_run => output::info(ctx, "nothing new to forget"),
            None => {}
        }
        Ok(())
    }
}

/// What happens to a commit, for the listing: the rules that keep it, or `forget`.
fn action(c: &CommitRetention) -> String {
    if c.already_forgotten {
        "forgotten before".into()
    } else if c.forget {
        "forget".into()
    } else if c.kept_elsewhere {
        "keep (another branch)".into()
    } else {
        let rules: Vec<String> = c
            .keep
            .iter()
            .map(|r| match r {
                KeepRule::Tag => c.tags.iter().map(|t| format!("tag {t}")).collect::<Vec<_>>().join(","),
                r => r.name().to_string(),
            })
            .collect();
        format!("keep {}", rules.join(","))
    }
}

/// A forget run as JSON.
pub fn run_json(r: &ForgetRun) -> serde_json::Value {
    serde_json::json!({
        "number": r.number,
        "time": r.time,
        "host": r.host,
        "branches": r.branches,
        "policy": r.policy,
        "forgotten": r.forgotten,
    })
}

fn outcome_json(o: &ForgetOutcome, dry_run: bool) -> serde_json::Value {
    let branches: Vec<serde_json::Value> = o
        .branches
        .iter()
        .map(|b| {
            serde_json::json!({
                "branch": b.branch,
                "policy": b.policy.to_string(),
                "commits": b.commits.iter().map(|c| serde_json::json!({
                    "id": c.id.to_hex(),
                    "time": c.time,
                    "message": c.message,
                    "keep": c.keep.iter().map(|r| r.name()).collect::<Vec<_>>(),
                    "tags": c.tags,
                    "action": if c.already_forgotten { "forgotten" } else if c.forget { "forget" } else { "keep" },
                    "kept_elsewhere": c.kept_elsewhere,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "dry_run": dry_run,
        "forgotten": o.forgotten,
        "run": o.run.as_ref().map(run_json),
        "branches": branches,
    })
}
