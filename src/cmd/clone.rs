//! `infini clone`: attach a new workspace to an existing repository.

use super::progress::Bar;
use super::session::{attach_workspace, cwd, in_new_dir, local_repo_path, open_backend, store_options, DEFAULT_BRANCH};
use super::{output, password, Context};
use infini::workspace::{Head, WorkspaceConfig};

/// Create a workspace for an existing repository (a directory, a workspace holding one, or s3://BUCKET[/PREFIX]).
#[derive(clap::Args)]
pub struct Args {
    /// The repository.
    source: String,
    /// Directory for the workspace (default: the current directory).
    #[arg(value_name = "DIR")]
    directory: Option<std::path::PathBuf>,
    /// Branch to check out (default: main).
    #[arg(long = "checkout", value_name = "BRANCH")]
    checkout: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let here = cwd(ctx)?;
        let root = match &self.directory {
            Some(d) => here.join(d),
            None => here.clone(),
        };
        let location = if self.source.starts_with("s3://") {
            self.source.clone()
        } else {
            let p = std::fs::canonicalize(here.join(&self.source)).map_err(|e| {
                anyhow::Error::new(infini::Error::NoRepository {
                    what: format!("no infini repository at {}: {e}", self.source),
                })
            })?;
            local_repo_path(&p).display().to_string()
        };
        in_new_dir(&root, |root| self.attach(ctx, root, location))
    }

    fn attach(&self, ctx: &Context, root: &std::path::Path, location: String) -> anyhow::Result<()> {
        let remote = location.starts_with("s3://");
        let config = WorkspaceConfig {
            repo: location.clone(),
            endpoint: ctx.global.endpoint.clone(),
            region: ctx.global.region.clone(),
            head: Head::Branch(self.checkout.clone().unwrap_or_else(|| DEFAULT_BRANCH.into())),
            mem_cache: ctx.global.mem_cache,
            cache_size: ctx.global.cache_size,
            cache_dir: ctx.global.cache_dir.clone(),
            zstd_level: None,
            create_bucket: false,
            storage_class: None,
        };
        attach_workspace(root, config, |ws| {
            let backend = open_backend(ctx, &location, Some(ws), false)?;
            let pw = password::get(ctx)?;
            let _bar = Bar::spinner(ctx, "clone", &format!("opening {location}"));
            let unlocked = password::unlock_any(ctx, &*backend, &pw)?;
            password::open_unlocked(backend, unlocked, store_options(ctx, Some(ws), remote))
        })?;
        if ctx.global.json {
            output::json(&serde_json::json!({ "workspace": root.display().to_string(), "repository": location }))?;
        } else {
            output::info(ctx, format!("Cloned {location} into {}", root.display()));
        }
        Ok(())
    }
}
