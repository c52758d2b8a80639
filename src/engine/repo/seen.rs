//! What a workspace last saw of each branch's ref, so that a ref that went back, vanished or was replaced is caught.
//!
//! Every ref carries a sequence number (one more on every change) and the head it replaced. A [`Repository`]
//! given a [`SeenRefs`] (with [`Repository::watch_refs`]) checks every ref it reads against the last state seen:
//! - lower sequence than seen, or the same sequence with another head: the ref **went back** (a restored backup, a
//!   replayed old ref);
//! - gone while seen alive (not deleted through a sealed deletion marker): the ref **vanished**;
//! - higher sequence whose head does not descend from the head seen: the ref was **replaced** by another history;
//!
//! and fails with an integrity error naming the branch. A ref that moved forward is recorded as the new last state.
//! [`Repository::accept_ref`] records a branch's current state unconditionally: the explicit way to accept a
//! change that was refused.
//!
//! [`Repository`]: super::Repository
//! [`Repository::watch_refs`]: super::Repository::watch_refs
//! [`Repository::accept_ref`]: super::Repository::accept_ref

use crate::engine::object::ChunkPointer;
use crate::engine::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The state of a branch's ref as last seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenRef {
    /// The ref's sequence number.
    pub seq: u64,
    /// Its head.
    pub head: ChunkPointer,
    /// Whether it marked the branch deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// Branch name -> the state of its ref last seen.
pub type SeenMap = BTreeMap<String, SeenRef>;

/// Called with every change to the last seen states: the branch, its new state (`None`: forgotten), and whether the
/// change was forced (an accepted change, which may go back) rather than a move forward.
pub type SaveSeen = Box<dyn Fn(&str, Option<&SeenRef>, bool) -> Result<()> + Send + Sync>;

/// The last seen state of each branch's ref (see the module documentation), kept by whoever supplied `save`.
pub struct SeenRefs {
    map: Mutex<SeenMap>,
    save: Option<SaveSeen>,
    /// Held while a ref is read, checked and recorded, so that a thread never checks an older state against a newer
    /// one another thread recorded meanwhile.
    pub(super) reading: Mutex<()>,
    /// The same for the gc ref, a lock of its own so that it can be read beside a branch's ref.
    pub(super) reading_gc: Mutex<()>,
    /// The same for the forget record.
    pub(super) reading_record: Mutex<()>,
}

impl SeenRefs {
    /// Starting from `map`, with every change passed to `save` (if any) as it happens.
    pub fn new(map: SeenMap, save: Option<SaveSeen>) -> Self {
        Self {
            map: Mutex::new(map),
            save,
            reading: Mutex::new(()),
            reading_gc: Mutex::new(()),
            reading_record: Mutex::new(()),
        }
    }

    /// The last state seen of `branch`.
    pub fn get(&self, branch: &str) -> Option<SeenRef> {
        self.map.lock().expect("seen refs lock").get(branch).cloned()
    }

    /// Every branch with a last seen state.
    pub fn names(&self) -> Vec<String> {
        self.map.lock().expect("seen refs lock").keys().cloned().collect()
    }

    /// A copy of every last seen state.
    pub fn snapshot(&self) -> SeenMap {
        self.map.lock().expect("seen refs lock").clone()
    }

    /// Record `state` as the last seen state of `branch` if it is newer (a higher sequence number) than the one
    /// recorded.
    pub fn advance(&self, branch: &str, state: &SeenRef) -> Result<()> {
        {
            let mut m = self.map.lock().expect("seen refs lock");
            if m.get(branch).is_some_and(|s| s.seq >= state.seq) {
                return Ok(());
            }
            m.insert(branch.to_string(), state.clone());
        }
        match &self.save {
            Some(save) => save(branch, Some(state), false),
            None => Ok(()),
        }
    }

    /// Record `state` as the last seen state of `branch` whatever was recorded before (`None`: forget the branch).
    pub fn accept(&self, branch: &str, state: Option<SeenRef>) -> Result<()> {
        {
            let mut m = self.map.lock().expect("seen refs lock");
            match &state {
                Some(s) => m.insert(branch.to_string(), s.clone()),
                None => m.remove(branch),
            };
        }
        match &self.save {
            Some(save) => save(branch, state.as_ref(), true),
            None => Ok(()),
        }
    }
}
