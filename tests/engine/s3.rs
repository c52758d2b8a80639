//! The S3 backend against a real S3 server (SeaweedFS started by the test support), directly, through the retry
//! wrapper, and through a fault-injecting proxy.

use crate::support::proxy::{Fault, FaultProxy};
use crate::support::s3::{server, S3Server};
use infini::backends::{conformance, Backend, BackendError};
use infini::backends::{Faulty, Op};
use infini::backends::{Retry, RetryPolicy};
use infini::backends::{S3Backend, S3Config, S3Credentials};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shared server, or `None` to skip (only outside CI).
fn srv() -> Option<&'static S3Server> {
    server()
}

fn upstream(srv: &S3Server) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], srv.port))
}

/// A backend on a fresh bucket reached through `proxy`.
fn through_proxy(srv: &S3Server, proxy: &FaultProxy, hint: &str) -> S3Backend {
    let cfg = S3Config { endpoint: Some(proxy.endpoint()), ..srv.fresh_config(hint) };
    S3Backend::connect(cfg, Some(srv.credentials())).unwrap()
}

#[test]
fn conformance_suite() {
    let Some(srv) = srv() else { return };
    conformance::run_all(Arc::new(srv.fresh_backend("conformance")));
}

#[test]
fn conformance_under_a_prefix() {
    let Some(srv) = srv() else { return };
    let cfg = S3Config { prefix: "some/repo".into(), ..srv.fresh_config("prefix") };
    let b = Arc::new(S3Backend::open_with_credentials(cfg.clone(), srv.credentials()).unwrap());
    assert!(b.describe().contains("/some/repo at http://127.0.0.1:"), "{}", b.describe());
    // Another repository in the same bucket, beside and above this one, must stay invisible.
    let root =
        S3Backend::open_with_credentials(S3Config { prefix: String::new(), ..cfg.clone() }, srv.credentials()).unwrap();
    let sibling =
        S3Backend::open_with_credentials(S3Config { prefix: "some/other".into(), ..cfg }, srv.credentials()).unwrap();
    sibling.write("objects/aa/sibling", b"x").unwrap();
    sibling.swap_ref("sibling", None, b"x").unwrap();
    conformance::objects(&*b);
    conformance::ranges(&*b);
    conformance::refs(&*b);
    conformance::race_swap(b.clone(), 4);
    b.write("objects/aa/mine", b"m").unwrap();
    b.swap_ref("main", None, b"r").unwrap();
    let names: Vec<String> = root.list("some/").unwrap().into_iter().map(|o| o.name).collect();
    // Seen from the bucket root, the refs of the repositories below are plain objects.
    assert_eq!(
        names,
        [
            "some/other/objects/aa/sibling",
            "some/other/refs/sibling",
            "some/repo/objects/aa/mine",
            "some/repo/refs/main"
        ]
    );
    assert_eq!(b.list("").unwrap().len(), 1, "refs are not objects");
    assert_eq!(b.list_refs().unwrap(), ["main"]);
    assert_eq!(sibling.list_refs().unwrap(), ["sibling"]);
}

#[test]
fn rewriting_a_ref_with_its_current_value_changes_its_version() {
    let Some(srv) = srv() else { return };
    let b = srv.fresh_backend("samevalue");
    let v1 = b.swap_ref("main", None, b"same").unwrap();
    let e = b.swap_ref("main", None, b"same").unwrap_err();
    assert!(matches!(e, BackendError::PreconditionFailed { .. }), "another writer's create is a conflict: {e:?}");
    // Otherwise a second writer still holding v1 would get through as well.
    let v2 = b.swap_ref("main", Some(&v1), b"same").unwrap();
    assert_ne!(v1, v2);
    let e = b.swap_ref("main", Some(&v1), b"same").unwrap_err();
    assert!(matches!(e, BackendError::PreconditionFailed { .. }), "{e:?}");
    assert_eq!(b.read_ref("main").unwrap().unwrap(), (b"same".to_vec(), v2));
}

