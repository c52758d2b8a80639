//! Values are bytes: any length (0 included), any content, returned exactly, whole or by range.

use crate::util::*;

fn size_of(env: &Env, key: &str) -> u64 {
    let out = env.ok(["ls", "--json", key]);
    let v = out.json();
    let e = v
        .as_array()
        .and_then(|a| a.iter().find(|e| e["key"] == key))
        .unwrap_or_else(|| panic!("{key} not listed:\n{out}"));
    e["size"].as_u64().unwrap_or_else(|| panic!("size of {key}:\n{out}"))
}

/// Every way of reading a value returns the same bytes, staged and committed.
fn check_value(env: &Env, key: &str, want: &[u8]) {
    let out = env.ok(["get", key]);
    assert_bytes_eq(&out.stdout, want, &format!("get {key}"));
    let file = env.path(format!("out-{}", key.replace('/', "_")));
    let out = env.ok(["get", key, "-o", file.to_str().unwrap()]);
    assert!(out.stdout.is_empty(), "get -o writes nothing to stdout:\n{out}");
    assert_bytes_eq(&read(&file), want, &format!("get {key} -o FILE"));
    assert_eq!(size_of(env, key), want.len() as u64, "ls --json size of {key}");
}

#[test]
fn empty_value_round_trips() {
    let env = Env::init();
    env.put("empty", b"");
    check_value(&env, "empty", b"");
    env.commit("empty");
    check_value(&env, "empty", b"");
    let out = env.ok(["get", "empty", "--range", "0-"]);
    assert!(out.stdout.is_empty(), "range of an empty value is empty:\n{out}");
    // An empty file via a path, too.
    write(env.ws.join("e.bin"), b"");
    env.ok(["put", "empty2", "e.bin"]);
    check_value(&env, "empty2", b"");
}

#[test]
fn one_byte_value_round_trips() {
    let env = Env::init();
    env.put("one", b"\x00");
    env.put("nl", b"\n");
    env.commit("one byte");
    check_value(&env, "one", b"\x00");
    check_value(&env, "nl", b"\n");
    assert_eq!(env.ok(["get", "nl", "--range", "0-0"]).stdout, b"\n");
    assert_eq!(env.ok(["get", "nl", "--range=-1"]).stdout, b"\n");
}

#[test]
fn nul_and_invalid_utf8_values_round_trip() {
    let env = Env::init();
    let small = b"\x00\xff\xfe\x00\n\xc3\x28\xa0\xa1\r\n\x00trailing\x00".to_vec();
    // Every byte value, larger than what is stored inline in the index.
    let mut big: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    big.extend_from_slice(b"\xf0\x28\x8c\x28\x00");
    env.put("bin/small", &small);
    write(env.ws.join("big.bin"), &big);
    env.ok(["put", "bin/big", "big.bin"]);
    check_value(&env, "bin/small", &small);
    check_value(&env, "bin/big", &big);
    env.commit("binary");
    check_value(&env, "bin/small", &small);
    check_value(&env, "bin/big", &big);
    // Trailing newlines and whitespace are data, not decoration.
    env.put("ws", b"  \n\n");
    assert_eq!(env.get("ws"), b"  \n\n");
}

#[test]
fn hundred_megabyte_value_round_trips_with_ranges() {
    const N: usize = 100_000_000;
    let env = Env::init();
    let data = random_bytes(0x1234_5678, N);
    let src = env.path("big.bin");
    write(&src, &data);
    // Streamed from stdin.
    let out = env.cmd(["put", "blob/big"]).stdin(&data).ok();
    // Progress bars only when stderr is a terminal; here it is a pipe.
    assert!(
        !out.stderr.contains('\r') && !out.stderr.contains('\x1b'),
        "no progress bar or terminal codes on a piped stderr:\n{out}"
    );
    let id = env.commit("100 MB");
    assert_eq!(size_of(&env, "blob/big"), N as u64);

    let out = env.ok(["get", "blob/big"]);
    assert_bytes_eq(&out.stdout, &data, "get blob/big to stdout");
    assert!(out.stderr.is_empty(), "get writes nothing but the value:\n{out}");
    drop(out);
    let file = env.path("big.out");
    env.ok(["get", "blob/big", "-o", file.to_str().unwrap()]);
    assert_bytes_eq(&read(&file), &data, "get blob/big -o FILE");
    std::fs::remove_file(&file).unwrap();

    // Inclusive ranges, like `dd skip=A count=B-A+1`.
    for (a, b) in [
        (0usize, 0usize),
        (0, 9),
        (12_345_678, 12_345_999),
        (1_000_000, 5_000_000), // crosses chunk boundaries
        (N - 10, N - 1),
        (99_999_999, 99_999_999),
    ] {
        let out = env.ok(["get", "blob/big", "--range", &format!("{a}-{b}")]);
        assert_bytes_eq(&out.stdout, &data[a..=b], &format!("--range {a}-{b}"));
    }
    let out = env.ok(["get", "blob/big", "--range", "99990000-"]);
    assert_bytes_eq(&out.stdout, &data[99_990_000..], "--range 99990000-");
    let out = env.ok(["get", "blob/big", "--range=-1000"]);
    assert_bytes_eq(&out.stdout, &data[N - 1000..], "--range -1000");
    let out = env.ok(["get", "blob/big", "--range=-3000000"]);
    assert_bytes_eq(&out.stdout, &data[N - 3_000_000..], "--range -3000000");
    // A range end past the value is clipped to it.
    let out = env.ok(["get", "blob/big", "--range", &format!("{}-{}", N - 5, N + 100)]);
    assert_bytes_eq(&out.stdout, &data[N - 5..], "--range past the end");
    // A range into a file, and at a revision.
    let file = env.path("range.out");
    env.ok(["get", "blob/big", "--range", "50000000-50999999", "-o", file.to_str().unwrap()]);
    assert_bytes_eq(&read(&file), &data[50_000_000..51_000_000], "--range ... -o FILE");
    let out = env.ok(["get", "blob/big", "--at", &id, "--range", "7-17"]);
    assert_bytes_eq(&out.stdout, &data[7..=17], "--at ID --range 7-17");
}

