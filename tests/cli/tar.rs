//! Tar streams: `get -r PREFIX --tar` and `put --tar PREFIX`, checked against GNU tar and against `get -r` / `put -r`.

use crate::util::*;
use std::path::Path;
use std::process::{Command, Stdio};

fn make_tree(dir: &Path) {
    write(dir.join("README"), b"top\n");
    write(dir.join("empty"), b"");
    write(dir.join("docs/guide.txt"), b"a guide\n".repeat(1000).as_slice());
    write(dir.join("docs/deep/er/still.txt"), b"deep\n");
    write(dir.join("bin/blob"), &random_bytes(3, 5_000_000));
    let long = format!("{}/{}", "d".repeat(90), "f".repeat(90));
    write(dir.join(long), b"a path longer than ustar's 100 bytes\n");
    write(dir.join("bin/run"), b"#!/bin/sh\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("bin/run"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("guide.txt", dir.join("docs/latest")).unwrap();
}

/// `tar -x` of `archive` into `dir` (created).
fn untar(archive: &[u8], dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut child = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running tar");
    let mut stdin = child.stdin.take().unwrap();
    let data = archive.to_vec();
    let w = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert!(out.status.success(), "tar -x failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn get_r_tar_extracts_to_what_get_r_writes() {
    let env = Env::init();
    let src = env.path("src");
    make_tree(&src);
    env.ok(["put", "-r", src.to_str().unwrap(), "site/"]);
    let id = env.commit("tree");
    env.put("site/docs/guide.txt", b"staged, not committed");

    // The workspace view (staged changes included), as get -r sees it.
    let want = env.path("want");
    env.ok(["get", "-r", "site/", want.to_str().unwrap()]);
    let out = env.ok(["get", "-r", "site/", "--tar"]);
    let got = env.path("got");
    untar(&out.stdout, &got);
    assert_same_tree(&want, &got, "get -r --tar | tar -x");
    assert_eq!(read(got.join("docs/guide.txt")), b"staged, not committed");

    // At a revision, into a file.
    let want = env.path("want-at");
    env.ok(["get", "-r", "site/", want.to_str().unwrap(), "--at", &id]);
    let file = env.path("at.tar");
    env.ok(["get", "-r", "site/", "--tar", "--at", &id, "-o", file.to_str().unwrap()]);
    let got = env.path("got-at");
    untar(&read(&file), &got);
    assert_same_tree(&want, &got, "get -r --tar --at ID -o FILE");

    // Mtimes (to the second, as ustar/GNU headers hold them), permission bits and symbolic links come back.
    use std::os::unix::fs::MetadataExt;
    let m = |p: &Path| std::fs::metadata(p).unwrap().mtime();
    assert_eq!(m(&got.join("bin/blob")), m(&src.join("bin/blob")), "mtime restored from the archive");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&got.join("bin/run")), 0o750, "permission bits restored from the archive");
    assert_eq!(std::fs::read_link(got.join("docs/latest")).unwrap(), Path::new("guide.txt"), "a link stays a link");

    // Nothing under the prefix: not found, nothing on stdout.
    env.fails_with(3, ["get", "-r", "nothing/", "--tar"]);
}

