//! What a program embedding the library meets: empty commits, other writers' commits, return types, diffs of
//! every field kind, commit metadata, fields from different commits, and opening with a key from a KMS.

use infini::backends::MemoryBackend;
use infini::fields::{Change, LinkedList, List, Map, Serialized, VersionedMap};
use infini::{CommitOptions, Error, Infinitree, KdfParams, Location, RawKey, Repository, StoreOptions};
use std::sync::Arc;

fn repo() -> Arc<Repository> {
    let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
    Arc::new(Repository::create(Arc::new(MemoryBackend::new()), b"pw", kdf, StoreOptions::default()).unwrap())
}

infini::index! {
    struct State {
        tree: VersionedMap<String, u32>,
        hot: Map<String, u32>,
        log: LinkedList<String>,
        list: List<u32>,
        one: Serialized<String>,
    }
}

#[test]
fn a_commit_with_nothing_staged_is_nothing_to_commit_unless_an_empty_commit_is_asked_for() {
    let mut t = Infinitree::<State>::open(repo(), "main").unwrap();
    assert!(matches!(t.commit("nothing"), Err(Error::NothingToCommit)), "an empty branch");
    t.index().tree.insert("a".into(), 1);
    let first = t.commit("a").unwrap();
    assert!(matches!(t.commit("again"), Err(Error::NothingToCommit)));
    assert_eq!(t.head().unwrap().id(), first.id(), "nothing was written");
    let empty = t.commit_with("marker", &CommitOptions::default().allow_empty()).unwrap();
    assert_eq!(empty.parent_ids(), [first.id()]);
    assert_eq!(t.commits().count(), 2);
}

#[test]
fn refresh_sees_another_writers_commits() {
    let repo = repo();
    let mut reader = Infinitree::<State>::open(repo.clone(), "main").unwrap();
    let mut writer = Infinitree::<State>::open(repo.clone(), "main").unwrap();
    assert!(!reader.refresh().unwrap(), "nothing moved");
    writer.index().tree.insert("k".into(), 7);
    let c = writer.commit("from the writer").unwrap();
    assert_eq!(reader.index().tree.get(&"k".to_string()).unwrap(), None);
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.head().unwrap().id(), c.id());
    assert_eq!(reader.index().tree.get(&"k".to_string()).unwrap(), Some(7));
    // Staged changes are not thrown away by a refresh.
    reader.index().hot.insert("mine".into(), 1);
    assert!(matches!(reader.refresh(), Err(Error::Invalid(_))));
    assert_eq!(reader.index().hot.get(&"mine".to_string()), Some(1));
}

#[test]
fn every_way_to_open_a_repository_returns_a_repository() {
    let created: Repository = Repository::create_at(&Location::Memory, b"pw").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = Location::Dir(dir.path().to_path_buf());
    let made: Repository = Repository::create_at(&at, b"pw").unwrap();
    drop(made);
    let opened: Repository = Repository::open_at(&at, b"pw").unwrap();
    // An Infinitree takes one as it is, or shared.
    let mut t = Infinitree::<VersionedMap<String, u32>>::open(opened, "main").unwrap();
    t.index().insert("x".into(), 1);
    t.commit("x").unwrap();
    let shared = Arc::new(created);
    Infinitree::<VersionedMap<String, u32>>::open(shared.clone(), "main").unwrap();
}

