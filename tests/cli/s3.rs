//! The command line over S3: a real SeaweedFS server on 127.0.0.1, started by the test harness.

use crate::support::proxy::{Fault, FaultProxy, Storm};
use crate::support::s3::{server, S3Server};
use crate::util::{random_bytes, write, Env};
use infini::backends::S3Config;
use std::net::SocketAddr;

/// A fresh environment holding the server's credentials.
pub(crate) fn with_credentials(srv: &S3Server) -> Env {
    let mut env = Env::new();
    env.set("AWS_ACCESS_KEY_ID", srv.access_key.clone());
    env.set("AWS_SECRET_ACCESS_KEY", srv.secret_key.clone());
    env.set("AWS_REGION", "us-east-1");
    env
}

/// A workspace whose repository lives in a fresh bucket; `None` (skipped loudly) without a server outside CI.
fn s3_env(hint: &str, extra: &[&str]) -> Option<(Env, &'static S3Server, String)> {
    let srv = server()?;
    let env = with_credentials(srv);
    let bucket = srv.unique_bucket(hint);
    let url = format!("{bucket}/team-a");
    let mut args = vec!["init", "--s3", &url, "--create-bucket", "--endpoint", &srv.endpoint];
    args.extend_from_slice(extra);
    env.ok(args);
    Some((env, srv, format!("s3://{url}")))
}

/// An environment with S3 credentials, a proxy in front of the server (to count or slow its requests), and a
/// fresh bucket's `BUCKET/PREFIX` location; `None` (skipped loudly) without a server outside CI.
fn proxied(hint: &str, prefix: &str) -> Option<(Env, FaultProxy, String)> {
    let srv = server()?;
    let upstream: SocketAddr = srv.endpoint.trim_start_matches("http://").parse().unwrap();
    let proxy = FaultProxy::start(upstream);
    let env = with_credentials(srv);
    let url = format!("{}/{prefix}", srv.unique_bucket(hint));
    Some((env, proxy, url))
}

fn stats(env: &Env, dir: &str) -> serde_json::Value {
    env.cmd(["stats", "--json"]).cwd(env.root.join(dir)).ok().json()
}

#[test]
fn put_commit_get_clone_and_ranges_over_s3() {
    let Some((env, srv, url)) = s3_env("basic", &[]) else { return };
    let value = random_bytes(1, 5_000_000);
    env.cmd(["put", "data/big"]).stdin(&value).ok();
    env.put("small", b"hello");
    let id = env.commit("first");
    assert_eq!(env.get("data/big"), value);

    // A second workspace attached to the same bucket sees the same commit and bytes.
    env.cmd(["clone", &url, "ws2", "--endpoint", &srv.endpoint]).cwd(&env.root).ok();
    let ws2 = env.root.join("ws2");
    let log = env.cmd(["log", "--json"]).cwd(&ws2).ok().json();
    assert_eq!(log[0]["id"], id);
    assert_eq!(env.cmd(["get", "small"]).cwd(&ws2).ok().stdout, b"hello");
    let ranged = env.cmd(["get", "data/big", "--range", "1000000-1999999"]).cwd(&ws2).ok().stdout;
    assert_eq!(ranged, &value[1_000_000..2_000_000]);
    let tail = env.cmd(["get", "data/big", "--range", "-10"]).cwd(&ws2).ok().stdout;
    assert_eq!(tail, &value[value.len() - 10..]);

    // Read-only commands work with only --repo/INFINI_REPO and credentials.
    let out = env.cmd(["ls"]).cwd(&env.root).env("INFINI_REPO", &url).env("AWS_ENDPOINT_URL", &srv.endpoint).ok();
    assert_eq!(out.lines(), vec!["data/big", "small"]);

    // Changes from the second workspace reach the first.
    env.cmd(["put", "from-ws2"]).cwd(&ws2).stdin(b"2").ok();
    env.cmd(["commit", "-m", "second"]).cwd(&ws2).ok();
    assert_eq!(env.get("from-ws2"), b"2");
}

