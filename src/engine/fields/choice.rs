//! A field's strategy chosen by the index rather than by the field's type: `#[infini(strategy = ...)]` on a field
//! of a derived [`Index`](super::Index) stores a `VersionedMap<K, V>` or `Map<K, V>` with that strategy, as the
//! type parameter `S` would.

use super::strategy::Strategy;
use super::Tracer;
use crate::engine::object::Store;
use crate::engine::Result;
use std::sync::Arc;

/// [`Strategy::put`] as a function pointer.
type PutFn = fn(&Arc<Store>, &[u8]) -> Result<Vec<u8>>;
/// [`Strategy::get`] as a function pointer.
type GetFn = fn(&Arc<Store>, &[u8]) -> Result<Arc<Vec<u8>>>;
/// [`Strategy::trace`] as a function pointer.
type TraceFn = fn(&[u8], &mut Tracer<'_>) -> Result<()>;

/// The functions of a [`Strategy`], so that a field can use one picked at run time.
#[derive(Clone, Copy)]
pub(crate) struct Ops {
    pub(crate) put: PutFn,
    pub(crate) get: GetFn,
    pub(crate) same: fn(&[u8], &[u8]) -> bool,
    pub(crate) trace: TraceFn,
    /// The longest value encoding `put` takes; longer values are stored as a blob and `put` gets the reference.
    pub(crate) max_put: usize,
}

impl Ops {
    /// The functions of `S`.
    pub(crate) fn of<S: Strategy>() -> Self {
        Ops { put: S::put, get: S::get, same: S::same, trace: S::trace, max_put: S::MAX_PUT }
    }

    /// Whether two stored values hold the same value: by the strategy, or, for values stored as blobs, by content.
    pub(crate) fn same_stored(&self, a: &Option<Vec<u8>>, b: &Option<Vec<u8>>) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(x), Some(y)) => (self.same)(x, y) || super::value::same_big(x, y) == Some(true),
            _ => false,
        }
    }
}

/// A field whose strategy an index may choose (what `#[infini(strategy = ...)]` calls): [`VersionedMap`] and
/// [`Map`]. The choice is made when the index lists its fields, before any load or commit, and holds for the
/// field's life; it overrides the type parameter `S`.
///
/// [`VersionedMap`]: super::VersionedMap
/// [`Map`]: super::Map
pub trait ChooseStrategy {
    /// Store this field's values with strategy `S`.
    fn choose_strategy<S: Strategy>(&self);
}
