//! Modification times are signed: a file dated before 1970, far in the future or with a fraction of a second is
//! stored, listed, and restored by `get -r` and `get -r --tar` exactly.

use crate::util::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 1969-12-31T00:00:00Z.
const DAY_BEFORE_1970: i64 = -86_400;
/// 2500-01-01T00:00:00Z.
const YEAR_2500: i64 = 16_725_225_600;

fn at(secs: i64, nsec: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsec)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(u64::from(nsec))
    }
}

/// Set a file's mtime (seconds, nanoseconds).
fn set_mtime(path: &Path, secs: i64, nsec: u32) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_times(std::fs::FileTimes::new().set_modified(at(secs, nsec))).unwrap();
}

/// A file's mtime (seconds, nanoseconds), not following links.
fn mtime(path: &Path) -> (i64, i64) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mtime(), m.mtime_nsec())
}

/// Run `tar ARGS` with `input` on stdin; assert success; stdout.
fn tar(args: &[&str], input: &[u8], cwd: &Path) -> Vec<u8> {
    let mut child = Command::new("tar")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running tar");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let w = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert!(out.status.success(), "tar {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `ls --json PREFIX`: key -> (mtime, mtime_nsec) as listed.
fn listed_mtimes(env: &Env, prefix: &str) -> Vec<(String, Option<i64>, i64)> {
    let out = env.ok(["--json", "ls", prefix]);
    out.json()
        .as_array()
        .unwrap_or_else(|| panic!("not an array:\n{out}"))
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                e.get("mtime").and_then(|m| m.as_i64()),
                e.get("mtime_nsec").and_then(|m| m.as_i64()).unwrap_or(0),
            )
        })
        .collect()
}

/// An archive of regular files `(name, mtime seconds)`, each mtime in the header's 12 bytes as GNU tar writes a
/// value octal cannot hold: base-256, two's complement, the first byte's top bit set.
fn archive_with_mtimes(files: &[(&str, i64)]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for (name, secs) in files {
        let data = format!("{name}\n");
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(::tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        let mut field = [0u8; 12];
        field.copy_from_slice(&i128::from(*secs).to_be_bytes()[4..]);
        field[0] |= 0x80;
        h.as_old_mut().mtime = field;
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn tar_member_dated_before_1970_is_listed_and_restored_exactly() {
    let env = Env::init();
    let site = env.path("site");
    write(site.join("old"), b"from 1969\n");
    write(site.join("new"), b"from now\n");
    set_mtime(&site.join("old"), DAY_BEFORE_1970, 0);
    let archive = tar(&["-c", "-C", site.to_str().unwrap(), "."], b"", &env.root);
    env.cmd(["put", "--tar", "web/"]).stdin(&archive).ok();
    env.commit("x");

    let long = env.ok(["ls", "-l", "web/"]);
    assert!(long.text().contains("1969-12-31T00:00:00Z  web/old"), "ls -l shows the 1969 date:\n{long}");
    let listed = listed_mtimes(&env, "web/");
    assert!(listed.contains(&("web/old".into(), Some(DAY_BEFORE_1970), 0)), "{listed:?}");

    let out = env.path("out");
    env.ok(["get", "-r", "web/", out.to_str().unwrap()]);
    assert_eq!(mtime(&out.join("old")), (DAY_BEFORE_1970, 0), "get -r restores the 1969 mtime");
    assert_eq!(read(out.join("old")), b"from 1969\n");

    let archive = env.ok(["get", "-r", "web/", "--tar"]).stdout;
    let listing = String::from_utf8(tar(&["-tv", "--utc"], &archive, &env.root)).unwrap();
    assert!(listing.contains("1969-12-31 00:00"), "tar -tv reads the 1969 date:\n{listing}");
    let x = env.path("x");
    std::fs::create_dir(&x).unwrap();
    tar(&["-x", "-C", x.to_str().unwrap()], &archive, &env.root);
    assert_eq!(mtime(&x.join("old")), (DAY_BEFORE_1970, 0), "tar -x of get -r --tar restores the 1969 mtime");
}

#[test]
fn file_dated_before_1970_put_r_keeps_its_exact_mtime() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("old"), b"old\n");
    set_mtime(&src.join("old"), DAY_BEFORE_1970 - 1, 250_000_000);
    env.ok(["put", "-r", src.to_str().unwrap(), "web/"]);
    env.commit("x");

    assert_eq!(listed_mtimes(&env, "web/"), [("web/old".into(), Some(DAY_BEFORE_1970 - 1), 250_000_000)]);
    let long = env.ok(["ls", "-l", "web/"]);
    assert!(long.text().contains("1969-12-30T23:59:59Z  web/old"), "{long}");

    let out = env.path("out");
    env.ok(["get", "-r", "web/", out.to_str().unwrap()]);
    assert_eq!(mtime(&out.join("old")), (DAY_BEFORE_1970 - 1, 250_000_000));

    let archive = env.ok(["get", "-r", "web/", "--tar"]).stdout;
    let x = env.path("x");
    std::fs::create_dir(&x).unwrap();
    tar(&["-x", "-C", x.to_str().unwrap()], &archive, &env.root);
    assert_eq!(mtime(&x.join("old")), (DAY_BEFORE_1970 - 1, 250_000_000), "tar -x of get -r --tar");
}

#[test]
fn sub_second_mtimes_survive_put_r_get_r_tar_and_pax_archives() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("f"), b"f\n");
    set_mtime(&src.join("f"), 1_700_000_000, 123_456_789);
    env.ok(["put", "-r", src.to_str().unwrap(), "a/"]);
    // A pax archive (what `tar --format=posix` writes) carries the nanoseconds too.
    let pax = tar(&["-c", "--format=posix", "-C", src.to_str().unwrap(), "f"], b"", &env.root);
    env.cmd(["put", "--tar", "b/"]).stdin(&pax).ok();
    env.commit("x");
    assert_eq!(
        listed_mtimes(&env, ""),
        [("a/f".into(), Some(1_700_000_000), 123_456_789), ("b/f".into(), Some(1_700_000_000), 123_456_789)]
    );

    let out = env.path("out");
    env.ok(["get", "-r", "a/", out.to_str().unwrap()]);
    assert_eq!(mtime(&out.join("f")), (1_700_000_000, 123_456_789));
    let archive = env.ok(["get", "-r", "b/", "--tar"]).stdout;
    let x = env.path("x");
    std::fs::create_dir(&x).unwrap();
    tar(&["-x", "-C", x.to_str().unwrap()], &archive, &env.root);
    assert_eq!(mtime(&x.join("f")), (1_700_000_000, 123_456_789), "tar -x of get -r --tar keeps the nanoseconds");
    // And the archive reads back in as it went out.
    env.cmd(["put", "--tar", "c/"]).stdin(&archive).ok();
    assert_eq!(listed_mtimes(&env, "c/"), [("c/f".into(), Some(1_700_000_000), 123_456_789)]);
}

