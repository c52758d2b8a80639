//! `infini copy`: copy history (commits, branches and tags) into another repository, which keeps its own key.

use super::progress::Bar;
use super::session::{cwd, open_backend, store_options, watch_refs, Session};
use super::{output, password, Context};
use anyhow::Context as _;
use infini::fields::Change;
use infini::namespace::{Entry, NamespaceIndex, FIELD};
use infini::workspace::{Workspace, DIR};
use infini::{ChunkPointer, CommitId, CommitInfo, Error, Forgotten, Importer, Repository};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// Copy commits, branches and tags into another repository (a directory or s3://BUCKET[/PREFIX]) that has its own
/// key.
///
/// Each commit is copied with its message, time, host, metadata and parents; its values are read here and written
/// there under the target's keys, so only data the target does not hold yet is uploaded. A commit already copied is
/// never copied again: every copy records the id of the commit it copies (sealed in the copy), so a second run
/// transfers nothing new and a run that was killed resumes where it stopped. A target branch that has commits of
/// its own (or went elsewhere) is refused, never overwritten.
///
/// Merge commits are copied with both parents (the merged history first). Tags come along: with --all every tag;
/// with branches named (or the current one) every tag that names a commit of their history; a tag named instead of
/// a branch is copied with its history and no branch. A tag the target already has at the copy of the same commit
/// is left as it is; one at another commit is refused (exit 11: tags never move), as is a branch or tag whose name
/// the target uses for the other kind, all before anything is written.
#[derive(clap::Args)]
pub struct Args {
    /// The target repository: a directory, s3://BUCKET[/PREFIX], or a workspace (its repository). It must exist
    /// (`infini init`); its password is asked for separately (INFINI_TO_PASSWORD, --to-password-file,
    /// --to-password-command).
    #[arg(long, value_name = "REPO")]
    to: String,
    /// Branches (or tags) to copy (default: the current branch; with -R, --branch or main), with the tags that name
    /// commits of their history.
    #[arg(value_name = "NAME", add = super::complete::rev())]
    branches: Vec<String>,
    /// Copy every branch and every tag.
    #[arg(long, conflicts_with = "branches")]
    all: bool,
    /// S3 endpoint URL of the target (default: --endpoint, else AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    to_endpoint: Option<String>,
    /// S3 region of the target (default: --region, else AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    to_region: Option<String>,
    /// Read the target's password from FILE.
    #[arg(long, env = "INFINI_TO_PASSWORD_FILE", value_name = "FILE")]
    to_password_file: Option<PathBuf>,
    /// Run COMMAND (with sh -c) and use its output as the target's password.
    #[arg(long, env = "INFINI_TO_PASSWORD_COMMAND", value_name = "COMMAND")]
    to_password_command: Option<String>,
}

/// What a run did, for the summary.
#[derive(Default)]
struct Counts {
    copied: u64,
    skipped: u64,
    forgotten: u64,
    values: u64,
    value_bytes: u64,
}

/// What a run copies: branches (each moved to the copy of its head) and tags (each created at the copy of its
/// commit), with the commit each names in the source.
#[derive(Default)]
struct Selection {
    branches: Vec<(String, ChunkPointer)>,
    tags: Vec<(String, ChunkPointer)>,
}