#[test]
fn ranges_at_the_edges() {
    let Some(srv) = srv() else { return };
    let b = srv.fresh_backend("edges");
    b.write("objects/ee/empty", b"").unwrap();
    b.write("objects/ee/ten", b"0123456789").unwrap();
    assert_eq!(b.read_tail("objects/ee/empty", 10).unwrap(), b"");
    assert_eq!(b.read_range("objects/ee/empty", 0, 10).unwrap(), b"");
    assert_eq!(b.read_range("objects/ee/ten", 10, 5).unwrap(), b"");
    assert_eq!(b.read_range("objects/ee/ten", 100, 5).unwrap(), b"");
    assert_eq!(b.read_range("objects/ee/ten", 3, 0).unwrap(), b"");
    assert_eq!(b.read_tail("objects/ee/ten", 0).unwrap(), b"");
    assert_eq!(b.read_range("objects/ee/ten", 9, u64::MAX).unwrap(), b"9");
    assert_eq!(b.read_tail("objects/ee/ten", u64::MAX).unwrap(), b"0123456789");
    assert_eq!(b.read_tail("objects/ee/ten", 10).unwrap(), b"0123456789");
    assert!(b.read_range("objects/ee/missing", 0, 0).unwrap_err().is_not_found());
    assert!(b.read_tail("objects/ee/missing", 0).unwrap_err().is_not_found());
}

#[test]
fn large_objects_from_several_threads() {
    let Some(srv) = srv() else { return };
    let b = Arc::new(srv.fresh_backend("large"));
    const SIZE: usize = 16 << 20;
    const THREADS: usize = 4;
    let t = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || {
                let data: Vec<u8> = (0..SIZE).map(|j| (j.wrapping_mul(31) ^ i) as u8).collect();
                b.write(&format!("objects/pk/pack{i}"), &data).unwrap();
                data
            })
        })
        .collect();
    let datas: Vec<Vec<u8>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let secs = t.elapsed().as_secs_f64();
    eprintln!("uploaded {THREADS} x 16 MiB in {secs:.2} s ({:.0} MiB/s)", (THREADS * 16) as f64 / secs);
    for (i, data) in datas.iter().enumerate() {
        let name = format!("objects/pk/pack{i}");
        assert_eq!(b.read_tail(&name, 1000).unwrap(), &data[SIZE - 1000..]);
        assert_eq!(b.read_range(&name, 10 << 20, 4096).unwrap(), &data[10 << 20..(10 << 20) + 4096]);
    }
    let whole = b.read("objects/pk/pack0").unwrap();
    assert!(whole == datas[0], "whole object read back differs");
    let sizes: Vec<u64> = b.list("objects/pk/").unwrap().into_iter().map(|o| o.size).collect();
    assert_eq!(sizes, vec![SIZE as u64; THREADS]);
}

