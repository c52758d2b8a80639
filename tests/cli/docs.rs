//! Completions and man pages are generated from the command definitions and committed; help texts end with
//! the exit-code table.

use crate::util::*;
use std::path::Path;

/// Every command the product promises.
const COMMANDS: &[&str] = &[
    "init",
    "clone",
    "put",
    "get",
    "rm",
    "mv",
    "cp",
    "ls",
    "status",
    "reset",
    "diff",
    "commit",
    "log",
    "show",
    "checkout",
    "fork",
    "branch",
    "check",
    "gc",
    "stats",
    "key",
    "lock",
    "unlock",
    "completions",
];

const KEY_COMMANDS: &[&str] = &["passwd", "add", "list", "rm"];

#[test]
fn committed_completions_and_man_pages_are_current() {
    let env = Env::new();
    let gen = env.path("gen");
    env.ok(["gen-docs", gen.to_str().unwrap()]);
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for sub in ["completions", "man"] {
        let fresh = files_under(gen.join(sub));
        assert!(!fresh.is_empty(), "gen-docs wrote nothing into {sub}/");
        let committed_dir = project.join(sub);
        let committed = if committed_dir.is_dir() { files_under(&committed_dir) } else { Vec::new() };
        for (p, _) in &fresh {
            let c = committed_dir.join(p);
            if !c.is_file() {
                problems.push(format!("{sub}/{} is missing", p.display()));
            } else if read(&c) != read(gen.join(sub).join(p)) {
                problems.push(format!("{sub}/{} is out of date", p.display()));
            }
        }
        for (p, _) in &committed {
            if !fresh.iter().any(|(f, _)| f == p) {
                problems.push(format!("{sub}/{} is stale (no longer generated)", p.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "completions/ and man/ are not current; regenerate them with `make docs`:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn completions_cover_every_command() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.ok(["completions", shell]);
        let text = out.text();
        for c in COMMANDS {
            assert!(text.contains(c), "{shell} completions mention {c}");
        }
    }
}

#[track_caller]
fn assert_ends_with_exit_codes(out: &crate::util::Out) {
    let text = out.text();
    assert!(text.contains("Exit codes:"), "help has the exit-code table:\n{out}");
    let last = text.trim_end().lines().last().unwrap_or("");
    assert!(last.trim_start().starts_with("16"), "help ends with the exit-code table (last line is code 16):\n{out}");
    for code in ["0", "1", "2", "3", "10", "11", "12", "13", "14", "16"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "help lists exit code {code}:\n{out}"
        );
    }
}

/// The commands `infini --help` lists (two-space indented names under "Commands:"), without `help`.
fn listed_commands(env: &Env) -> Vec<String> {
    let out = env.ok(["--help"]);
    let text = out.text();
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_end() == "Commands:" {
            inside = true;
            continue;
        }
        if inside {
            if line.trim().is_empty() || !line.starts_with("  ") {
                break;
            }
            // Continuation lines of a wrapped description are indented further.
            if line.starts_with("   ") {
                continue;
            }
            let name = line.split_whitespace().next().unwrap_or("").to_string();
            if name != "help" {
                names.push(name);
            }
        }
    }
    assert!(names.len() >= 10, "could not read the command list from --help:\n{out}");
    names
}

#[test]
fn every_command_help_ends_with_the_exit_code_table() {
    let env = Env::new();
    assert_ends_with_exit_codes(&env.ok(["--help"]));
    for c in listed_commands(&env) {
        assert_ends_with_exit_codes(&env.ok([c.as_str(), "--help"]));
        // `help CMD` says the same.
        assert_ends_with_exit_codes(&env.ok(["help", c.as_str()]));
    }
    for c in KEY_COMMANDS {
        assert_ends_with_exit_codes(&env.ok(["key", c, "--help"]));
    }
}

#[test]
fn every_product_command_exists() {
    let env = Env::new();
    let listed = listed_commands(&env);
    let missing: Vec<&&str> = COMMANDS.iter().filter(|c| !listed.iter().any(|l| l == **c)).collect();
    assert!(missing.is_empty(), "commands promised by the product but missing from `infini --help`: {missing:?}");
    for c in COMMANDS {
        env.ok([c, "--help"]);
    }
}
