//! Retention policies: which commits of a history to keep, by commit time, like restic's `forget` rules.
//!
//! [`decide`] is a pure function of a policy and a list of commit times: it says, for each commit, which rules keep
//! it (none: the commit may be forgotten). [`Repository::forget`](crate::Repository::forget) applies it to
//! branches. Calendar periods (hour, day, ISO week, month, year) are **UTC**, so every host applying a stored
//! policy decides the same, whatever its time zone or daylight-saving rules.
//!
//! ```
//! use infini::retention::{decide, KeepRule, RetentionPolicy};
//! let policy = RetentionPolicy { last: Some(1), daily: Some(2), ..RetentionPolicy::default() };
//! // Newest first: two commits on day 2, one on day 1, one on day 0.
//! let day = 86_400;
//! let keep = decide(&policy, &[2 * day + 60, 2 * day, day, 0]);
//! assert_eq!(keep[0], [KeepRule::Last, KeepRule::Daily]);
//! assert!(keep[1].is_empty());
//! assert_eq!(keep[2], [KeepRule::Daily]);
//! assert!(keep[3].is_empty());
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

/// How many commits each rule keeps (see [`decide`]). A rule left `None` keeps nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Keep the newest N commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<u32>,
    /// Keep the newest commit of each of the last N hours that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly: Option<u32>,
    /// Keep the newest commit of each of the last N days (UTC) that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<u32>,
    /// Keep the newest commit of each of the last N ISO weeks (Monday to Sunday, UTC) that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<u32>,
    /// Keep the newest commit of each of the last N calendar months (UTC) that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<u32>,
    /// Keep the newest commit of each of the last N calendar years (UTC) that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yearly: Option<u32>,
    /// Keep every commit at most this many seconds older than the newest commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<u64>,
}

impl RetentionPolicy {
    /// Whether no rule keeps anything (such a policy is refused: it would forget everything but the heads).
    pub fn is_empty(&self) -> bool {
        let counts = [self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly];
        counts.iter().all(|c| c.unwrap_or(0) == 0) && self.within.unwrap_or(0) == 0
    }
}

impl fmt::Display for RetentionPolicy {
    /// The policy as the command line spells it: `keep-last 24, keep-daily 7, keep-within 30d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (name, n) in [
            ("last", self.last),
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ] {
            if let Some(n) = n.filter(|&n| n > 0) {
                parts.push(format!("keep-{name} {n}"));
            }
        }
        if let Some(w) = self.within.filter(|&w| w > 0) {
            parts.push(format!("keep-within {}", duration(w)));
        }
        if parts.is_empty() {
            return f.write_str("(no rule)");
        }
        f.write_str(&parts.join(", "))
    }
}

/// Seconds as the largest whole unit: `30d`, `36h`, `90m`, `45s`.
fn duration(s: u64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

/// Why a commit is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeepRule {
    /// The branch's head: never forgotten.
    Head,
    /// One of the newest N ([`RetentionPolicy::last`]).
    Last,
    /// The newest of its hour ([`RetentionPolicy::hourly`]).
    Hourly,
    /// The newest of its day ([`RetentionPolicy::daily`]).
    Daily,
    /// The newest of its ISO week ([`RetentionPolicy::weekly`]).
    Weekly,
    /// The newest of its month ([`RetentionPolicy::monthly`]).
    Monthly,
    /// The newest of its year ([`RetentionPolicy::yearly`]).
    Yearly,
    /// Within the period before the newest commit ([`RetentionPolicy::within`]).
    Within,
    /// A tag names it: a tagged commit is never forgotten (see [`CommitRetention::tags`] for which).
    ///
    /// [`CommitRetention::tags`]: crate::CommitRetention::tags
    Tag,
}

