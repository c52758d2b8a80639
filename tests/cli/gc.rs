//! Garbage collection that reclaims space from packs that are only partly garbage (repacking), while a reader and
//! a writer work on the repository: nothing is lost, old commits still read back through the forwarding table.

use crate::util::{assert_bytes_eq, bytes_under, random_bytes, Env};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared (kept on main) and branch-only values, interleaved so that the same packs hold both.
const PAIRS: usize = 10;
const SHARED_LEN: usize = 120_000;
const UNIQUE_LEN: usize = 500_000;

fn shared(i: usize) -> Vec<u8> {
    random_bytes(1000 + i as u64, SHARED_LEN)
}

fn unique(i: usize) -> Vec<u8> {
    random_bytes(2000 + i as u64, UNIQUE_LEN)
}

/// Every object file under `dir` with its size.
fn objects(dir: &Path) -> BTreeMap<String, u64> {
    crate::util::files_under(dir.join("objects"))
        .into_iter()
        .map(|(p, s)| (p.file_name().unwrap().to_string_lossy().into_owned(), s))
        .collect()
}

/// Stage the shared values (and, with `with_unique`, the branch-only ones between them) in one `put -r`, so that
/// their chunks are written in that order into the same packs.
fn put_tree(env: &Env, with_unique: bool) {
    let src = env.root.join(if with_unique { "mixed" } else { "shared" });
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..PAIRS {
        std::fs::write(src.join(format!("{i:02}a-shared")), shared(i)).unwrap();
        if with_unique {
            std::fs::write(src.join(format!("{i:02}b-unique")), unique(i)).unwrap();
        }
    }
    env.ok(["put", "-q", "-r", src.to_str().unwrap(), "d"]);
}

/// gc, run again while it loses a race with a commit's claim (exit code 11 asks for that).
fn gc(env: &Env) -> serde_json::Value {
    for _ in 0..20 {
        let out = env.run(["--json", "gc", "--min-age", "0s", "--grace", "0s"]);
        if out.code == 0 {
            return out.json();
        }
        assert_eq!(out.code, 11, "gc failed: {out}");
    }
    panic!("gc kept losing races");
}

