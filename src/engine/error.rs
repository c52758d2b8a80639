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
    /// A concurrent change could not be merged, or a name is taken.
    #[error("conflict: {what}")]
    Conflict {
        /// What conflicts (keys, branch name).
        what: String,
    },
    /// Staged changes collide with changes committed to the branch since they were staged: both sides changed
    /// these keys differently. Nothing was committed; the changes stay staged.
    #[error("conflict: changed concurrently on the branch: {}", keys.join(", "))]
    MergeConflict {
        /// The colliding keys.
        keys: Vec<String>,
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

impl Error {
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

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io { source, .. } => source,
            other => std::io::Error::other(other),
        }
    }
}
