//! Retention: `forget` trims a branch's history by policy, `log` shows the trimmed stretch as one line, a forgotten
//! commit cannot be checked out, `gc` frees what only forgotten commits held, and a writer racing `forget` loses
//! nothing.

use crate::util::{assert_bytes_eq, bytes_under, commit_id, random_bytes, read, write, Env};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// 2026-11-02T00:30:00Z: the first commit of the synthetic history.
const T0: u64 = 1_793_579_400;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;
/// Small files in the tree; a few change with every commit.
const SMALL: usize = 40;

/// The tree of commit `i`: 40 small files (file `j` changes every `j % 7 + 1` commits), one 20 KB file new in every
/// commit and one 5 KB file that never changes.
fn tree(i: usize) -> BTreeMap<String, Vec<u8>> {
    let mut t = BTreeMap::new();
    for j in 0..SMALL {
        let v = format!("file {j} at version {} {}", i / (j % 7 + 1), "-".repeat(40));
        t.insert(format!("small-{j:02}"), v.into_bytes());
    }
    t.insert("big".to_string(), random_bytes(7_000 + i as u64, 20_000));
    // Written by the first commit (forgotten) and never changed: kept commits reach it only through history.
    t.insert("stable".to_string(), random_bytes(1, 5_000));
    t
}

/// Write commit `i`'s tree into `dir` (replacing what was there).
fn write_tree(dir: &Path, i: usize) {
    for (name, v) in tree(i) {
        write(dir.join(name), &v);
    }
}

/// Stage and commit commit `i`'s tree under `d/` at time `time`; returns the commit id.
fn commit_tree(env: &Env, src: &Path, i: usize, time: u64) -> String {
    write_tree(src, i);
    env.ok(["put", "-r", "--delete", src.to_str().unwrap(), "d/"]);
    commit_id(&env.ok(["commit", "-m", &format!("snapshot {i}"), "--date", &format!("@{time}")]))
}

/// Bytes of packs and forwarding tables in the repository.
fn stored(env: &Env) -> u64 {
    let dir = env.repo_dir();
    let forward = dir.join("forward");
    bytes_under(dir.join("objects")) + if forward.exists() { bytes_under(forward) } else { 0 }
}

/// A forgotten stretch as `log --json` lists it: (count, first id, last id, run number).
type Stretch = (u64, String, String, u64);

/// `log --json`: the ids of the commits listed, and the forgotten stretches.
fn log(env: &Env) -> (Vec<String>, Vec<Stretch>) {
    let v = env.ok(["log", "--json"]).json();
    let mut ids = Vec::new();
    let mut stretches = Vec::new();
    for item in v.as_array().expect("an array") {
        match item.get("forgotten") {
            Some(n) => stretches.push((
                n.as_u64().unwrap(),
                item["first"].as_str().unwrap().to_string(),
                item["last"].as_str().unwrap().to_string(),
                item["run"]["number"].as_u64().unwrap(),
            )),
            None => ids.push(item["id"].as_str().unwrap().to_string()),
        }
    }
    (ids, stretches)
}

/// Which of `times` (oldest first) `--keep-last last --keep-daily daily` keeps, computed here from the rules as
/// restic documents them: the newest `last`, and the newest commit of each of the newest `daily` UTC days.
fn expected_kept(times: &[u64], last: usize, daily: usize) -> BTreeSet<usize> {
    let n = times.len();
    let mut kept: BTreeSet<usize> = (n.saturating_sub(last)..n).collect();
    let mut days_seen = BTreeSet::new();
    for i in (0..n).rev() {
        if days_seen.len() == daily {
            break;
        }
        if days_seen.insert(times[i] / DAY) {
            kept.insert(i);
        }
    }
    kept
}

