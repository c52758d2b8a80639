//! `infini init`: create a repository and a workspace attached to it.

use super::session::{attach_workspace, cwd, open_backend, store_options, DEFAULT_BRANCH};
use super::{output, password, Context};
use infini::workspace::{Head, WorkspaceConfig, DIR};
use infini::Repository;

/// Create an encrypted repository and a workspace in DIR (default: the current directory).
///
/// By default the repository lives inside the workspace, in DIR/.infini/repo. With --s3 it lives in a bucket.
#[derive(clap::Args)]
pub struct Args {
    /// Directory for the workspace.
    #[arg(value_name = "DIR")]
    directory: Option<std::path::PathBuf>,
    /// Keep the repository in an S3 bucket: BUCKET or BUCKET/PREFIX.
    #[arg(long, value_name = "BUCKET[/PREFIX]")]
    s3: Option<String>,
    /// Create the bucket if it does not exist.
    #[arg(long, requires = "s3")]
    create_bucket: bool,
    /// zstd level for new chunks written from this workspace (1-22; 0 stores raw). Default 2.
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(i32).range(0..=22))]
    compression: Option<i32>,
    /// S3 storage class for data objects (index and refs stay in the standard class).
    #[arg(long, requires = "s3", value_name = "CLASS")]
    storage_class: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let root = match &self.directory {
            Some(d) => cwd(ctx)?.join(d),
            None => cwd(ctx)?,
        };
        std::fs::create_dir_all(&root)?;
        let root = std::fs::canonicalize(&root)?;
        let (repo_loc, stored) = match &self.s3 {
            Some(b) => {
                let url = format!("s3://{}", b.trim_start_matches("s3://"));
                (url.clone(), url)
            }
            None => (root.join(DIR).join("repo").display().to_string(), format!("{DIR}/repo")),
        };
        let config = WorkspaceConfig {
            repo: stored,
            endpoint: ctx.global.endpoint.clone(),
            region: ctx.global.region.clone(),
            head: Head::Branch(DEFAULT_BRANCH.into()),
            mem_cache: ctx.global.mem_cache,
            cache_size: ctx.global.cache_size,
            cache_dir: ctx.global.cache_dir.clone(),
            zstd_level: self.compression,
            create_bucket: self.create_bucket,
            storage_class: self.storage_class.clone(),
        };
        let pw = password::new(ctx, true)?;
        let remote = self.s3.is_some();
        // The workspace first (the backend may need its S3 settings); removed again if creation fails.
        attach_workspace(&root, config, |ws| {
            let backend = open_backend(ctx, &repo_loc, Some(ws), true)?;
            Ok(Repository::create(backend, &pw, password::kdf_params()?, store_options(ctx, Some(ws), remote))?)
        })?;
        if ctx.global.json {
            output::json(&serde_json::json!({
                "workspace": root.display().to_string(),
                "repository": repo_loc,
                "branch": DEFAULT_BRANCH,
            }))?;
        } else {
            output::info(ctx, format!("Initialized empty infini repository in {repo_loc}"));
        }
        Ok(())
    }
}
