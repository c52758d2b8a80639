//! An in-memory backend for tests and embedding.

use super::{BResult, Backend, BackendError, ObjectInfo, RefVersion};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Objects and refs kept in memory. Cheap to create; everything is lost on drop.
#[derive(Default)]
pub struct MemoryBackend {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    refs: Mutex<BTreeMap<String, (Vec<u8>, u64)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace an object's bytes in place, bypassing write-once rules (for tamper tests).
    pub fn tamper(&self, name: &str, f: impl FnOnce(&mut Vec<u8>)) {
        if let Some(v) = self.objects.lock().expect("lock").get_mut(name) {
            f(v)
        }
    }
}

fn not_found(name: &str) -> BackendError {
    BackendError::NotFound { name: name.to_string() }
}

impl Backend for MemoryBackend {
    fn describe(&self) -> String {
        "memory".into()
    }
    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        self.objects.lock().expect("lock").get(name).cloned().ok_or_else(|| not_found(name))
    }
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        let objects = self.objects.lock().expect("lock");
        let v = objects.get(name).ok_or_else(|| not_found(name))?;
        let start = (offset as usize).min(v.len());
        let end = (offset.saturating_add(len) as usize).min(v.len());
        Ok(v[start..end].to_vec())
    }
    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        let objects = self.objects.lock().expect("lock");
        let v = objects.get(name).ok_or_else(|| not_found(name))?;
        let start = v.len().saturating_sub(len as usize);
        Ok(v[start..].to_vec())
    }
    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        let mut objects = self.objects.lock().expect("lock");
        if objects.contains_key(name) {
            return Err(BackendError::AlreadyExists { name: name.into() });
        }
        objects.insert(name.to_string(), data.to_vec());
        Ok(())
    }
    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        let objects = self.objects.lock().expect("lock");
        Ok(objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo { name: k.clone(), size: v.len() as u64, modified: None })
            .collect())
    }
    fn delete(&self, name: &str) -> BResult<()> {
        self.objects.lock().expect("lock").remove(name);
        Ok(())
    }
    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        let refs = self.refs.lock().expect("lock");
        Ok(refs.get(name).map(|(d, g)| (d.clone(), RefVersion(g.to_string()))))
    }
    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        let mut refs = self.refs.lock().expect("lock");
        let current = refs.get(name).map(|(_, g)| RefVersion(g.to_string()));
        if current.as_ref() != expected {
            return Err(BackendError::PreconditionFailed { name: name.into() });
        }
        let g = self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        refs.insert(name.to_string(), (data.to_vec(), g));
        Ok(RefVersion(g.to_string()))
    }
    fn delete_ref(&self, name: &str) -> BResult<()> {
        self.refs.lock().expect("lock").remove(name);
        Ok(())
    }
    fn list_refs(&self) -> BResult<Vec<String>> {
        Ok(self.refs.lock().expect("lock").keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn conformance() {
        super::super::conformance::run_all(Arc::new(MemoryBackend::new()));
    }
}