#[test]
fn forget_keeps_exactly_the_policys_commits_and_gc_frees_what_only_the_others_held() {
    let env = Env::init();
    let src = env.path("src");
    let times: Vec<u64> = (0..200).map(|i| T0 + i as u64 * HOUR).collect();
    let ids: Vec<String> = times.iter().enumerate().map(|(i, &t)| commit_tree(&env, &src, i, t)).collect();
    let kept = expected_kept(&times, 24, 7);
    assert_eq!(kept.len(), 29, "24 newest + the newest of 5 more days");
    let before = stored(&env);

    // The dry run lists every commit with what keeps it, and changes nothing.
    let dry = env.ok(["forget", "--keep-last", "24", "--keep-daily", "7", "--dry-run", "--json"]).json();
    let listed = dry["branches"][0]["commits"].as_array().unwrap();
    assert_eq!(listed.len(), 200);
    for c in listed {
        let i = ids.iter().position(|id| id == c["id"].as_str().unwrap()).unwrap();
        let want = if kept.contains(&i) { "keep" } else { "forget" };
        assert_eq!(c["action"], want, "commit {i}: {c}");
    }
    assert_eq!(listed[0]["keep"], serde_json::json!(["head", "keep-last", "keep-daily"]));
    assert_eq!(log(&env).0.len(), 200, "a dry run forgets nothing");

    let out = env.ok(["forget", "--keep-last", "24", "--keep-daily", "7", "--json"]).json();
    assert_eq!(out["forgotten"], 171, "{out}");
    assert_eq!(out["run"]["number"], 1);

    // log: exactly the kept commits, newest first, with each forgotten stretch as one entry naming the run.
    let (listed, stretches) = log(&env);
    let want: Vec<String> = kept.iter().rev().map(|&i| ids[i].clone()).collect();
    assert_eq!(listed, want);
    assert_eq!(stretches.iter().map(|s| s.0).sum::<u64>(), 171);
    assert!(stretches.iter().all(|s| s.3 == 1));
    let oldest = stretches.last().unwrap();
    assert_eq!((oldest.2.as_str(), oldest.0), (ids[0].as_str(), 71), "commits 0..=70 are one stretch");
    let text = env.ok(["log", "--oneline"]).text();
    assert_eq!(text.lines().filter(|l| l.contains("commit(s) forgotten")).count(), stretches.len(), "{text}");
    assert_eq!(text.lines().count(), 29 + stretches.len(), "{text}");

    // Every kept commit reads back byte-exact.
    for &i in &kept {
        let out_dir = env.path(format!("out-{i}"));
        env.ok(["get", "-r", "d/", out_dir.to_str().unwrap(), "--at", &ids[i]]);
        for (name, v) in tree(i) {
            assert_bytes_eq(&read(out_dir.join(&name)), &v, &format!("commit {i}: d/{name}"));
        }
    }

    // What the forgotten commits alone held: the history less a repository holding only the kept snapshots.
    let only_kept = Env::init();
    let src2 = only_kept.path("src");
    for &i in &kept {
        commit_tree(&only_kept, &src2, i, times[i]);
    }
    let alone = before - stored(&only_kept);
    let mut freed = 0u64;
    for _ in 0..3 {
        let g = env.ok(["gc", "--grace", "0s", "--min-age", "0s", "--json"]).json();
        freed += g["freed_bytes"].as_u64().unwrap();
    }
    let after = stored(&env);
    // What gc reports deleting includes the packs it repacked; their live chunks' new packs take a little back.
    let net = before - after;
    assert!(freed >= net, "gc reported {freed} bytes freed, the repository shrank by {net}");
    assert!(
        net * 100 >= alone * 80,
        "gc freed {net} bytes of the {alone} only forgotten commits held (stored: {before} -> {after})"
    );
    eprintln!("stored {before} -> {after} bytes; only forgotten commits held {alone}; freed {net} (reported {freed})");
    let check = env.ok(["check", "--read-data", "--json"]).json();
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
    for &i in kept.iter().rev().take(3).chain(kept.iter().take(3)) {
        assert_bytes_eq(&env.ok(["get", "d/big", "--at", &ids[i]]).stdout, &tree(i)["big"], "after gc");
    }
}

#[test]
fn checkout_of_a_forgotten_commit_fails_naming_the_run_that_dropped_it() {
    let env = Env::init();
    let src = env.path("src");
    let ids: Vec<String> = (0..5).map(|i| commit_tree(&env, &src, i, T0 + i as u64 * DAY)).collect();
    env.ok(["forget", "--keep-last", "2"]);
    let out = env.fails_with(3, ["checkout", &ids[1][..12]]);
    assert!(out.stderr.contains("forget run 1") && out.stderr.contains("keep-last 2"), "{out}");
    env.fails_with(3, ["get", "d/big", "--at", &ids[0]]);
    env.fails_with(3, ["get", "d/big", "--at", "HEAD~2"]);
    // By date too: main as of commit 1's time is commit 1, forgotten.
    let out = env.fails_with(3, ["get", "d/big", "--at", "main@{2026-11-03T00:30:00Z}"]);
    assert!(out.stderr.contains("forget run 1"), "{out}");
    // Kept commits are untouched: same ids, still readable, checked out as before.
    env.ok(["checkout", &ids[3]]);
    assert_bytes_eq(&env.ok(["get", "d/big"]).stdout, &tree(3)["big"], "kept commit");
}

