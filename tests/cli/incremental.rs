//! A commit costs what changed, not what exists.

use crate::util::*;
use std::time::Instant;

#[test]
fn one_changed_key_among_ten_thousand_writes_at_most_256_kib() {
    const N: usize = 10_000;
    let env = Env::init();
    let src = env.path("many");
    for i in 0..N {
        write(src.join(format!("d{:02}/key-{i:05}.txt", i % 100)), format!("value number {i}\n").as_bytes());
    }
    let t = Instant::now();
    env.ok(["-q", "put", "-r", src.to_str().unwrap(), "many/"]);
    let put_time = t.elapsed();
    env.commit("ten thousand keys");
    let out = env.ok(["ls", "many/"]);
    assert_eq!(out.lines().len(), N, "every file became a key");
    assert_eq!(env.get("many/d42/key-04242.txt"), b"value number 4242\n");

    let repo = env.repo_dir();
    let before = bytes_under(&repo);
    env.put("many/d07/key-00007.txt", b"changed\n");
    env.commit("one changed key");
    let after = bytes_under(&repo);
    let grown = after - before;
    eprintln!("put -r of {N} files: {put_time:?}; repository {before} -> {after} bytes (+{grown}) for one changed key");
    assert!(
        grown <= 256 * 1024,
        "committing one changed key among {N} grew the repository by {grown} bytes (limit 262144)"
    );
    assert_eq!(env.get("many/d07/key-00007.txt"), b"changed\n");
    assert_eq!(env.ok(["get", "--at", "HEAD~1", "many/d07/key-00007.txt"]).stdout, b"value number 7\n");
    let out = env.ok(["diff", "HEAD~1", "HEAD"]);
    assert_eq!(out.lines(), ["M\tmany/d07/key-00007.txt"], "{out}");

    // Per-command cost of reading one small key (reported, not asserted: the machine is shared).
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = env.ok(["get", "many/d99/key-09999.txt"]);
        times.push(t.elapsed());
        assert_eq!(out.stdout, b"value number 9999\n");
    }
    times.sort();
    eprintln!("get of one small key among {N} (debug build): median {:?}, min {:?}", times[2], times[0]);
}

#[test]
fn a_small_commit_costs_a_few_kib_not_a_64_kib_pack() {
    let env = Env::init();
    for i in 0..40 {
        env.put(&format!("tree/k{i:03}"), format!("value {i}\n").repeat(100).as_bytes());
    }
    env.commit("base");
    // Ref generations reach their steady state after a few commits.
    for i in 0..6 {
        env.put("tree/k001", format!("change {i}\n").repeat(200).as_bytes());
        env.commit(&format!("change {i}"));
    }
    let repo = env.repo_dir();
    let before = bytes_under(&repo);
    env.put("tree/k002", b"changed again\n".repeat(300).as_slice());
    env.commit("one more");
    let grown = bytes_under(&repo) - before;
    assert!(grown <= 32 << 10, "a one-key commit grew the repository by {grown} bytes");
}
