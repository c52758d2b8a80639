//! `infini completions`: shell completion scripts; and the hidden generator of `completions/` and `man/`.

use super::Context;
use std::path::PathBuf;

/// Print a completion script for SHELL to stdout.
#[derive(clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

/// Write completions and man pages into DIR/completions and DIR/man.
#[derive(clap::Args)]
pub struct GenDocsArgs {
    /// Project directory.
    #[arg(value_name = "DIR")]
    out: PathBuf,
}

impl Args {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<()> {
        let mut cmd = super::command();
        clap_complete::generate(self.shell, &mut cmd, "infini", &mut std::io::stdout());
        Ok(())
    }
}

/// Generate every completion script and man page into `dir`.
pub fn generate_docs(dir: &std::path::Path) -> anyhow::Result<()> {
    use clap_complete::Shell;
    let comp = dir.join("completions");
    let man = dir.join("man");
    std::fs::create_dir_all(&comp)?;
    std::fs::create_dir_all(&man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = super::command();
        clap_complete::generate_to(shell, &mut cmd, "infini", &comp)?;
    }
    let cmd = super::command();
    clap_mangen::generate_to(cmd, &man)?;
    Ok(())
}

impl GenDocsArgs {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<()> {
        generate_docs(&self.out)
    }
}