#[test]
fn repeat_get_is_served_by_the_warm_tier() {
    let Some((env, _, _)) = s3_env("warm", &[]) else { return };
    let value = random_bytes(2, 6_000_000);
    env.cmd(["put", "v"]).stdin(&value).ok();
    env.commit("v");
    assert_eq!(env.get("v"), value);
    let before = stats(&env, "ws");
    assert_eq!(env.get("v"), value);
    let after = stats(&env, "ws");
    assert_eq!(
        before["cache"]["cold"]["reads"], after["cache"]["cold"]["reads"],
        "a repeated get fetched from S3: {before} -> {after}"
    );
    assert!(after["cache"]["warm"]["hits"].as_u64() > before["cache"]["warm"]["hits"].as_u64());
}

#[test]
fn warm_cache_budget_is_a_hard_limit() {
    let budget: u64 = 3 << 20;
    let Some((env, _, _)) = s3_env("budget", &["--cache-size", "3M"]) else { return };
    for i in 0..4 {
        env.cmd(["put", &format!("v{i}")]).stdin(&random_bytes(10 + i, 2_500_000)).ok();
    }
    env.commit("four values, 10 MB in all");
    for i in 0..4 {
        assert_eq!(env.get(&format!("v{i}")), random_bytes(10 + i, 2_500_000));
        let disk = stats(&env, "ws")["cache"]["warm"]["disk_bytes"].as_u64().expect("warm tier is on");
        assert!(disk <= budget, "warm cache holds {disk} bytes, budget {budget}");
        assert!(disk > 0);
    }
    let mut total = 0;
    for e in walkdir::WalkDir::new(env.ws.join(".infini/cache/warm")).into_iter().flatten() {
        if e.file_type().is_file() {
            total += e.metadata().unwrap().len();
        }
    }
    assert!(total <= budget, "{total} bytes on disk");
}

/// An error message is one line on stderr, without the SDK's debug dump or doubled spaces.
#[track_caller]
fn one_clear_line(out: &crate::util::Out) {
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{out}");
    for raw in ["DispatchFailure", "ConnectorError", "Some(", "source:", "{ "] {
        assert!(!out.stderr.contains(raw), "no Rust debug output ({raw}):\n{out}");
    }
    assert!(!out.stderr.contains("  "), "no doubled spaces:\n{out}");
}

#[test]
fn access_denied_is_15_with_what_to_check() {
    let Some((env, srv, url)) = s3_env("creds", &[]) else { return };
    env.put("k", b"v");
    env.commit("one");
    let out =
        env.cmd(["-R", &url, "--endpoint", &srv.endpoint, "ls"]).env("AWS_SECRET_ACCESS_KEY", "wrong").fails_with(15);
    one_clear_line(&out);
    assert!(out.stderr.contains("access denied"), "{out}");
    assert!(out.stderr.contains(&srv.endpoint), "names the endpoint: {out}");
    assert!(out.stderr.contains("AWS_SECRET_ACCESS_KEY"), "says what to check: {out}");
    let out = env
        .cmd(["--json", "-R", &url, "--endpoint", &srv.endpoint, "ls"])
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .fails_with(15);
    assert_eq!(out.stderr_json()["error"]["code"], 15, "{out}");
    // The workspace's own commands too.
    env.cmd(["ls"]).env("AWS_ACCESS_KEY_ID", "nobody").fails_with(15);
}

#[test]
fn unreachable_endpoint_is_one_line_naming_endpoint_and_operation() {
    let Some((env, _, url)) = s3_env("unreachable", &[]) else { return };
    let out = env.cmd(["-R", &url, "--endpoint", "http://127.0.0.1:9", "ls"]).env("INFINI_RETRIES", "2").fails_with(14);
    one_clear_line(&out);
    assert!(out.stderr.contains("http://127.0.0.1:9"), "names the endpoint: {out}");
    // The first request a read-only command makes: reading the header, or checking the bucket.
    assert!(out.stderr.contains("read config") || out.stderr.contains("check bucket"), "names the operation: {out}");
    assert!(out.stderr.contains("unavailable after 2 attempts"), "{out}");
    assert!(out.stderr.contains("check that the endpoint"), "says what to do: {out}");
}