#[test]
fn far_future_and_extreme_tar_mtimes_are_listed_and_round_trip() {
    let env = Env::init();
    let files = [("y2500", YEAR_2500), ("max", i64::MAX), ("min", i64::MIN), ("ancient", -62_167_219_201)];
    env.cmd(["put", "--tar", "t/"]).stdin(&archive_with_mtimes(&files)).ok();
    env.commit("x");

    let mut want: Vec<(String, Option<i64>, i64)> =
        files.iter().map(|(n, s)| (format!("t/{n}"), Some(*s), 0)).collect();
    want.sort();
    assert_eq!(listed_mtimes(&env, "t/"), want);
    let long = env.ok(["ls", "-l", "t/"]).text();
    assert!(long.contains("2500-01-01T00:00:00Z  t/y2500"), "{long}");
    assert!(long.contains("-0001-12-31T23:59:59Z  t/ancient"), "a year before 0 has a sign:\n{long}");
    assert!(long.contains("+292277026596-12-04T15:30:07Z  t/max"), "{long}");
    assert!(long.contains("-292277022657-01-27T08:29:52Z  t/min"), "{long}");

    // get -r writes every file (the file system holds what it can: ext4 stops at 1901 and 2446) and says when a
    // time could not be held.
    let out = env.path("out");
    let got = env.ok(["get", "-r", "t/", out.to_str().unwrap()]);
    let clamped: Vec<&str> =
        files.iter().filter(|(n, secs)| mtime(&out.join(n)) != (*secs, 0)).map(|(n, _)| *n).collect();
    if clamped.is_empty() {
        assert!(!got.stderr.contains("warning"), "{got}");
    } else {
        // What the file system could not hold is said, once, naming the first such file.
        let warning = format!("{} file(s) got the nearest modification time this file system holds", clamped.len());
        assert!(got.stderr.contains(&warning), "{clamped:?}:\n{got}");
    }
    // The archive get -r --tar writes holds every time exactly: GNU tar reads it, and it reads back in the same.
    let archive = env.ok(["get", "-r", "t/", "--tar"]).stdout;
    tar(&["-tv"], &archive, &env.root);
    env.cmd(["put", "--tar", "u/"]).stdin(&archive).ok();
    let back: Vec<_> =
        listed_mtimes(&env, "u/").into_iter().map(|(k, m, n)| (k.replacen("u/", "t/", 1), m, n)).collect();
    assert_eq!(back, want);
}

#[test]
fn get_r_tar_writes_a_symlink_whose_target_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::init();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let target = std::ffi::OsStr::from_bytes(b"caf\xe9");
    std::os::unix::fs::symlink(target, src.join("link")).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "l/"]);
    env.commit("x");
    let archive = env.ok(["get", "-r", "l/", "--tar"]).stdout;
    let x = env.path("x");
    std::fs::create_dir(&x).unwrap();
    tar(&["-x", "-C", x.to_str().unwrap()], &archive, &env.root);
    assert_eq!(std::fs::read_link(x.join("link")).unwrap().as_os_str().as_bytes(), b"caf\xe9");
}