impl KeepRule {
    /// The rule's name as the command line spells it (`keep-daily`, `head`).
    pub fn name(self) -> &'static str {
        match self {
            KeepRule::Head => "head",
            KeepRule::Last => "keep-last",
            KeepRule::Hourly => "keep-hourly",
            KeepRule::Daily => "keep-daily",
            KeepRule::Weekly => "keep-weekly",
            KeepRule::Monthly => "keep-monthly",
            KeepRule::Yearly => "keep-yearly",
            KeepRule::Within => "keep-within",
            KeepRule::Tag => "tag",
        }
    }
}

/// The UTC calendar date `(year, month 1..=12, day 1..=31)` of a day number (days since 1970-01-01).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's `civil_from_days`: eras of 400 years (146,097 days), years starting in March.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A time (seconds since the epoch) as an RFC 3339 UTC timestamp: `2026-12-07T09:50:00Z`.
pub fn utc(t: u64) -> String {
    let t = t as i64;
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

/// The period a bucket rule groups a time (seconds since the epoch, UTC) into: equal keys, same period.
fn bucket(rule: KeepRule, t: u64) -> i64 {
    let t = t as i64;
    let days = t.div_euclid(86_400);
    match rule {
        KeepRule::Hourly => t.div_euclid(3600),
        KeepRule::Daily => days,
        // The ISO week's Monday: 1970-01-01 was a Thursday (ISO weekday 4).
        KeepRule::Weekly => days - (days + 3).rem_euclid(7),
        KeepRule::Monthly => {
            let (y, m, _) = civil_from_days(days);
            y * 12 + i64::from(m)
        }
        KeepRule::Yearly => civil_from_days(days).0,
        _ => 0,
    }
}

/// For each commit time of `times` (a branch's commits, newest first in history order; seconds since the epoch),
/// the rules of `policy` that keep it, in the order of [`KeepRule`]; an empty list means no rule keeps it.
///
/// The commits are considered newest first by time (ties in the given order), as restic does: `last N` keeps the
/// first N; each calendar rule keeps a commit when its period (UTC hour, day, ISO week, month, year) differs from
/// that of the last commit the rule kept, until it has kept N; `within D` keeps every commit at most D seconds
/// older than the newest. The result does not depend on the clock.
pub fn decide(policy: &RetentionPolicy, times: &[u64]) -> Vec<Vec<KeepRule>> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[b].cmp(&times[a]).then(a.cmp(&b)));
    let newest = order.first().map(|&i| times[i]).unwrap_or(0);
    let mut keep = vec![Vec::new(); times.len()];
    let mut left: Vec<(KeepRule, u32, Option<i64>)> = [
        (KeepRule::Hourly, policy.hourly),
        (KeepRule::Daily, policy.daily),
        (KeepRule::Weekly, policy.weekly),
        (KeepRule::Monthly, policy.monthly),
        (KeepRule::Yearly, policy.yearly),
    ]
    .into_iter()
    .filter_map(|(r, n)| n.filter(|&n| n > 0).map(|n| (r, n, None)))
    .collect();
    for (rank, &i) in order.iter().enumerate() {
        let t = times[i];
        if policy.last.is_some_and(|n| (rank as u64) < u64::from(n)) {
            keep[i].push(KeepRule::Last);
        }
        for (rule, n, last) in left.iter_mut() {
            if *n == 0 {
                continue;
            }
            let b = bucket(*rule, t);
            if *last != Some(b) {
                *last = Some(b);
                *n -= 1;
                keep[i].push(*rule);
            }
        }
        if policy.within.is_some_and(|w| w > 0 && newest.saturating_sub(t) <= w) {
            keep[i].push(KeepRule::Within);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;
    const D: u64 = 86_400;

    /// Seconds since the epoch of a UTC date and time (the inverse of `civil_from_days`, for building histories).
    fn at(y: i64, m: u32, d: u32, hh: u64, mm: u64) -> u64 {
        // Days from civil (Hinnant).
        let y2 = if m <= 2 { y - 1 } else { y };
        let era = y2.div_euclid(400);
        let yoe = y2 - era * 400;
        let mp = (i64::from(m) + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days as u64 * D + hh * H + mm * 60
    }

    fn kept(policy: &RetentionPolicy, times: &[u64]) -> Vec<usize> {
        decide(policy, times).iter().enumerate().filter(|(_, k)| !k.is_empty()).map(|(i, _)| i).collect()
    }

    /// Times every `step` seconds back from `newest`, newest first.
    fn history(newest: u64, step: u64, n: usize) -> Vec<u64> {
        (0..n as u64).map(|i| newest - i * step).collect()
    }

    #[test]
    fn calendar_dates_round_trip_across_leap_years_and_centuries() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2024, 2, 29), (2100, 3, 1), (2026, 12, 31), (2400, 2, 29)] {
            let t = at(y, m, d, 0, 0) as i64;
            assert_eq!(civil_from_days(t.div_euclid(86_400)), (y, m, d));
        }
        assert_eq!(utc(at(2026, 12, 7, 9, 50) + 7), "2026-12-07T09:50:07Z");
    }

    #[test]
    fn keep_last_keeps_the_newest_n_by_time_not_by_order() {
        let p = RetentionPolicy { last: Some(2), ..Default::default() };
        assert_eq!(kept(&p, &history(100 * H, H, 5)), [0, 1]);
        // A commit with an older time than its parent (another host's clock): the newest two by time are kept.
        assert_eq!(kept(&p, &[10 * H, 30 * H, 20 * H]), [1, 2]);
    }

    #[test]
    fn keep_hourly_keeps_the_newest_commit_of_each_hour() {
        // Every 20 minutes for 3 hours from 12:40 down: hours 12, 11, 10, 9 (partial).
        let t = history(at(2026, 5, 5, 12, 40), 20 * 60, 10);
        let p = RetentionPolicy { hourly: Some(3), ..Default::default() };
        // 12:40 (12h), 12:00 is index 2 (same hour), 11:40 (index 3, hour 11), 10:40 (index 6).
        assert_eq!(kept(&p, &t), [0, 3, 6]);
    }

    #[test]
    fn keep_daily_counts_days_that_have_commits_not_calendar_days() {
        // Hourly for 8 days ending on 2026-12-08 23:00 UTC.
        let t = history(at(2026, 12, 8, 23, 0), H, 8 * 24);
        let p = RetentionPolicy { daily: Some(7), ..Default::default() };
        // The 23:00 commit of each of the newest 7 days.
        assert_eq!(kept(&p, &t), (0..7).map(|d| d * 24).collect::<Vec<_>>());
        // A gap of 3 empty days: the rule keeps the next days that have commits.
        let gappy = [at(2026, 12, 8, 5, 0), at(2026, 12, 4, 5, 0), at(2026, 12, 3, 9, 0), at(2026, 12, 3, 5, 0)];
        let p2 = RetentionPolicy { daily: Some(2), ..Default::default() };
        assert_eq!(kept(&p2, &gappy), [0, 1]);
    }

    #[test]
    fn keep_daily_buckets_by_utc_so_a_dst_change_moves_nothing() {
        // Europe's clocks went forward at 2026-03-29 01:00 UTC; in UTC every day still has 24 hourly commits, so
        // the newest commit of each UTC day is at 23:00 UTC whatever the local offset was.
        let t = history(at(2026, 3, 30, 23, 0), H, 3 * 24);
        let p = RetentionPolicy { daily: Some(3), ..Default::default() };
        assert_eq!(kept(&p, &t), [0, 24, 48]);
        let times: Vec<u64> = kept(&p, &t).iter().map(|&i| t[i]).collect();
        assert_eq!(times, [at(2026, 3, 30, 23, 0), at(2026, 3, 29, 23, 0), at(2026, 3, 28, 23, 0)]);
        // The autumn change (2026-10-25 01:00 UTC) the same.
        let t = history(at(2026, 10, 25, 23, 0), H, 2 * 24);
        assert_eq!(kept(&RetentionPolicy { daily: Some(2), ..Default::default() }, &t), [0, 24]);
    }

    #[test]
    fn keep_weekly_buckets_by_iso_week_monday_to_sunday() {
        // 2026-12-07 is a Monday. Daily commits at noon from Wednesday 2026-12-09 back 15 days.
        let t = history(at(2026, 12, 9, 12, 0), D, 15);
        let p = RetentionPolicy { weekly: Some(3), ..Default::default() };
        // Week of Dec 7 (Wed 9th, index 0), week of Nov 30 (its Sunday Dec 6, index 3), week of Nov 23 (Sunday
        // Nov 29, index 10).
        assert_eq!(kept(&p, &t), [0, 3, 10]);
        // A week that spans a year: Mon 2026-12-28 to Sun 2027-01-03 is one week.
        let across = [at(2027, 1, 3, 12, 0), at(2026, 12, 28, 12, 0), at(2026, 12, 27, 12, 0)];
        assert_eq!(kept(&RetentionPolicy { weekly: Some(2), ..Default::default() }, &across), [0, 2]);
    }

    #[test]
    fn keep_monthly_buckets_by_calendar_month_across_month_ends() {
        // Around the end of February in a leap year and the end of a 31-day month.
        let t = [
            at(2024, 4, 1, 0, 0),
            at(2024, 3, 31, 23, 59),
            at(2024, 3, 1, 0, 0),
            at(2024, 2, 29, 23, 59),
            at(2024, 2, 1, 0, 0),
            at(2024, 1, 31, 23, 59),
        ];
        let p = RetentionPolicy { monthly: Some(4), ..Default::default() };
        assert_eq!(kept(&p, &t), [0, 1, 3, 5]);
        assert_eq!(kept(&RetentionPolicy { monthly: Some(2), ..Default::default() }, &t), [0, 1]);
    }

    #[test]
    fn keep_yearly_buckets_by_calendar_year() {
        let t = [
            at(2026, 1, 1, 0, 0),
            at(2025, 12, 31, 23, 59),
            at(2025, 1, 1, 0, 0),
            at(2024, 12, 31, 23, 59),
            at(2020, 6, 1, 0, 0),
        ];
        let p = RetentionPolicy { yearly: Some(3), ..Default::default() };
        assert_eq!(kept(&p, &t), [0, 1, 3]);
    }

    #[test]
    fn keep_within_is_measured_from_the_newest_commit_not_the_clock() {
        let t = history(at(2001, 1, 1, 0, 0), H, 10);
        let p = RetentionPolicy { within: Some(3 * H), ..Default::default() };
        assert_eq!(kept(&p, &t), [0, 1, 2, 3]);
    }

    #[test]
    fn rules_combine_and_each_commit_names_every_rule_that_keeps_it() {
        // The issue's example: hourly for 8 days under keep-last 24, keep-daily 7.
        let t = history(at(2026, 12, 8, 23, 0), H, 8 * 24);
        let p = RetentionPolicy { last: Some(24), daily: Some(7), ..Default::default() };
        let d = decide(&p, &t);
        assert_eq!(d[0], [KeepRule::Last, KeepRule::Daily]);
        assert_eq!(d[1], [KeepRule::Last]);
        assert_eq!(d[24], [KeepRule::Daily]);
        assert!(d[25].is_empty());
        assert_eq!(d.iter().filter(|k| !k.is_empty()).count(), 24 + 6);
    }

    #[test]
    fn an_empty_policy_is_recognised_and_spelled_out() {
        assert!(RetentionPolicy::default().is_empty());
        assert!(RetentionPolicy { last: Some(0), ..Default::default() }.is_empty());
        let p = RetentionPolicy { last: Some(24), daily: Some(7), within: Some(30 * D), ..Default::default() };
        assert!(!p.is_empty());
        assert_eq!(p.to_string(), "keep-last 24, keep-daily 7, keep-within 30d");
    }
}
