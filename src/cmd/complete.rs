//! Completion of values from the repository: branch names, tag names, commit ids and keys, computed when the shell asks
//! (`COMPLETE=bash infini` prints the shell's registration; see `infini completions`).
//!
//! Completion never asks for a password and never writes: it reads the workspace's repository with the key the
//! workspace holds unlocked (or a password given by environment variable) and offers nothing otherwise.

use super::session::Session;
use super::{Cli, Context};
use clap::Parser;
use clap_complete::{ArgValueCompleter, CompletionCandidate};
use std::ffi::OsStr;

/// Most values offered at once.
const LIMIT: usize = 500;

/// A read-only session for completing, or `None` when opening one could prompt or fails.
fn session() -> Option<Session> {
    let global = Cli::try_parse_from(["infini", "status"]).ok()?.global;
    let has_password = ["INFINI_PASSWORD", "INFINI_PASSWORD_FILE", "INFINI_PASSWORD_COMMAND"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if global.repo.is_none() && !has_password {
        let ws = infini::workspace::Workspace::find(&std::env::current_dir().ok()?).ok()?;
        let header = ws.read_header()?;
        ws.read_key(&header.id).ok()??;
    } else if !has_password {
        return None;
    }
    let ctx = Context { global: super::Global { quiet: true, ..global } };
    Session::read(&ctx).ok()
}

fn starting_with(values: impl IntoIterator<Item = String>, current: &OsStr) -> Vec<CompletionCandidate> {
    let cur = current.to_string_lossy();
    values.into_iter().filter(|v| v.starts_with(cur.as_ref())).take(LIMIT).map(CompletionCandidate::new).collect()
}

/// Branch names.
fn branches(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(s) = session() else { return Vec::new() };
    let names = s.repo.branches().map(|b| b.into_iter().map(|b| b.name).collect::<Vec<_>>()).unwrap_or_default();
    starting_with(names, current)
}

/// Tag names.
fn tags(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(s) = session() else { return Vec::new() };
    let names = s.repo.tags().map(|t| t.into_iter().map(|t| t.name).collect::<Vec<_>>()).unwrap_or_default();
    starting_with(names, current)
}

/// Revisions: `HEAD`, branch names, tag names, and the short ids of the current branch's last commits.
fn revisions(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(s) = session() else { return Vec::new() };
    let mut values = vec!["HEAD".to_string()];
    values.extend(s.repo.branches().map(|b| b.into_iter().map(|b| b.name).collect::<Vec<_>>()).unwrap_or_default());
    values.extend(s.repo.tags().map(|t| t.into_iter().map(|t| t.name).collect::<Vec<_>>()).unwrap_or_default());
    if let Some(tip) = s.tip_ptr() {
        if let Ok(log) = s.repo.log(&tip, 50) {
            values.extend(log.iter().map(|c| super::output::short(&c.ptr)));
        }
    }
    starting_with(values, current)
}

/// Keys of the current view (staged changes included), one `/`-separated level at a time: `web/` offers
/// `web/a.txt` and `web/img/`, not everything below.
fn keys(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(s) = session() else { return Vec::new() };
    let Ok(ns) = s.view() else { return Vec::new() };
    let cur = current.to_string_lossy().into_owned();
    let mut out: Vec<String> = Vec::new();
    for item in ns.prefix(cur.as_bytes()) {
        let Ok((k, _)) = item else { break };
        let level = match k[cur.len()..].find('/') {
            Some(i) => k[..cur.len() + i + 1].to_string(),
            None => k,
        };
        if out.last() != Some(&level) {
            out.push(level);
            if out.len() >= LIMIT {
                break;
            }
        }
    }
    out.into_iter().map(CompletionCandidate::new).collect()
}

/// Completer of branch names, for `#[arg(add = ...)]`.
pub fn branch() -> ArgValueCompleter {
    ArgValueCompleter::new(branches)
}

/// Completer of tag names.
pub fn tag() -> ArgValueCompleter {
    ArgValueCompleter::new(tags)
}

/// Completer of revisions.
pub fn rev() -> ArgValueCompleter {
    ArgValueCompleter::new(revisions)
}

/// Completer of keys.
pub fn key() -> ArgValueCompleter {
    ArgValueCompleter::new(keys)
}
