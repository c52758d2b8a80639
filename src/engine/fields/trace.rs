//! Tracing: how the repository layer finds every chunk a commit reaches without knowing any schema.
//!
//! Garbage collection and `check` walk every field of every commit through [`Field::trace`](super::Field::trace).
//! A field reports the chunks its root reaches (its own nodes, and every blob inside its values) to a [`Tracer`].
//! Blobs inside values are found by [`Tracer::scan`], which reads a value's encoding, not its type: a
//! [`Blob`] is tagged in every encoding (see [`BLOB_TAG`](crate::engine::chunk::BLOB_TAG)), so no program code
//! can leave one out. The [`Trace`] trait remains for custom fields that want to report blobs from typed values.

use crate::engine::chunk::Blob;
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::Result;
use std::sync::Arc;

/// What a [`Tracer`] reports each chunk to: the chunk, and the key of the value it belongs to (if any).
pub(crate) type Visit<'v> = dyn FnMut(&ChunkPointer, Option<&[u8]>) -> Result<()> + 'v;

/// Collects what a field's root reaches; handed to [`Field::trace`](super::Field::trace).
pub struct Tracer<'a> {
    store: &'a Arc<Store>,
    visit: &'a mut Visit<'a>,
    values: u64,
    /// The key of the value being traced, when the field has keys (for reports that name what depends on a chunk).
    key: Option<Vec<u8>>,
    /// Values found that their schema does not allow (see [`Tracer::invalid`]).
    problems: Vec<String>,
}

impl<'a> Tracer<'a> {
    /// A tracer reading through `store` and reporting every chunk to `visit`, with the key of the value it belongs
    /// to (if any).
    pub(crate) fn new(store: &'a Arc<Store>, visit: &'a mut Visit<'a>) -> Self {
        Self { store, visit, values: 0, key: None, problems: Vec::new() }
    }

    /// The store to read from while tracing (a field's own nodes, the blocks it must look inside).
    pub fn store(&self) -> &Arc<Store> {
        self.store
    }

    /// Report a chunk the root reaches.
    pub fn chunk(&mut self, ptr: &ChunkPointer) -> Result<()> {
        (self.visit)(ptr, self.key.as_deref())
    }

    /// Report every chunk of a blob: its data chunks and the nodes of its chunk list.
    pub fn blob(&mut self, blob: &Blob) -> Result<()> {
        let store = self.store;
        let visit = &mut *self.visit;
        let key = self.key.as_deref();
        if store.keys().is_write_only() {
            // A write-only key cannot open chunk-list nodes: it reports the pointers the blob itself holds (what it
            // wrote below them is claimed as the packs it wrote).
            return match blob {
                Blob::Inline(_) => Ok(()),
                Blob::Chunks(c) => c.iter().try_for_each(|c| visit(&c.ptr, key)),
                Blob::Lists(l) => l.iter().try_for_each(|l| visit(&l.ptr, key)),
            };
        }
        blob.for_each_pointer(store, &mut |_, p| visit(p, key))
    }

    /// Report every blob inside a value's CBOR encoding (as every built-in field stores its values), found by the
    /// encoding alone: each [`Blob`] in it is tagged, and blobs written before the tag are recognised by their
    /// shape. A custom field calls this on every encoded value it stores.
    pub fn scan(&mut self, encoded: &[u8]) -> Result<()> {
        crate::engine::chunk::scan_blobs(encoded, &mut |b| self.blob(b))
    }

    /// [`Tracer::scan`] of an already decoded value.
    pub(crate) fn scan_value(&mut self, v: &ciborium::Value) -> Result<()> {
        crate::engine::chunk::scan_value(v, &mut |b| self.blob(b))
    }

    /// Count one value traced (for reports); the chunks reported next belong to it.
    pub fn value(&mut self) {
        self.values += 1;
        self.key = None;
    }

    /// Count one value traced, stored under `key`: the chunks reported next are reported with it, so a damaged
    /// chunk can be traced back to the keys that need it.
    pub fn keyed_value(&mut self, key: &[u8]) {
        self.values += 1;
        self.key = Some(key.to_vec());
    }

