//! Flip any byte of any stored object, truncate it, or swap two objects: reading reports a typed integrity error
//! (never a panic, never wrong bytes), and `check --read-data` finds it.

use infini::backends::{Backend, MemoryBackend};
use infini::namespace::{store_value, NamespaceIndex};
use infini::Error;
use infini::Infinitree;
use infini::Repository;
use infini::StoreOptions;
use infini::{KdfParams, MasterKey};
use rand::{Rng, RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Fixture {
    backend: Arc<MemoryBackend>,
    master: [u8; 32],
    values: BTreeMap<String, Vec<u8>>,
}

fn fixture() -> Fixture {
    let backend = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(backend.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default())
            .unwrap(),
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut values = BTreeMap::new();
    let mut tree = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    for (i, size) in [0usize, 1, 100, 5000, 300_000, 3_000_000].into_iter().enumerate() {
        let mut v = vec![0u8; size];
        rng.fill_bytes(&mut v);
        let key = format!("key/{i}");
        let e = store_value(&repo, &mut v.as_slice(), &mut |_| {}).unwrap();
        tree.index().ns.insert(key.clone(), e);
        values.insert(key, v);
        if i == 3 {
            tree.commit("first").unwrap();
        }
    }
    tree.commit("second").unwrap();
    let master = *repo.master_key().unwrap().expose();
    Fixture { backend, master, values }
}

/// Read every value at the head of `main` through a fresh repository handle (no caches). Every value must come
/// back exactly or fail with an integrity error.
fn read_all(f: &Fixture) -> Result<(), Error> {
    let repo =
        Arc::new(Repository::with_key(f.backend.clone(), MasterKey::from_bytes(f.master), StoreOptions::default())?);
    let tree = Infinitree::<NamespaceIndex>::open(repo.clone(), "main")?;
    let mut n = 0;
    for item in tree.index().ns.iter() {
        let (k, e) = item?;
        let mut out = Vec::new();
        repo.copy_range(&e.blob, 0, u64::MAX, &mut out)?;
        assert_eq!(Some(&out), f.values.get(&k), "wrong bytes returned for {k}");
        n += 1;
    }
    assert_eq!(n, f.values.len(), "a value went missing without an error");
    Ok(())
}

fn check(f: &Fixture) -> Vec<String> {
    let repo =
        Repository::with_key(f.backend.clone(), MasterKey::from_bytes(f.master), StoreOptions::default()).unwrap();
    repo.check(&NamespaceIndex::default(), true).unwrap().errors
}

fn expect_integrity(r: Result<(), Error>, what: &str) {
    match r {
        Ok(()) => {}
        Err(Error::Integrity { .. }) => {}
        Err(e) => panic!("{what}: expected an integrity error, got {e:?}"),
    }
}

#[test]
fn intact_repository_reads_and_checks_clean() {
    let f = fixture();
    read_all(&f).unwrap();
    assert!(check(&f).is_empty(), "{:?}", check(&f));
}

#[test]
fn flipping_any_byte_is_detected() {
    let f = fixture();
    let objects = f.backend.list("objects/").unwrap();
    assert!(objects.len() >= 2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for o in &objects {
        let size = o.size as usize;
        let mut positions = vec![0, 1, size / 2, size - 1, size - 20, size - 56, size - 57];
        positions.extend((0..12).map(|_| rng.gen_range(0..size)));
        for pos in positions {
            f.backend.tamper(&o.name, |v| v[pos] ^= 0x20);
            expect_integrity(read_all(&f), &format!("flip at {}+{pos}", o.name));
            assert!(!check(&f).is_empty(), "check missed a flip at {}+{pos}", o.name);
            f.backend.tamper(&o.name, |v| v[pos] ^= 0x20);
        }
    }
    read_all(&f).unwrap();
}

#[test]
fn truncation_is_detected() {
    let f = fixture();
    for o in f.backend.list("objects/").unwrap() {
        let original = f.backend.read(&o.name).unwrap();
        for keep in [0, 10, original.len() / 2, original.len() - 1] {
            f.backend.tamper(&o.name, |v| v.truncate(keep));
            expect_integrity(read_all(&f), &format!("truncating {} to {keep}", o.name));
            assert!(!check(&f).is_empty(), "check missed truncation of {} to {keep}", o.name);
            f.backend.tamper(&o.name, |v| *v = original.clone());
        }
    }
    read_all(&f).unwrap();
}

#[test]
fn swapping_objects_is_detected() {
    let f = fixture();
    let objects = f.backend.list("objects/").unwrap();
    for i in 0..objects.len() {
        for j in i + 1..objects.len() {
            let (a, b) = (&objects[i].name, &objects[j].name);
            let (da, db) = (f.backend.read(a).unwrap(), f.backend.read(b).unwrap());
            f.backend.tamper(a, |v| *v = db.clone());
            f.backend.tamper(b, |v| *v = da.clone());
            expect_integrity(read_all(&f), &format!("swapping {a} and {b}"));
            assert!(!check(&f).is_empty(), "check missed swapping {a} and {b}");
            f.backend.tamper(a, |v| *v = da.clone());
            f.backend.tamper(b, |v| *v = db.clone());
        }
    }
    read_all(&f).unwrap();
}

#[test]
fn tampered_refs_are_integrity_errors() {
    let f = fixture();
    // The branch's ref, and the gc ref (the commit's claim wrote it): both tampered with.
    let refs = f.backend.list_refs().unwrap();
    assert_eq!(refs.len(), 2);
    for r in &refs {
        let (data, v) = f.backend.read_ref(r).unwrap().unwrap();
        let mut bad = data.clone();
        bad[100] ^= 1;
        f.backend.swap_ref(r, Some(&v), &bad).unwrap();
    }
    let repo =
        Repository::with_key(f.backend.clone(), MasterKey::from_bytes(f.master), StoreOptions::default()).unwrap();
    assert!(matches!(repo.branch("main"), Err(Error::Integrity { .. })));
    // Resolving the branch as a revision reports the damage instead of "no such revision".
    assert!(matches!(repo.resolve("main", None), Err(Error::Integrity { .. })));
    assert!(matches!(repo.sync_dedup_index(), Err(Error::Integrity { .. })), "the gc ref does not authenticate");
}

#[test]
fn missing_objects_are_integrity_errors() {
    let f = fixture();
    for o in f.backend.list("objects/").unwrap() {
        let data = f.backend.read(&o.name).unwrap();
        f.backend.delete(&o.name).unwrap();
        expect_integrity(read_all(&f), &format!("deleting {}", o.name));
        assert!(!check(&f).is_empty(), "check missed deletion of {}", o.name);
        f.backend.write(&o.name, &data).unwrap();
    }
}
