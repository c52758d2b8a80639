//! The engine's error type. Every variant names what it concerns; callers map kinds to exit codes.

use crate::engine::backend::BackendError;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors the engine reports. Kinds, not strings, decide how a caller reacts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage backend failed (not found, transient, permanent, ...).
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Stored data failed authentication or decoding: corrupt, truncated or tampered.
    #[error("integrity failure: {what}")]
    Integrity {
        /// What was affected (object, chunk, ref, ...).
        what: String,
        /// Why it failed to decode, when a decoder said.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A key, revision, branch or other named thing does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// No key slot opens with the given password.
    #[error("wrong password or no usable key")]
    WrongPassword,
    /// A concurrent change the engine could not settle by retrying: a branch that kept moving for every attempt,
    /// a garbage collection running at the same time. Nothing was changed; trying again may succeed.
    #[error("conflict: {what}")]
    Conflict {
        /// What conflicts.
        what: String,
    },
    /// Staged changes collide with changes committed to the branch since they were staged: both sides changed
    /// the same keys (or, for a whole-value field, the value) differently, or a compare-and-set found the key
    /// changed since the base. Nothing was committed; the changes stay staged. The same variant for every kind of
    /// field.
    ///
    /// ```
    /// use infini::{fields::Map, Error, Infinitree, Location, Repository};
    /// # fn main() -> infini::Result<()> {
    /// let repo = std::sync::Arc::new(Repository::create_at(&Location::Memory, b"pw")?);
    /// let mut a = Infinitree::<Map<String, u64>>::open(repo.clone(), "main")?;
    /// let mut b = Infinitree::<Map<String, u64>>::open(repo, "main")?;
    /// a.index().insert("n".into(), 1);
    /// b.index().insert("n".into(), 2);
    /// a.commit("a")?;
    /// match b.commit("b") {
    ///     Err(Error::MergeConflict { field, keys }) => {
    ///         assert_eq!(field, "root");
    ///         assert_eq!(keys, ["n"]);
    ///     }
    ///     other => panic!("expected a merge conflict, got {other:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    #[error("conflict: {}", merge_conflict_message(field, keys))]
    MergeConflict {
        /// The field (its stored name in the index).
        field: String,
        /// The colliding keys (shown as UTF-8, else hex); empty for a field stored as one value (`Serialized`,
        /// `List`), where the whole value collides.
        keys: Vec<String>,
    },
    /// A name is already taken: a repository where one was to be created, a workspace, a branch.
    ///
    /// ```
    /// use infini::{fields::VersionedMap, Error, Infinitree, Location, Repository};
    /// # fn main() -> infini::Result<()> {
    /// let repo = std::sync::Arc::new(Repository::create_at(&Location::Memory, b"pw")?);
    /// let mut tree = Infinitree::<VersionedMap<String, u64>>::open(repo, "main")?;
    /// tree.index().insert("n".into(), 1);
    /// tree.commit("first")?;
    /// tree.fork("exp")?;
    /// assert!(matches!(tree.fork("exp"), Err(Error::AlreadyExists { .. })));
    /// # Ok(()) }
    /// ```
    #[error("already exists: {what}")]
    AlreadyExists {
        /// What exists (repository, workspace, branch).
        what: String,
    },
    /// Stored data authenticated but is not of the type the program reads it as: a field loaded as another kind
    /// of field, or values of another type than were written (a schema that changed). Not damage: the bytes are
    /// what was written.
    ///
    /// ```
    /// use infini::fields::{Serialized, VersionedMap};
    /// use infini::{Error, Infinitree, Location, Repository};
    /// # fn main() -> infini::Result<()> {
    /// let repo = std::sync::Arc::new(Repository::create_at(&Location::Memory, b"pw")?);
    /// let mut tree = Infinitree::<Serialized<Vec<String>>>::open(repo.clone(), "main")?;
    /// tree.index().set(vec!["a".into()]);
    /// tree.commit("strings")?;
    /// let read = Infinitree::<VersionedMap<String, u64>>::open(repo, "main");
    /// assert!(matches!(read, Err(Error::TypeMismatch { .. })));
    /// # Ok(()) }
    /// ```
    #[error("type mismatch: {what} is not stored as {expected}")]
    TypeMismatch {
        /// What was read (a field's root, a key's value).
        what: String,
        /// The type the program reads it as.
        expected: String,
        /// What the decoder said.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Something is larger than what can be stored: refused when it is staged or committed, before anything is
    /// written, naming the limit (docs/library.md, *Limits*, lists them).
    ///
    /// ```
    /// use infini::{fields::VersionedMap, Error, Infinitree, Location, Repository};
    /// # fn main() -> infini::Result<()> {
    /// let repo = std::sync::Arc::new(Repository::create_at(&Location::Memory, b"pw")?);
    /// let mut tree = Infinitree::<VersionedMap<String, u64>>::open(repo, "main")?;
    /// let message = "x".repeat(infini::limits::MESSAGE_MAX + 1);
    /// match tree.commit(&message) {
    ///     Err(Error::TooLarge { size, limit, .. }) => assert!(size > limit),
    ///     other => panic!("expected TooLarge, got {other:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    #[error("too large: {what} is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// What is too large (a value and its key, a commit message, a field's root).
        what: String,
        /// Its size in bytes.
        size: u64,
        /// The most that can be stored.
        limit: u64,
    },
    /// The repository or workspace does not exist or is not usable.
    #[error("no repository: {what}")]
    NoRepository {
        /// Where one was expected.
        what: String,
    },
    /// Staged changes point into a pack that garbage collection removed (or is removing): committing them would
    /// publish dangling pointers, so nothing was committed.
    #[error("staged data was removed by garbage collection (pack {pack}); nothing was committed")]
    StagedDataCollected {
        /// The pack.
        pack: String,
    },
    /// A commit was asked for with nothing staged in any field (and no empty commit was asked for): nothing was
    /// written. See [`CommitOptions::allow_empty`](crate::engine::db::CommitOptions::allow_empty).
    #[error("nothing to commit: no field has staged changes")]
    NothingToCommit,
    /// The repository was opened with a write-only key (see docs/design.md, *Write-only keys*): it can stage and
    /// commit, but reads nothing stored — no value, key, commit or history. Returned before any request is made.
    #[error("{what} needs a key that can read: this key is write-only")]
    WriteOnly {
        /// What was asked for.
        what: String,
    },
    /// Invalid input from the caller.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A fault inside the engine (a worker thread that panicked, a pipeline that stopped): not the caller's doing.
    #[error("internal error: {what}")]
    Internal {
        /// What failed.
        what: String,
    },
    /// A local I/O failure (workspace files, stdin/stdout).
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn merge_conflict_message(field: &str, keys: &[String]) -> String {
    let field = if field.is_empty() { "a field".to_string() } else { format!("field {field}") };
    if keys.is_empty() {
        format!("{field} was changed concurrently on the branch to a different value")
    } else {
        format!("{field} changed concurrently on the branch: {}", keys.join(", "))
    }
}

impl Error {
    /// A type mismatch: `what` does not decode as `expected` (a decoder's error `source`).
    pub fn type_mismatch(
        what: impl Into<String>,
        expected: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::TypeMismatch { what: what.into(), expected: expected.into(), source: Some(Box::new(source)) }
    }
    /// `what` of `size` bytes is over `limit`.
    pub fn too_large(what: impl Into<String>, size: usize, limit: usize) -> Self {
        Error::TooLarge { what: what.into(), size: size as u64, limit: limit as u64 }
    }
    /// An integrity error about `what`.
    pub fn integrity(what: impl Into<String>) -> Self {
        Error::Integrity { what: what.into(), source: None }
    }
    /// An integrity error about `what`, caused by `source` (a decoder's error).
    pub fn corrupt(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Integrity { what: what.into(), source: Some(Box::new(source)) }
    }
    /// The message with every underlying cause, `what: cause: cause...` (for reports that collect errors).
    pub fn detail(&self) -> String {
        let mut s = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(c) = cur {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cur = c.source();
        }
        s
    }
    /// A not-found error about `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }
    /// An internal fault about `what`.
    pub fn internal(what: impl Into<String>) -> Self {
        Error::Internal { what: what.into() }
    }
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}

/// `?` on `std::io` results in a program using this crate's [`Result`].
///
/// ```
/// use std::io::Read;
/// fn first_byte(mut r: impl Read) -> infini::Result<u8> {
///     let mut b = [0u8; 1];
///     r.read_exact(&mut b)?;
///     Ok(b[0])
/// }
/// assert_eq!(first_byte(&b"x"[..]).unwrap(), b'x');
/// assert!(matches!(first_byte(&b""[..]), Err(infini::Error::Io { .. })));
/// ```
impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        // An engine error carried through `io::Read`/`io::Write` (a blob reader's) comes back as itself.
        if source.get_ref().is_some_and(|e| e.is::<Error>()) {
            let kind = source.kind();
            return match source.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(e)) => *e,
                Some(Err(other)) => Error::Io { context: "I/O error".into(), source: std::io::Error::new(kind, other) },
                None => Error::internal("an I/O error lost its cause"),
            };
        }
        Error::Io { context: "I/O error".into(), source }
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io { source, .. } => source,
            other => std::io::Error::other(other),
        }
    }
}
