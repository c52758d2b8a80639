//! A store an attacker can write to and an operator who makes mistakes: key slots, the public header, ref
//! generations and the warm cache must never turn into lost data, a crash, or a permanent failure.

use crate::util::*;
use ciborium::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn slot_files(env: &Env) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = files_under(env.repo_dir().join("keys"))
        .into_iter()
        .map(|(p, _)| env.repo_dir().join("keys").join(p))
        .collect();
    v.sort();
    v
}

/// `len:u32 || CBOR || zeros` → the CBOR value.
fn read_meta(path: &Path) -> Value {
    let raw = read(path);
    let n = u32::from_le_bytes(raw[..4].try_into().unwrap()) as usize;
    ciborium::from_reader(&raw[4..4 + n]).unwrap()
}

fn write_meta(path: &Path, prefix: &[u8], v: &Value) {
    let mut body = prefix.to_vec();
    ciborium::into_writer(v, &mut body).unwrap();
    let mut raw = (body.len() as u32).to_le_bytes().to_vec();
    raw.extend_from_slice(&body);
    raw.resize(4096, 0);
    write(path, &raw);
}

fn map_get_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    let Value::Map(m) = v else { panic!("not a map: {v:?}") };
    &mut m.iter_mut().find(|(k, _)| k.as_text() == Some(key)).unwrap_or_else(|| panic!("no {key}")).1
}

const MAGIC: &[u8] = b"INFINI\x00\x01";

fn read_header(env: &Env) -> Value {
    let raw = read(env.repo_dir().join("config"));
    let n = u32::from_le_bytes(raw[..4].try_into().unwrap()) as usize;
    assert_eq!(&raw[4..12], MAGIC);
    ciborium::from_reader(&raw[12..4 + n]).unwrap()
}

#[test]
fn key_slot_with_absurd_kdf_parameters_is_skipped_not_allocated() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    let mut slot = read_meta(&slot_files(&env)[0]);
    let Value::Map(kdf) = map_get_mut(&mut slot, "kdf") else { panic!() };
    for (k, v) in kdf.iter_mut() {
        if k.as_text() == Some("log_n") {
            *v = Value::Integer(40.into());
        }
    }
    let planted = env.repo_dir().join("keys").join("00000000000000000000000000000000");
    write_meta(&planted, b"", &slot);
    env.ok(["lock"]);
    // The planted slot sorts first; unlocking must skip it (no 1 PiB allocation, no abort) and say so.
    let out = env.ok(["get", "k"]);
    assert_eq!(out.stdout, b"v");
    assert!(out.stderr.contains("00000000000000000000000000000000"), "the skipped slot is named:\n{out}");
    assert!(out.stderr.contains("log_n=40"), "the reason is given:\n{out}");
    // A wrong password is still a wrong password (12), never an abort.
    env.cmd(["get", "k"]).env("INFINI_PASSWORD", "wrong").fails_with(12);
    let list = env.ok(["key", "list", "--json"]).json();
    assert!(list.as_array().unwrap().iter().any(|s| s["damaged"].is_string()), "key list reports it:\n{list}");
}

#[test]
fn undecodable_key_slot_does_not_lock_everyone_out() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    write(env.repo_dir().join("keys").join("00000000000000000000000000000000"), &[0xa5; 4096]);
    write(env.repo_dir().join("keys").join("00000000000000000000000000000001"), b"short");
    env.ok(["lock"]);
    let out = env.ok(["get", "k"]);
    assert_eq!(out.stdout, b"v");
    assert!(out.stderr.contains("skipped"), "{out}");
    env.cmd(["get", "k"]).env("INFINI_PASSWORD", "wrong").fails_with(12);
}

#[test]
fn key_slot_from_another_repository_does_not_open_this_one() {
    let a = Env::init();
    a.put("k", b"a");
    a.commit("a");
    let mut b = Env::new();
    b.set("INFINI_PASSWORD", "the other repository's password");
    b.ok(["init"]);
    // Replace a's only slot with b's: b's password must not open a, though the slot is genuine.
    let a_slot = slot_files(&a)[0].clone();
    std::fs::copy(&slot_files(&b)[0], &a_slot).unwrap();
    a.ok(["lock"]);
    a.cmd(["get", "k"]).env("INFINI_PASSWORD", "the other repository's password").fails_with(12);
    // Renamed within the same repository: bound to its name too.
    b.put("k", b"b");
    b.commit("b");
    let slot = slot_files(&b)[0].clone();
    std::fs::rename(&slot, slot.with_file_name("ffffffffffffffffffffffffffffffff")).unwrap();
    b.ok(["lock"]);
    b.fails_with(12, ["get", "k"]);
}