#[test]
fn gc_repacks_packs_shared_with_a_deleted_branch_while_a_reader_and_a_writer_run() {
    // The space main needs on its own, measured in a repository that never held the branch.
    let alone = Env::init();
    alone.put("base", b"base");
    alone.commit("base");
    put_tree(&alone, false);
    alone.commit("shared");
    let needed = bytes_under(alone.repo_dir().join("objects"));

    let env = Env::init();
    env.put("base", b"base");
    env.commit("base");
    env.ok(["fork", "side"]);
    put_tree(&env, true);
    env.commit("side: shared and unique, interleaved");
    env.ok(["checkout", "main"]);
    // Main takes the shared values: they deduplicate against the chunks in side's packs.
    put_tree(&env, false);
    env.commit("main: shared");
    let main_before = env.log_ids();
    env.ok(["branch", "-D", "side"]);
    let before = objects(&env.repo_dir());
    let total_before: u64 = before.values().sum();
    let unreachable = total_before - needed;
    assert!(unreachable > (PAIRS * UNIQUE_LEN) as u64 * 9 / 10, "the branch's data is there: {unreachable}");

    // A writer in another workspace commits copies of the shared values (deduplicated against the packs being
    // repacked) and a reader reads main's values, all while gc runs twice.
    let src = env.ws.display().to_string();
    env.cmd(["clone", &src, "writer"]).cwd(&env.root).ok();
    env.cmd(["clone", &src, "reader"]).cwd(&env.root).ok();
    // The race to survive: a writer deduplicates against a pack about to be repacked, and commits only after gc
    // deleted that pack.
    env.cmd(["clone", &src, "late"]).cwd(&env.root).ok();
    let late = env.root.join("late");
    env.cmd(["put", "late"]).cwd(&late).stdin(&shared(3)).ok();
    let stop = AtomicBool::new(false);
    let (plans, written) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let dir = env.root.join("writer");
            let mut n = 0;
            while n < 4 || !stop.load(Ordering::Relaxed) {
                let key = format!("w/{n}");
                env.cmd(["put", &key]).cwd(&dir).stdin(&shared(n % PAIRS)).ok();
                env.cmd(["commit", "-q", "-m", &key]).cwd(&dir).ok();
                n += 1;
            }
            n
        });
        let reader = s.spawn(|| {
            let dir = env.root.join("reader");
            let mut n = 0;
            while n < 4 || !stop.load(Ordering::Relaxed) {
                let i = n % PAIRS;
                let out = env.cmd(["get", &format!("d/{i:02}a-shared"), "--at", "main"]).cwd(&dir).ok();
                assert_bytes_eq(&out.stdout, &shared(i), "a shared value read during gc");
                n += 1;
            }
        });
        // Stop the loops however the runs end (a failed assertion must not leave them running forever).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let guard = Stop(&stop);
        let first = gc(&env);
        let second = gc(&env);
        drop(guard);
        reader.join().unwrap();
        ((first, second), writer.join().unwrap())
    });
    let (first, second) = plans;
    env.cmd(["commit", "-q", "-m", "late"]).cwd(&late).ok();
    assert!(!first["repack"].as_array().unwrap().is_empty(), "the first run repacks: {first}");
    assert!(!second["delete"].as_array().unwrap().is_empty(), "the second run deletes: {second}");

    // A pack a writer's commit claimed while a run was repacking it is pardoned by that run (the claim may point at
    // chunks the repack did not copy) and condemned again by the next one: two more runs, the writer stopped,
    // collect what the race kept.
    let third = gc(&env);
    let fourth = gc(&env);

    // Freed: what was stored before and is gone, less what gc wrote to hold the moved chunks (the writer's own
    // new packs are not counted against gc).
    let after = objects(&env.repo_dir());
    let new_by_gc: u64 = [&first, &second, &third, &fourth]
        .iter()
        .flat_map(|p| p["new_packs"].as_array().unwrap().iter())
        .filter_map(|n| after.get(n.as_str().unwrap().rsplit('/').next().unwrap()))
        .sum();
    let gone: u64 = before.iter().filter(|(n, _)| !after.contains_key(*n)).map(|(_, s)| s).sum();
    let freed = gone.saturating_sub(new_by_gc);
    let pct = freed as f64 * 100.0 / unreachable as f64;
    eprintln!(
        "repack reclaim: {freed} of {unreachable} unreachable bytes freed ({pct:.1} %); objects {total_before} -> {} \
         bytes ({written} writer commits during gc)",
        after.values().sum::<u64>()
    );
    assert!(pct >= 90.0, "at least 90 % of the unreachable bytes are freed, got {pct:.1} %");

    // Nothing lost: every commit main had reads back, the writer's values are all there, the repository checks.
    env.ok(["update"]);
    for id in &main_before {
        for i in 0..PAIRS {
            if env.ok(["ls", "--at", id, "d/"]).lines().is_empty() {
                continue;
            }
            let out = env.ok(["get", &format!("d/{i:02}a-shared"), "--at", id]);
            assert_bytes_eq(&out.stdout, &shared(i), "a shared value of an old commit");
        }
    }
    assert_bytes_eq(&env.get("late"), &shared(3), "a value staged before the repack, committed after the deletion");
    for n in 0..written {
        assert_bytes_eq(&env.get(&format!("w/{n}")), &shared(n % PAIRS), "a value the writer committed during gc");
    }
    env.ok(["check", "--read-data"]);
    // A later run finds nothing more to do, and old commits still read through the forwards.
    let third = gc(&env);
    assert!(third["repack"].as_array().unwrap().is_empty(), "{third}");
    let out = env.ok(["get", "d/00a-shared", "--at", &main_before[0]]);
    assert_bytes_eq(&out.stdout, &shared(0), "the oldest commit of main after three runs");
}

/// Main and a deleted branch sharing packs, repacked and deleted by two gc runs; main's commit (returned) still
/// reads back through the forwards and the repository checks clean. Runs on any backend.
pub fn repack_and_read_back(env: &Env) -> String {
    env.put("base", b"base");
    env.commit("base");
    env.ok(["fork", "side"]);
    put_tree(env, true);
    env.commit("side");
    env.ok(["checkout", "main"]);
    put_tree(env, false);
    let id = env.commit("main");
    env.ok(["branch", "-D", "side"]);
    let dry = env.ok(["--json", "gc", "--dry-run", "--min-age", "0s"]).json();
    assert!(!dry["repack"].as_array().unwrap().is_empty(), "{dry}");
    let first = gc(env);
    assert_eq!(first["repack"], dry["repack"], "{first}");
    let second = gc(env);
    for p in first["repack"].as_array().unwrap() {
        assert!(second["delete"].as_array().unwrap().contains(p), "{second}");
    }
    for i in 0..PAIRS {
        let out = env.ok(["get", &format!("d/{i:02}a-shared"), "--at", &id]);
        assert_bytes_eq(&out.stdout, &shared(i), "read through the forward");
    }
    env.ok(["check", "--read-data"]);
    id
}