/// The source's history as the copy walks it.
struct Source<'a> {
    repo: &'a Repository,
    forgotten: Forgotten,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let src = Session::read(ctx)?;
        let Selection { branches, tags } = self.to_copy(&src)?;
        let (location, target) = self.open_target(ctx)?;
        if target.config().id == src.repo.config().id {
            return Err(super::usage(format!("{location} is the repository being copied from")));
        }
        let source = Source { repo: &src.repo, forgotten: src.repo.forgotten()? };
        let bar = Bar::spinner(ctx, "copy", &format!("reading what {location} holds"));
        let mut copies: HashMap<CommitId, CommitInfo> = infini::copies(&target)?;
        // Every branch is checked before anything is written: a refusal leaves the target as it was.
        let mut plans = Vec::new();
        for (name, head) in &branches {
            let current = target.branch(name)?;
            if let Some(t) = &current {
                check_fast_forward(&source, &target, name, head, &t.head)?;
            }
            if target.tag(name)?.is_some() {
                return Err(shared_name("branch", name, "a tag"));
            }
            plans.push((name.clone(), *head, current.map(|b| b.head)));
        }
        // Tags never move: one the target has is fine at the copy of the same commit only.
        let mut tag_plans = Vec::new();
        let mut tag_report = Vec::new();
        for (name, commit) in &tags {
            if target.branch(name)?.is_some() {
                return Err(shared_name("tag", name, "a branch"));
            }
            match target.tag(name)? {
                None => tag_plans.push((name.clone(), *commit)),
                Some(t) => {
                    let there = target.read_commit(&t.commit)?;
                    if there.copied_from() != Some(commit.commit_id()) {
                        return Err(Error::Conflict {
                            what: format!(
                                "tag {name} of the target names commit {}, which is not a copy of commit {} it names \
                                 here; tags never move, nothing was copied: delete the target's tag (tag -d) or copy \
                                 the branches by name without it",
                                output::short(&t.commit),
                                output::short(commit)
                            ),
                        }
                        .into());
                    }
                    tag_report.push((name.clone(), *commit, t.commit, false));
                }
            }
        }
        let importer = target.importer()?;
        let mut counts = Counts::default();
        let mut report = Vec::new();
        for (name, head, current) in plans {
            let order = to_copy(&source, &head, &copies)?;
            let chain = first_parent_chain(&source, &head, &copies)?;
            let mut at = current;
            let total = order.len();
            for (i, c) in order.into_iter().enumerate() {
                bar.message(&format!("branch {name}: commit {} of {total}", i + 1));
                let copy = copy_commit(&source, &target, &importer, &c, &copies, &mut counts)?;
                counts.copied += 1;
                if chain.contains(&c.id()) {
                    importer.advance(&name, at.as_ref(), &copy.ptr)?;
                    at = Some(copy.ptr);
                }
                copies.insert(c.id(), copy);
            }
            let tip = copies
                .get(&head.commit_id())
                .map(|c| c.ptr)
                .ok_or_else(|| Error::Internal { what: format!("the copy of branch {name}'s head was not made") })?;
            if at.map(|p| p.commit_id()) != Some(tip.commit_id()) {
                importer.advance(&name, at.as_ref(), &tip)?;
            }
            report.push((name, head, tip, total));
        }
        // Each tag's history (mostly copied with the branches by now), then the tag, created as `tag` creates one
        // (claiming what it roots) while the importer's claim still holds what was written.
        for (name, commit) in tag_plans {
            let order = to_copy(&source, &commit, &copies)?;
            let total = order.len();
            for (i, c) in order.into_iter().enumerate() {
                bar.message(&format!("tag {name}: commit {} of {total}", i + 1));
                let copy = copy_commit(&source, &target, &importer, &c, &copies, &mut counts)?;
                counts.copied += 1;
                copies.insert(c.id(), copy);
            }
            let at = copies
                .get(&commit.commit_id())
                .map(|c| c.ptr)
                .ok_or_else(|| Error::Internal { what: format!("the copy of tag {name}'s commit was not made") })?;
            target.create_tag(&name, &at, &NamespaceIndex::default())?;
            tag_report.push((name, commit, at, true));
        }
        tag_report.sort_by(|a, b| a.0.cmp(&b.0));
        let tags_copied = tag_report.iter().filter(|t| t.3).count();
        importer.finish()?;
        target.flush()?;
        let written = target.write_stats();
        // Commits the branches copied reach that had a copy already.
        let heads: Vec<ChunkPointer> =
            report.iter().map(|(_, head, _, _)| *head).chain(tag_report.iter().map(|t| t.1)).collect();
        counts.skipped = reachable(&source, &heads)?.saturating_sub(counts.copied);
        drop(bar);
        if ctx.global.json {
            output::json(&serde_json::json!({
                "target": location,
                "branches": report.iter().map(|(name, head, tip, n)| serde_json::json!({
                    "name": name,
                    "head": output::id(head),
                    "target_head": output::id(tip),
                    "copied": n,
                })).collect::<Vec<_>>(),
                "tags": tag_report.iter().map(|(name, commit, at, created)| serde_json::json!({
                    "name": name,
                    "commit": output::id(commit),
                    "target_commit": output::id(at),
                    "created": created,
                })).collect::<Vec<_>>(),
                "commits_copied": counts.copied,
                "tags_copied": tags_copied,
                "commits_skipped": counts.skipped,
                "forgotten_copied": counts.forgotten,
                "values_copied": counts.values,
                "value_bytes": counts.value_bytes,
                "chunks_uploaded": written.chunks_written,
                "chunks_deduplicated": written.chunks_deduped,
                "packs_uploaded": written.packs_written,
                "bytes_uploaded": written.pack_bytes_written,
            }))?;
        } else {
            for (name, _, tip, n) in &report {
                output::info(ctx, format!("branch {name}: {n} commits copied, now at {}", output::short(tip)));
            }
            for (name, _, at, _) in tag_report.iter().filter(|t| t.3) {
                output::info(ctx, format!("tag {name}: created at {}", output::short(at)));
            }
            output::info(
                ctx,
                format!(
                    "Copied {} commits ({} already there) and {tags_copied} tags into {location}: {} uploaded",
                    counts.copied,
                    counts.skipped,
                    output::bytes(written.pack_bytes_written)
                ),
            );
        }
        Ok(())
    }

    /// The branches and tags named (or the current branch, or every branch and tag with --all), with the commits
    /// they name; with branches, every tag that names a commit of their history too.
    fn to_copy(&self, src: &Session) -> anyhow::Result<Selection> {
        let repo = &src.repo;
        if self.all {
            let branches: Vec<_> = repo.branches()?.into_iter().map(|b| (b.name, b.head)).collect();
            let tags: Vec<_> = repo.tags()?.into_iter().map(|t| (t.name, t.commit)).collect();
            if branches.is_empty() && tags.is_empty() {
                return Err(Error::not_found("branches to copy: the repository has none").into());
            }
            return Ok(Selection { branches, tags });
        }
        let names =
            if self.branches.is_empty() { vec![src.branch_for_write()?.to_string()] } else { self.branches.clone() };
        let mut sel = Selection::default();
        for name in names {
            if sel.branches.iter().chain(&sel.tags).any(|(n, _)| *n == name) {
                continue;
            }
            // Looked up as a revision's name is: a branch first, then a tag.
            let as_branch = Repository::check_branch_name(&name);
            if as_branch.is_ok() {
                if let Some(b) = repo.branch(&name)? {
                    sel.branches.push((name, b.head));
                    continue;
                }
            }
            if Repository::check_tag_name(&name).is_ok() {
                if let Some(t) = repo.tag(&name)? {
                    sel.tags.push((name, t.commit));
                    continue;
                }
            }
            as_branch?;
            return Err(Error::not_found(format!("branch or tag {name}")).into());
        }
        if !sel.branches.is_empty() {
            let others: Vec<_> =
                repo.tags()?.into_iter().filter(|t| !sel.tags.iter().any(|(n, _)| *n == t.name)).collect();
            if !others.is_empty() {
                let heads: Vec<ChunkPointer> = sel.branches.iter().map(|(_, h)| *h).collect();
                let history = history(repo, &heads)?;
                sel.tags.extend(
                    others.into_iter().filter(|t| history.contains(&t.commit.commit_id())).map(|t| (t.name, t.commit)),
                );
            }
        }
        Ok(sel)
    }

    /// The target, opened with its own password. A workspace names its repository (wherever it lives, with the S3
    /// settings it was made with), and its last seen states of the refs are checked and kept, as for any command
    /// run in it.
    fn open_target(&self, ctx: &Context) -> anyhow::Result<(String, Repository)> {
        let mut global = ctx.global.clone();
        global.repo = None;
        global.endpoint = self.to_endpoint.clone().or(global.endpoint);
        global.region = self.to_region.clone().or(global.region);
        global.password_file = None;
        global.password_command = None;
        global.cache_size = None;
        global.cache_dir = None;
        let tctx = Context { global };
        let ws = if self.to.starts_with("s3://") {
            None
        } else {
            let p = cwd(ctx)?.join(&self.to);
            if p.join(DIR).join("config.json").is_file() {
                Some(Workspace::open(&p)?)
            } else {
                None
            }
        };
        let location = match (&ws, self.to.starts_with("s3://")) {
            (Some(ws), _) => ws.repo_location(),
            (None, true) => self.to.clone(),
            (None, false) => {
                let p = cwd(ctx)?.join(&self.to);
                std::fs::canonicalize(&p).unwrap_or(p).display().to_string()
            }
        };
        let remote = location.starts_with("s3://");
        let backend = open_backend(&tctx, &location, ws.as_ref(), false).context("opening the target")?;
        let pw = password::get_target(&password::TargetSources {
            file: self.to_password_file.as_deref(),
            command: self.to_password_command.as_deref(),
            what: &location,
        })?;
        let key = password::unlock(&tctx, &*backend, &pw).context("unlocking the target")?.key;
        let mut repo = Repository::with_key(backend, key, store_options(&tctx, ws.as_ref(), remote))?;
        if let Some(ws) = &ws {
            watch_refs(ws, &mut repo)?;
        }
        Ok((location, repo))
    }
}

