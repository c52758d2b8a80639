//! `infini init`: create a repository and a workspace attached to it.

use super::session::{attach_workspace, cwd, in_new_dir, local_repo_path, open_backend, store_options, DEFAULT_BRANCH};
use super::{output, password, Context};
use infini::workspace::{Head, WorkspaceConfig, DIR};
use infini::Repository;

/// Create an encrypted repository and a workspace in DIR (default: the current directory).
///
/// By default the repository lives inside the workspace, in DIR/.infini/repo. With --s3 it lives in a bucket; with
/// -R PATH (or -R s3://BUCKET[/PREFIX]) wherever that names: a directory outside the workspace (an external disk, a
/// network mount) that other workspaces attach to with `infini clone PATH DIR`, and that outlives this one.
#[derive(clap::Args)]
pub struct Args {
    /// Directory for the workspace.
    #[arg(value_name = "DIR")]
    directory: Option<std::path::PathBuf>,
    /// Keep the repository in an S3 bucket: BUCKET or BUCKET/PREFIX.
    #[arg(long, value_name = "BUCKET[/PREFIX]")]
    s3: Option<String>,
    /// Create the bucket if it does not exist.
    #[arg(long)]
    create_bucket: bool,
    /// zstd level for new chunks written from this workspace (1-22; 0 stores raw). Default 2.
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(i32).range(0..=22))]
    compression: Option<i32>,
    /// S3 storage class for data objects (index and refs stay in the standard class).
    #[arg(long, value_name = "CLASS")]
    storage_class: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let root = match &self.directory {
            Some(d) => cwd(ctx)?.join(d),
            None => cwd(ctx)?,
        };
        let s3 = match (&self.s3, &ctx.global.repo) {
            (Some(_), Some(_)) => {
                return Err(super::usage(
                    "name the repository either with --s3 or with -R/--repo (INFINI_REPO), not both",
                ))
            }
            (Some(b), None) => Some(b.trim_start_matches("s3://").to_string()),
            (None, Some(r)) if r.starts_with("s3://") => Some(r.trim_start_matches("s3://").to_string()),
            _ => None,
        };
        if (self.create_bucket || self.storage_class.is_some()) && s3.is_none() {
            return Err(super::usage(
                "--create-bucket and --storage-class need an S3 repository (--s3 BUCKET or -R s3://BUCKET)",
            ));
        }
        // A repository of its own outside the workspace: it must not be one already (attach to it with clone).
        let external = match (&ctx.global.repo, &s3) {
            (Some(r), None) => {
                let p = cwd(ctx)?.join(r);
                if local_repo_path(&p).join("config").exists() {
                    anyhow::bail!(infini::Error::AlreadyExists {
                        what: format!(
                            "an infini repository in {}; attach a workspace to it with `infini clone {} DIR`",
                            p.display(),
                            r
                        )
                    });
                }
                Some(p)
            }
            _ => None,
        };
        in_new_dir(&root, |root| self.create(ctx, root, s3, external))
    }

    fn create(
        &self,
        ctx: &Context,
        root: &std::path::Path,
        s3: Option<String>,
        external: Option<std::path::PathBuf>,
    ) -> anyhow::Result<()> {
        let (repo_loc, stored) = match (&s3, &external) {
            (Some(b), _) => {
                let url = format!("s3://{b}");
                (url.clone(), url)
            }
            (None, Some(p)) => {
                std::fs::create_dir_all(p)?;
                let p = std::fs::canonicalize(p)?.display().to_string();
                (p.clone(), p)
            }
            (None, None) => (root.join(DIR).join("repo").display().to_string(), format!("{DIR}/repo")),
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
        let remote = s3.is_some();
        // The workspace first (the backend may need its S3 settings); removed again if creation fails.
        attach_workspace(root, config, |ws| {
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
