//! `infini put`: stage values from stdin, a file, or a whole directory tree.

use super::session::Session;
use super::{output, usage, Context};
use anyhow::Context as _;
use infini::engine::namespace::{check_key, store_value, Entry};
use infini::engine::Error;
use std::io::Read;
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
        if self.recursive {
            let dir = super::session::cwd(ctx)?.join(&self.target);
            if !dir.is_dir() {
                return Err(usage(format!("{} is not a directory", self.target)));
            }
            let prefix = self.source.clone().unwrap_or_default();
            let pb = output::progress(ctx, None, "put");
            let mut total = 0u64;
            for e in walkdir::WalkDir::new(&dir).sort_by_file_name() {
                let e = e.with_context(|| format!("walking {}", dir.display()))?;
                if !e.file_type().is_file() {
                    continue;
                }
                let rel = e.path().strip_prefix(&dir).expect("walkdir yields paths under its root");
                let rel = rel.to_str().ok_or_else(|| usage(format!("{} is not valid UTF-8", rel.display())))?;
                let key = format!("{prefix}{rel}");
                check_key(&key)?;
                let meta = e.metadata()?;
                let mut f = std::fs::File::open(e.path()).with_context(|| format!("opening {}", e.path().display()))?;
                let base = total;
                let mut entry = store_value(&store, &mut f, &mut |n| {
                    if let Some(pb) = &pb {
                        pb.set_position(base + n)
                    }
                })?;
                total += entry.size();
                entry.mtime = mtime(&meta);
                staged.push((key.clone(), entry.size()));
                ns.insert(key, entry);
            }
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
        } else {
            check_key(&self.target)?;
            let entry = match self.source.as_deref() {
                None | Some("-") => {
                    let pb = output::progress(ctx, None, "put");
                    let mut stdin = std::io::stdin().lock();
                    let e = put_stream(&store, &mut stdin, &pb)?;
                    if let Some(pb) = pb {
                        pb.finish_and_clear();
                    }
                    e
                }
                Some(path) => {
                    let p = super::session::cwd(ctx)?.join(path);
                    let mut f = std::fs::File::open(&p).map_err(|e| match e.kind() {
                        std::io::ErrorKind::NotFound => {
                            Error::not_found(format!("input file {}", Path::new(path).display())).into()
                        }
                        _ => anyhow::Error::new(e).context(format!("opening {}", Path::new(path).display())),
                    })?;
                    let meta = f.metadata()?;
                    let pb = output::progress(ctx, Some(meta.len()), "put");
                    let mut e = put_stream(&store, &mut f, &pb)?;
                    if let Some(pb) = pb {
                        pb.finish_and_clear();
                    }
                    e.mtime = mtime(&meta);
                    e
                }
            };
            staged.push((self.target.clone(), entry.size()));
            ns.insert(self.target.clone(), entry);
        }
        // Staging a key again is how a conflict is resolved with this side's value, even with the same bytes.
        s.resolve(staged.iter().map(|(k, _)| k.as_str()));
        s.save_staged(&ns)?;
        if ctx.global.json {
            let v: Vec<_> = staged.iter().map(|(k, n)| serde_json::json!({ "key": k, "size": n })).collect();
            output::json(&serde_json::Value::Array(v))?;
        } else if staged.len() > 1 {
            output::info(ctx, format!("staged {} keys", staged.len()));
        }
        Ok(())
    }
}

fn put_stream(
    store: &std::sync::Arc<infini::engine::object::Store>,
    input: &mut dyn Read,
    pb: &Option<indicatif::ProgressBar>,
) -> anyhow::Result<Entry> {
    Ok(store_value(store, input, &mut |n| {
        if let Some(pb) = pb {
            pb.set_position(n)
        }
    })?)
}