#[test]
fn a_tampered_or_missing_forwarding_table_is_an_integrity_error() {
    let env = Env::init();
    let id = repack_and_read_back(&env);
    let tables = crate::util::files_under(env.repo_dir().join("forward"));
    assert_eq!(tables.len(), 1);
    let table = env.repo_dir().join("forward").join(&tables[0].0);
    let good = crate::util::read(&table);

    let mut bad = good.clone();
    bad[100] ^= 1;
    crate::util::write(&table, &bad);
    let out = env.fails_with(13, ["get", "d/01a-shared", "--at", &id]);
    assert!(out.stderr.contains("forwarding table"), "{out}");
    env.fails_with(13, ["check"]);
    // gc refuses to judge anything it cannot trace.
    env.fails_with(13, ["gc", "--min-age", "0s", "--grace", "0s"]);

    std::fs::remove_file(&table).unwrap();
    let out = env.fails_with(13, ["get", "d/01a-shared", "--at", &id]);
    assert!(out.stderr.contains("missing"), "{out}");
    env.fails_with(13, ["check"]);

    crate::util::write(&table, &good);
    env.ok(["check", "--read-data"]);
}

/// gc killed at random instants while it repacks (reading old packs, writing new ones and the forwarding table,
/// swapping the gc ref, deleting): after every kill main reads back and `check --read-data` is clean; runs to
/// completion afterwards free the space and leave no stray forwarding table.
#[test]
fn gc_killed_while_repacking_loses_nothing() {
    let env = Env::init();
    env.put("base", b"base");
    env.commit("base");
    env.ok(["fork", "side"]);
    put_tree(&env, true);
    env.commit("side");
    env.ok(["checkout", "main"]);
    put_tree(&env, false);
    let id = env.commit("main");
    env.ok(["branch", "-D", "side"]);
    // A run here takes tens of milliseconds: kill at every few milliseconds of it.
    let trials = crate::killed::kill_trials(12);
    for t in 0..trials {
        let delay = std::time::Duration::from_millis((t as u64 * 5) % 80);
        crate::killed::kill_after(&env, &["gc", "--grace", "0s", "--min-age", "0s"], delay);
        let out = env.run(["check", "--read-data"]);
        assert_eq!(out.code, 0, "trial {t}: gc killed after {delay:?}:\n{out}");
        let i = t % PAIRS;
        let got = env.ok(["get", &format!("d/{i:02}a-shared"), "--at", &id]).stdout;
        assert_bytes_eq(&got, &shared(i), &format!("trial {t}: a value of main after the kill"));
    }
    for _ in 0..3 {
        gc(&env);
    }
    for i in 0..PAIRS {
        let got = env.ok(["get", &format!("d/{i:02}a-shared"), "--at", &id]).stdout;
        assert_bytes_eq(&got, &shared(i), "a value of main after gc ran to completion");
    }
    env.ok(["check", "--read-data"]);
    let tables = crate::util::files_under(env.repo_dir().join("forward"));
    assert!(tables.len() <= 1, "stray forwarding tables: {tables:?}");
    let objects = bytes_under(env.repo_dir().join("objects"));
    assert!(objects < 8 << 20, "the branch's data was freed: {objects} bytes left");
}