#[test]
fn listing_paginates() {
    let Some(srv) = srv() else { return };
    let b = Arc::new(srv.fresh_backend("paginate"));
    const N: usize = 1030;
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let b = b.clone();
            std::thread::spawn(move || {
                for i in (t..N).step_by(8) {
                    b.write(&format!("objects/{:02x}/{i:05}", i % 256), b"x").unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let listed = b.list("objects/").unwrap();
    assert_eq!(listed.len(), N);
    let mut names: Vec<String> = listed.into_iter().map(|o| o.name).collect();
    names.dedup();
    assert_eq!(names.len(), N);
    assert_eq!(b.list("objects/0a/").unwrap().len(), (0..N).filter(|i| i % 256 == 10).count());
}

#[test]
fn storage_class_applies_to_pack_objects() {
    let Some(srv) = srv() else { return };
    let cfg = S3Config { storage_class: Some("STANDARD_IA".into()), ..srv.fresh_config("class") };
    // Through the retry layer, as the repository uses it: a server may answer the first write to a new storage
    // class with a transient InternalError while it allocates space for that class.
    let b = Retry::new(S3Backend::open_with_credentials(cfg.clone(), srv.credentials()).unwrap());
    b.write("objects/aa/pack", b"pack").unwrap();
    b.write("index/aa", b"index").unwrap();
    b.swap_ref("main", None, b"ref").unwrap();
    assert_eq!(b.read("objects/aa/pack").unwrap(), b"pack");
    assert_eq!(b.read("index/aa").unwrap(), b"index");
    let class = |key: &str| srv.storage_class_of(&cfg.bucket, key);
    assert_eq!(class("objects/aa/pack").as_deref(), Some("STANDARD_IA"));
    for key in ["index/aa", "refs/main"] {
        assert!(matches!(class(key).as_deref(), None | Some("STANDARD")), "{key}: {:?}", class(key));
    }
}

#[test]
fn wrong_credentials_are_access_denied_with_a_clear_message() {
    let Some(srv) = srv() else { return };
    let cfg = srv.fresh_config("creds");
    let bad = S3Credentials { access_key_id: srv.access_key.clone(), secret_access_key: "wrong-secret".into() };
    let e = S3Backend::open_with_credentials(cfg.clone(), bad).err().expect("open must fail");
    let msg = e.to_string();
    assert!(matches!(e, BackendError::AccessDenied { .. }), "{e:?}");
    assert!(msg.contains("access denied"), "{msg}");
    assert!(msg.contains(&srv.endpoint) && msg.contains(&cfg.bucket), "{msg}");

    let unknown = S3Credentials { access_key_id: "AKUNKNOWN".into(), secret_access_key: "x".into() };
    let b = Retry::with_policy(S3Backend::connect(cfg.clone(), Some(unknown)).unwrap(), RetryPolicy::quick(5));
    let e = b.write("objects/aa/x", b"x").unwrap_err();
    assert!(matches!(e, BackendError::AccessDenied { op: "write", .. }), "{e:?}");
    assert!(e.to_string().starts_with("write objects/aa/x on "), "{e}");
    let e = b.read("objects/aa/x").unwrap_err();
    assert!(matches!(e, BackendError::AccessDenied { .. }), "{e:?}");
    let e = b.read_ref("main").unwrap_err();
    assert!(matches!(e, BackendError::AccessDenied { .. }), "{e:?}");
}

#[test]
fn missing_bucket_is_reported_and_can_be_created() {
    let Some(srv) = srv() else { return };
    let bucket = srv.unique_bucket("missing");
    let e = S3Backend::open_with_credentials(srv.config(&bucket), srv.credentials()).err().expect("must fail");
    assert!(matches!(&e, BackendError::NoBucket { bucket: b, .. } if *b == bucket), "{e:?}");
    assert!(e.to_string().contains(&format!("bucket {bucket} does not exist")), "{e}");

    let created = S3Config { create_bucket: true, ..srv.config(&bucket) };
    let b = S3Backend::open_with_credentials(created.clone(), srv.credentials()).unwrap();
    b.write("config", b"c").unwrap();
    // Opening again, with or without create_bucket, finds it.
    let again = S3Backend::open_with_credentials(created, srv.credentials()).unwrap();
    assert_eq!(again.read("config").unwrap(), b"c");
    let plain = S3Backend::open_with_credentials(srv.config(&bucket), srv.credentials()).unwrap();
    assert_eq!(plain.read("config").unwrap(), b"c");
}

#[test]
fn closed_port_becomes_unavailable_in_bounded_time() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = S3Config {
        bucket: "bucket".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        ..S3Config::default()
    };
    let creds = S3Credentials { access_key_id: "AK".into(), secret_access_key: "SK".into() };
    let policy = RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        ..RetryPolicy::default()
    };
    let b = Retry::with_policy(S3Backend::connect(cfg.clone(), Some(creds.clone())).unwrap(), policy.clone());
    let t = Instant::now();
    let e = b.write("objects/aa/x", b"x").unwrap_err();
    let took = t.elapsed();
    match &e {
        BackendError::Unavailable { attempts, backend, .. } => {
            assert_eq!(*attempts, 6);
            assert!(backend.contains(&format!("127.0.0.1:{port}")), "{backend}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(b.read_ref("main").unwrap_err().to_string().contains("unavailable after 6 attempts"));
    // Opening (which checks the bucket) can be retried the same way.
    let e = policy.run(|| S3Backend::open_with_credentials(cfg.clone(), creds.clone())).err().expect("must fail");
    assert!(matches!(e, BackendError::Unavailable { .. }), "{e:?}");
}

#[test]
fn retry_confirms_lost_responses_on_a_real_server() {
    let Some(srv) = srv() else { return };
    let f = Faulty::new(srv.fresh_backend("lost"));
    f.only(&[Op::Write, Op::SwapRef]).lose_responses_next(2);
    let b = Retry::with_policy(f, RetryPolicy::quick(5));
    b.write("objects/aa/x", b"data").unwrap();
    let v1 = b.swap_ref("main", None, b"one").unwrap();
    assert_eq!(b.read_ref("main").unwrap().unwrap(), (b"one".to_vec(), v1.clone()));
    b.inner().lose_responses_next(1);
    let v2 = b.swap_ref("main", Some(&v1), b"two").unwrap();
    assert_eq!(b.read_ref("main").unwrap().unwrap(), (b"two".to_vec(), v2));
    assert_eq!(b.inner().injected(), 3);
}

#[test]
fn proxy_503s_are_retried() {
    let Some(srv) = srv() else { return };
    let proxy = FaultProxy::start(upstream(srv));
    let b = Retry::with_policy(through_proxy(srv, &proxy, "p503"), RetryPolicy::quick(6));
    proxy.fail_next(3, Fault::ServiceUnavailable);
    b.write("objects/aa/x", b"data").unwrap();
    assert!(proxy.connections() >= 4, "{}", proxy.connections());
    assert_eq!(b.read("objects/aa/x").unwrap(), b"data");
    let v = b.swap_ref("main", None, b"one").unwrap();
    assert_eq!(b.read_ref("main").unwrap().unwrap().1, v);
}

#[test]
fn proxy_resets_and_delays_are_retried() {
    let Some(srv) = srv() else { return };
    let proxy = FaultProxy::start(upstream(srv));
    let b = Retry::with_policy(through_proxy(srv, &proxy, "preset"), RetryPolicy::quick(6));
    proxy.fail_next(2, Fault::Reset);
    proxy.fail_next(1, Fault::Delay(Duration::from_millis(200)));
    let v = b.swap_ref("main", None, b"one").unwrap();
    assert!(proxy.connections() >= 3, "{}", proxy.connections());
    assert_eq!(b.read_ref("main").unwrap().unwrap(), (b"one".to_vec(), v));
}

#[test]
fn proxy_persistent_failures_become_unavailable() {
    let Some(srv) = srv() else { return };
    let proxy = FaultProxy::start(upstream(srv));
    let raw = through_proxy(srv, &proxy, "pdown");
    proxy.fail_always(Fault::ServiceUnavailable);
    let direct = raw.write("objects/aa/x", b"x").unwrap_err();
    assert!(direct.is_transient(), "a 503 is transient: {direct:?}");
    let b = Retry::with_policy(raw, RetryPolicy::quick(4));
    let e = b.write("objects/aa/x", b"x").unwrap_err();
    assert!(matches!(e, BackendError::Unavailable { attempts: 4, .. }), "{e:?}");
    proxy.fail_always(Fault::Reset);
    let e = b.read_ref("main").unwrap_err();
    assert!(matches!(e, BackendError::Unavailable { attempts: 4, .. }), "{e:?}");
    proxy.heal();
    b.write("objects/aa/x", b"x").unwrap();
    assert_eq!(b.read("objects/aa/x").unwrap(), b"x");
}