#[test]
fn changed_public_header_is_detected_once_the_key_is_known() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    let mut h = read_header(&env);
    *map_get_mut(&mut h, "created") = Value::Integer(12345.into());
    write_meta(&env.repo_dir().join("config"), MAGIC, &h);
    let out = env.fails_with(13, ["get", "k"]);
    assert!(out.stderr.contains("header"), "{out}");
}

#[test]
fn repository_of_another_format_version_names_both_versions() {
    let env = Env::init();
    let mut h = read_header(&env);
    *map_get_mut(&mut h, "version") = Value::Integer(10.into());
    write_meta(&env.repo_dir().join("config"), MAGIC, &h);
    let out = env.fails_with(10, ["ls"]);
    assert!(out.stderr.contains("version 10") && out.stderr.contains("version 11"), "{out}");
}

#[test]
fn cheap_kdf_variable_alone_does_not_weaken_a_new_repository() {
    let mut env = Env::new();
    env.unset("INFINI_INSECURE_KDF");
    let out = env.fails_with(2, ["init"]);
    assert!(out.stderr.contains("INFINI_INSECURE_KDF"), "{out}");
    assert!(!env.ws.join(".infini").exists(), "nothing created");
    env.unset("INFINI_KDF_LOG_N");
    env.ok(["init"]);
    let slot = read_meta(&slot_files(&env)[0]);
    let log_n = slot.as_map().unwrap().iter().find(|(k, _)| k.as_text() == Some("kdf")).unwrap().1.clone();
    let log_n = log_n.as_map().unwrap().iter().find(|(k, _)| k.as_text() == Some("log_n")).unwrap().1.clone();
    assert_eq!(log_n, Value::Integer(17.into()), "default parameters");
}