#[test]
fn ranges_of_a_small_value() {
    let env = Env::init();
    let v = b"0123456789abcdefghij";
    env.put("k", v);
    env.commit("k");
    for (spec, want) in [
        ("0-0", &v[0..1]),
        ("0-9", &v[0..10]),
        ("5-7", &v[5..8]),
        ("10-", &v[10..]),
        ("-3", &v[17..]),
        ("19-19", &v[19..]),
        ("15-1000", &v[15..]),
        ("-100", &v[..]),
    ] {
        let out = env.ok(["get", "k", &format!("--range={spec}")]);
        assert_eq!(out.stdout, want, "--range={spec}:\n{out}");
        if !spec.starts_with('-') {
            let out = env.ok(["get", "k", "--range", spec]);
            assert_eq!(out.stdout, want, "--range {spec}:\n{out}");
        }
    }
}

#[test]
fn range_of_last_n_bytes_as_a_separate_argument() {
    // BUG: `get --range -N` (the documented "last N bytes" form, written as two arguments the way every other
    // option value is) is rejected by the argument parser with exit 2 ("unexpected argument '-3' found"); only
    // `--range=-N` works. The option needs `allow_hyphen_values`.
    let env = Env::init();
    env.put("k", b"0123456789");
    let out = env.ok(["get", "k", "--range", "-3"]);
    assert_eq!(out.stdout, b"789", "{out}");
    let out = env.ok(["get", "k", "--range", "-10"]);
    assert_eq!(out.stdout, b"0123456789", "{out}");
}

#[test]
fn get_to_a_file_replaces_it_and_creates_parents_when_asked() {
    let env = Env::init();
    env.put("k", b"new contents");
    let f = env.path("a/b/c.txt");
    env.fails_with(3, ["get", "k", "-o", f.to_str().unwrap()]);
    env.ok(["get", "k", "-o", f.to_str().unwrap(), "--parents"]);
    assert_eq!(read(&f), b"new contents");
    write(&f, &[b'x'; 100_000]);
    env.ok(["get", "k", "-o", f.to_str().unwrap()]);
    assert_eq!(read(&f), b"new contents", "an existing file is replaced, not overwritten in place");
    // Relative to the working directory (-o is resolved like any path).
    env.ok(["get", "k", "-o", "rel.txt"]);
    assert_eq!(read(env.ws.join("rel.txt")), b"new contents");
}

/// Build a nested tree of files, return (relative path, contents).
fn make_tree(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = vec![
        ("README".into(), b"top level\n".to_vec()),
        ("empty".into(), Vec::new()),
        ("a/one.txt".into(), b"one\n".to_vec()),
        ("a/b/two.bin".into(), b"\x00\x01\x02\xff".to_vec()),
        ("a/b/c/d/e/deep.txt".into(), b"deep\n".to_vec()),
        ("a/b/c/large.bin".into(), random_bytes(7, 3_000_000)),
        ("z/with space.txt".into(), b"spaces\n".to_vec()),
        ("z/unicode-\u{e9}\u{4e2d}.txt".into(), "\u{e9}\u{4e2d}\n".as_bytes().to_vec()),
    ];
    for (p, c) in &files {
        write(dir.join(p), c);
    }
    std::fs::create_dir_all(dir.join("empty-dir")).unwrap();
    files
}

fn assert_tree(dir: &std::path::Path, want: &[(String, Vec<u8>)]) {
    let got = files_under(dir);
    let mut want_paths: Vec<_> = want.iter().map(|(p, _)| std::path::PathBuf::from(p)).collect();
    want_paths.sort();
    let got_paths: Vec<_> = got.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(got_paths, want_paths, "files under {}", dir.display());
    for (p, c) in want {
        assert_bytes_eq(&read(dir.join(p)), c, p);
    }
}

