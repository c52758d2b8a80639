//! `infini cp`: copy a key (no data is copied: both keys share the chunks).

use super::{mv, Context};

/// Copy SRC to DST, replacing DST if it exists. Only the index changes; the data is shared.
#[derive(clap::Args)]
pub struct Args {
    /// Existing key.
    #[arg(add = super::complete::key())]
    src: String,
    /// New key.
    dst: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        mv::relink(ctx, &self.src, &self.dst, true)
    }
}
