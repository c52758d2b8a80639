//! Tracing: how the repository layer finds every chunk a commit reaches without knowing any schema.
//!
//! Garbage collection and `check` walk every field of every commit through [`Field::trace`](super::Field::trace).
//! A field reports the chunks its root reaches (its own nodes, and every blob inside its values) to a [`Tracer`];
//! values report their blobs through the [`Trace`] trait, which every value type stored in a field implements.

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

    /// The store to load nodes from while tracing.
    pub(crate) fn store(&self) -> &Arc<Store> {
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
        blob.for_each_pointer(store, &mut |_, p| visit(p, key))
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

/// A value that may hold blobs reports them to a [`Tracer`]. Every value type kept in a field implements it; the
/// default method reports nothing, so a type without blobs needs only `impl Trace for MyType {}`. A value may also
/// validate itself (and its key, [`Tracer::key`]) and report what its schema does not allow through
/// [`Tracer::invalid`]: `check` reports it.
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
