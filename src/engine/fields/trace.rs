//! Tracing: how the repository layer finds every chunk a commit reaches without knowing any schema.
//!
//! Garbage collection and `check` walk every field of every commit through [`Field::trace`](super::Field::trace).
//! A field reports the chunks its root reaches (its own nodes, and every blob inside its values) to a [`Tracer`];
//! values report their blobs through the [`Trace`] trait, which every value type stored in a field implements.

use crate::engine::chunk::Blob;
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::Result;
use std::sync::Arc;

/// Collects what a field's root reaches; handed to [`Field::trace`](super::Field::trace).
pub struct Tracer<'a> {
    store: &'a Arc<Store>,
    visit: &'a mut dyn FnMut(&ChunkPointer) -> Result<()>,
    values: u64,
}

impl<'a> Tracer<'a> {
    /// A tracer reading through `store` and reporting every chunk to `visit`.
    pub(crate) fn new(store: &'a Arc<Store>, visit: &'a mut dyn FnMut(&ChunkPointer) -> Result<()>) -> Self {
        Self { store, visit, values: 0 }
    }

    /// The store to load nodes from while tracing.
    pub fn store(&self) -> &Arc<Store> {
        self.store
    }

    /// Report a chunk the root reaches.
    pub fn chunk(&mut self, ptr: &ChunkPointer) -> Result<()> {
        (self.visit)(ptr)
    }

    /// Report every chunk of a blob: its data chunks and the nodes of its chunk list.
    pub fn blob(&mut self, blob: &Blob) -> Result<()> {
        let store = self.store;
        let visit = &mut *self.visit;
        blob.for_each_pointer(store, &mut |_, p| visit(p))
    }

    /// Count one value traced (for reports).
    pub fn value(&mut self) {
        self.values += 1;
    }

    /// Values traced so far.
    pub(crate) fn values(&self) -> u64 {
        self.values
    }
}

/// A value that may hold blobs reports them to a [`Tracer`]. Every value type kept in a field implements it; the
/// default method reports nothing, so a type without blobs needs only `impl Trace for MyType {}`.
///
/// ```
/// use infini::engine::fields::{Trace, Tracer};
/// use infini::engine::chunk::Blob;
/// struct Photo { caption: String, pixels: Blob }
/// impl Trace for Photo {
///     fn trace(&self, t: &mut Tracer<'_>) -> infini::engine::Result<()> {
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
