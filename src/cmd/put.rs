//! `infini put`: stage values from stdin, a file, or a whole directory tree.

use super::progress::{self, Bar};
use super::session::Session;
use super::{output, usage, Context};
use anyhow::Context as _;
use infini::files::{file_entry, put_tree, walk_tree, PutTreeOptions};
use infini::namespace::{check_key, store_value};
use infini::workspace::spill_at;
use infini::Error;
use std::io::Write;
use std::path::Path;

/// Stage a value under KEY, read from FILE or stdin (`-`); with -r, stage every file under DIR as PREFIX/ + its
/// relative path (symbolic links as links; permission bits and mtime kept), and every directory (DIR itself too,
/// with a PREFIX) as a directory entry `PREFIX/path/` with its permission bits and mtime, so that `get -r`
/// restores empty directories and directory times.
#[derive(clap::Args)]
pub struct Args {
    /// Stage a directory tree: `put -r DIR [PREFIX]` (`web` and `web/` are the same prefix).
    #[arg(short = 'r', long)]
    recursive: bool,
    /// With -r: also stage the removal of keys under PREFIX that are no longer in DIR (mirror the tree).
    #[arg(long, requires = "recursive")]
    delete: bool,
    /// Stage the files of a tar archive (from stdin, or FILE) under PREFIX: `put --tar PREFIX [FILE] < x.tar`.
    #[arg(long, conflicts_with = "recursive")]
    tar: bool,
    /// With -r: list the files that would be staged (KEY<TAB>SIZE), and how many, without reading or storing any.
    #[arg(short = 'n', long, requires = "recursive")]
    dry_run: bool,
    #[command(flatten)]
    select: super::select::Selection,
    /// KEY (or DIR with -r).
    target: String,
    /// FILE to read, `-` or nothing for stdin (or PREFIX with -r).
    source: Option<String>,
}

impl Args {
    /// `put -r --dry-run`: the files the walk selects, listed without reading them.
    fn dry_run(&self, ctx: &Context) -> anyhow::Result<()> {
        // Nothing stored is read: a write-only key may list what it would put.
        let s = Session::write_only_ok(ctx)?;
        let dir = self.tree_dir(ctx)?;
        let root = std::fs::canonicalize(&dir).with_context(|| format!("opening {}", dir.display()))?;
        let opts = PutTreeOptions {
            prefix: self.source.clone().unwrap_or_default(),
            exclude: vec![s.workspace()?.dir()],
            leave_out: self.select.filter(&root)?,
            one_file_system: self.select.one_file_system,
            ..PutTreeOptions::default()
        };
        let (mut files, mut bytes) = (0u64, 0u64);
        let mut rows = Vec::new();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let special = walk_tree(&dir, &opts, &mut |key, meta| {
            let size = if meta.is_file() { meta.len() } else { 0 };
            files += 1;
            bytes += size;
            if ctx.global.json {
                rows.push(serde_json::json!({ "key": key, "size": size }));
            } else {
                writeln!(out, "{key}\t{size}").map_err(|e| infini::Error::io("writing to stdout", e))?;
            }
            Ok(())
        })?;
        out.flush()?;
        drop(out);
        if ctx.global.json {
            output::json(&serde_json::Value::Array(rows))?;
        }
        let mut msg =
            format!("dry run: {files} files, {} would be put -r; nothing read or stored", output::bytes(bytes));
        if special > 0 {
            msg += &format!(" ({special} special files skipped)");
        }
        output::info(ctx, msg);
        Ok(())
    }