    /// The key (as stored) of the value being traced, when the field has keys.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// Report that the value being traced (or its key) is not what its schema allows: something no program that
    /// keeps the schema's rules could have stored (`problem` says what, naming the value). `check` reports every
    /// such problem; garbage collection, which only needs the chunks, ignores them.
    pub fn invalid(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }

    /// Values traced so far.
    pub(crate) fn values(&self) -> u64 {
        self.values
    }

    /// The problems reported through [`Tracer::invalid`], taken out.
    pub(crate) fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }
}

/// A value that may hold blobs reports them to a [`Tracer`]: optional, for custom fields that trace typed values.
///
/// The built-in fields do not need it: they find every [`Blob`] inside a value by scanning the value's encoding
/// ([`Tracer::scan`]), so a value type needs no `Trace` at all, and a wrong or empty implementation cannot hide a
/// blob from garbage collection. The default method reports nothing.
///
/// A value may also validate itself (and its key, [`Tracer::key`]) and report what its schema does not allow
/// through [`Tracer::invalid`], which `check` reports: a [`VersionedMap`](super::VersionedMap) made with
/// [`VersionedMap::validated`](super::VersionedMap::validated) calls a function such as `Trace::trace` on every
/// value it traces.
///
/// ```
/// use infini::fields::{Trace, Tracer};
/// use infini::Blob;
/// struct Photo { caption: String, pixels: Blob }
/// impl Trace for Photo {
///     fn trace(&self, t: &mut Tracer<'_>) -> infini::Result<()> {
///         self.pixels.trace(t)
///     }
/// }
/// ```
pub trait Trace {
    /// Report every chunk this value reaches.
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        let _ = tracer;
        Ok(())
    }
}

impl Trace for Blob {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        tracer.blob(self)
    }
}

macro_rules! trace_nothing {
    ($($t:ty),* $(,)?) => { $(impl Trace for $t {})* };
}

trace_nothing!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    str,
    std::time::Duration,
    std::time::SystemTime,
    serde_bytes::ByteBuf,
    std::path::PathBuf,
);

impl<T: Trace + ?Sized> Trace for &T {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        (**self).trace(tracer)
    }
}

impl<T: Trace + ?Sized> Trace for Box<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        (**self).trace(tracer)
    }
}

impl<T: Trace + ?Sized> Trace for Arc<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        (**self).trace(tracer)
    }
}

impl<T: Trace> Trace for Option<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        self.iter().try_for_each(|v| v.trace(tracer))
    }
}

impl<T: Trace> Trace for [T] {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        self.iter().try_for_each(|v| v.trace(tracer))
    }
}

impl<T: Trace, const N: usize> Trace for [T; N] {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        self.iter().try_for_each(|v| v.trace(tracer))
    }
}

impl<T: Trace> Trace for Vec<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        self.iter().try_for_each(|v| v.trace(tracer))
    }
}

impl<T: Trace> Trace for std::collections::VecDeque<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        self.iter().try_for_each(|v| v.trace(tracer))
    }
}

impl<T: Trace> Trace for std::collections::BTreeSet<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        self.iter().try_for_each(|v| v.trace(tracer))
    }
}

impl<T: Trace, S> Trace for std::collections::HashSet<T, S> {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        self.iter().try_for_each(|v| v.trace(tracer))
    }
}

impl<K: Trace, V: Trace> Trace for std::collections::BTreeMap<K, V> {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        self.iter().try_for_each(|(k, v)| {
            k.trace(tracer)?;
            v.trace(tracer)
        })
    }
}

impl<K: Trace, V: Trace, S> Trace for std::collections::HashMap<K, V, S> {
    fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
        self.iter().try_for_each(|(k, v)| {
            k.trace(tracer)?;
            v.trace(tracer)
        })
    }
}

macro_rules! trace_tuple {
    ($($n:tt $t:ident),+) => {
        impl<$($t: Trace),+> Trace for ($($t,)+) {
            fn trace(&self, tracer: &mut Tracer<'_>) -> Result<()> {
                $(self.$n.trace(tracer)?;)+
                Ok(())
            }
        }
    };
}

trace_tuple!(0 A);
trace_tuple!(0 A, 1 B);
trace_tuple!(0 A, 1 B, 2 C);
trace_tuple!(0 A, 1 B, 2 C, 3 D);
trace_tuple!(0 A, 1 B, 2 C, 3 D, 4 E);
trace_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
