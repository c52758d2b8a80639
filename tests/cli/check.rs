//! `check --read-data` reports a damaged object once, then the keys and commits that depend on it.

use crate::util::*;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn objects(env: &Env) -> BTreeSet<PathBuf> {
    files_under(env.repo_dir().join("objects"))
        .into_iter()
        .map(|(p, _)| env.repo_dir().join("objects").join(p))
        .collect()
}

#[test]
fn one_flipped_byte_is_one_damaged_object_then_its_keys_and_commits() {
    let env = Env::init();
    env.put("elsewhere", &random_bytes(1, 10_000));
    let base = env.commit("base");
    let before = objects(&env);
    let tree = env.path("tree");
    for i in 0..300u64 {
        write(tree.join(format!("f{i:03}")), &random_bytes(100 + i, 3000));
    }
    env.ok(["put", "-r", tree.to_str().unwrap(), "t/"]);
    // Data packs are written by put; index nodes by commit.
    let data: Vec<PathBuf> = objects(&env).difference(&before).cloned().collect();
    assert!(!data.is_empty());
    let with_tree = env.commit("tree");
    env.put("later", b"a later commit still holds the damaged values");
    let later = env.commit("later");
    env.ok(["check", "--read-data"]);

    let pack = data.iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap().clone();
    let mut bytes = read(&pack);
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x01;
    std::fs::write(&pack, bytes).unwrap();
    let pack_name = pack.strip_prefix(env.repo_dir()).unwrap().display().to_string();

    let out = env.fails_with(13, ["check", "--read-data"]);
    let error_lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "one problem, reported once:\n{out}");
    assert!(error_lines[0].contains(&pack_name), "it names the object:\n{out}");
    assert!(out.stderr.lines().count() <= 5, "a short report, not one line per value:\n{out}");
    assert!(out.stderr.contains("needed by") && out.stderr.contains("commit(s)"), "{out}");

    let out = env.cmd(["--json", "check", "--read-data"]).run();
    assert_eq!(out.code, 13, "{out}");
    let v = out.json();
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(1), "{v}");
    let damaged = v["damaged"].as_array().expect("damaged array");
    assert_eq!(damaged.len(), 1, "{v}");
    assert_eq!(damaged[0]["object"], pack_name);
    let keys: Vec<&str> = damaged[0]["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    assert!(!keys.is_empty() && keys.iter().all(|k| k.starts_with("t/f")), "the keys whose values need it: {keys:?}");
    let commits: BTreeSet<&str> =
        damaged[0]["commits"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(
        commits,
        BTreeSet::from([with_tree.as_str(), later.as_str()]),
        "every commit holding such a value, not {base}"
    );
    // A value elsewhere still reads.
    assert_eq!(env.get("elsewhere"), random_bytes(1, 10_000));
}

/// Commit entries onto `main` through the library, as a writer that skips the command line's validation would.
fn commit_behind_the_cli(env: &Env, entries: Vec<(String, infini::namespace::Entry)>) {
    use infini::namespace::NamespaceIndex;
    use infini::{Infinitree, Repository, StoreOptions};
    use std::sync::Arc;
    let backend = Arc::new(infini::backends::DirBackend::new(env.repo_dir()).unwrap());
    let repo = Arc::new(Repository::open(backend, PASSWORD.as_bytes(), StoreOptions::default()).unwrap());
    let mut main = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    for (k, e) in entries {
        main.index().ns.insert(k, e);
    }
    main.commit("written behind the command line's back").unwrap();
    repo.flush().unwrap();
}

#[test]
fn check_reports_stored_keys_link_targets_and_fields_the_cli_refuses() {
    use infini::namespace::{Entry, EntryKind};
    use infini::Blob;
    let env = Env::init();
    env.put("fine", b"a value the command line wrote");
    env.commit("base");
    env.ok(["check", "--read-data"]);

    let value = |b: &[u8]| Entry::new(Blob::Inline(b.to_vec()));
    let link = |t: &[u8]| {
        let mut e = value(t);
        e.kind = EntryKind::Symlink;
        e
    };
    let mut bad_nsec = value(b"x");
    bad_nsec.mtime = Some(1);
    bad_nsec.mtime_nsec = 2_000_000_000;
    let mut bad_mode = value(b"x");
    bad_mode.mode = Some(0o170_644);
    commit_behind_the_cli(
        &env,
        vec![
            ("h/../../x".into(), value(b"escapes")),
            ("/abs".into(), value(b"absolute")),
            ("nul\0key".into(), value(b"nul")),
            (String::new(), value(b"empty key")),
            ("link-empty".into(), link(b"")),
            ("link-nul".into(), link(b"a\0b")),
            ("nsec".into(), bad_nsec),
            ("mode".into(), bad_mode),
        ],
    );

    let out = env.fails_with(13, ["check", "--read-data"]);
    for what in
        ["\"h/../../x\"", "\"/abs\"", "\"nul\\0key\"", "\"\"", "\"link-empty\"", "\"link-nul\"", "\"nsec\"", "\"mode\""]
    {
        assert!(out.stderr.lines().any(|l| l.starts_with("error:") && l.contains(what)), "check names {what}:\n{out}");
    }
    assert!(!out.stderr.contains("\"fine\""), "a valid key is not reported:\n{out}");
    let v = env.cmd(["--json", "check"]).run();
    assert_eq!(v.code, 13, "{v}");
    assert_eq!(v.json()["errors"].as_array().map(Vec::len), Some(8), "one problem per entry:\n{v}");
}

#[test]
fn no_display_path_panics_on_entries_the_cli_could_never_write() {
    use infini::namespace::Entry;
    use infini::{Blob, ChunkPointer, ListRef};
    let env = Env::init();
    env.put("fine", b"fine");
    env.commit("base");
    let mut bad_time = Entry::new(Blob::Inline(b"x".to_vec()));
    bad_time.mtime = Some(i64::MIN);
    bad_time.mtime_nsec = u32::MAX;
    bad_time.mode = Some(u32::MAX);
    // Sizes as stored that add up beyond 64 bits (the lists they name do not exist).
    let mut cbor = Vec::new();
    ciborium::into_writer(&serde_bytes::Bytes::new(&[7u8; 72]), &mut cbor).unwrap();
    let nowhere: ChunkPointer = ciborium::from_reader(cbor.as_slice()).unwrap();
    let huge =
        Entry::new(Blob::Lists(vec![ListRef { size: u64::MAX, ptr: nowhere }, ListRef { size: 9, ptr: nowhere }]));
    commit_behind_the_cli(&env, vec![("d/time".into(), bad_time), ("d/huge".into(), huge)]);

    let long = env.ok(["ls", "-l", "d/"]);
    assert!(
        long.text().lines().any(|l| l.contains("  ?  ") && l.ends_with("d/time")),
        "an invalid time shows as ?:\n{long}"
    );
    let listed = env.ok(["--json", "ls", "d/"]).json();
    assert!(listed[1].get("mtime").is_none(), "an invalid time is not given as one: {listed}");
    for args in [
        &["stats"][..],
        &["--json", "stats"],
        &["show"],
        &["--json", "show"],
        &["diff", "HEAD~1", "HEAD"],
        &["log"],
        &["get", "-r", "d/", "out"],
        &["get", "-r", "d/", "--tar", "-o", "out.tar"],
        &["get", "d/huge"],
    ] {
        let out = env.run(args);
        assert_ne!(out.code, 101, "{out}");
        assert!(!out.stderr.contains("panicked"), "{out}");
    }
}
