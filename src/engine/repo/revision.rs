//! Revisions: `HEAD`, branch names, tag names, unique commit-id prefixes (4+ hex digits), each optionally followed by
//! `@{WHEN}` (the newest commit of its first-parent history made at or before WHEN; `@{WHEN}` alone is
//! `HEAD@{WHEN}`) and then `~N` (N first parents back; `~` alone is `~1`, `^` is `~1` too).
//!
//! WHEN is a UTC date or time (`2026-12-01`, `2026-12-01 10:00`, `2026-12-01T10:00:00Z`), `now`, `yesterday`
//! (its midnight, UTC), or an age: `3 days ago`, `2.weeks.ago`, `12h`, `90min`.

use super::Repository;
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use std::collections::{HashSet, VecDeque};

/// A parsed revision expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// `HEAD`, a branch name, a tag name or an id prefix.
    pub base: String,
    /// How many first parents to walk back.
    pub back: u32,
    /// `@{WHEN}`: the time (seconds since the epoch) the base's history is taken at.
    pub at: Option<u64>,
}

impl Revision {
    /// Parse `BASE(~N|~|^)*`.
    pub fn parse(s: &str) -> Result<Self> {
        Self::parse_at(s, crate::engine::crypto::now_secs())
    }

    /// [`Revision::parse`], with `now` what relative times (`yesterday`, `3 days ago`) count from.
    pub fn parse_at(s: &str, now: u64) -> Result<Self> {
        let (s, at) = match s.find("@{") {
            Some(i) => {
                let close = s[i..]
                    .find('}')
                    .map(|j| i + j)
                    .ok_or_else(|| Error::Invalid(format!("invalid revision {s:?}: `@{{` without its `}}`")))?;
                let when = parse_when(&s[i + 2..close], now)
                    .ok_or_else(|| Error::Invalid(format!("invalid revision {s:?}: {WHEN_HELP}")))?;
                let base = if i == 0 { "HEAD" } else { &s[..i] };
                (format!("{base}{}", &s[close + 1..]), Some(when))
            }
            None => (s.to_string(), None),
        };
        let s = s.as_str();
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
        Ok(Self { base: base.to_string(), back, at })
    }
}

const WHEN_HELP: &str = "the time in @{...} is a UTC date or time (2026-12-01, 2026-12-01 10:00), now, yesterday, or \
                         an age (3 days ago, 12h)";

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A time in `@{...}`, in seconds since the epoch; `None` if it is none of the accepted forms.
fn parse_when(w: &str, now: u64) -> Option<u64> {
    let w = w.trim().to_ascii_lowercase();
    match w.as_str() {
        "now" => return Some(now),
        "yesterday" => return Some((now / 86_400).saturating_sub(1) * 86_400),
        "today" => return Some(now / 86_400 * 86_400),
        _ => {}
    }
    if let Some(t) = parse_date_time(&w) {
        return u64::try_from(t).ok();
    }
    // An age: NUMBER UNIT [ago], with spaces or dots between (git's `2.weeks.ago`).
    let w = w.replace('.', " ");
    let w = w.trim().strip_suffix("ago").unwrap_or(&w).trim();
    let split = w.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = w[..split].parse().ok()?;
    let unit = match w[split..].trim().trim_end_matches('s') {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        "w" | "week" => 7 * 86_400,
        "month" => 30 * 86_400,
        "y" | "year" => 365 * 86_400,
        _ => return None,
    };
    Some(now.saturating_sub(n.saturating_mul(unit)))
}

/// `YYYY-MM-DD`, optionally followed by ` ` or `T` and `HH:MM[:SS]`, optionally ending in `Z`; UTC.
fn parse_date_time(w: &str) -> Option<i64> {
    let w = w.strip_suffix('z').unwrap_or(w);
    let (date, time) = match w.split_once([' ', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (w, None),
    };
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?.parse::<i64>().ok()?, d.next()?.parse::<i64>().ok()?, d.next()?.parse::<i64>().ok()?);
    if d.next().is_some() || date.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = days_from_civil(y, m, day) * 86_400;
    if let Some(t) = time {
        let mut parts = t.split(':');
        let h: i64 = parts.next()?.parse().ok()?;
        let min: i64 = parts.next()?.parse().ok()?;
        let sec: i64 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        if parts.next().is_some() || h > 23 || min > 59 || sec > 60 {
            return None;
        }
        secs += h * 3600 + min * 60 + sec;
    }
    Some(secs)
}