#[test]
fn missing_bucket_is_10_and_only_init_suggests_creating_it() {
    let Some((env, srv, _)) = s3_env("nobucket", &[]) else { return };
    let out = env.cmd(["-R", "s3://no-such-bucket-here", "--endpoint", &srv.endpoint, "ls"]).fails_with(10);
    one_clear_line(&out);
    assert!(out.stderr.contains("no-such-bucket-here") && out.stderr.contains("does not exist"), "{out}");
    assert!(!out.stderr.contains("--create-bucket"), "a read-only ls must not suggest creating a bucket: {out}");
    let out = env
        .cmd(["clone", "s3://no-such-bucket-here/x", "c", "--endpoint", &srv.endpoint])
        .cwd(&env.root)
        .fails_with(10);
    assert!(!out.stderr.contains("--create-bucket"), "{out}");
    let out = env
        .cmd(["init", "ws-new", "--s3", "no-such-bucket-here/x", "--endpoint", &srv.endpoint])
        .cwd(&env.root)
        .fails_with(10);
    one_clear_line(&out);
    assert!(out.stderr.contains("--create-bucket"), "init says how to create it: {out}");
}

#[test]
fn without_credentials_or_endpoint_a_command_fails_fast() {
    // No AWS_* variables, no profile (HOME is the test's directory), no endpoint: the credential chain ends with
    // the instance-metadata probe, which must not hold the command for seconds off EC2.
    let env = Env::new();
    let start = std::time::Instant::now();
    let out = env.cmd(["-R", "s3://some-bucket/x", "ls"]).env("INFINI_RETRIES", "1").fails_with(15);
    let took = start.elapsed();
    assert!(took < std::time::Duration::from_secs(4), "took {took:?}:\n{out}");
    one_clear_line(&out);
    assert!(out.stderr.contains("no credentials"), "{out}");
    assert!(out.stderr.contains("AWS_ACCESS_KEY_ID"), "says what to set: {out}");
}

#[test]
fn transient_faults_are_retried_and_persistent_ones_exit_14() {
    let Some((env, srv, url)) = s3_env("faults", &[]) else { return };
    env.put("k", b"value");
    env.commit("one");
    let upstream: SocketAddr = srv.endpoint.trim_start_matches("http://").parse().unwrap();
    let proxy = FaultProxy::start(upstream);
    proxy.fail_next(2, Fault::ServiceUnavailable);
    proxy.fail_next(1, Fault::Reset);
    proxy.fail_next(1, Fault::Delay(std::time::Duration::from_millis(300)));
    let out = env.cmd(["-R", &url, "--endpoint", &proxy.endpoint(), "get", "k"]).ok();
    assert_eq!(out.stdout, b"value");
    proxy.fail_always(Fault::ServiceUnavailable);
    let out =
        env.cmd(["-R", &url, "--endpoint", &proxy.endpoint(), "get", "k"]).env("INFINI_RETRIES", "3").fails_with(14);
    assert!(out.stderr.contains(&proxy.endpoint()), "the message names the endpoint: {out}");
    proxy.heal();
    env.cmd(["-R", &url, "--endpoint", &proxy.endpoint(), "get", "k"]).ok();
}

#[test]
fn eight_writers_on_s3_lose_nothing() {
    let Some((env, srv, url)) = s3_env("writers", &[]) else { return };
    crate::many_writers::run(&env, &url, &["--endpoint", &srv.endpoint], 8, 25);
}

#[test]
fn large_put_streams_to_s3() {
    let Some((env, _, _)) = s3_env("large", &[]) else { return };
    let value = random_bytes(3, 40_000_000);
    let file = env.root.join("big.bin");
    write(&file, &value);
    env.ok(["put", "big", file.to_str().unwrap()]);
    env.commit("big");
    assert_eq!(env.get("big"), value);
    env.ok(["check", "--read-data"]);
}

