//! [`Serialized`]: any serde value as a field, stored whole at each commit.

use super::{Field, Trace, Tracer};
use crate::engine::chunk::{copy_range, Blob, BlobWriter};
use crate::engine::object::Store;
use crate::engine::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::io::Write;
use std::sync::{Arc, RwLock};

/// A value of type `T`, replaced as a whole.
pub struct Serialized<T> {
    value: RwLock<T>,
    dirty: std::sync::atomic::AtomicBool,
}

impl<T: Default> Default for Serialized<T> {
    fn default() -> Self {
        Self { value: RwLock::new(T::default()), dirty: Default::default() }
    }
}

impl<T: Clone> Serialized<T> {
    /// The current value.
    pub fn get(&self) -> T {
        self.value.read().expect("field lock").clone()
    }
    /// Replace the value (staged until commit).
    pub fn set(&self, v: T) {
        *self.value.write().expect("field lock") = v;
        self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn read_root<T: DeserializeOwned>(store: &Arc<Store>, root: &[u8]) -> Result<(Blob, T)> {
    let blob: Blob = ciborium::from_reader(root).map_err(|e| Error::integrity(format!("field root: {e}")))?;
    let mut bytes = Vec::new();
    copy_range(store, &blob, 0, u64::MAX, 2, &mut bytes)?;
    let v = ciborium::from_reader(bytes.as_slice()).map_err(|e| Error::integrity(format!("field value: {e}")))?;
    Ok((blob, v))
}

impl<T: Serialize + DeserializeOwned + Default + Trace + Send + Sync> Field for Serialized<T> {
    fn load(&self, store: &Arc<Store>, root: Option<&[u8]>) -> Result<()> {
        let v = match root {
            None => T::default(),
            Some(r) => read_root(store, r)?.1,
        };
        *self.value.write().expect("field lock") = v;
        self.dirty.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn commit(&self, store: &Arc<Store>, _parent: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        ciborium::into_writer(&*self.value.read().expect("field lock"), &mut bytes)
            .map_err(|e| Error::Invalid(format!("field does not serialize: {e}")))?;
        let mut w = BlobWriter::new(store.clone(), store.write_options());
        w.write_all(&bytes).map_err(|e| Error::io("storing field", e))?;
        let blob = w.finish()?;
        let mut root = Vec::new();
        ciborium::into_writer(&blob, &mut root).expect("CBOR encoding into memory cannot fail");
        self.dirty.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(root)
    }

    fn is_dirty(&self) -> bool {
        self.dirty.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn trace(&self, root: &[u8], parent: Option<&[u8]>, tracer: &mut Tracer<'_>) -> Result<()> {
        if parent == Some(root) {
            return Ok(());
        }
        let (blob, v) = read_root::<T>(&tracer.store().clone(), root)?;
        tracer.blob(&blob)?;
        tracer.value();
        v.trace(tracer)
    }
}