/// Refuse to move target branch `name` from `target_head` unless it is a copy of `head` or of one of its
/// ancestors: a branch that has commits of its own there, or a copy of history the source no longer has, is never
/// overwritten.
fn check_fast_forward(
    source: &Source<'_>,
    target: &Repository,
    name: &str,
    head: &ChunkPointer,
    target_head: &ChunkPointer,
) -> anyhow::Result<()> {
    let t = target.read_commit(target_head)?;
    let diverged = |why: &str| -> anyhow::Result<()> {
        Err(Error::Conflict {
            what: format!(
                "branch {name} of the target has diverged from the one being copied ({why}); nothing was copied: \
                 copy it under another name (fork it here first) or remove the target's branch"
            ),
        }
        .into())
    };
    let Some(origin) = t.copied_from() else {
        return diverged(&format!(
            "its head {} is not a copy of a commit of this repository",
            output::short(target_head)
        ));
    };
    let mut stack = vec![*head];
    let mut seen = HashSet::new();
    while let Some(p) = stack.pop() {
        if p.commit_id() == origin {
            return Ok(());
        }
        if seen.insert(p.commit_id()) {
            stack.extend(source.repo.read_commit(&p)?.parent_pointers());
        }
    }
    diverged(&format!(
        "its head is a copy of commit {}, which branch {name} here does not reach",
        &origin.to_hex()[..10]
    ))
}