#[test]
fn forget_without_rules_applies_the_policy_stored_in_the_repository() {
    let env = Env::init();
    let src = env.path("src");
    let ids: Vec<String> = (0..6).map(|i| commit_tree(&env, &src, i, T0 + i as u64 * DAY)).collect();
    let out = env.fails_with(2, ["forget"]);
    assert!(out.stderr.contains("no retention policy"), "{out}");
    env.ok(["forget", "--set-policy", "--all", "--keep-last", "3"]);
    // A clone (another host) applies the same stored policy.
    let other = env.path("other");
    env.ok(["clone", env.ws.to_str().unwrap(), other.to_str().unwrap()]);
    let out = env.cmd(["forget", "--json"]).cwd(&other).ok().json();
    assert_eq!(out["forgotten"], 3, "{out}");
    assert!(out["run"]["policy"].as_str().unwrap().contains("keep-last 3"), "{out}");
    let (listed, _) = log(&env);
    assert_eq!(listed, [ids[5].clone(), ids[4].clone(), ids[3].clone()]);
}

#[test]
fn forget_racing_a_writer_on_the_same_branch_loses_neither() {
    let env = Env::init();
    let src = env.path("src");
    let mut ids: Vec<String> = (0..12).map(|i| commit_tree(&env, &src, i, T0 + i as u64 * HOUR)).collect();
    let wsrc = env.path("writer-src");
    for round in 0..6usize {
        let i = 12 + round;
        write_tree(&wsrc, i);
        env.ok(["put", "-r", "--delete", wsrc.to_str().unwrap(), "d/"]);
        let (committed, forgot) = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                env.cmd(["commit", "-m", &format!("snapshot {i}"), "--date", &format!("@{}", T0 + i as u64 * HOUR)])
                    .run()
            });
            let forget = env.cmd(["forget", "--keep-last", "3", "--json"]).run();
            (writer.join().unwrap(), forget)
        });
        assert_eq!(committed.code, 0, "{committed}");
        assert_eq!(forgot.code, 0, "{forgot}");
        ids.push(commit_id(&committed));
        // The new commit is the head, and reads back.
        let (listed, stretches) = log(&env);
        assert_eq!(listed[0], ids[i], "round {round}: the writer's commit is the head");
        assert_bytes_eq(&env.ok(["get", "d/big", "--at", &ids[i]]).stdout, &tree(i)["big"], "writer's commit");
        // The policy's result stands: whatever it forgot is still forgotten, on a history holding every commit.
        let v = forgot.json();
        let n = v["forgotten"].as_u64().unwrap();
        let total: u64 = stretches.iter().map(|s| s.0).sum();
        assert!(total >= n, "round {round}: {n} forgotten by the run, {total} in the log");
        assert_eq!(listed.len() as u64 + total, ids.len() as u64, "round {round}: no commit lost from the history");
        // It kept at least the 3 newest it saw, so never the writer's new commit nor its parent.
        assert!(listed.len() >= 3, "round {round}: {listed:?}");
    }
    // Without a race the policy settles on exactly the 3 newest.
    env.ok(["forget", "--keep-last", "3"]);
    let (listed, _) = log(&env);
    let want: Vec<String> = ids.iter().rev().take(3).cloned().collect();
    assert_eq!(listed, want);
}