/// Directory members are written once each, before what they hold, however keys with the same leading bytes sort
/// around them (`-` and `.` sort before `/`, `0` after).
#[test]
fn get_r_tar_writes_each_directory_once_before_its_members() {
    let env = Env::init();
    let keys = ["p/a.txt", "p/a/b-c", "p/a/b/c", "p/a/b/d/e", "p/a/b0/f", "p/a/e", "p/a0", "p/z/y/x", "p/z/z"];
    for k in keys {
        env.put(k, k.as_bytes());
    }
    let out = env.ok(["get", "-r", "p/", "--tar"]);
    let mut child =
        Command::new("tar").arg("-t").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("running tar");
    let mut stdin = child.stdin.take().unwrap();
    let w = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &out.stdout));
    let listed = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert!(listed.status.success());
    let members: Vec<String> = String::from_utf8(listed.stdout).unwrap().lines().map(String::from).collect();
    let dirs: Vec<&str> = members.iter().filter(|m| m.ends_with('/')).map(String::as_str).collect();
    assert_eq!(dirs, ["a/", "a/b/", "a/b/d/", "a/b0/", "z/", "z/y/"], "members: {members:?}");
    for (i, m) in members.iter().enumerate() {
        if let Some(parent) = m.trim_end_matches('/').rfind('/').map(|j| &m[..=j]) {
            let at = members.iter().position(|d| d == parent);
            assert!(at.is_some_and(|at| at < i), "{parent} is written before {m}: {members:?}");
        }
    }
    let files: Vec<&str> = members.iter().filter(|m| !m.ends_with('/')).map(String::as_str).collect();
    let want: Vec<&str> = keys.iter().map(|k| &k[2..]).collect();
    assert_eq!(files, want);
}

#[test]
fn put_tar_of_a_gnu_tar_archive_equals_put_r_of_the_tree() {
    let env = Env::init();
    let src = env.path("src");
    make_tree(&src);
    // A hard link: GNU tar stores the second name as a link to the first.
    std::fs::hard_link(src.join("README"), src.join("docs/README.link")).unwrap();
    let tar = Command::new("tar").arg("-c").arg("-C").arg(&src).arg(".").output().expect("running tar -c");
    assert!(tar.status.success(), "tar -c failed: {}", String::from_utf8_lossy(&tar.stderr));

    env.ok(["put", "-r", src.to_str().unwrap(), "a/"]);
    env.cmd(["put", "--tar", "b/"]).stdin(&tar.stdout).ok();
    // Key (after the prefix), size, mtime, mode, link target.
    type Listed = (String, u64, Option<u64>, Option<String>, Option<String>);
    let listing = |prefix: &str| -> Vec<Listed> {
        let out = env.ok(["ls", "--json", prefix]);
        out.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["key"].as_str().unwrap()[prefix.len()..].to_string(),
                    e["size"].as_u64().unwrap(),
                    e["mtime"].as_u64(),
                    e["mode"].as_str().map(str::to_string),
                    e["target"].as_str().map(str::to_string),
                )
            })
            .collect()
    };
    // Staged changes spilled out of memory every two members, the hard link's target among them.
    env.cmd(["put", "--tar", "s/"]).env("INFINI_SPILL_AT", "2").stdin(&tar.stdout).ok();
    let a = listing("a/");
    assert_eq!(a.len(), 9, "{a:?}");
    assert_eq!(a, listing("b/"), "put --tar stages the same keys, sizes, mtimes, modes and links as put -r");
    assert_eq!(a, listing("s/"), "and the same when spilling as it goes");
    env.commit("both");
    let (x, y, z) = (env.path("x"), env.path("y"), env.path("z"));
    env.ok(["get", "-r", "a/", x.to_str().unwrap()]);
    env.ok(["get", "-r", "b/", y.to_str().unwrap()]);
    env.ok(["get", "-r", "s/", z.to_str().unwrap()]);
    assert_same_tree(&x, &y, "values staged by put --tar and put -r");
    assert_same_tree(&x, &z, "values staged by put --tar, spilling");

    // Members that leave the prefix are refused, and nothing is staged.
    let evil = Command::new("tar")
        .arg("-c")
        .arg("-P")
        .arg("-C")
        .arg(&src)
        .arg("--transform=s,^,../,")
        .arg("README")
        .output()
        .unwrap();
    assert!(evil.status.success());
    env.cmd(["put", "--tar", "c/"]).stdin(&evil.stdout).fails_with(2);
    assert!(env.ok(["ls", "c/"]).stdout.is_empty(), "nothing staged from a refused archive");
    // Not a tar stream.
    let out = env.cmd(["put", "--tar", "d/"]).stdin(&random_bytes(1, 10_000)).run();
    assert_ne!(out.code, 0, "garbage is not an archive:\n{out}");
}