/// The dedup index merged into its sorted file by every command (`INFINI_INDEX_MERGE_AT=1`): values put again are
/// found there and not stored twice, and after gc deletes their packs (their branch deleted), putting them again
/// stores them anew rather than pointing into the deleted packs.
#[test]
fn values_put_again_after_gc_deleted_their_packs_are_stored_anew_through_the_merged_index() {
    let mut env = Env::init();
    env.set("INFINI_INDEX_MERGE_AT", "1");
    let src = env.root.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let values: Vec<Vec<u8>> = (0..12).map(|i| random_bytes(3000 + i, 5000 + 700 * i as usize)).collect();
    for (i, v) in values.iter().enumerate() {
        std::fs::write(src.join(format!("{i:02}")), v).unwrap();
    }
    env.put("base", b"base");
    env.commit("base");
    env.ok(["fork", "side"]);
    env.ok(["put", "-q", "-r", src.to_str().unwrap(), "a"]);
    env.commit("a");
    assert!(env.ws.join(".infini/cache/chunk-index.sorted").exists(), "the journal was merged into the sorted file");

    // The same bytes under other keys, in this workspace: every chunk is known, no pack is written.
    let before = objects(&env.repo_dir());
    env.ok(["put", "-q", "-r", src.to_str().unwrap(), "b"]);
    assert_eq!(objects(&env.repo_dir()), before, "values put again were stored again");
    env.ok(["reset", "-q"]);

    // Drop the branch and let gc delete its packs.
    env.ok(["checkout", "main"]);
    env.ok(["branch", "-D", "side"]);
    gc(&env);
    gc(&env);
    let after_gc = objects(&env.repo_dir());
    assert!(after_gc.len() < before.len(), "gc deleted no pack: {before:?} -> {after_gc:?}");

    // Put again: the sorted file still lists the deleted packs, but their chunks must not be used.
    env.ok(["put", "-q", "-r", src.to_str().unwrap(), "c"]);
    env.commit("c");
    for (i, v) in values.iter().enumerate() {
        assert_bytes_eq(&env.get(&format!("c/{i:02}")), v, "a value put again after gc");
    }
    env.ok(["check", "--read-data"]);
}

/// The dedup index's files are a cache: when they cannot be written (here the journal's place is taken by a
/// directory, as a full disk would refuse it), put and commit still succeed with a warning, and the next command
/// finds what they stored by reading the repository (nothing is stored twice).
#[test]
fn put_and_commit_go_on_with_a_warning_when_the_dedup_index_cannot_be_written() {
    let env = Env::init();
    let a = random_bytes(71, 3 << 20);
    env.put("a", &a);
    env.commit("a");
    let journal = env.ws.join(".infini/cache/chunk-index");
    std::fs::remove_file(&journal).unwrap();
    std::fs::create_dir(&journal).unwrap();
    let b = random_bytes(72, 3 << 20);
    let out = env.cmd(["put", "b"]).stdin(&b).ok();
    assert!(out.stderr.contains("dedup index cache") && out.stderr.contains("could not be written"), "{out}");
    env.commit("b");
    std::fs::remove_dir(&journal).unwrap();
    let before = bytes_under(env.repo_dir().join("objects"));
    env.put("c", &b);
    env.commit("c");
    let grown = bytes_under(env.repo_dir().join("objects")) - before;
    assert!(grown < 1 << 20, "b's 3 MiB stored again: {grown} bytes more");
    assert_bytes_eq(&env.ok(["get", "b"]).stdout, &b, "b after the index could not be written");
    env.ok(["check", "--read-data"]);
}

/// Files of a tree: (name, bytes).
type Files = Vec<(String, Vec<u8>)>;

/// A history of small commits: versions of a 20-file tree, each changing three files; (commit id, files) each.
fn small_history(env: &Env, versions: usize) -> Vec<(String, Files)> {
    let src = env.root.join("proj");
    let mut files: Files = (0..20).map(|i| (format!("f{i:02}.txt"), random_bytes(i as u64, 3000 + 500 * i))).collect();
    let mut out = Vec::new();
    for v in 0..versions {
        for k in 0..3 {
            let i = (v * 7 + k * 3) % files.len();
            files[i].1.extend_from_slice(&random_bytes((v * 100 + k) as u64, 300));
        }
        std::fs::create_dir_all(&src).unwrap();
        for (name, data) in &files {
            std::fs::write(src.join(name), data).unwrap();
        }
        env.ok(["put", "-q", "-r", "--delete", src.to_str().unwrap(), "p/"]);
        let id = env.commit(&format!("v{v}"));
        out.push((id, files.clone()));
    }
    out
}