#[test]
fn forget_and_gc_killed_at_random_instants_lose_nothing_kept() {
    use crate::killed::{kill_after, kill_trials};
    use std::time::Duration;
    let env = Env::init();
    let src = env.path("src");
    let mut ids: Vec<String> = (0..8).map(|i| commit_tree(&env, &src, i, T0 + i as u64 * DAY)).collect();
    let mut state: u64 = 77;
    let mut next_delay = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Duration::from_millis((state >> 33) % 250)
    };
    for t in 0..kill_trials(4) {
        let i = ids.len();
        ids.push(commit_tree(&env, &src, i, T0 + i as u64 * DAY));
        let (d1, d2) = (next_delay(), next_delay());
        kill_after(&env, &["forget", "--keep-last", "4", "--keep-weekly", "2"], d1);
        kill_after(&env, &["gc", "--grace", "0s", "--min-age", "0s"], d2);
        let ctx = format!("trial {t}: forget killed after {d1:?}, gc after {d2:?}");
        let (listed, stretches) = log(&env);
        assert_eq!(listed[0], ids[i], "{ctx}: the head");
        let total = listed.len() as u64 + stretches.iter().map(|s| s.0).sum::<u64>();
        assert_eq!(total, ids.len() as u64, "{ctx}: every commit is in the history");
        // Whatever was not forgotten reads back whole; at least the policy's newest 4 were never forgotten.
        assert!(listed.len() >= 4, "{ctx}: {listed:?}");
        for id in &listed {
            let k = ids.iter().position(|x| x == id).unwrap();
            for name in ["big", "stable"] {
                let got = env.ok(["get", &format!("d/{name}"), "--at", id]).stdout;
                assert_bytes_eq(&got, &tree(k)[name], &format!("{ctx}: commit {k} d/{name}"));
            }
        }
        let out = env.run(["check", "--read-data"]);
        assert_eq!(out.code, 0, "{ctx}: check after the kills:\n{out}");
    }
    // The interrupted work runs again to completion.
    env.ok(["forget", "--keep-last", "4", "--keep-weekly", "2"]);
    for _ in 0..3 {
        env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    }
    env.ok(["check", "--read-data"]);
    let (listed, _) = log(&env);
    for id in &listed {
        let k = ids.iter().position(|x| x == id).unwrap();
        assert_bytes_eq(&env.ok(["get", "d/big", "--at", id]).stdout, &tree(k)["big"], "after the reruns");
    }
}

/// The newest generation of every ref directory: (directory, generation, contents).
fn newest_generations(env: &Env) -> Vec<(std::path::PathBuf, u64, Vec<u8>)> {
    let refs = env.repo_dir().join("refs");
    std::fs::read_dir(&refs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|d| {
            let g = std::fs::read_dir(&d)
                .unwrap()
                .filter_map(|e| e.unwrap().file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
                .max()
                .unwrap();
            let bytes = read(d.join(format!("{g:020}")));
            (d, g, bytes)
        })
        .collect()
}

#[test]
fn a_replayed_forget_record_is_refused_by_a_workspace_that_saw_a_newer_one() {
    let env = Env::init();
    let src = env.path("src");
    let ids: Vec<String> = (0..6).map(|i| commit_tree(&env, &src, i, T0 + i as u64 * DAY)).collect();
    env.ok(["forget", "--keep-last", "4"]);
    let before = newest_generations(&env);
    env.ok(["forget", "--keep-last", "2"]);
    // Only the forget record moved; replay its older value as a newer generation.
    let after = newest_generations(&env);
    let moved: Vec<_> = after.iter().filter(|(d, g, _)| before.iter().any(|(d2, g2, _)| d2 == d && g2 != g)).collect();
    assert_eq!(moved.len(), 1, "forget changes one ref");
    let (dir, g, _) = moved[0];
    let old = &before.iter().find(|(d, _, _)| d == dir).unwrap().2;
    write(dir.join(format!("{:020}", g + 1)), old);
    // Commits 2 and 3 would look kept again: the workspace that saw the newer record refuses it.
    for args in [&["log"][..], &["gc", "--grace", "0s", "--min-age", "0s"], &["forget", "--keep-last", "2"]] {
        let out = env.fails_with(13, args);
        assert!(out.stderr.contains("forget record"), "{args:?}: {out}");
    }
    let out = env.fails_with(13, ["checkout", &ids[2]]);
    assert!(out.stderr.contains("forget record"), "{out}");
}

#[test]
fn log_of_a_path_lists_kept_commits_compared_with_the_nearest_kept_one() {
    let env = Env::init();
    let src = env.path("src");
    let ids: Vec<String> = (0..6).map(|i| commit_tree(&env, &src, i, T0 + i as u64 * DAY)).collect();
    env.ok(["forget", "--keep-last", "2"]);
    for _ in 0..3 {
        env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    }
    // d/big changes in every commit. The oldest kept one is compared with its nearest kept ancestor (none: with
    // nothing), not with its forgotten parent, whose data gc freed.
    let v = env.ok(["log", "--json", "--", "d/big"]).json();
    let listed: Vec<&str> = v.as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(listed, [ids[5].as_str(), ids[4].as_str()]);
}