#[test]
fn key_slots_do_not_carry_host_or_time_in_the_clear() {
    let env = Env::init();
    let raw = read(&slot_files(&env)[0]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    assert!(!host.is_empty() && !contains(&raw, host.as_bytes()), "host name in a key slot");
    assert!(!contains(&raw, b"created") && !contains(&raw, b"host"));
    // With the key, `key list` still shows them.
    let list = env.ok(["key", "list", "--json"]).json();
    assert_eq!(list[0]["host"].as_str(), Some(host), "{list}");
}

fn ref_dirs(env: &Env) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(env.repo_dir().join("refs")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn generations(dir: &Path) -> Vec<u64> {
    let mut g: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    g.sort();
    g
}

#[test]
fn ref_at_the_last_generation_fails_cleanly_and_keeps_staged_changes() {
    let env = Env::init();
    env.put("a", b"1");
    let first = env.commit("one");
    // The branch's ref: not the gc ref, which gc writes (and every commit's claim).
    let newest = || -> Vec<(PathBuf, u64)> {
        ref_dirs(&env).into_iter().map(|d| (d.clone(), generations(&d).last().copied().unwrap_or(0))).collect()
    };
    let before = newest();
    env.ok(["gc"]);
    let gc: Vec<PathBuf> = newest().into_iter().filter(|d| !before.contains(d)).map(|(d, _)| d).collect();
    let dirs: Vec<PathBuf> = ref_dirs(&env).into_iter().filter(|d| !gc.contains(d)).collect();
    assert_eq!((gc.len(), dirs.len()), (1, 1));
    let gens = generations(&dirs[0]);
    let cur = dirs[0].join(format!("{:020}", gens.last().unwrap()));
    std::fs::copy(&cur, dirs[0].join(format!("{:020}", u64::MAX))).unwrap();
    env.put("b", b"2");
    let out = env.cmd(["commit", "-m", "two"]).timeout(Duration::from_secs(60)).run();
    assert_ne!(out.code, 0, "a commit that cannot be published must not claim success:\n{out}");
    assert!(out.stdout.is_empty(), "no commit id printed:\n{out}");
    let status = env.ok(["status"]);
    assert!(status.text().contains('b'), "the staged change is kept:\n{status}");
    assert_eq!(env.log_ids(), vec![first.clone()]);
    // And again: a clean error, not a hang.
    let again = env.cmd(["commit", "-m", "two"]).timeout(Duration::from_secs(60)).run();
    assert_ne!(again.code, 0, "{again}");
    assert_eq!(env.get("a"), b"1");
}

#[test]
fn damaged_warm_cache_entry_is_refetched_not_blamed_on_the_repository() {
    let env = Env::new();
    env.ok(["init", "--cache-size", "64M"]);
    let value = random_bytes(7, 600_000);
    env.put("big", &value);
    env.commit("one");
    assert_bytes_eq(&env.get("big"), &value, "first read");
    let warm = env.ws.join(".infini").join("cache").join("warm");
    let entries = files_under(&warm);
    assert!(!entries.is_empty(), "the warm tier holds entries after a read");
    for (p, _) in &entries {
        let path = warm.join(p);
        let mut b = read(&path);
        let mid = b.len() / 2;
        b[mid] ^= 0xff;
        write(&path, &b);
    }
    let out = env.ok(["get", "big"]);
    assert_bytes_eq(&out.stdout, &value, "read after damaging the cache");
    assert_eq!(out.stderr.matches("warm-cache").count(), 1, "said once:\n{out}");
    let out = env.ok(["get", "big"]);
    assert_bytes_eq(&out.stdout, &value, "third read");
    assert!(!out.stderr.contains("warm-cache"), "entries were replaced:\n{out}");
    env.ok(["check", "--read-data"]);
}

#[test]
fn gc_leaves_fresh_staged_data_alone_whatever_the_grace() {
    let env = Env::init();
    env.put("small", b"s");
    env.commit("one");
    let big = random_bytes(10, 2_000_000);
    env.put("big", &big);
    // Staged data is unreachable from every branch, but its pack is younger than the minimum age by the storage's
    // clock: neither run touches it, however short the grace period.
    env.ok(["gc"]);
    let out = env.ok(["--json", "gc", "--grace", "0s"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("gc --json");
    assert!(plan["too_young"].as_u64().unwrap_or(0) >= 1, "the staged pack is left alone as too young: {plan}");
    env.commit("two");
    assert_bytes_eq(&env.get("big"), &big, "staged data committed after gc");
    env.ok(["check", "--read-data"]);
}

#[test]
fn gc_judges_pack_age_by_the_storage_clock() {
    let env = Env::init();
    env.put("keep", b"k");
    env.commit("one");
    env.ok(["fork", "doomed"]);
    env.put("gone", &random_bytes(14, 400_000));
    env.commit("two");
    env.ok(["checkout", "main"]);
    env.ok(["branch", "-D", "doomed"]);
    // As the storage sees it, everything so far was written two hours ago (the host's clock plays no part).
    let objects = env.repo_dir().join("objects");
    let aged = files_under(&objects);
    for (f, _) in &aged {
        let ok = std::process::Command::new("touch")
            .args(["-d", "2 hours ago"])
            .arg(objects.join(f))
            .status()
            .unwrap()
            .success();
        assert!(ok, "touch -d {}", f.display());
    }
    let fresh = random_bytes(15, 400_000);
    env.put("fresh", &fresh);
    env.ok(["gc", "--grace", "0s"]);
    env.ok(["gc", "--grace", "0s"]);
    let left = files_under(&objects);
    assert!(left.iter().filter(|f| aged.contains(f)).count() < aged.len(), "old unreachable packs are collected");
    env.commit("three");
    assert_bytes_eq(&env.get("fresh"), &fresh, "fresh staged data survives");
    assert_eq!(env.get("keep"), b"k");
    env.fails_with(3, ["get", "--at", "HEAD~1", "gone"]);
    env.ok(["check", "--read-data"]);
}

#[test]
fn gc_forced_over_staged_data_stops_the_commit_before_anything_is_published() {
    let env = Env::init();
    env.put("small", b"s");
    let first = env.commit("one");
    let big = random_bytes(11, 2_000_000);
    env.put("big", &big);
    // An operator who waives the minimum age: gc condemns the staged pack, a second run with no grace deletes it.
    env.ok(["gc", "--min-age", "0s"]);
    env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    let out = env.run(["commit", "-m", "two"]);
    assert_ne!(out.code, 0, "a commit pointing at deleted data must not succeed:\n{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("garbage collection"), "the reason is given:\n{out}");
    assert_eq!(env.log_ids(), vec![first], "nothing was published");
    env.ok(["check", "--read-data"]);
    assert_eq!(env.get("small"), b"s");
}

#[test]
fn commit_pardons_staged_packs_that_gc_condemned() {
    let env = Env::init();
    let big = random_bytes(12, 2_000_000);
    env.put("big", &big);
    env.ok(["gc", "--min-age", "0s"]);
    env.commit("one");
    env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    assert_bytes_eq(&env.get("big"), &big, "committed data after gc");
    env.ok(["check", "--read-data"]);
}

#[test]
fn huge_grace_period_does_not_overflow_into_deleting_at_once() {
    let env = Env::init();
    env.put("keep", b"k");
    env.commit("one");
    env.ok(["fork", "doomed"]);
    env.put("gone", &random_bytes(13, 500_000));
    env.commit("two");
    env.ok(["checkout", "main"]);
    env.ok(["branch", "-D", "doomed"]);
    let packs = || files_under(env.repo_dir().join("objects")).len();
    env.ok(["gc", "--min-age", "0s"]);
    let before = packs();
    env.ok(["gc", "--grace", "18446744073709551615s", "--min-age", "0s"]);
    assert_eq!(packs(), before, "nothing deleted before the grace period ends");
    env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    assert!(packs() < before, "deleted once the grace period ended");
}
