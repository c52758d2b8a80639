//! A storage backend written outside the crate: objects and refs in a map in this process.
//!
//! Copy this file to put a repository anywhere else (a database table, a key-value service, an archive): implement
//! [`Backend`] — create-only object writes, whole and ranged reads, listing, deletion, and refs replaced only by
//! compare-and-swap with exactly one winner — and run [`conformance::run_all`] against it, as `main` does first.
//! Then the backend holds a repository like any other.
//!
//! ```sh
//! cargo run --example custom_backend
//! ```

use infini::backends::{conformance, BResult, Backend, BackendError, ObjectInfo, RefVersion};
use infini::fields::VersionedMap;
use infini::{GcOptions, Infinitree, KdfParams, Repository, StoreOptions};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Objects and refs in ordered maps behind one lock. A ref's version is a counter shared by all refs, so every
/// swap (even one writing the same bytes again) makes a new version.
#[derive(Default)]
pub struct MapBackend {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Vec<u8>>,
    refs: BTreeMap<String, (Vec<u8>, u64)>,
    next_version: u64,
}

impl MapBackend {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the maps half-changed: each operation is one insert/remove.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn not_found(name: &str) -> BackendError {
    BackendError::NotFound { name: name.to_string() }
}

impl Backend for MapBackend {
    fn describe(&self) -> String {
        "map in this process".into()
    }

    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        self.state().objects.get(name).cloned().ok_or_else(|| not_found(name))
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        let state = self.state();
        let v = state.objects.get(name).ok_or_else(|| not_found(name))?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(v.len());
        let end = usize::try_from(offset.saturating_add(len)).unwrap_or(usize::MAX).min(v.len());
        Ok(v[start..end].to_vec())
    }

    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        let state = self.state();
        let v = state.objects.get(name).ok_or_else(|| not_found(name))?;
        let start = v.len().saturating_sub(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(v[start..].to_vec())
    }

    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        let mut state = self.state();
        if state.objects.contains_key(name) {
            return Err(BackendError::AlreadyExists { name: name.to_string() });
        }
        state.objects.insert(name.to_string(), data.to_vec());
        Ok(())
    }

    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        let state = self.state();
        Ok(state
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo { name: k.clone(), size: v.len() as u64, modified: None })
            .collect())
    }

    fn delete(&self, name: &str) -> BResult<()> {
        self.state().objects.remove(name);
        Ok(())
    }

    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        Ok(self.state().refs.get(name).map(|(d, v)| (d.clone(), RefVersion(v.to_string()))))
    }

    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        let mut state = self.state();
        let current = state.refs.get(name).map(|(_, v)| RefVersion(v.to_string()));
        if current.as_ref() != expected {
            return Err(BackendError::PreconditionFailed { name: name.to_string() });
        }
        state.next_version += 1;
        let v = state.next_version;
        state.refs.insert(name.to_string(), (data.to_vec(), v));
        Ok(RefVersion(v.to_string()))
    }

    fn delete_ref(&self, name: &str) -> BResult<()> {
        self.state().refs.remove(name);
        Ok(())
    }

    fn list_refs(&self) -> BResult<Vec<String>> {
        Ok(self.state().refs.keys().cloned().collect())
    }
}

fn main() -> infini::Result<()> {
    // The public conformance suite: panics on the first rule the backend breaks.
    conformance::run_all(Arc::new(MapBackend::default()));
    println!("MapBackend passes the backend conformance suite");

    // A repository on it, written, reopened with the password, collected and checked.
    let backend = Arc::new(MapBackend::default());
    let kdf = KdfParams { log_n: 12, ..KdfParams::default() }; // cheap, for the example only
    let repo = Repository::create(backend.clone(), b"pw", kdf, StoreOptions::default())?;
    let mut tree = Infinitree::<VersionedMap<String, String>>::open(repo, "main")?;
    tree.index().insert("greeting".into(), "hello from a custom backend".into());
    tree.commit("first")?;

    let repo = Repository::open(backend.clone(), b"pw", StoreOptions::default())?;
    let tree = Infinitree::<VersionedMap<String, String>>::open(repo, "main")?;
    let got = tree.index().get(&"greeting".to_string())?;
    assert_eq!(got.as_deref(), Some("hello from a custom backend"));
    let repo = tree.repository();
    repo.gc(&VersionedMap::<String, String>::default(), &GcOptions { grace_secs: 0, ..GcOptions::default() })?;
    let report = repo.check(&VersionedMap::<String, String>::default(), true)?;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    println!("{} objects stored; read back {got:?}; check found no problem", backend.list("objects/")?.len());
    Ok(())
}