    /// DIR of `put -r DIR`, checked to be a directory.
    fn tree_dir(&self, ctx: &Context) -> anyhow::Result<std::path::PathBuf> {
        let dir = super::session::cwd(ctx)?.join(&self.target);
        if !dir.exists() {
            anyhow::bail!(Error::not_found(format!("directory {}", self.target)));
        }
        if !dir.is_dir() {
            return Err(usage(format!(
                "{} is not a directory (a single file is `infini put KEY {}`)",
                self.target, self.target
            )));
        }
        Ok(dir)
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if self.dry_run {
            return self.dry_run(ctx);
        }
        let mut s = Session::write_only_ok(ctx)?;
        s.branch_for_write()?;
        let write_only = s.repo.is_write_only();
        if write_only && (self.tar || self.delete) {
            return Err(usage(
                "a write-only key cannot `put --tar` or `put -r --delete` (both read what is stored); put files one by \
                 one or with `put -r`",
            ));
        }
        let ns = s.view()?;
        let gc_deletions = s.repo.sync_dedup_index()?;
        if s.staged.is_empty() {
            // Recorded before anything is staged: a commit compares it with the repository's count to know whether
            // a gc run could have deleted what these changes point into.
            s.staged.gc_deletions = Some(gc_deletions);
        }
        let mut staged = Vec::new();
        if self.tar {
            let prefix = self.target.as_str();
            let bar = super::progress::Bar::bytes(ctx, "put", None);
            let mut progress = |n| bar.set_position(n);
            // Keys are listed for --json, and to resolve conflicts they stage again.
            let keep_keys = ctx.global.json || !s.conflicts().is_empty();
            let o = match self.source.as_deref() {
                None | Some("-") => {
                    let mut stdin = std::io::stdin().lock();
                    super::tar::stage(&s.repo, &ns, prefix, &mut stdin, spill_at(), keep_keys, &mut progress)?
                }
                Some(path) => {
                    let mut f = std::io::BufReader::new(open_input(ctx, path)?);
                    super::tar::stage(&s.repo, &ns, prefix, &mut f, spill_at(), keep_keys, &mut progress)?
                }
            };
            bar.finish(bar.bytes_summary(o.bytes));
            if let (n @ 1.., Some(first)) = &o.skipped {
                output::info(ctx, format!("skipped {n} archive members that are not files or links (first: {first})"));
            }
            s.resolve(o.keys.iter().map(|(k, _)| k.as_str()));
            s.save_staged(&ns)?;
            if ctx.global.json {
                let v: Vec<_> = o.keys.iter().map(|(k, n)| serde_json::json!({ "key": k, "size": n })).collect();
                output::json(&serde_json::Value::Array(v))?;
            } else {
                let dirs = match o.dirs {
                    0 => String::new(),
                    1 => " and 1 directory".to_string(),
                    n => format!(" and {n} directories"),
                };
                output::info(ctx, format!("staged {} keys{dirs}", o.files));
            }
            return Ok(());
        }
        if self.recursive {
            let dir = self.tree_dir(ctx)?;
            let bar = Bar::phases(ctx, "put -r");
            let root = std::fs::canonicalize(&dir).with_context(|| format!("opening {}", dir.display()))?;
            let opts = PutTreeOptions {
                leave_out: self.select.filter(&root)?,
                one_file_system: self.select.one_file_system,
                prefix: self.source.clone().unwrap_or_default(),
                delete: self.delete,
                // A write-only key keeps no stat cache: it would name the paths it put after the commit.
                stat_cache: (!write_only)
                    .then(|| s.workspace().map(|w| w.cache_dir().join("stat-cache")))
                    .transpose()?,
                // A tree that holds the workspace never stores the workspace's own files (key, caches, repository).
                exclude: vec![s.workspace()?.dir()],
                progress: bar.sink(),
                write: s.repo.write_options(),
                spill_at: spill_at(),
                // Keys are listed for --json, and to resolve conflicts they stage again.
                count_only: !ctx.global.json && s.conflicts().is_empty(),
            };
            let out = put_tree(&s.repo, &ns, &dir, &opts)?;
            if let Some(first) = &out.first_special {
                output::info(
                    ctx,
                    format!(
                        "skipped {} special file{} (sockets, FIFOs, devices), the first {}",
                        out.special,
                        if out.special == 1 { "" } else { "s" },
                        first.display()
                    ),
                );
            }
            // The bar stays up until the uploads are done; then the summary replaces it.
            bar.waiting("uploading");
            // Staging a key again is how a conflict is resolved with this side's value, even with the same bytes.
            s.resolve(out.staged.iter().map(|(k, _)| k.as_str()));
            s.save_staged(&ns)?;
            let files = (out.staged_count + out.unchanged) as u64;
            bar.finish(|took| {
                format!(
                    "put -r: {} files, {} in {}",
                    progress::count(files),
                    output::bytes(out.bytes_read),
                    progress::secs(took)
                )
            });
            if ctx.global.json {
                let mut v: Vec<_> =
                    out.staged.iter().map(|(k, n)| serde_json::json!({ "key": k, "size": n })).collect();
                v.extend(out.removed.iter().map(|k| serde_json::json!({ "key": k, "removed": true })));
                output::json(&serde_json::Value::Array(v))?;
            } else {
                let mut msg = format!("staged {} keys", out.staged_count);
                if out.dirs_staged > 0 {
                    msg +=
                        &format!(" and {} director{}", out.dirs_staged, if out.dirs_staged == 1 { "y" } else { "ies" });
                }
                if self.delete {
                    msg += &format!(", {} removed", out.removed.len());
                }
                msg += &format!(
                    "; {} unchanged, {} files not read (unchanged since the last put)",
                    out.unchanged, out.not_read
                );
                output::info(ctx, msg);
            }
            return Ok(());
        }
        check_key(&self.target)?;
        let (bar, entry) = match self.source.as_deref() {
            None | Some("-") => {
                let bar = Bar::bytes(ctx, "put", None);
                let mut stdin = std::io::stdin().lock();
                let e = store_value(&s.repo, &mut stdin, &mut |n| bar.set_position(n))?;
                (bar, e)
            }
            Some(path) => {
                let mut f = open_input(ctx, path)?;
                let meta = f.metadata()?;
                if meta.is_dir() {
                    return Err(usage(format!(
                        "{path} is a directory; stage a tree of files with `infini put -r {path} {}/`",
                        self.target.trim_end_matches('/')
                    )));
                }
                let bar = Bar::bytes(ctx, "put", Some(meta.len()));
                let e = store_value(&s.repo, &mut f, &mut |n| bar.set_position(n))?;
                (bar, file_entry(e.blob, &meta))
            }
        };
        let size = entry.size();
        staged.push((self.target.clone(), size));
        ns.insert(self.target.clone(), entry);
        bar.waiting("uploading");
        s.resolve([self.target.as_str()]);
        s.save_staged(&ns)?;
        bar.finish(bar.bytes_summary(size));
        if ctx.global.json {
            let v: Vec<_> = staged.iter().map(|(k, n)| serde_json::json!({ "key": k, "size": n })).collect();
            output::json(&serde_json::Value::Array(v))?;
        }
        Ok(())
    }
}

/// Open an input file named on the command line (relative to the working directory): a missing one is "not found".
fn open_input(ctx: &Context, path: &str) -> anyhow::Result<std::fs::File> {
    let p = super::session::cwd(ctx)?.join(path);
    std::fs::File::open(&p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::not_found(format!("input file {}", Path::new(path).display())).into(),
        _ => anyhow::Error::new(e).context(format!("opening {}", Path::new(path).display())),
    })
}
