//! S3 endpoints that are not (working) S3 servers: a server that accepts connections and never answers, one that
//! answers like a plain web server, one that answers garbage. Each must fail in bounded time, with the endpoint
//! named and the documented exit code, never as an integrity failure.

use crate::util::Env;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A loopback HTTP stub answering every request with `reply` (raw bytes), or never answering with `None`.
fn stub(reply: Option<&'static [u8]>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            match reply {
                None => held.push(c), // accepted, read nothing, answer nothing
                Some(r) => {
                    std::thread::spawn(move || {
                        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                        let mut buf = [0u8; 65536];
                        let _ = c.read(&mut buf);
                        let _ = c.write_all(r);
                        let _ = c.flush();
                    });
                }
            }
        }
    });
    endpoint
}

fn env() -> Env {
    let mut env = Env::new();
    env.set("AWS_ACCESS_KEY_ID", "AK");
    env.set("AWS_SECRET_ACCESS_KEY", "SK");
    env.set("AWS_REGION", "us-east-1");
    env
}

#[test]
fn a_silent_s3_endpoint_fails_within_a_minute_naming_it() {
    let env = env();
    let endpoint = stub(None);
    let t = Instant::now();
    let out = env
        .cmd(["init", "--s3", "bkt1", "--endpoint", &endpoint, "--create-bucket", "new-ws"])
        .cwd(&env.root)
        .fails_with(14);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}: {out}");
    assert!(out.stderr.contains(&endpoint), "names the endpoint: {out}");
    assert!(out.stderr.contains("timed out"), "says it timed out: {out}");
    // A shorter INFINI_TIMEOUT fails sooner.
    let t = Instant::now();
    env.cmd(["-R", "s3://bkt1", "--endpoint", &endpoint, "ls"]).env("INFINI_TIMEOUT", "1").fails_with(14);
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
}

#[test]
fn a_web_server_that_is_not_s3_is_named_as_such_never_an_integrity_failure() {
    let env = env();
    let not_found = stub(Some(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"));
    let out = env
        .cmd(["init", "--s3", "bkt1", "--endpoint", &not_found, "--create-bucket", "new-ws"])
        .cwd(&env.root)
        .fails_with(14);
    assert!(out.stderr.contains("not an S3 server"), "{out}");
    assert!(out.stderr.contains(&not_found), "names the endpoint: {out}");
    assert!(!out.stderr.contains(": : "), "no empty name in the message: {out}");
    assert!(!env.root.join("new-ws").exists(), "a failed init leaves no directory behind");

    let forbidden = stub(Some(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
    let out = env.cmd(["-R", "s3://bkt1", "--endpoint", &forbidden, "ls"]).fails_with(15);
    assert!(out.stderr.contains(&forbidden), "{out}");

    let failing = stub(Some(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
    let out = env.cmd(["-R", "s3://bkt1", "--endpoint", &failing, "ls"]).env("INFINI_RETRIES", "2").fails_with(14);
    assert!(out.stderr.contains("unavailable after 2 attempts"), "{out}");

    let garbage = stub(Some(b"\x00\x01 this is not HTTP \xff\r\n\r\n"));
    let out = env.cmd(["-R", "s3://bkt1", "--endpoint", &garbage, "ls"]).env("INFINI_RETRIES", "2").fails_with(14);
    assert!(out.stderr.contains(&garbage), "{out}");

    let closing = stub(Some(b""));
    let out = env.cmd(["-R", "s3://bkt1", "--endpoint", &closing, "ls"]).env("INFINI_RETRIES", "2").fails_with(14);
    assert!(out.stderr.contains(&closing), "{out}");
}

/// Five consecutive loopback ports free a moment ago, with the five at +10000 (the script's gRPC ports).
fn free_port_base() -> u16 {
    loop {
        let base: u16 = 20_000 + rand::random::<u16>() % 9_000;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if (0..5).all(|i| free(base + i) && free(base + 10_000 + i)) {
            return base;
        }
    }
}

#[test]
fn the_hand_started_s3_server_keeps_its_buckets_across_a_restart() {
    let Some(weed) = crate::support::s3::find_weed() else {
        assert!(std::env::var("CI").is_err(), "weed must be installed under CI");
        return;
    };
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        return; // the script needs curl to wait for the server; the README names it as its prerequisite
    }
    let mut env = env();
    let dir = env.root.join("s3-server");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-server.sh");
    let base = free_port_base().to_string();
    let run = |what: &str| {
        let out = std::process::Command::new(&script)
            .arg(what)
            .env("S3_SERVER_DIR", &dir)
            .env("S3_PORT_BASE", &base)
            .env("INFINI_WEED", &weed)
            .output()
            .unwrap();
        assert!(out.status.success(), "s3-server.sh {what}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let vars = run("start");
    for line in vars.lines() {
        if let Some((k, v)) = line.split_once('=') {
            env.set(k, v);
        }
    }
    let endpoint = format!("http://127.0.0.1:{base}");
    env.cmd(["init", "--s3", "kept/p", "--endpoint", &endpoint, "--create-bucket", "ws"]).cwd(&env.root).ok();
    env.cmd(["put", "k"]).cwd(env.root.join("ws")).stdin(b"survives").ok();
    env.cmd(["commit", "-m", "one"]).cwd(env.root.join("ws")).ok();
    run("stop");
    run("start");
    let got = env.cmd(["-R", "s3://kept/p", "--endpoint", &endpoint, "get", "k"]).ok();
    run("reset");
    assert_eq!(got.stdout, b"survives");
    assert!(!dir.exists(), "reset deletes the server's data");
}
