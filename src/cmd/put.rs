//! `infini put`: stage values from stdin, a file, or a whole directory tree.

use super::progress::{self, Bar};
use super::session::Session;
use super::{output, usage, Context};
use anyhow::Context as _;
use infini::engine::namespace::{check_key, store_value};
use std::path::Path;

/// Stage a value under KEY, read from FILE or stdin (`-`); with -r, stage every file under DIR as PREFIX + its
/// relative path.
#[derive(clap::Args)]
pub struct Args {
    /// Stage a directory tree: `put -r DIR [PREFIX]`.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// KEY (or DIR with -r).
    target: String,
    /// FILE to read, `-` or nothing for stdin (or PREFIX with -r).
    source: Option<String>,
}

fn mtime(meta: &std::fs::Metadata) -> Option<u64> {
    meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mut s = Session::write(ctx)?;
        s.branch_for_write()?;
        let ns = s.view()?;
        let store = s.repo.store().clone();
        s.repo.sync_dedup_index()?;
        let mut staged = Vec::new();
        // The bar stays up until the uploads are done; then the summary replaces it.
        let (bar, files): (Bar, Option<u64>) = if self.recursive {
            let dir = super::session::cwd(ctx)?.join(&self.target);
            if !dir.is_dir() {
                return Err(usage(format!("{} is not a directory", self.target)));
            }
            let prefix = self.source.clone().unwrap_or_default();
            // Walk first, so that the bar knows how many files and bytes there are.
            let scan = Bar::spinner(ctx, "put -r", "scanning");
            let mut files = Vec::new();
            let mut total_bytes = 0u64;
            for e in walkdir::WalkDir::new(&dir).sort_by_file_name() {
                let e = e.with_context(|| format!("walking {}", dir.display()))?;
                if e.file_type().is_file() {
                    total_bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                    files.push(e);
                    if files.len().is_multiple_of(1024) {
                        scan.message(&format!("scanning: {} files", progress::count(files.len() as u64)));
                    }
                }
            }
            drop(scan);
            let bar = Bar::tree(ctx, "put -r", files.len() as u64, total_bytes);
            let mut total = 0u64;
            for e in files {
                let rel = e.path().strip_prefix(&dir).expect("walkdir yields paths under its root");
                let rel = rel.to_str().ok_or_else(|| usage(format!("{} is not valid UTF-8", rel.display())))?;
                let key = format!("{prefix}{rel}");
                check_key(&key)?;
                let meta = e.metadata()?;
                let mut f = std::fs::File::open(e.path()).with_context(|| format!("opening {}", e.path().display()))?;
                bar.file(rel);
                let base = total;
                let mut entry = store_value(&store, &mut f, &mut |n| bar.set_position(base + n))?;
                total += entry.size();
                bar.file_done();
                entry.mtime = mtime(&meta);
                staged.push((key.clone(), entry.size()));
                ns.insert(key, entry);
            }
            (bar, Some(staged.len() as u64))
        } else {
            check_key(&self.target)?;
            let (bar, entry) = match self.source.as_deref() {
                None | Some("-") => {
                    let bar = Bar::bytes(ctx, "put", None);
                    let mut stdin = std::io::stdin().lock();
                    let e = store_value(&store, &mut stdin, &mut |n| bar.set_position(n))?;
                    (bar, e)
                }
                Some(path) => {
                    let p = super::session::cwd(ctx)?.join(path);
                    let mut f =
                        std::fs::File::open(&p).with_context(|| format!("opening {}", Path::new(path).display()))?;
                    let meta = f.metadata()?;
                    let bar = Bar::bytes(ctx, "put", Some(meta.len()));
                    let mut e = store_value(&store, &mut f, &mut |n| bar.set_position(n))?;
                    e.mtime = mtime(&meta);
                    (bar, e)
                }
            };
            staged.push((self.target.clone(), entry.size()));
            ns.insert(self.target.clone(), entry);
            (bar, None)
        };
        bar.message("uploading");
        s.save_staged(&ns)?;
        let bytes = staged.iter().map(|(_, n)| n).sum();
        match files {
            Some(n) => bar.finish(|took| {
                format!("put -r: {} files, {} in {}", progress::count(n), output::bytes(bytes), progress::secs(took))
            }),
            None => bar.finish(bar.bytes_summary(bytes)),
        }
        if ctx.global.json {
            let v: Vec<_> = staged.iter().map(|(k, n)| serde_json::json!({ "key": k, "size": n })).collect();
            output::json(&serde_json::Value::Array(v))?;
        } else if staged.len() > 1 {
            output::info(ctx, format!("staged {} keys", staged.len()));
        }
        Ok(())
    }
}
