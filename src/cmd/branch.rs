//! `infini branch`: list or delete branches.

use super::session::Session;
use super::{output, Context};
use infini::workspace::Head;
use std::io::Write;

/// List branches (the current one marked with `*`), or delete one with -d.
#[derive(clap::Args)]
pub struct Args {
    /// Delete branch NAME.
    #[arg(short = 'd', long = "delete", value_name = "NAME")]
    delete: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let current = match &s.head {
            Head::Branch(b) => Some(b.as_str()),
            Head::Detached(_) => None,
        };
        if let Some(name) = &self.delete {
            if current == Some(name.as_str()) && s.ws.is_some() {
                return Err(super::usage(format!("cannot delete branch {name}: it is checked out here")));
            }
            s.repo.delete_branch(name)?;
            if ctx.global.json {
                output::json(&serde_json::json!({ "deleted": name }))?;
            } else {
                output::info(ctx, format!("Deleted branch {name}"));
            }
            return Ok(());
        }
        let branches = s.repo.branches()?;
        if ctx.global.json {
            let v: Vec<_> = branches
                .iter()
                .map(|b| {
                    serde_json::json!({ "name": b.name, "head": output::id(&b.head), "current": current == Some(b.name.as_str()) })
                })
                .collect();
            return output::json(&serde_json::Value::Array(v));
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for b in &branches {
            let mark = if current == Some(b.name.as_str()) { "*" } else { " " };
            writeln!(out, "{mark} {} {}", b.name, output::short(&b.head))?;
        }
        out.flush()?;
        Ok(())
    }
}