#[test]
fn every_field_kind_has_a_diff() {
    let mut t = Infinitree::<State>::open(repo(), "main").unwrap();
    let s = t.index();
    s.hot.insert("same".into(), 1);
    s.hot.insert("changed".into(), 2);
    s.hot.insert("removed".into(), 3);
    s.log.push("one".into());
    s.list.set(vec![1, 2, 3]);
    s.one.set("before".into());
    let a = t.commit("a").unwrap();
    let s = t.index();
    s.hot.insert("changed".into(), 20);
    s.hot.remove(&"removed".to_string());
    s.hot.insert("added".into(), 4);
    s.log.extend(["two".to_string(), "three".to_string()]);
    s.list.set(vec![1, 5]);
    s.one.set("after".into());
    let b = t.commit("b").unwrap();
    let (old, new) = (t.at(a.id()).unwrap(), t.at(b.id()).unwrap());

    let hot = old.hot.diff(&new.hot);
    assert_eq!(
        hot,
        [
            Change::Added { key: "added".to_string(), value: 4 },
            Change::Changed { key: "changed".to_string(), old: 2, new: 20 },
            Change::Removed { key: "removed".to_string(), value: 3 },
        ]
    );
    assert_eq!(
        old.log.diff(&new.log).unwrap(),
        [Change::Added { key: 1, value: "two".to_string() }, Change::Added { key: 2, value: "three".to_string() }]
    );
    assert_eq!(new.log.diff(&old.log).unwrap().len(), 2, "the other way round: removed");
    assert_eq!(
        old.list.diff(&new.list),
        [Change::Changed { key: 1, old: 2, new: 5 }, Change::Removed { key: 2, value: 3 }]
    );
    assert_eq!(old.one.diff(&new.one), Some(("before".to_string(), "after".to_string())));
    assert_eq!(new.one.diff(&new.one), None);
    assert!(old.hot.diff(&old.hot).is_empty());
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Provenance {
    operator: String,
    instrument: u32,
    tags: Vec<String>,
}

#[test]
fn commits_carry_the_programs_own_metadata() {
    let repo = repo();
    let mut t = Infinitree::<State>::open(repo.clone(), "main").unwrap();
    t.index().tree.insert("a".into(), 1);
    let plain = t.commit("plain").unwrap();
    assert_eq!(plain.metadata::<Provenance>().unwrap(), None);
    let p = Provenance { operator: "ada".into(), instrument: 7, tags: vec!["calibrated".into()] };
    t.index().tree.insert("b".into(), 2);
    let c = t.commit_with("with metadata", &CommitOptions::default().metadata(&p).unwrap()).unwrap();
    // Read back from storage by another handle.
    let other = Infinitree::<State>::open(repo.clone(), "main").unwrap();
    let head = other.commits().next().unwrap().unwrap();
    assert_eq!(head.id(), c.id());
    assert_eq!(head.metadata::<Provenance>().unwrap(), Some(p));
    assert!(matches!(head.metadata::<u64>(), Err(Error::Invalid(_))));
}

#[test]
fn fields_load_from_different_commits_into_one_index() {
    let mut t = Infinitree::<State>::open(repo(), "main").unwrap();
    t.index().tree.insert("k".into(), 1);
    t.index().one.set("v1".into());
    let first = t.commit("one").unwrap();
    t.index().tree.insert("k".into(), 2);
    t.index().one.set("v2".into());
    t.commit("two").unwrap();

    // The map as it was at the first commit, the serialized value as it is now.
    t.load_field_at("tree", first.id()).unwrap();
    assert_eq!(t.index().tree.get(&"k".to_string()).unwrap(), Some(1));
    assert_eq!(t.index().one.get(), "v2");
    assert!(matches!(t.load_field_at("nope", first.id()), Err(Error::NotFound { .. })));
    // Nothing staged: a commit keeps the branch's version of the field.
    t.index().one.set("v3".into());
    t.commit("three").unwrap();
    assert_eq!(t.index().tree.get(&"k".to_string()).unwrap(), Some(2));
}

#[test]
fn a_raw_key_from_a_kms_opens_without_the_password_kdf_and_can_be_revoked() {
    let backend = Arc::new(MemoryBackend::new());
    // The password slot costs the default derivation (128 MiB of scrypt).
    let repo = Repository::create(backend.clone(), b"pw", KdfParams::default(), StoreOptions::default()).unwrap();
    let key = RawKey::generate();
    let slot = repo.add_raw_key(&key).unwrap();
    let mut t = Infinitree::<VersionedMap<String, u32>>::open(repo, "main").unwrap();
    t.index().insert("x".into(), 1);
    t.commit("x").unwrap();

    // The key as a KMS hands it back: 32 bytes.
    let fetched = RawKey::from_bytes(*key.expose());
    let start = std::time::Instant::now();
    let opened = Repository::open_with_raw_key(backend.clone(), &fetched, StoreOptions::default()).unwrap();
    let took = start.elapsed();
    let start = std::time::Instant::now();
    Repository::open(backend.clone(), b"pw", StoreOptions::default()).unwrap();
    let with_password = start.elapsed();
    assert!(took * 5 < with_password, "a raw key took {took:?} to open, the password {with_password:?}");
    let t = Infinitree::<VersionedMap<String, u32>>::open(opened, "main").unwrap();
    assert_eq!(t.index().get(&"x".to_string()).unwrap(), Some(1));

    let wrong = RawKey::generate();
    assert!(matches!(
        Repository::open_with_raw_key(backend.clone(), &wrong, StoreOptions::default()),
        Err(Error::WrongPassword)
    ));
    // Revoked: the slot removed, the key opens nothing; the password still does.
    t.repository().remove_key(&slot).unwrap();
    assert!(matches!(
        Repository::open_with_raw_key(backend.clone(), &fetched, StoreOptions::default()),
        Err(Error::WrongPassword)
    ));
    Repository::open(backend, b"pw", StoreOptions::default()).unwrap();
}
