//! Typed, versioned fields over the index tree, and the [`Index`] of named fields a commit snapshots.
//!
//! - [`VersionedMap`]: an ordered map persisted as an index tree; only staged changes are written at commit, every
//!   untouched node is shared with the parent commit, and lookups load only the nodes on one path.
//! - [`Serialized`]: any serde value, stored whole (as a blob) at each commit.
//!
//! A field knows how to [`Field::load`] its root from a commit, how to [`Field::commit`] its staged changes on
//! top of a (possibly newer) parent, merging by key against the base it was loaded from, and how to
//! [`Field::trace`] every chunk a root reaches, so that garbage collection and `check` work for any schema.
//!
//! A value type needs no tracing code of its own: every [`Blob`](crate::engine::chunk::Blob) inside a value is
//! tagged in its encoding, and the fields find them there (see [`Tracer::scan`]).

mod choice;
mod hashmap;
mod key;
pub mod linked_list;
mod list;
mod map;
mod serialized;
pub mod strategy;
mod trace;
mod value;
pub(crate) use trace::Visit;

pub use choice::ChooseStrategy;
pub use hashmap::Map;
pub use key::{nested_prefix, Key};
pub use linked_list::{LinkedList, ListIter, ListRevIter};
pub use list::List;
pub use map::{decode_root, Change, Keys, MapDiff, MapIter, Validate, VersionedMap};
pub use serialized::Serialized;
/// The seed's name for [`Local`].
pub use strategy::Local as LocalField;
/// The seed's name for [`Sparse`].
pub use strategy::Sparse as SparseField;
pub use strategy::{Local, Sparse, Strategy};
pub use trace::{Trace, Tracer};

use crate::engine::object::Store;
use crate::engine::Result;
use std::sync::Arc;

/// A batch of changes: `(encoded key, stored value or None for a removal)` in key order.
pub type Changes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Where [`Field::write_delta`] hands its batches of changes.
pub type DeltaSink<'a> = dyn FnMut(Changes) -> Result<()> + 'a;

/// A persisted field of an index.
pub trait Field: Send + Sync {
    /// Point the field at its state in a commit (`None`: the field did not exist yet). Discards staged changes.
    fn load(&self, store: &Arc<Store>, root: Option<&[u8]>) -> Result<()>;
    /// Write staged changes on top of `parent` (the field's root in the commit being built upon), merging against
    /// the root it was loaded from; returns the new root. Fails with a conflict when a staged change collides with
    /// a different change made since the base.
    fn commit(&self, store: &Arc<Store>, parent: Option<&[u8]>) -> Result<Vec<u8>>;
    /// Whether anything is staged.
    fn is_dirty(&self) -> bool;
    /// Report to `tracer` every chunk that `root` (this field's root as stored in a commit) reaches: the field's
    /// own nodes and every blob inside its values (through [`Tracer::scan`] of each encoded value). `parent` is the field's root in the
    /// commit's first parent, if any: chunks also reachable from it may be skipped, because every ancestor is
    /// traced as well. Garbage collection keeps exactly what is reported, so a chunk left out is deleted.
    fn trace(&self, root: &[u8], parent: Option<&[u8]>, tracer: &mut Tracer<'_>) -> Result<()>;
    /// Report to `tracer` what one stored value under encoded key `key` reaches, as [`Field::trace`] does for each
    /// value of its tree (for the changes of a write-only key's commit). The default scans the value's encoding.
    fn trace_stored(&self, key: &[u8], stored: &[u8], tracer: &mut Tracer<'_>) -> Result<()> {
        tracer.keyed_value(key);
        tracer.scan(stored)
    }
    /// For a write-only key's commit (see docs/design.md, *Write-only keys*): hand the staged changes to `emit` as
    /// batches of `(encoded key, stored value or None for a removal)` in key order, the stored values written as
    /// [`Field::commit`] would write them into the field's tree, and report to `tracer` every chunk they point to.
    /// Returns whether anything was staged. Only fields whose committed state is an index tree of stored values
    /// (`VersionedMap`) can be written so; the default refuses a field with staged changes.
    fn write_delta(&self, store: &Arc<Store>, tracer: &mut Tracer<'_>, emit: &mut DeltaSink<'_>) -> Result<bool> {
        let _ = (store, tracer, emit);
        if self.is_dirty() {
            return Err(crate::engine::Error::WriteOnly {
                what: "committing this kind of field (only VersionedMap fields take a write-only key's changes)".into(),
            });
        }
        Ok(false)
    }
}

/// A set of named fields: the schema of what a commit stores.
pub trait Index: Send + Sync {
    /// The fields with their stable names.
    fn fields(&self) -> Vec<(&'static str, &dyn Field)>;
}

/// A single field is an index of one field named `root`.
impl<K: Key, V: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static, S: Strategy> Index
    for VersionedMap<K, V, S>
{
    fn fields(&self) -> Vec<(&'static str, &dyn Field)> {
        vec![("root", self)]
    }
}

/// A single field is an index of one field named `root`.
impl<
        K: Key + std::hash::Hash,
        V: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
        S: Strategy,
    > Index for Map<K, V, S>
{
    fn fields(&self) -> Vec<(&'static str, &dyn Field)> {
        vec![("root", self)]
    }
}

/// A single field is an index of one field named `root`.
impl<T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static> Index for LinkedList<T> {
    fn fields(&self) -> Vec<(&'static str, &dyn Field)> {
        vec![("root", self)]
    }
}

/// A single field is an index of one field named `root`.
impl<T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync> Index for List<T> {
    fn fields(&self) -> Vec<(&'static str, &dyn Field)> {
        vec![("root", self)]
    }
}

/// A single field is an index of one field named `root`.
impl<T: serde::Serialize + serde::de::DeserializeOwned + Default + Send + Sync> Index for Serialized<T> {
    fn fields(&self) -> Vec<(&'static str, &dyn Field)> {
        vec![("root", self)]
    }
}

/// Declare a struct of fields with `#[derive(Default, Index)]` (see [`derive@crate::Index`]; field attributes
/// such as `#[infini(name = "...")]` and `#[infini(skip)]` pass through).
///
/// ```
/// use infini::fields::{VersionedMap, Serialized};
/// infini::index! {
///     /// My application's state.
///     pub struct State {
///         pub samples: VersionedMap<String, u64>,
///         #[infini(name = "config")]
///         pub settings: Serialized<Vec<String>>,
///     }
/// }
/// let s = State::default();
/// s.samples.insert("a".into(), 1);
/// assert_eq!(State::FIELD_NAMES, ["samples", "config"]);
/// ```
#[macro_export]
macro_rules! index {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($(#[$fm:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Default, $crate::Index)]
        $vis struct $name { $($(#[$fm])* $fvis $field: $ty),* }
    };
}

#[cfg(test)]
mod tests;