/// The commits reachable from `head` that have no copy yet, parents before children.
fn to_copy(
    source: &Source<'_>,
    head: &ChunkPointer,
    copies: &HashMap<CommitId, CommitInfo>,
) -> anyhow::Result<Vec<CommitInfo>> {
    let mut order = Vec::new();
    let mut done: HashSet<CommitId> = HashSet::new();
    // Depth first, each commit emitted once all its parents are.
    let mut stack: Vec<(CommitInfo, usize)> = Vec::new();
    let push = |p: &ChunkPointer, stack: &mut Vec<(CommitInfo, usize)>, done: &HashSet<CommitId>| {
        let id = p.commit_id();
        if copies.contains_key(&id) || done.contains(&id) {
            return Ok::<_, anyhow::Error>(());
        }
        stack.push((source.repo.read_commit(p)?, 0));
        Ok(())
    };
    push(head, &mut stack, &done)?;
    while let Some((c, i)) = stack.pop() {
        let parents = c.parent_pointers();
        if i < parents.len() {
            let next = parents[i];
            stack.push((c, i + 1));
            push(&next, &mut stack, &done)?;
            continue;
        }
        if done.insert(c.id()) {
            order.push(c);
        }
    }
    Ok(order)
}

/// The first-parent history of `head` down to its first commit that has a copy: the commits a branch moves
/// through, one at a time, as they are copied.
fn first_parent_chain(
    source: &Source<'_>,
    head: &ChunkPointer,
    copies: &HashMap<CommitId, CommitInfo>,
) -> anyhow::Result<HashSet<CommitId>> {
    let mut out = HashSet::new();
    let mut p = Some(*head);
    while let Some(ptr) = p {
        let id = ptr.commit_id();
        if copies.contains_key(&id) || !out.insert(id) {
            break;
        }
        p = source.repo.read_commit(&ptr)?.parent_pointers().first().copied();
    }
    Ok(out)
}

