//! `infini completions`: shell completion scripts; and the hidden generator of `completions/` and `man/`.

use super::Context;
use std::path::PathBuf;

/// Print the completion script for SHELL to stdout: it completes commands and options, and asks `infini` itself
/// for branch names, commit ids and keys of the workspace (without ever prompting for a password).
///
/// bash: `source <(infini completions bash)` in ~/.bashrc; zsh: `source <(infini completions zsh)` in ~/.zshrc;
/// fish: `infini completions fish | source` in ~/.config/fish/config.fish. `make install` installs them.
#[derive(clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
    shell: String,
}

/// The registration script for `shell`: the shell calls `infini` with `COMPLETE=<shell>` to complete a line.
fn script(shell: &str) -> anyhow::Result<String> {
    let shells = clap_complete::env::Shells::builtins();
    let sh = shells.completer(shell).ok_or_else(|| super::usage(format!("no completion for shell {shell:?}")))?;
    let mut buf = Vec::new();
    sh.write_registration("COMPLETE", "infini", "infini", "infini", &mut buf)?;
    Ok(String::from_utf8(buf)?)
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
        super::output::line(script(&self.shell)?.trim_end())
    }
}

/// Generate every completion script and man page into `dir`.
pub fn generate_docs(dir: &std::path::Path) -> anyhow::Result<()> {
    let comp = dir.join("completions");
    let man = dir.join("man");
    std::fs::create_dir_all(&comp)?;
    std::fs::create_dir_all(&man)?;
    for (shell, file) in [("bash", "infini.bash"), ("zsh", "_infini"), ("fish", "infini.fish")] {
        std::fs::write(comp.join(file), script(shell)?)?;
    }
    let mut cmd = super::command().disable_help_subcommand(true);
    cmd.build();
    write_man_pages(&cmd, &man)
}

/// One man page per (visible) command, recursively. clap_mangen renders most sections; the synopsis (with value
/// names: `-C <DIR>`) and the exit status list are rendered here.
fn write_man_pages(cmd: &clap::Command, dir: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man_pages(sub, dir)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    page.write_all(synopsis(cmd).as_bytes())?;
    man.render_description_section(&mut page)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut page)?;
    }
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name()).to_string();
    let examples = super::manual::examples(&name);
    if !examples.is_empty() {
        page.write_all(b".SH EXAMPLES\n")?;
        for (line, what) in examples {
            writeln!(page, ".TP\n\\fB{}\\fR\n{}", roff_escape(line), roff_escape(what))?;
        }
    }
    page.write_all(b".SH \"EXIT STATUS\"\n")?;
    for (code, meaning) in super::EXIT_CODE_TABLE {
        writeln!(page, ".TP\n\\fB{code}\\fR\n{}", roff_escape(meaning))?;
    }
    page.write_all(b".SH ENVIRONMENT\n")?;
    if name == "infini" {
        for (var, what) in super::manual::ENVIRONMENT {
            writeln!(page, ".TP\n\\fB{var}\\fR\n{}", roff_escape(what))?;
        }
    } else {
        writeln!(
            page,
            "{}",
            roff_escape(
                "Passwords come from INFINI_PASSWORD_FILE, INFINI_PASSWORD_COMMAND or INFINI_PASSWORD (else a prompt \
                 on a terminal); INFINI_REPO names a repository to read without a workspace; S3 credentials, region \
                 and endpoint come from the AWS variables. infini(1) lists every variable."
            )
        )?;
    }
    writeln!(page, ".SH \"SEE ALSO\"\n{}", roff_escape(&super::manual::see_also(&name).join(", ")))?;
    if cmd.get_version().is_some() {
        man.render_version_section(&mut page)?;
    }
    std::fs::write(dir.join(man.get_filename()), page)?;
    Ok(())
}

/// Escape text for roff: backslashes, hyphens (so they are not hyphenation points), and a leading dot or quote.
fn roff_escape(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// The SYNOPSIS section: every option with its value name (`[-C <DIR>]`), then the positionals.
fn synopsis(cmd: &clap::Command) -> String {
    let bold = |s: &str| format!("\\fB{}\\fR", roff_escape(s));
    let italic = |s: &str| format!("\\fI{}\\fR", roff_escape(s));
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let mut parts = vec![bold(name)];
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set() && !a.is_positional()) {
        let flag = match (a.get_short(), a.get_long()) {
            (Some(s), Some(l)) => format!("{}|{}", bold(&format!("-{s}")), bold(&format!("--{l}"))),
            (Some(s), None) => bold(&format!("-{s}")),
            (None, Some(l)) => bold(&format!("--{l}")),
            (None, None) => continue,
        };
        let takes_value = a.get_num_args().is_some_and(|n| n.takes_values());
        let value = match a.get_value_names() {
            // `\ `: a space roff never breaks a line at, so an option stays with its value.
            Some(v) if takes_value => format!("\\ <{}>", v.iter().map(|n| italic(n)).collect::<Vec<_>>().join(" ")),
            None if takes_value => format!("\\ <{}>", italic(&a.get_id().as_str().to_uppercase())),
            _ => String::new(),
        };
        if a.is_required_set() {
            parts.push(format!("{flag}{value}"));
        } else {
            parts.push(format!("[{flag}{value}]"));
        }
    }
    for a in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let names = a
            .get_value_names()
            .map(|v| v.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
        let many = a.get_num_args().is_some_and(|n| n.max_values() > 1);
        let text = format!("{}{}", italic(&names), if many { "..." } else { "" });
        parts.push(if a.is_required_set() { text } else { format!("[{text}]") });
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        parts.push(format!("<{}>", italic("COMMAND")));
    }
    // Left-adjusted, without hyphenation: option names are not words to split.
    format!(".SH SYNOPSIS\n.nh\n.ad l\n{}\n.ad\n.hy\n", parts.join(" "))
}

impl GenDocsArgs {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<()> {
        generate_docs(&self.out)
    }
}