#[test]
fn put_r_and_get_r_round_trip_a_nested_tree() {
    let env = Env::init();
    let files = make_tree(&env.path("tree"));
    let out = env.ok(["put", "-r", env.path("tree").to_str().unwrap(), "t/"]);
    assert!(out.stdout.is_empty(), "put -r prints nothing on stdout:\n{out}");
    let mut keys: Vec<String> = files.iter().map(|(p, _)| format!("t/{p}")).collect();
    // An empty directory is stored as its directory entry.
    keys.push("t/empty-dir/".into());
    keys.sort();
    assert_eq!(env.ok(["ls", "t/"]).lines(), keys, "put -r stages one key per file and empty directory");

    // Staged view.
    let staged_out = env.path("staged-out");
    env.ok(["get", "-r", "t/", staged_out.to_str().unwrap()]);
    assert_tree(&staged_out, &files);

    env.commit("tree");
    let out_dir = env.path("committed-out");
    let out = env.ok(["get", "-r", "t/", out_dir.to_str().unwrap()]);
    assert!(out.stdout.is_empty(), "get -r prints nothing on stdout without --json:\n{out}");
    assert_tree(&out_dir, &files);
    assert!(out_dir.join("empty-dir").is_dir(), "the empty directory is restored");

    // A sub-prefix.
    let sub = env.path("sub-out");
    env.ok(["get", "-r", "t/a/b/", sub.to_str().unwrap()]);
    let want: Vec<(String, Vec<u8>)> =
        files.iter().filter_map(|(p, c)| p.strip_prefix("a/b/").map(|s| (s.to_string(), c.clone()))).collect();
    assert_tree(&sub, &want);

    // Each file is also an ordinary key.
    assert_eq!(env.get("t/a/b/c/d/e/deep.txt"), b"deep\n");
    // An unknown prefix is "not found".
    env.fails_with(3, ["get", "-r", "nope/", env.path("x").to_str().unwrap()]);
}

#[test]
fn put_from_a_file_path_and_overwrite() {
    let env = Env::init();
    write(env.ws.join("f.txt"), b"from a file\n");
    env.ok(["put", "k", "f.txt"]);
    assert_eq!(env.get("k"), b"from a file\n");
    env.ok(["put", "k", "-"]);
    assert_eq!(env.get("k"), b"", "`-` reads stdin (empty here)");
    env.put("k", b"again");
    assert_eq!(env.get("k"), b"again");
    env.commit("k");
    env.put("k", b"staged over committed");
    assert_eq!(env.get("k"), b"staged over committed");
    let out = env.run(["put", "k2", "does-not-exist.txt"]);
    assert!(out.code != 0 && out.stdout.is_empty(), "a missing source file is an error:\n{out}");
    env.fails_with(3, ["get", "k2"]);
}

#[test]
fn reader_closing_the_pipe_early_is_not_an_error() {
    // `infini get big | head -c 10`: the reader goes away; get stops quietly with exit 0.
    // BUG: get hangs forever instead (nearly every time from a shell: `infini get big | head -c 10` with an
    // 8 MB value). The write error stops copy_range's workers while its chunk producer thread stays blocked
    // sending into the bounded channel (src/engine/chunk/reader.rs), and the caller joins it: a deadlock, the
    // same one as for a corrupt chunk in errors::corrupted_big_value_writes_no_wrong_bytes.
    use std::io::Read;
    use std::time::{Duration, Instant};
    let env = Env::init();
    let data = random_bytes(5, 8_000_000);
    env.put("big", &data);
    let mut child = env
        .cmd(["get", "big"])
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(first, data[..10]);
    drop(stdout);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    let status = status.unwrap_or_else(|| panic!("get into a closed pipe did not exit within 20 s (hung)\n{stderr}"));
    assert!(status.success(), "get into a closed pipe: {status:?}\n{stderr}");
    assert!(stderr.trim().is_empty(), "no error message for a closed pipe: {stderr}");
}

#[test]
fn get_r_never_writes_outside_the_directory() {
    let env = Env::init();
    // A key that is not a safe relative path cannot even enter.
    env.cmd(["put", "../escape"]).stdin(b"evil").fails_with(2);
    env.put("good/file", b"ok");
    let out_dir = env.path("out");
    env.ok(["get", "-r", "", out_dir.to_str().unwrap()]);
    assert!(!env.path("escape").exists(), "nothing was written outside DIR");
    assert!(!env.root.parent().unwrap().join("escape").exists());
    assert_eq!(read(out_dir.join("good/file")), b"ok");
    env.ok(["get", "-r", "good/", env.path("out2").to_str().unwrap()]);
    assert_eq!(read(env.path("out2").join("file")), b"ok");
}