/// The commits `heads` reach (through every parent).
fn history(repo: &Repository, heads: &[ChunkPointer]) -> anyhow::Result<HashSet<CommitId>> {
    let mut seen = HashSet::new();
    let mut stack = heads.to_vec();
    while let Some(p) = stack.pop() {
        if seen.insert(p.commit_id()) {
            stack.extend(repo.read_commit(&p)?.parent_pointers());
        }
    }
    Ok(seen)
}

/// How many commits `heads` reach.
fn reachable(source: &Source<'_>, heads: &[ChunkPointer]) -> anyhow::Result<u64> {
    Ok(history(source.repo, heads)?.len() as u64)
}

/// A branch or tag whose name the target uses for the other kind (a branch and a tag never share a name).
fn shared_name(kind: &str, name: &str, other: &str) -> anyhow::Error {
    Error::AlreadyExists {
        what: format!(
            "{kind} {name}: the target has {other} of that name, and a branch and a tag never share a name; nothing \
             was copied"
        ),
    }
    .into()
}

/// The nearest commit at or below `c` on its first-parent line that is not forgotten (whose state can be read).
fn kept_base(source: &Source<'_>, c: Option<CommitInfo>) -> anyhow::Result<Option<CommitInfo>> {
    let mut cur = c;
    while let Some(c) = cur {
        if !source.forgotten.contains(&c.id()) {
            return Ok(Some(c));
        }
        cur = source.repo.first_parent(&c)?;
    }
    Ok(None)
}

/// Copy one commit whose parents all have copies: its state is its first parent's copy with the source's
/// differences from that parent (from the nearest one not forgotten) applied, value by value.
fn copy_commit(
    source: &Source<'_>,
    target: &Repository,
    importer: &Importer<'_>,
    c: &CommitInfo,
    copies: &HashMap<CommitId, CommitInfo>,
    counts: &mut Counts,
) -> anyhow::Result<CommitInfo> {
    let parents: Vec<ChunkPointer> = c
        .parent_ids()
        .iter()
        .map(|p| {
            copies.get(p).map(|c| c.ptr).ok_or_else(|| Error::Internal { what: format!("parent {p} has no copy yet") })
        })
        .collect::<Result<_, _>>()?;
    let parent_copy = c.parent_ids().first().and_then(|p| copies.get(p)).cloned();
    let into = NamespaceIndex::default();
    target.load_index(&into, parent_copy.as_ref())?;
    let forgotten = source.forgotten.contains(&c.id());
    if !forgotten {
        let state = source.repo.state(c)?;
        if let Some(other) = state.keys().find(|k| k.as_str() != FIELD) {
            return Err(Error::Invalid(format!(
                "commit {} holds a field {other:?} that is not the command line's namespace: copy copies only \
                 repositories the command line writes",
                c.id()
            ))
            .into());
        }
        let old = NamespaceIndex::default();
        let base = kept_base(source, source.repo.first_parent(c)?)?;
        source.repo.load_index(&old, base.as_ref())?;
        let new = NamespaceIndex::default();
        source.repo.load_index(&new, Some(c))?;
        for change in old.ns.diff(&new.ns)? {
            match change? {
                Change::Added { key, value } | Change::Changed { key, new: value, .. } => {
                    let entry = copy_value(source.repo, target, &value)?;
                    counts.values += 1;
                    counts.value_bytes += value.size();
                    into.ns.insert(key, entry);
                }
                Change::Removed { key, .. } => into.ns.remove(&key),
            }
        }
    } else {
        counts.forgotten += 1;
    }
    let roots = infini::build_roots(target, &into, parent_copy.as_ref())?;
    Ok(importer.commit(c, parents, roots, parent_copy.as_ref(), &into, forgotten)?)
}

/// A value of the source written into the target (streamed; chunks the target holds already are not written
/// again), with what is known about it.
fn copy_value(source: &Repository, target: &Repository, e: &Entry) -> anyhow::Result<Entry> {
    let mut reader = source.blob_reader(e.blob.clone());
    let blob = target.write_blob(&mut reader, &mut |_| {})?;
    Ok(Entry { blob, ..e.clone() })
}
