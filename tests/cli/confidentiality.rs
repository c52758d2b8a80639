//! What an observer of the storage sees: no names, no contents, only uniform sizes.

use crate::util::*;

const MARKER: &str = "SECRET-MARKER-8d3f";
/// The pack size classes as design.md states them: from each power of two between 8 KiB and 8 MiB, steps of an
/// eighth of it (at least 4 KiB) up to the next; then 16 MiB.
fn is_pack_size(len: u64) -> bool {
    let mut base = 8u64 << 10;
    while base < 16 << 20 {
        let step = (base / 8).max(4096);
        if len >= base && len < 2 * base && (len - base).is_multiple_of(step) {
            return true;
        }
        base *= 2;
    }
    len == 16 << 20
}

/// Store the marker in key names and values of every size class (inline, one chunk, many chunks, compressible
/// and not), in a commit, a second commit, a fork, and staged-but-uncommitted changes.
fn populate(env: &Env) {
    let m = MARKER.as_bytes();
    env.put(&format!("{MARKER}/name-only"), b"plain");
    env.put("value/inline", &[m, b" small inline value"].concat());
    env.put("value/compressible", &m.repeat(100_000));
    let mut mixed = random_bytes(99, 3_000_000);
    for at in (0..mixed.len() - m.len()).step_by(250_000) {
        mixed[at..at + m.len()].copy_from_slice(m);
    }
    env.put("value/mixed", &mixed);
    write(env.path("tree").join(MARKER).join("f.txt"), m);
    env.ok(["put", "-r", env.path("tree").to_str().unwrap(), &format!("tree-{MARKER}/")]);
    env.commit(&format!("commit message with {MARKER}"));
    env.ok(["fork", &format!("branch-{MARKER}")]);
    env.put(&format!("{MARKER}/second"), &[m, m].concat());
    env.ok(["mv", "value/inline", &format!("moved-{MARKER}")]);
    env.commit("second");
    env.put(&format!("staged-{MARKER}"), m);
}

#[test]
fn no_repository_file_contains_names_or_values() {
    let env = Env::init();
    populate(&env);
    let repo = env.repo_dir();
    let files = files_under(&repo);
    assert!(files.len() > 3, "the repository has files: {files:?}");
    for (p, _) in &files {
        assert!(!p.to_string_lossy().contains(MARKER), "a file name contains the marker: {}", p.display());
        let data = read(repo.join(p));
        assert!(!contains(&data, MARKER.as_bytes()), "{} contains {MARKER:?} in the clear", p.display());
    }
}

#[test]
fn repository_files_have_uniform_sizes() {
    let env = Env::init();
    populate(&env);
    let repo = env.repo_dir();
    let files = files_under(&repo);
    let mut packs = 0;
    for (p, len) in &files {
        if p.starts_with("objects") {
            packs += 1;
            assert!(is_pack_size(*len), "{} is {len} bytes, not a pack size class", p.display());
        } else {
            assert_eq!(*len, 4096, "{} is {len} bytes, not 4096", p.display());
        }
    }
    assert!(packs > 0, "no objects: {files:?}");
    // The known layout: config, keys/*, refs/*/*, objects/...
    for (p, _) in &files {
        let first = p.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        assert!(
            ["config", "keys", "refs", "objects"].contains(&first.as_str()),
            "unexpected repository file {}",
            p.display()
        );
    }
}

#[test]
fn workspace_files_do_not_contain_names_or_values() {
    // Beyond the repository, the workspace's own files (staged changes, caches) must not hold plaintext either.
    let env = Env::init();
    populate(&env);
    let dir = env.ws.join(".infini");
    for (p, _) in files_under(&dir) {
        // The repository is checked above; config.json holds HEAD's branch name in the clear, like git's HEAD.
        if p.starts_with("repo") || p == std::path::Path::new("config.json") {
            continue;
        }
        let data = read(dir.join(&p));
        assert!(!contains(&data, MARKER.as_bytes()), ".infini/{} contains {MARKER:?} in the clear", p.display());
    }
}