#[test]
fn gc_consolidates_the_small_packs_of_many_small_commits() {
    let env = Env::init();
    let history = small_history(&env, 30);
    let repo = env.repo_dir();
    let before = objects(&repo);
    assert!(before.len() >= 30, "a small commit writes its own small packs: {before:?}");
    let first = gc(&env);
    assert!(first["consolidated"].as_u64().unwrap() >= 30, "{first}");
    gc(&env);
    let after = objects(&repo);
    assert!(after.len() <= 3, "the small packs were consolidated into a few: {after:?}");
    let live: u64 = before.values().sum();
    let now: u64 = after.values().sum();
    assert!(now < live, "consolidation took fewer bytes: {live} -> {now}");
    // Every version still reads back, through the forwards.
    for (id, files) in history.iter().step_by(7) {
        for (name, data) in files.iter().step_by(5) {
            let got = env.ok(["get", "--at", id, &format!("p/{name}")]).stdout;
            assert_bytes_eq(&got, data, &format!("{name} at {id}"));
        }
    }
    env.ok(["check", "--read-data"]);
    // From a new workspace over a slow store (which reads a view's commit with the bytes before it in its pack):
    // every commit's own pack is gone, each is read where it moved.
    let src = env.ws.display().to_string();
    env.cmd(["clone", &src, "cold"]).cwd(&env.root).ok();
    for (id, files) in history.iter().step_by(4) {
        let listed = env.cmd(["ls", "--at", id]).cwd(env.root.join("cold")).env("INFINI_BACKEND_LATENCY_MS", "1").ok();
        assert_eq!(listed.lines().len(), files.len(), "{id}: {listed}");
        let (name, data) = &files[id.len() % files.len()];
        let got = env
            .cmd(["get", "--at", id, &format!("p/{name}")])
            .cwd(env.root.join("cold"))
            .env("INFINI_BACKEND_LATENCY_MS", "1")
            .ok()
            .stdout;
        assert_bytes_eq(&got, data, &format!("{name} at {id}, cold"));
    }
    // A second gc finds nothing more to consolidate.
    let again = gc(&env);
    assert_eq!(again["consolidated"], 0, "{again}");
    // More small commits are consolidated in turn, but what an earlier run consolidated is never moved again
    // (each move would add a forward to follow).
    std::fs::remove_dir_all(env.root.join("proj")).unwrap();
    let more = small_history(&env, 10);
    let third = gc(&env);
    assert!(third["consolidated"].as_u64().unwrap() >= 8, "{third}");
    gc(&env);
    let last = objects(&repo);
    for p in after.keys() {
        assert!(last.contains_key(p), "consolidated pack {p} stays where it is: {last:?}");
    }
    let (id, files) = &more[9];
    let got = env.ok(["get", "--at", id, &format!("p/{}", files[0].0)]).stdout;
    assert_bytes_eq(&got, &files[0].1, "after the second consolidation");
    env.ok(["check", "--read-data"]);
}

/// What a history of small commits costs once gc consolidated it, as `stats` reports it: each kind of chunk
/// accounted for, forwarding tables at under 64 bytes per moved chunk (they were about 140), and each ref stored as
/// at most two generations on a directory (each generation is a whole ref: the gc ref's size class, 4 KiB for a
/// branch; five were kept).
#[test]
fn stats_accounts_for_every_byte_of_a_consolidated_history() {
    let env = Env::init();
    small_history(&env, 30);
    let moved = gc(&env)["consolidated"].as_u64().unwrap();
    assert!(moved >= 30, "{moved} packs consolidated");
    gc(&env);
    let s = env.ok(["--json", "stats"]).json();
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("not a number: {v} in {s}"));
    let kinds = ["data", "index", "commits"];
    assert_eq!(kinds.iter().map(|k| n(&s["by_kind"][k]["chunks"])).sum::<u64>(), n(&s["chunks"]), "{s}");
    assert_eq!(kinds.iter().map(|k| n(&s["by_kind"][k]["bytes"])).sum::<u64>(), n(&s["stored_chunk_bytes"]), "{s}");
    assert_eq!(n(&s["by_kind"]["commits"]["chunks"]), 30, "one commit chunk per commit: {s}");
    assert!(n(&s["by_kind"]["data"]["chunks"]) >= 20 && n(&s["by_kind"]["index"]["chunks"]) >= 30, "{s}");
    assert_eq!(n(&s["pack_overhead_bytes"]), n(&s["repository_bytes"]) - n(&s["stored_chunk_bytes"]), "{s}");
    // Every chunk was moved out of the small packs into the consolidated ones: one forward each.
    let forwards = n(&s["forward_tables"]["bytes"]);
    assert!(n(&s["forward_tables"]["objects"]) >= 1, "{s}");
    assert_eq!(forwards, bytes_under(env.repo_dir().join("forward")), "{s}");
    assert!(
        forwards <= 64 * n(&s["chunks"]) + 8192,
        "{forwards} bytes of forwarding tables for {} chunks",
        n(&s["chunks"])
    );
    // Refs: main and the gc ref, two generations each at most.
    let refs = crate::util::files_under(env.repo_dir().join("refs"));
    assert_eq!(n(&s["refs"]["objects"]), refs.len() as u64, "{s}");
    assert!(refs.len() <= 4, "ref generations kept: {refs:?}");
    assert_eq!(n(&s["refs"]["bytes"]), refs.iter().map(|(_, b)| b).sum::<u64>(), "{s}");
}

