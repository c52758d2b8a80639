//! Revisions: `HEAD`, branch names, unique commit-id prefixes (4+ hex digits), each optionally followed by `~N`
//! (N first parents back; `~` alone is `~1`, `^` is `~1` too).

use super::Repository;
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use std::collections::{HashSet, VecDeque};

/// A parsed revision expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// `HEAD`, a branch name or an id prefix.
    pub base: String,
    /// How many first parents to walk back.
    pub back: u32,
}

impl Revision {
    /// Parse `BASE(~N|~|^)*`.
    pub fn parse(s: &str) -> Result<Self> {
        let cut = s.find(['~', '^']).unwrap_or(s.len());
        let (base, mut rest) = s.split_at(cut);
        if base.is_empty() {
            return Err(Error::Invalid(format!("invalid revision {s:?}")));
        }
        let mut back = 0u32;
        while !rest.is_empty() {
            let op = rest.as_bytes()[0];
            rest = &rest[1..];
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            let n = if op == b'~' && digits > 0 {
                rest[..digits].parse::<u32>().map_err(|_| Error::Invalid(format!("invalid revision {s:?}")))?
            } else {
                1
            };
            if op == b'~' {
                rest = &rest[digits..];
            } else if digits > 0 {
                return Err(Error::Invalid(format!("invalid revision {s:?}: only first parents (^) are supported")));
            }
            back = back.saturating_add(n);
        }
        Ok(Self { base: base.to_string(), back })
    }
}

fn is_hex_prefix(s: &str) -> bool {
    s.len() >= 4 && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Repository {
    /// Resolve a revision to a commit. `head` is what `HEAD` means (a workspace's current commit).
    pub fn resolve(&self, rev: &str, head: Option<&ChunkPointer>) -> Result<ChunkPointer> {
        let r = Revision::parse(rev)?;
        let mut by_branch = false;
        let mut at = if r.base == "HEAD" {
            *head.ok_or_else(|| Error::not_found("revision HEAD (nothing committed yet)"))?
        } else if let Some(b) = self.branch(&r.base)? {
            by_branch = true;
            b.head
        } else if is_hex_prefix(&r.base) {
            self.find_by_prefix(&r.base.to_ascii_lowercase(), head)?
        } else {
            let why = if r.base.len() < 4 && !r.base.is_empty() && r.base.bytes().all(|b| b.is_ascii_hexdigit()) {
                " (no branch of that name; a commit id prefix needs at least 4 hex digits)"
            } else {
                " (no branch, commit id prefix or HEAD of that name)"
            };
            return Err(Error::not_found(format!("revision {}{why}", r.base)));
        };
        for i in 0..r.back {
            let c = self.read_commit(&at)?;
            at =
                *c.commit.parents.first().ok_or_else(|| {
                    Error::not_found(format!("revision {rev}: history has only {} commits before it", i))
                })?;
        }
        // A branch's head is never forgotten; any other commit may have been.
        if !by_branch || r.back > 0 {
            self.refuse_forgotten(&at)?;
        }
        Ok(at)
    }

    /// The commits reachable from branch `name`'s head and from no other live branch nor `kept` (a detached
    /// HEAD): what deleting the branch would abandon to gc, newest first. Empty when the branch is merged into
    /// another (or does not exist).
    pub fn unmerged_commits(&self, name: &str, kept: Option<&ChunkPointer>) -> Result<Vec<ChunkPointer>> {
        let branches = self.branches()?;
        let Some(this) = branches.iter().find(|b| b.name == name) else { return Ok(Vec::new()) };
        let mut reachable = HashSet::new();
        let mut queue: VecDeque<ChunkPointer> =
            branches.iter().filter(|b| b.name != name).map(|b| b.head).chain(kept.copied()).collect();
        while let Some(p) = queue.pop_front() {
            if reachable.insert(p.id) {
                queue.extend(self.read_commit(&p)?.commit.parents);
            }
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([this.head]);
        while let Some(p) = queue.pop_front() {
            if reachable.contains(&p.id) || !seen.insert(p.id) {
                continue;
            }
            out.push(p);
            queue.extend(self.read_commit(&p)?.commit.parents);
        }
        Ok(out)
    }

    /// The commit whose id starts with `prefix`, searched among everything reachable from branch heads and `head`,
    /// then among the history of deleted branches that gc has not collected yet.
    fn find_by_prefix(&self, prefix: &str, head: Option<&ChunkPointer>) -> Result<ChunkPointer> {
        let mut queue: VecDeque<ChunkPointer> = self.branches()?.into_iter().map(|b| b.head).collect();
        queue.extend(head.copied());
        let mut seen = HashSet::new();
        let mut found: Vec<ChunkPointer> = Vec::new();
        while let Some(p) = queue.pop_front() {
            if !seen.insert(p.id) {
                continue;
            }
            if p.id.to_hex().starts_with(prefix) {
                found.push(p);
            }
            queue.extend(self.read_commit(&p)?.commit.parents);
        }
        if found.is_empty() {
            // A deleted branch's history is read as far as it is still stored: what gc collected is simply gone.
            let mut queue: VecDeque<ChunkPointer> = self.deleted_heads()?.into();
            while let Some(p) = queue.pop_front() {
                if !seen.insert(p.id) {
                    continue;
                }
                let Ok(c) = self.read_commit(&p) else { continue };
                if p.id.to_hex().starts_with(prefix) {
                    found.push(p);
                }
                queue.extend(c.commit.parents);
            }
        }
        match found.len() {
            0 => Err(Error::not_found(format!("revision {prefix}"))),
            1 => Ok(found[0]),
            n => Err(Error::Invalid(format!("revision {prefix} is ambiguous ({n} commits match); use more digits"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(Revision::parse("main").unwrap(), Revision { base: "main".into(), back: 0 });
        assert_eq!(Revision::parse("HEAD~3").unwrap(), Revision { base: "HEAD".into(), back: 3 });
        assert_eq!(Revision::parse("abcd~").unwrap().back, 1);
        assert_eq!(Revision::parse("abcd^^~2").unwrap().back, 4);
        assert!(Revision::parse("~1").is_err());
        assert!(Revision::parse("a^2").is_err());
    }
}