/// The requests each command makes, counted at a proxy in front of the server. A repeated `get` of a value the
/// warm tier holds asks S3 for the branch's ref and nothing else. The counts are those the README reports.
#[test]
fn requests_per_command() {
    let Some((env, proxy, url)) = proxied("requests", "counted") else { return };
    let endpoint = proxy.endpoint();
    let counted = |what: &str, run: &dyn Fn()| -> Vec<String> {
        proxy.clear_requests();
        run();
        let r = proxy.requests();
        eprintln!("{what}: {} requests: {r:#?}", r.len());
        r
    };
    let count = |reqs: &[String], method: &str, path_part: &str| {
        reqs.iter().filter(|r| r.starts_with(&format!("{method} ")) && r.contains(path_part)).count()
    };

    // Values of one chunk each (below the smallest data chunk), so the counts do not depend on where the
    // key-dependent chunker cuts.
    let value = random_bytes(4, 100_000);
    let init = counted("init", &|| {
        env.ok(["init", "--s3", &url, "--create-bucket", "--endpoint", &endpoint]);
    });
    let put = counted("put", &|| {
        env.cmd(["put", "big"]).stdin(&value).ok();
    });
    let commit = counted("commit", &|| {
        env.commit("one");
    });
    let put2 = counted("put after commit", &|| {
        env.cmd(["put", "second"]).stdin(&random_bytes(5, 100_000)).ok();
    });
    let s3_url = format!("s3://{url}");
    let clone = counted("clone", &|| {
        env.cmd(["clone", &s3_url, "ws2", "--endpoint", &endpoint]).cwd(&env.root).ok();
    });
    let ws2 = env.root.join("ws2");
    let get_cold = counted("get (cold)", &|| {
        assert_eq!(env.cmd(["get", "big"]).cwd(&ws2).ok().stdout, value);
    });
    let get_warm = counted("get (warm)", &|| {
        assert_eq!(env.cmd(["get", "big"]).cwd(&ws2).ok().stdout, value);
    });
    let ls = counted("ls", &|| {
        assert_eq!(env.cmd(["ls"]).cwd(&ws2).ok().lines(), vec!["big"]);
    });
    let log = counted("log", &|| {
        env.cmd(["log"]).cwd(&ws2).ok();
    });

    // Warm reads in an unlocked workspace: the branch's ref, nothing else (no bucket check, no header); `log` reads
    // the forget record too, so that it shows forgotten commits as such.
    for (what, reqs, refs) in [("get (warm)", &get_warm, 1), ("ls", &ls, 1), ("log", &log, 2)] {
        assert_eq!(reqs.len(), refs, "{what}: {reqs:?}");
        assert_eq!(count(reqs, "GET", "/refs/"), refs, "{what}: {reqs:?}");
    }
    // Cold: the ref, the commit with the bytes before it in its pack (its index: here one node), the value.
    assert_eq!(get_cold.len(), 3, "{get_cold:?}");
    assert_eq!(count(&get_cold, "GET", "/objects/"), 2, "{get_cold:?}");
    // Once the workspace exists, nothing checks the bucket or reads the repository header again.
    for (what, reqs) in [("put", &put), ("commit", &commit), ("put after commit", &put2), ("get (cold)", &get_cold)] {
        assert_eq!(count(reqs, "HEAD", "/"), 0, "{what} checked the bucket: {reqs:?}");
        assert_eq!(count(reqs, "GET", "/config"), 0, "{what} read the header: {reqs:?}");
    }
    // put: the branch ref and the garbage collector's, one listing, one pack.
    assert_eq!(put.len(), 4, "{put:?}");
    assert_eq!((count(&put, "GET", "list-type=2"), count(&put, "PUT", "/objects/")), (1, 1), "{put:?}");
    // After a commit the dedup index this workspace extended is on disk: the listing finds no pack whose table
    // it must read; and the commit the view is loaded from is one this workspace wrote, so the warm tier has it.
    assert_eq!(put2.len(), 4, "{put2:?}");
    assert_eq!(count(&put2, "GET", "/objects/"), 0, "{put2:?}");
    // commit: the branch's ref (the head), the gc ref (early check: no staged pack is being deleted), the index
    // pack; the claim: a one-byte probe of the staged pack, the gc ref's swap from the version the early check read
    // (the index node traced back is the one just written: the warm tier has it); the branch's swap from the
    // version the head was read at; the release: the gc ref's swap from the version the claim wrote. No listing.
    // (11 before the release swapped from the claim's version, 9 before the claim and the branch's swap started
    // from the versions read at the start.)
    assert_eq!(commit.len(), 7, "{commit:?}");
    assert_eq!(count(&commit, "GET", "/refs/"), 2, "{commit:?}");
    assert_eq!(count(&commit, "GET", "list-type=2"), 0, "{commit:?}");
    assert_eq!((count(&commit, "PUT", "/objects/"), count(&commit, "PUT", "/refs/")), (1, 3), "{commit:?}");
    // init: the bucket (checked, created), the header (absent; written; read back), a key slot.
    assert_eq!(init.len(), 6, "{init:?}");
    // clone: the header, the key slots (listed, read), the header again.
    assert_eq!(clone.len(), 4, "{clone:?}");
}