/// Stored bytes of index nodes, as `stats` counts them.
fn index_bytes(env: &Env) -> u64 {
    let s = env.ok(["--json", "stats"]).json();
    s["by_kind"]["index"]["bytes"].as_u64().unwrap_or_else(|| panic!("no index bytes in {s}"))
}

/// Every file of every version of `history` reads back from the workspace `dir`, and lists as it was.
fn every_version_reads_back(env: &Env, dir: &Path, history: &[(String, Files)], slow: bool) {
    for (id, files) in history {
        let latency = if slow { "1" } else { "0" };
        // Over the slow store with a warm tier, as an S3 repository's workspace has one.
        let warm: &[&str] = if slow { &["--cache-size", "64M"] } else { &[] };
        let run = |args: &[&str]| {
            let args: Vec<&str> = warm.iter().chain(args).copied().collect();
            let out = env.cmd(args.iter().copied()).cwd(dir).env("INFINI_BACKEND_LATENCY_MS", latency).ok();
            // Nothing the warm tier kept is found wanting (a delta kept under a place it does not decode at).
            assert!(!out.stderr.contains("warm-cache"), "{args:?}: {out}");
            out
        };
        let listed = run(&["ls", "--at", id]);
        assert_eq!(listed.lines().len(), files.len(), "{id}: {listed}");
        for (name, data) in files {
            let got = run(&["get", "--at", id, &format!("p/{name}")]).stdout;
            assert_bytes_eq(&got, data, &format!("{name} at {id}"));
        }
    }
}

/// A history whose every version rewrites every file (every leaf entry's mtime changes, so every commit writes all
/// its index nodes anew, each nearly the node before it): once gc consolidates it, an index node is stored as the
/// difference from a node like it in the same pack, and the index takes little more than half its bytes. Every version
/// still reads back, from the workspace and from a new one over a slow store; a later gc that repacks the
/// consolidated pack, its base nodes no longer reachable (their versions forgotten), stores whole or new
/// differences, and everything kept still reads.
#[test]
fn gc_stores_a_historys_index_nodes_as_differences_and_every_version_reads_back() {
    let env = Env::init();
    let history = small_history(&env, 30);
    let before = index_bytes(&env);
    gc(&env);
    gc(&env);
    let after = index_bytes(&env);
    // Each version changes 3 of the 20 files: a delta against the version before takes a quarter of a whole node,
    // against the version 4 before half, and a base (stored whole) must be in the pack; about 0.52 in all.
    assert!(after * 5 <= before * 3, "index nodes took {before} bytes before gc and {after} after");
    every_version_reads_back(&env, &env.ws, &history, false);
    let check = env.ok(["check", "--read-data", "--json"]).json();
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
    let src = env.ws.display().to_string();
    env.cmd(["clone", &src, "cold"]).cwd(&env.root).ok();
    // Twice: the second time from the warm tier, where the first read kept each node's sealed bytes.
    for _ in 0..2 {
        every_version_reads_back(&env, &env.root.join("cold"), &history[..10], true);
    }

    // Forget all but the last 5 versions: the consolidated pack is mostly garbage, the nodes other versions were
    // stored against among it. gc repacks it; what is kept reads back.
    env.ok(["forget", "-q", "--keep-last", "5"]);
    for _ in 0..2 {
        env.ok(["gc", "-q", "--min-age", "0s", "--grace", "0s", "--repack-threshold", "10"]);
    }
    let kept = &history[history.len() - 5..];
    every_version_reads_back(&env, &env.ws, kept, false);
    env.cmd(["clone", &src, "cold2"]).cwd(&env.root).ok();
    every_version_reads_back(&env, &env.root.join("cold2"), kept, true);
    let check = env.ok(["check", "--read-data", "--json"]).json();
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
}
