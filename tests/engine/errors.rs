//! One error shape per meaning: every field kind reports a merge conflict as `MergeConflict { field, keys }`; a
//! name that is taken is `AlreadyExists`; a field read as another type is `TypeMismatch`, not `Integrity`; and
//! `?` works on `std::io` results in a program using the library's `Result`.

use infini::fields::{LinkedList, List, Map, Serialized, VersionedMap};
use infini::{Error, Index, Infinitree, Location, Repository};
use std::sync::Arc;

#[derive(Default, Index)]
struct All {
    ordered: VersionedMap<String, u64>,
    #[infini(name = "hot")]
    map: Map<String, u64>,
    list: List<u64>,
    settings: Serialized<String>,
    log: LinkedList<String>,
}

fn two_writers(repo: &Arc<Repository>) -> (Infinitree<All>, Infinitree<All>) {
    (Infinitree::open(repo.clone(), "main").unwrap(), Infinitree::open(repo.clone(), "main").unwrap())
}

#[test]
fn every_field_kind_reports_a_conflict_as_merge_conflict_with_its_field_and_keys() {
    let repo = Arc::new(Repository::create_at(&Location::Memory, b"pw").unwrap());
    let expect = |r: infini::Result<infini::CommitInfo>, field: &str, keys: &[&str]| match r {
        Err(Error::MergeConflict { field: f, keys: k }) => {
            assert_eq!(f, field);
            assert_eq!(k, keys);
        }
        other => panic!("{field}: expected a merge conflict, got {:?}", other.map(|c| c.id())),
    };
    let (mut a, mut b) = two_writers(&repo);
    a.index().ordered.insert("k".into(), 1);
    b.index().ordered.insert("k".into(), 2);
    a.commit("a").unwrap();
    expect(b.commit("b"), "ordered", &["k"]);

    let (mut a, mut b) = two_writers(&repo);
    a.index().map.insert("k".into(), 1);
    b.index().map.insert("k".into(), 2);
    a.commit("a").unwrap();
    expect(b.commit("b"), "hot", &["k"]);

    let (mut a, mut b) = two_writers(&repo);
    a.index().list.push(1);
    b.index().list.push(2);
    a.commit("a").unwrap();
    expect(b.commit("b"), "list", &[]);

    let (mut a, mut b) = two_writers(&repo);
    a.index().settings.set("dark".into());
    b.index().settings.set("light".into());
    a.commit("a").unwrap();
    expect(b.commit("b"), "settings", &[]);

    // A LinkedList never conflicts: appends merge.
    let (mut a, mut b) = two_writers(&repo);
    a.index().log.push("a".into());
    b.index().log.push("b".into());
    a.commit("a").unwrap();
    b.commit("b").unwrap();
}

#[test]
fn a_taken_name_is_already_exists_not_a_conflict() {
    let backend = Arc::new(infini::backends::MemoryBackend::new());
    let kdf = infini::KdfParams { log_n: 10, r: 8, p: 1 };
    Repository::create(backend.clone(), b"pw", kdf, infini::StoreOptions::default()).unwrap();
    let again = Repository::create(backend.clone(), b"pw", kdf, infini::StoreOptions::default());
    assert!(matches!(again, Err(Error::AlreadyExists { .. })), "{:?}", again.err());
    let repo = Arc::new(Repository::open(backend, b"pw", infini::StoreOptions::default()).unwrap());
    let mut t = Infinitree::<VersionedMap<String, u64>>::open(repo, "main").unwrap();
    t.index().insert("k".into(), 1);
    t.commit("one").unwrap();
    t.fork("exp").unwrap();
    let e = t.fork("exp").err();
    assert!(matches!(e, Some(Error::AlreadyExists { .. })), "{e:?}");
}

#[test]
fn a_field_read_as_another_type_is_a_type_mismatch_not_integrity() {
    let repo = Arc::new(Repository::create_at(&Location::Memory, b"pw").unwrap());
    let mut t = Infinitree::<Serialized<Vec<String>>>::open(repo.clone(), "main").unwrap();
    t.index().set(vec!["a".into()]);
    t.commit("strings").unwrap();
    let e = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").err();
    assert!(matches!(e, Some(Error::TypeMismatch { .. })), "{e:?}");
    let e = Infinitree::<Serialized<u64>>::open(repo.clone(), "main").err();
    assert!(matches!(e, Some(Error::TypeMismatch { .. })), "{e:?}");

    let mut t = Infinitree::<VersionedMap<String, String>>::open(repo.clone(), "words").unwrap();
    t.index().insert("k".into(), "not a number".into());
    t.commit("words").unwrap();
    let t = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "words").unwrap();
    let e = t.index().get(&"k".to_string()).err();
    assert!(matches!(e, Some(Error::TypeMismatch { .. })), "{e:?}");
    let e = Infinitree::<LinkedList<String>>::open(repo.clone(), "words").err();
    assert!(matches!(e, Some(Error::TypeMismatch { .. })), "{e:?}");
    let t = Infinitree::<VersionedMap<u64, String>>::open(repo, "words").unwrap();
    let e = t.index().iter().next().unwrap().err();
    assert!(matches!(e, Some(Error::TypeMismatch { .. })), "a key of another type: {e:?}");
}

#[test]
fn question_mark_converts_io_errors_and_gives_back_engine_errors() {
    fn read_one(mut r: impl std::io::Read) -> infini::Result<u8> {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)?;
        Ok(b[0])
    }
    assert!(matches!(read_one(&b""[..]), Err(Error::Io { .. })));
    // An engine error that travelled through io::Error comes back as itself.
    let io: std::io::Error = Error::not_found("thing").into();
    let back: Error = io.into();
    assert!(matches!(back, Error::NotFound { .. }), "{back:?}");
}
