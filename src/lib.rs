//! infini: an embedded, encrypted, versioned database.

// Lets `#[derive(Index)]` name this crate as `::infini` from inside it too.
extern crate self as infini;

pub mod engine;

/// The schema of a commit: implement it with `#[derive(Index)]`.
pub use engine::fields::Index;
/// `#[derive(Index)]`: implement [`Index`](trait@Index) for a struct of fields.
///
/// Each field is stored under its Rust name, or under `#[infini(name = "...")]`; `#[infini(skip)]` leaves a field
/// out (not persisted; `Default` when an index is loaded). The derive also adds `FIELD_NAMES`, the stored names.
///
/// ```
/// use infini::engine::fields::{LinkedList, Serialized, VersionedMap};
/// use infini::Index;
///
/// #[derive(Default, Index)]
/// struct State {
///     samples: VersionedMap<String, u64>,
///     #[infini(name = "events")]
///     log: LinkedList<String>,
///     settings: Serialized<Vec<String>>,
///     #[infini(skip)]
///     scratch: std::sync::Mutex<Vec<u8>>,
/// }
///
/// assert_eq!(State::FIELD_NAMES, ["samples", "events", "settings"]);
/// let s = State::default();
/// let names: Vec<&str> = s.fields().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, State::FIELD_NAMES);
/// ```
pub use infini_derive::Index;

#[doc(hidden)]
pub mod __derive {
    pub use crate::engine::fields::{Field, Index};
}