#[test]
fn replayed_and_deleted_refs_are_detected_over_s3() {
    use infini::backends::{Backend, S3Backend};
    let Some((env, srv, url)) = s3_env("rollback", &[]) else { return };
    let cfg = S3Config::from_url(&url).expect("the test's url");
    let cfg = S3Config { prefix: cfg.prefix, ..srv.config(&cfg.bucket) };
    let raw = S3Backend::open_with_credentials(cfg, srv.credentials()).expect("a second client on the bucket");
    env.put("a", b"1");
    env.commit("one");
    // The branch's ref; the other is the gc ref (a commit's claim writes it), the one gc changes.
    let versions = || -> Vec<(String, String)> {
        raw.list_refs().unwrap().into_iter().map(|r| (r.clone(), raw.read_ref(&r).unwrap().unwrap().1 .0)).collect()
    };
    let before = versions();
    env.ok(["gc"]);
    let refs: Vec<String> = versions().into_iter().filter(|v| before.contains(v)).map(|(r, _)| r).collect();
    assert_eq!((refs.len(), before.len()), (1, 2), "{before:?}");
    let old = raw.read_ref(&refs[0]).unwrap().unwrap().0;
    env.put("a", b"2");
    env.commit("two");
    // An old ref written back (a bucket with versioning restored, or an attacker who kept it).
    let (_, now) = raw.read_ref(&refs[0]).unwrap().unwrap();
    raw.swap_ref(&refs[0], Some(&now), &old).unwrap();
    let out = env.fails_with(13, ["get", "a"]);
    assert!(out.stderr.contains("branch main") && out.stderr.contains("went back"), "{out}");
    env.fails_with(13, ["gc", "--grace", "0s"]);
    // Deleted outright.
    raw.delete_ref(&refs[0]).unwrap();
    let out = env.fails_with(13, ["log"]);
    assert!(out.stderr.contains("branch main") && out.stderr.contains("gone"), "{out}");
    env.ok(["branch", "--accept-rollback", "main"]);
    assert!(env.ok(["log", "--json"]).json().as_array().unwrap().is_empty(), "accepted: no branch");
}

