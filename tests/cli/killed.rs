//! A process killed in the middle of a command leaves the last commit intact; the command can simply be run again.

use crate::util::{assert_bytes_eq, random_bytes, write, Env};
use std::time::Duration;

#[test]
fn killing_a_put_midway_loses_nothing_and_it_can_be_rerun() {
    let env = Env::init();
    env.put("kept", b"committed before the crash");
    let first = env.commit("first");
    let value = random_bytes(9, 60_000_000);
    let file = env.root.join("big.bin");
    write(&file, &value);
    for delay_ms in [30u64, 120, 400] {
        // Start a large put and kill it with SIGKILL partway.
        let mut child = env
            .cmd(["put", "big", file.to_str().unwrap()])
            .command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // The repository is intact and the last commit readable.
        env.ok(["check", "--read-data"]);
        assert_eq!(env.get("kept"), b"committed before the crash");
        assert_eq!(env.log_ids()[0], first);
    }
    // Running the interrupted work again succeeds.
    env.ok(["put", "big", file.to_str().unwrap()]);
    env.commit("second");
    assert_eq!(env.get("big"), value);
    env.ok(["check", "--read-data"]);
}

/// Kill trials per command: `INFINI_KILL_TRIALS` (`make stress` runs 100 of each), else `default`.
pub(crate) fn kill_trials(default: usize) -> usize {
    std::env::var("INFINI_KILL_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Start `args` and SIGKILL it after `delay` (if it is still running).
pub(crate) fn kill_after(env: &Env, args: &[&str], delay: Duration) {
    let mut child = env
        .cmd(args)
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

/// `put`, `commit` and `gc` killed at random instants, `n` times each, in the repository of `env`: after every kill
/// the last commit is intact (or the killed commit landed whole on top of it), `check --read-data` is clean, and
/// finally the interrupted work runs again to completion.
pub(crate) fn put_commit_gc_killed_at_random(env: &Env, n: usize, seed: u64, max_delay_ms: u64) {
    let kept = random_bytes(seed, 300_000);
    env.put("kept", &kept);
    let mut head = env.commit("base");
    let value = random_bytes(seed + 1, 6_000_000);
    let file = env.root.join("value.bin");
    write(&file, &value);
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next_delay = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Duration::from_millis((state >> 33) % max_delay_ms)
    };
    for t in 0..3 * n {
        let delay = next_delay();
        let what = match t % 3 {
            0 => {
                kill_after(env, &["put", &format!("v{t}"), file.to_str().unwrap()], delay);
                "put"
            }
            1 => {
                env.put(&format!("s{t}"), &random_bytes(seed + 2 + t as u64, 50_000));
                kill_after(env, &["commit", "-m", &format!("c{t}")], delay);
                "commit"
            }
            _ => {
                // Nothing staged is needed by then: gc may collect everything unreachable at once.
                env.ok(["reset"]);
                kill_after(env, &["gc", "--grace", "0s", "--min-age", "0s"], delay);
                "gc"
            }
        };
        let ids = env.log_ids();
        let ctx = format!("trial {t}: {what} killed after {delay:?}");
        if ids[0] != head {
            assert_eq!(what, "commit", "{ctx}: the head moved to {} without a commit", ids[0]);
            assert_eq!(ids.get(1), Some(&head), "{ctx}: the killed commit did not land on the last head");
            head = ids[0].clone();
        }
        let out = env.run(["check", "--read-data"]);
        assert_eq!(out.code, 0, "{ctx}: check after the kill:\n{out}");
        assert_bytes_eq(&env.get("kept"), &kept, &format!("{ctx}: the committed value"));
    }
    // The interrupted work simply runs again.
    env.ok(["put", "final", file.to_str().unwrap()]);
    env.commit("final");
    assert_bytes_eq(&env.get("final"), &value, "rerun after the kill trials");
    env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    env.ok(["check", "--read-data"]);
    assert_bytes_eq(&env.get("final"), &value, "after gc");
}

#[test]
fn put_commit_and_gc_killed_at_random_instants_on_a_directory() {
    let env = Env::init();
    put_commit_gc_killed_at_random(&env, kill_trials(5), 40, 600);
}

/// A small file system mounted for one test (tmpfs; needs the privilege to mount), unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Option<SmallDisk> {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("\n!!!!!!!! SKIPPED: cannot mount a small tmpfs here (needs root); the full-disk test checked nothing !!!!!!!!\n");
            return None;
        }
        Some(SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing() {
    let env = Env::new();
    let Some(_disk) = SmallDisk::mount(&env.ws, "8m") else { return };
    env.ok(["init"]);
    env.put("kept", b"committed");
    let first = env.commit("one");
    env.put("staged", b"staged before the disk filled");
    // A value larger than the whole disk: the write fails partway with ENOSPC.
    let big = env.root.join("big.bin");
    write(&big, &random_bytes(50, 20_000_000));
    let out = env.run(["put", "huge", big.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("no space left on device"), "the message says the disk is full:\n{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line:\n{out}");
    // Nothing lost: the last commit, the earlier staged change, a clean check; the failed put left no garbage behind
    // that keeps the disk full, so work goes on.
    assert_eq!(env.log_ids(), vec![first.clone()]);
    assert_eq!(env.get("kept"), b"committed");
    let status = env.ok(["status"]).text();
    assert!(status.contains("staged") && !status.contains("huge"), "{status}");
    env.ok(["check", "--read-data"]);
    env.commit("two");
    assert_eq!(env.get("staged"), b"staged before the disk filled");
    env.fails_with(3, ["get", "huge"]);
    env.ok(["check", "--read-data"]);
}

/// With staged changes spilled into `.infini/staging/` (a low `INFINI_SPILL_AT`), a `put -r` or a `commit` killed
/// at any instant loses nothing: after a killed put the staged set is the one before it or the one it was making,
/// never part of one; after a killed commit every key is committed or still staged; and the work runs again.
#[test]
fn killing_a_put_or_commit_of_spilled_changes_loses_nothing() {
    let mut env = Env::init();
    env.set("INFINI_SPILL_AT", "200");
    let src = env.root.join("tree");
    for i in 0..4000 {
        write(src.join(format!("d{}/f{i:04}", i % 13)), format!("value {i}").as_bytes());
    }
    env.ok(["put", "-r", src.to_str().unwrap(), "a"]);
    assert!(env.ws.join(".infini/staging").is_dir(), "the staged changes are spilled");
    let mut state = 7u64;
    let mut next_delay = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Duration::from_millis((state >> 33) % 400)
    };
    for t in 0..kill_trials(6) {
        let prefix = format!("b{t}");
        let delay = next_delay();
        kill_after(&env, &["put", "-r", src.to_str().unwrap(), &prefix], delay);
        let staged = env.ok(["status", "--short"]).lines().len();
        let here = env.ok(["ls", &format!("{prefix}/")]).lines().len();
        assert!(here == 0 || here == 4000, "trial {t}: killed after {delay:?}: {here} keys of the put staged");
        assert!(staged == 4000 * (t + 1) || staged == 4000 * (t + 2), "trial {t}: {staged} staged");
        if here == 0 {
            env.ok(["put", "-r", src.to_str().unwrap(), &prefix]);
        }
    }
    let all = 4000 * (kill_trials(6) + 1);
    assert_eq!(env.ok(["status", "--short"]).lines().len(), all);
    for t in 0..kill_trials(6) {
        let delay = next_delay();
        kill_after(&env, &["commit", "-m", &format!("c{t}")], delay);
        let at_head = env.run(["ls", "--at", "HEAD"]);
        let committed = if at_head.code == 0 { at_head.lines().len() } else { 0 };
        let staged = env.ok(["status", "--short"]).lines().len();
        let listed = env.ok(["ls"]).lines().len();
        assert_eq!(listed, all, "trial {t}: killed commit after {delay:?}: every key committed or staged");
        assert!(committed == 0 || committed == all, "trial {t}: {committed} keys committed: all or none");
        assert!(staged == all || staged == 0, "trial {t}: {staged} staged");
        env.ok(["check", "--read-data"]);
    }
    if !env.ok(["status", "--short"]).lines().is_empty() {
        env.commit("final");
    }
    assert_eq!(env.ok(["ls"]).lines().len(), all);
    assert_eq!(env.get("a/d5/f0005"), b"value 5");
    assert_eq!(env.get("b0/d8/f3999"), b"value 3999");
}