fn is_hex_prefix(s: &str) -> bool {
    s.len() >= 4 && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Repository {
    /// Resolve a revision to a commit. `head` is what `HEAD` means (a workspace's current commit). A name is looked
    /// up as a branch, then as a tag (a branch and a tag never share a name: each refuses the other's), then as a
    /// commit id prefix.
    pub fn resolve(&self, rev: &str, head: Option<&ChunkPointer>) -> Result<ChunkPointer> {
        let r = Revision::parse(rev)?;
        let mut branch_head = None;
        let mut at = if r.base == "HEAD" {
            *head.ok_or_else(|| Error::not_found("revision HEAD (nothing committed yet)"))?
        } else if let Some(b) = self.branch(&r.base)? {
            branch_head = Some(b.head);
            b.head
        } else if let Some(t) = Self::check_tag_name(&r.base).ok().map(|()| self.tag(&r.base)).transpose()?.flatten() {
            // A tagged commit is kept like a head: never forgotten.
            branch_head = Some(t.commit);
            t.commit
        } else if is_hex_prefix(&r.base) {
            self.find_by_prefix(&r.base.to_ascii_lowercase(), head)?
        } else {
            let why = if r.base.len() < 4 && !r.base.is_empty() && r.base.bytes().all(|b| b.is_ascii_hexdigit()) {
                " (no branch of that name; a commit id prefix needs at least 4 hex digits)"
            } else {
                " (no branch, tag, commit id prefix or HEAD of that name)"
            };
            return Err(Error::not_found(format!("revision {}{why}", r.base)));
        };
        if let Some(when) = r.at {
            // The newest commit of the first-parent history made at or before `when`.
            loop {
                let c = self.read_commit(&at)?;
                if c.time() <= when {
                    break;
                }
                at =
                    *c.commit.parents.first().ok_or_else(|| {
                        Error::not_found(format!("revision {rev}: {} has no commit that old", r.base))
                    })?;
            }
        }
        for i in 0..r.back {
            let c = self.read_commit(&at)?;
            at =
                *c.commit.parents.first().ok_or_else(|| {
                    Error::not_found(format!("revision {rev}: history has only {} commits before it", i))
                })?;
        }
        // A branch's head is never forgotten; any other commit may have been.
        if branch_head != Some(at) {
            self.refuse_forgotten(&at)?;
        }
        Ok(at)
    }

    /// The commits reachable from branch `name`'s head and from no other live branch, no tag, nor `kept` (a
    /// detached HEAD): what deleting the branch would abandon to gc, newest first. Empty when the branch is merged
    /// into another (or into a merge commit of another, through any parent), or does not exist.
    pub fn unmerged_commits(&self, name: &str, kept: Option<&ChunkPointer>) -> Result<Vec<ChunkPointer>> {
        let branches = self.roots()?;
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
        let mut queue: VecDeque<ChunkPointer> = self.roots()?.into_iter().map(|b| b.head).collect();
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
        if found.is_empty() {
            // A commit a rewrite replaced is named with its run.
            self.refuse_rewritten(prefix)?;
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
        assert_eq!(Revision::parse("main").unwrap(), Revision { base: "main".into(), back: 0, at: None });
        assert_eq!(Revision::parse("HEAD~3").unwrap(), Revision { base: "HEAD".into(), back: 3, at: None });
        assert_eq!(Revision::parse("abcd~").unwrap().back, 1);
        assert_eq!(Revision::parse("abcd^^~2").unwrap().back, 4);
        assert!(Revision::parse("~1").is_err());
        assert!(Revision::parse("a^2").is_err());
    }

    #[test]
    fn parse_dated() {
        let now = 1_764_979_200 + 36_000; // 2025-12-06 10:00:00 UTC
        let r = |s: &str| Revision::parse_at(s, now).unwrap();
        assert_eq!(r("main@{2025-12-01}"), Revision { base: "main".into(), back: 0, at: Some(1_764_547_200) });
        assert_eq!(r("main@{2025-12-01 10:30}").at, Some(1_764_547_200 + 37_800));
        assert_eq!(r("main@{2025-12-01T10:30:05Z}").at, Some(1_764_547_200 + 37_805));
        assert_eq!(r("@{yesterday}"), Revision { base: "HEAD".into(), back: 0, at: Some(1_764_979_200 - 86_400) });
        assert_eq!(r("main@{3 days ago}~2"), Revision { base: "main".into(), back: 2, at: Some(now - 3 * 86_400) });
        assert_eq!(r("main@{2.weeks.ago}").at, Some(now - 14 * 86_400));
        assert_eq!(r("main@{12h}").at, Some(now - 12 * 3600));
        assert_eq!(r("@{now}").at, Some(now));
        assert_eq!(r("x@{1970-01-01}").at, Some(0));
        assert_eq!(r("x@{2000-02-29}").at, Some(951_782_400));
        for bad in ["main@{", "main@{last tuesday}", "main@{2025-13-01}", "main@{2025-12-01 25:00}", "@{}"] {
            assert!(Revision::parse_at(bad, now).is_err(), "{bad}");
        }
    }
}