/// A commit racing gc runs with no grace on a slow S3 store (see `gc_protocol`): 0 commits that succeed and then
/// read back an error. `make stress` runs 100.
#[test]
fn commit_racing_two_gc_runs_on_s3_loses_nothing() {
    use infini::backends::{Backend, S3Backend};
    let Some((env, srv, url)) = s3_env("race", &[]) else { return };
    let cfg = S3Config::from_url(&url).expect("the test's url");
    let cfg = S3Config { prefix: cfg.prefix, ..srv.config(&cfg.bucket) };
    let raw = S3Backend::open_with_credentials(cfg, srv.credentials()).expect("a second client on the bucket");
    let refs = || {
        raw.list_refs().unwrap().into_iter().filter_map(|r| raw.read_ref(&r).unwrap().map(|(_, v)| (r, v.0))).collect()
    };
    let trials = std::env::var("INFINI_RACE_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    crate::gc_protocol::commit_races_gc_trials(&env, &refs, trials, &[&url, "--endpoint", &srv.endpoint]);
}

#[test]
fn put_commit_and_gc_killed_at_random_instants_on_s3() {
    let Some((env, _srv, _)) = s3_env("killed", &[]) else { return };
    crate::killed::put_commit_gc_killed_at_random(&env, crate::killed::kill_trials(2), 41, 1500);
}

/// Repacking over S3: the forwarding table is an S3 object, old commits read through it after the old packs are
/// deleted.
#[test]
fn gc_repacks_over_s3_and_old_commits_read_through_forwards() {
    let Some((env, srv, url)) = s3_env("repack", &[]) else { return };
    crate::gc::repack_and_read_back(&env);
    // From a new workspace, every cache cold: each commit is read with the bytes before it in its pack (where its
    // index is), or where gc moved it; every listing and value is what the writer sees.
    let log = env.ok(["log", "--oneline"]).text();
    let ids: Vec<&str> = log.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(ids.len() >= 2, "{log}");
    for id in ids {
        let cold = env.root.join(format!("cold-{id}"));
        env.cmd(["clone", &url, cold.to_str().unwrap(), "--endpoint", &srv.endpoint]).cwd(&env.root).ok();
        let want = env.ok(["ls", "-l", "--at", id]).stdout;
        assert_eq!(env.cmd(["ls", "-l", "--at", id]).cwd(&cold).ok().stdout, want, "ls --at {id}");
        let keys = env.ok(["ls", "--at", id]).text();
        for k in keys.lines() {
            let got = env.cmd(["get", k, "--at", id]).cwd(&cold).ok().stdout;
            assert_eq!(got, env.ok(["get", k, "--at", id]).stdout, "{k} at {id}");
        }
    }
}

/// Writers committing concurrently while the network storms: 503 SlowDown, connection resets and 2 s delays on a
/// share of all connections. Every commit lands; nothing is lost. `make stress` runs more writers and commits.
#[test]
fn concurrent_writers_through_a_fault_storm_lose_nothing() {
    let Some((mut env, srv, url)) = s3_env("storm", &[]) else { return };
    let upstream: SocketAddr = srv.endpoint.trim_start_matches("http://").parse().unwrap();
    let proxy = FaultProxy::start(upstream);
    proxy.storm(Storm {
        seed: 7,
        unavailable_pct: 15,
        reset_pct: 10,
        delay_pct: 5,
        delay: std::time::Duration::from_secs(2),
    });
    // Enough attempts that a run of faults on one request is never the end (a fault hits ~30 % of connections).
    env.set("INFINI_RETRIES", "14");
    let (writers, commits) = match crate::killed::kill_trials(0) {
        0 => (3, 4),
        _ => (6, 20),
    };
    crate::many_writers::run(&env, &url, &["--endpoint", &proxy.endpoint()], writers, commits);
    let faults = proxy.connections();
    assert!(faults > 10, "the storm met {faults} connections");
    proxy.heal();
    env.cmd(["-R", &url, "--endpoint", &proxy.endpoint(), "check", "--read-data"]).ok();
}

/// A repository on S3 (through a proxy) holding one commit of 10,000 keys, `t/dirNNN/file-NNNN-{suffix}.txt`.
fn ten_thousand_keys(hint: &str, suffix: &str) -> Option<(Env, FaultProxy, String)> {
    let (env, proxy, url) = proxied(hint, hint)?;
    env.ok(["init", "--s3", &url, "--create-bucket", "--endpoint", &proxy.endpoint()]);
    let src = env.root.join("tree");
    for d in 0..100 {
        let dir = src.join(format!("dir{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..100 {
            std::fs::write(dir.join(format!("file-{i:04}{suffix}.txt")), format!("value {d} {i}\n")).unwrap();
        }
    }
    env.ok(["put", "-q", "-r", src.to_str().unwrap(), "t/"]);
    env.commit("tree");
    Some((env, proxy, url))
}

/// The sequential rounds of requests of a cold `ls` of the 10,000 keys (from a new workspace), every request
/// 300 ms away: long enough that requests sent together (up to 128 threads started on a loaded 2-core machine) fall
/// within half of it, short enough that a listing of a round per node (as before reads by level) would take 30 s.
fn cold_listing_rounds(env: &Env, proxy: &FaultProxy, url: &str) -> Vec<usize> {
    env.cmd(["clone", &format!("s3://{url}"), "cold", "--endpoint", &proxy.endpoint()]).cwd(&env.root).ok();
    let delay = std::time::Duration::from_millis(300);
    proxy.delay_requests(delay);
    proxy.clear_requests();
    let out = env.cmd(["ls"]).cwd(env.root.join("cold")).ok();
    proxy.delay_requests(std::time::Duration::ZERO);
    assert_eq!(out.lines().len(), 10_000);
    let reqs = proxy.requests();
    let rounds = proxy.request_rounds(delay);
    eprintln!("cold ls: {} requests in {} rounds: {rounds:?}", reqs.len(), rounds.len());
    // Few requests: nodes side by side in a pack are read together (114 requests when each was read alone).
    assert!(reqs.len() <= 16, "{} requests for a cold listing: {reqs:?}", reqs.len());
    rounds
}

/// A cold listing of 10,000 keys takes rounds of requests bounded by the tree's depth, not by its size: the ref,
/// the commit with the bytes before it in its pack (its index's top, here all of it), then the index level by
/// level, a level's nodes at once. And the workspace that committed the index lists it again without reading a
/// single index node from S3 (it kept what it wrote).
#[test]
fn a_cold_listing_takes_rounds_by_depth_and_the_writer_reads_no_index_back() {
    let Some((env, proxy, url)) = ten_thousand_keys("listing", "") else { return };
    // The writer's next listing: the branch's ref, no object read.
    proxy.clear_requests();
    assert_eq!(env.ok(["ls"]).lines().len(), 10_000);
    let reqs = proxy.requests();
    assert!(!reqs.iter().any(|r| r.starts_with("GET ") && r.contains("/objects/")), "index read back: {reqs:?}");
    // Two on a quiet machine (the whole index is in the 64 KiB before the commit); one per node (over a hundred)
    // before reads by level, five before the commit was read with what precedes it.
    let rounds = cold_listing_rounds(&env, &proxy, &url);
    assert!(rounds.len() <= 4, "{rounds:?}: sequential rounds of requests");
}

/// Rounds follow the depth even when the leaves are many: a cold listing of 10,000 keys of long names (over 256
/// leaves, which the walk once fetched in more rounds than the tree has levels) fetches all of a level at once.
#[test]
fn a_cold_listing_of_many_leaves_takes_a_round_a_level() {
    let Some((env, proxy, url)) = ten_thousand_keys("leaves", &format!("-{}", "n".repeat(200))) else { return };
    // The ref, the commit and the top of the index, the leaves: three on a quiet machine (ten before).
    let rounds = cold_listing_rounds(&env, &proxy, &url);
    assert!(rounds.len() <= 5, "{rounds:?}: sequential rounds of requests");
}

/// A `put` and a `commit` read the branch's ref and the gc ref at once, each request 300 ms away: a put is 3
/// sequential rounds (both refs, the listing of packs, the pack), a commit 6 (both refs, the index pack, the probe
/// of the staged pack, the claim's swap, the branch's swap, the release's swap); a commit of changes staged on an
/// earlier commit reads the forget record (whether a rewrite replaced that commit) in the first round too. Each
/// was a round more when the gc ref was read after the branch's, and a commit on a base one more again.
#[test]
fn a_put_and_a_commit_read_the_branch_and_gc_refs_in_one_round() {
    let Some((env, proxy, url)) = proxied("rounds", "rounds") else { return };
    env.ok(["init", "--s3", &url, "--create-bucket", "--endpoint", &proxy.endpoint()]);
    let delay = std::time::Duration::from_millis(300);
    proxy.delay_requests(delay);
    let rounds = |what: &str, run: &dyn Fn()| {
        proxy.clear_requests();
        run();
        let (reqs, rounds) = (proxy.requests(), proxy.request_rounds(delay));
        eprintln!("{what}: {} requests in rounds {rounds:?}: {reqs:#?}", reqs.len());
        rounds
    };
    let put = rounds("put", &|| env.put("a", &random_bytes(6, 100_000)));
    let first = rounds("first commit", &|| {
        env.commit("one");
    });
    let put2 = rounds("put on a commit", &|| env.put("b", &random_bytes(7, 100_000)));
    let second = rounds("commit on a base", &|| {
        env.commit("two");
    });
    proxy.delay_requests(std::time::Duration::ZERO);
    assert_eq!(put, vec![2, 1, 1], "put");
    assert_eq!(put2, vec![2, 1, 1], "put on a commit");
    assert_eq!(first, vec![2, 1, 1, 1, 1, 1], "first commit");
    assert_eq!(second, vec![3, 1, 1, 1, 1, 1], "commit on a base");
    assert_eq!(env.get("a"), random_bytes(6, 100_000));
}

/// A commit releases its claim in the gc ref with one compare-and-swap from the version its claim wrote, without
/// reading the ref back first: on a distant region every request of a commit is a round trip.
#[test]
fn a_commit_releases_its_claim_without_reading_the_gc_ref_back() {
    let Some((env, proxy, url)) = proxied("release", "release") else { return };
    let endpoint = proxy.endpoint();
    env.ok(["init", "--s3", &url, "--create-bucket", "--endpoint", &endpoint]);
    env.put("a", b"one");
    env.commit("one");
    env.put("b", b"two");
    proxy.clear_requests();
    env.commit("two");
    let reqs = proxy.requests();
    let refs: Vec<&String> = reqs.iter().filter(|r| r.contains("/refs/")).collect();
    // ... the claim (a swap of the gc ref), the branch's swap, the release (a swap of the gc ref): the last three
    // ref requests are writes.
    let n = refs.len();
    assert!(n >= 3 && refs[n - 3..].iter().all(|r| r.starts_with("PUT ")), "{reqs:#?}");
    assert_eq!(refs[n - 3].split('?').next(), refs[n - 1].split('?').next(), "claim and release: {reqs:#?}");
    assert_eq!(env.ok(["--json", "gc", "--dry-run"]).json()["claims"], 0, "the claim was released");
}

/// A cold `get -r` of many small files reads their chunks a batch at a time, neighbouring chunks of a pack in one
/// ranged read: its requests are a few per batch of files, not one per file (each a round trip to a distant region).
#[test]
fn a_cold_restore_of_small_files_reads_their_chunks_in_few_requests() {
    let Some((env, proxy, url)) = proxied("restore", "restore") else { return };
    let endpoint = proxy.endpoint();
    env.ok(["init", "--s3", &url, "--create-bucket", "--endpoint", &endpoint]);
    const N: usize = 1_000;
    let src = env.root.join("tree");
    for d in 0..10 {
        let dir = src.join(format!("dir{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..N / 10 {
            // Past the inline limit, so each file is a chunk of its own in a data pack.
            let body: String = (0..600).map(|j| format!("{d}-{i}-{j} ")).collect();
            std::fs::write(dir.join(format!("file-{i:03}.txt")), body).unwrap();
        }
    }
    env.ok(["put", "-q", "-r", src.to_str().unwrap(), "t/"]);
    env.commit("tree");

    env.cmd(["clone", &format!("s3://{url}"), "ws2", "--endpoint", &endpoint]).cwd(&env.root).ok();
    proxy.clear_requests();
    env.cmd(["get", "-q", "-r", "t/", "out"]).cwd(env.root.join("ws2")).ok();
    let reqs = proxy.requests();
    let data_reads = reqs.iter().filter(|r| r.starts_with("GET ") && r.contains("/objects/")).count();
    eprintln!("cold get -r of {N} files: {} requests, {data_reads} object reads", reqs.len());
    // Every file came back, byte for byte.
    for d in 0..10 {
        for i in (0..N / 10).step_by(7) {
            let rel = format!("dir{d:02}/file-{i:03}.txt");
            assert_eq!(
                std::fs::read(env.root.join("ws2/out").join(&rel)).unwrap(),
                std::fs::read(src.join(&rel)).unwrap(),
                "{rel}"
            );
        }
    }
    // Index nodes, the commit, and two batches of 512 files: a few dozen reads; one per file (over a thousand)
    // before.
    assert!(data_reads <= 100, "{data_reads} object reads for {N} files");
    // The data it restored is not also written into the warm tier, a cache file per chunk (that wrote every
    // restored file twice); index nodes are.
    let warm = env.root.join("ws2/.infini/cache/warm");
    let cached = |d: &str| if warm.join(d).is_dir() { crate::util::files_under(warm.join(d)).len() } else { 0 };
    assert_eq!(cached("d"), 0, "data chunks cached by a restore");
    assert!(cached("i") > 0, "index nodes cached");

    // The same tree as a tar stream, from another cold workspace.
    env.cmd(["clone", &format!("s3://{url}"), "ws3", "--endpoint", &endpoint]).cwd(&env.root).ok();
    proxy.clear_requests();
    let tar = env.cmd(["get", "-r", "t/", "--tar"]).cwd(env.root.join("ws3")).ok().stdout;
    let reqs = proxy.requests();
    let data_reads = reqs.iter().filter(|r| r.starts_with("GET ") && r.contains("/objects/")).count();
    eprintln!("cold get -r --tar of {N} files: {} requests, {data_reads} object reads", reqs.len());
    let mut members = 0;
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let rel = e.path().unwrap().to_string_lossy().into_owned();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut got).unwrap();
        assert_eq!(got, std::fs::read(src.join(&rel)).unwrap(), "{rel}");
        members += 1;
    }
    assert_eq!(members, N);
    assert!(data_reads <= 100, "{data_reads} object reads for {N} files in a tar stream");
}
