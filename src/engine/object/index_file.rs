//! The dedup index's file in a workspace cache: a journal of sealed records, each naming packs added to (with their
//! tables) or removed from the repository, so that a command appends what it changed instead of rewriting the
//! index (whose size grows with every chunk the repository holds).
//!
//! ```text
//! file   = magic:"INFINIJ1" || record*
//! record = len:u32 || sealed(Workspace, place = "chunk-index", CBOR {add: [[pack id, table]], remove: [pack id]})
//!          || len:u32 || "IJR1"
//! ```
//!
//! The length is repeated after the record with a mark, so an append checks the file's end (the last record) without
//! reading the rest. A record cut short by a crash (or that does not authenticate) ends the journal: it and anything
//! after it are ignored and overwritten by the next append. Once the journal holds enough entries (see
//! [`Journal::wants_merge`]), they are merged into the index's sorted file (`sorted_index.rs`) and the journal starts
//! again empty. The file is only a cache: whatever is lost is rebuilt from the repository's pack tables.

use super::TableEntry;
use crate::engine::crypto::{Keys, Kind, SEAL_PREFIX};
use crate::engine::format::SEAL_OVERHEAD;
use crate::engine::id::ObjectId;
use crate::engine::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"INFINIJ1";
const MARK: &[u8; 4] = b"IJR1";
const PLACE: &[u8] = b"chunk-index";
/// Bytes a table entry takes in a record, about (for the compaction rule).
const ENTRY_BYTES: u64 = 90;

/// Packs with their tables.
pub type PackTables = Vec<(ObjectId, Vec<TableEntry>)>;

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Record {
    #[serde(default)]
    add: PackTables,
    #[serde(default)]
    remove: Vec<ObjectId>,
}

/// The index file as read.
#[derive(Default)]
pub struct Journal {
    /// Live packs and their tables, as read (a reader takes them: see [`Journal::take_tables`]).
    pub packs: HashMap<ObjectId, Vec<TableEntry>>,
    /// Packs removed and not added again since: the sorted file (`sorted_index.rs`) may still list them.
    pub removed: HashSet<ObjectId>,
    /// Live packs and how many entries their tables have (for the merge rule), kept up to date by appends.
    counts: HashMap<ObjectId, u64>,
    /// Valid records.
    records: u64,
    /// Length of the valid part of the file.
    valid_len: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(format!("writing {}", path.display()), e)
}

/// Largest journal read: one is merged into the sorted files long before (at `index_merge_at` entries); a larger
/// file is not the workspace's and reads as empty, like any other damaged journal.
const MAX_JOURNAL: u64 = 1 << 30;

impl Journal {
    /// Read the journal at `path`. A missing, foreign or damaged file reads as empty (or up to the damage).
    pub fn load(path: &Path, keys: &Keys) -> Journal {
        let mut j = Journal::default();
        let Ok(raw) = crate::engine::local_file::read_bounded(path, MAX_JOURNAL) else { return j };
        if raw.len() < MAGIC.len() || &raw[..MAGIC.len()] != MAGIC {
            return j;
        }
        let mut at = MAGIC.len();
        while let Some(len) = raw.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize) {
            let Some(sealed) = raw.get(at + 4..at + 4 + len) else { break };
            if raw.get(at + 4 + len..at + 12 + len) != Some(&footer(len)[..]) {
                break;
            }
            let Ok(plain) = keys.open(Kind::Workspace, PLACE, sealed) else { break };
            let Ok(rec) = ciborium::from_reader::<Record, _>(plain.as_slice()) else { break };
            for id in rec.remove {
                j.packs.remove(&id);
                j.counts.remove(&id);
                j.removed.insert(id);
            }
            for (id, table) in rec.add {
                j.counts.insert(id, table.len() as u64);
                j.removed.remove(&id);
                j.packs.insert(id, table);
            }
            j.records += 1;
            at += 12 + len;
        }
        j.valid_len = at as u64;
        j
    }

    /// The tables read, handed over (to the dedup index) rather than kept twice in memory.
    pub fn take_tables(&mut self) -> HashMap<ObjectId, Vec<TableEntry>> {
        std::mem::take(&mut self.packs)
    }

    /// Entries of the live packs' tables.
    pub fn live_entries(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Whether the journal is worth merging into the index's sorted files: it holds more than `at_least` live
    /// entries, or it is more than twice what its live entries need.
    pub fn wants_merge(&self, at_least: u64) -> bool {
        let bytes: u64 = self.counts.values().map(|n| n * ENTRY_BYTES + 40).sum();
        let wasteful = self.records > 1 && self.valid_len > 64 * 1024 && self.valid_len > 2 * bytes;
        wasteful || self.live_entries() > at_least
    }

    /// Append a record of packs added and removed (nothing when both are empty).
    pub fn append(&mut self, path: &Path, keys: &Keys, add: PackTables, remove: Vec<ObjectId>) -> Result<()> {
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let mut f =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io_err(path))?;
        // Another process may have appended since this one read the file (or this one never read it): continue
        // after the last record if the file ends with a whole one, else after the last valid record.
        let len = f.metadata().map_err(io_err(path))?.len();
        if len != self.valid_len {
            if ends_with_record(&mut f, len, keys) {
                self.valid_len = len;
            } else {
                let current = Journal::load(path, keys);
                self.records = current.records;
                self.valid_len = current.valid_len;
            }
        }
        if self.valid_len < MAGIC.len() as u64 {
            f.set_len(0).map_err(io_err(path))?;
            f.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
            f.write_all(MAGIC).map_err(io_err(path))?;
            self.valid_len = MAGIC.len() as u64;
            self.records = 0;
        }
        for id in &remove {
            self.counts.remove(id);
            self.removed.insert(*id);
        }
        for (id, t) in &add {
            self.counts.insert(*id, t.len() as u64);
            self.removed.remove(id);
        }
        // One buffer, sized ahead, encoded and sealed where it is: a record of packs of small chunks holds MiBs.
        let entries: usize = add.iter().map(|(_, t)| t.len()).sum();
        let estimate = SEAL_PREFIX + 64 + (entries + add.len() + remove.len()) * ENTRY_BYTES as usize;
        let mut rec = Vec::with_capacity(4 + estimate + SEAL_OVERHEAD + 8);
        rec.resize(4 + SEAL_PREFIX, 0);
        ciborium::into_writer(&Record { add, remove }, &mut rec).expect("CBOR encoding into memory cannot fail");
        keys.seal_tail(Kind::Workspace, PLACE, &mut rec, 4);
        let sealed_len = rec.len() - 4;
        rec[..4].copy_from_slice(&(sealed_len as u32).to_le_bytes());
        rec.extend_from_slice(&footer(sealed_len));
        f.set_len(self.valid_len).map_err(io_err(path))?;
        f.seek(SeekFrom::Start(self.valid_len)).map_err(io_err(path))?;
        f.write_all(&rec).map_err(io_err(path))?;
        self.valid_len += rec.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Rewrite the file as one record holding `packs` (atomically: a temporary file renamed over it).
    pub fn rewrite(path: &Path, keys: &Keys, packs: PackTables) -> Result<Journal> {
        let tmp = path.with_extension("tmp");
        let mut j = Journal::default();
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(MAGIC).map_err(io_err(&tmp))?;
        }
        j.valid_len = MAGIC.len() as u64;
        j.append(&tmp, keys, packs, Vec::new())?;
        std::fs::rename(&tmp, path).map_err(io_err(path))?;
        Ok(j)
    }
}

fn footer(len: usize) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(len as u32).to_le_bytes());
    b[4..].copy_from_slice(MARK);
    b
}

/// Whether the `len` bytes of `f` start with the magic and end with a whole record that authenticates.
fn ends_with_record(f: &mut File, len: u64, keys: &Keys) -> bool {
    let mut read_at = |at: u64, n: usize| -> Option<Vec<u8>> {
        let mut b = vec![0u8; n];
        f.seek(SeekFrom::Start(at)).ok()?;
        f.read_exact(&mut b).ok()?;
        Some(b)
    };
    if len < MAGIC.len() as u64 + 12 || read_at(0, MAGIC.len()).as_deref() != Some(&MAGIC[..]) {
        return false;
    }
    let Some(tail) = read_at(len - 8, 8) else { return false };
    if &tail[4..] != MARK {
        return false;
    }
    let n = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")) as u64;
    let Some(start) = len.checked_sub(12 + n).filter(|s| *s >= MAGIC.len() as u64) else { return false };
    let Some(rec) = read_at(start, 4 + n as usize) else { return false };
    rec[..4] == tail[..4] && keys.open(Kind::Workspace, PLACE, &rec[4..]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::MasterKey;
    use crate::engine::id::ChunkId;

    fn table(n: u8) -> Vec<TableEntry> {
        (0..3)
            .map(|i| TableEntry { id: ChunkId([n.wrapping_add(i); 32]), kind: 1, offset: i as u32 * 10, len: 10 })
            .collect()
    }

    #[test]
    fn appends_reopen_and_survive_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunk-index");
        let keys = Keys::new(MasterKey::generate());
        let (a, b, c) = (ObjectId([1; 32]), ObjectId([2; 32]), ObjectId([3; 32]));
        let mut j = Journal::load(&path, &keys);
        assert!(j.packs.is_empty());
        j.append(&path, &keys, vec![(a, table(1)), (b, table(2))], vec![]).unwrap();
        // A second process appends to what the first wrote.
        let mut j2 = Journal::load(&path, &keys);
        j2.append(&path, &keys, vec![(c, table(3))], vec![a]).unwrap();
        let r = Journal::load(&path, &keys);
        assert_eq!(r.packs.len(), 2);
        assert!(r.packs.contains_key(&b) && r.packs.contains_key(&c) && !r.packs.contains_key(&a));
        // The first process appends again without rereading: it continues after the second's record.
        j.append(&path, &keys, vec![(a, table(4))], vec![]).unwrap();
        let r = Journal::load(&path, &keys);
        assert_eq!(r.packs.len(), 3);
        assert_eq!(r.packs[&a], table(4));

        // A crash mid-append leaves a torn record: it and only it is ignored, and the next append replaces it.
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 7]).unwrap();
        let mut r = Journal::load(&path, &keys);
        assert_eq!(r.packs.len(), 2, "the torn last record is dropped");
        assert!(!r.packs.contains_key(&a));
        r.append(&path, &keys, vec![(a, table(5))], vec![]).unwrap();
        let r = Journal::load(&path, &keys);
        assert_eq!(r.packs.len(), 3);
        assert_eq!(r.packs[&a], table(5));

        // Records are sealed with the repository key: another key reads nothing.
        let other = Keys::new(MasterKey::generate());
        assert!(Journal::load(&path, &other).packs.is_empty());

        // Rewriting keeps exactly the live packs.
        let live: PackTables = r.packs.iter().map(|(k, v)| (*k, v.clone())).collect();
        Journal::rewrite(&path, &keys, live).unwrap();
        let mut again = Journal::load(&path, &keys);
        assert_eq!(again.packs, r.packs);
        assert_eq!(again.records, 1);
        // The tables are handed over, not kept; the counts the compaction rule needs stay.
        assert_eq!(again.take_tables(), r.packs);
        assert!(again.packs.is_empty());
        assert_eq!(again.counts, r.packs.iter().map(|(id, t)| (*id, t.len() as u64)).collect());
    }

    #[test]
    fn a_journal_of_superseded_records_wants_compaction_and_a_rewrite_does_not() {
        let wants_compaction = |j: &Journal| j.wants_merge(u64::MAX);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunk-index");
        let keys = Keys::new(MasterKey::generate());
        let mut j = Journal::load(&path, &keys);
        for i in 0..600u32 {
            // The same two packs again and again (each record supersedes the last).
            j.append(&path, &keys, vec![(ObjectId([1; 32]), table(i as u8)), (ObjectId([2; 32]), table(7))], vec![])
                .unwrap();
            assert_eq!(wants_compaction(&j), j.valid_len > 64 * 1024, "after {} records", i + 1);
        }
        assert!(wants_compaction(&j));
        let mut loaded = Journal::load(&path, &keys);
        assert!(wants_compaction(&loaded), "the same from the file");
        let live: PackTables = loaded.take_tables().into_iter().collect();
        let rewritten = Journal::rewrite(&path, &keys, live).unwrap();
        assert!(!wants_compaction(&rewritten));
        assert_eq!(Journal::load(&path, &keys).packs.len(), 2);
    }

    #[test]
    fn a_journal_wants_merging_once_it_holds_enough_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunk-index");
        let keys = Keys::new(MasterKey::generate());
        let mut j = Journal::load(&path, &keys);
        // 30 packs of 3 entries: 90 live entries.
        for n in 0..30u8 {
            j.append(&path, &keys, vec![(ObjectId([n; 32]), table(n))], vec![]).unwrap();
        }
        assert_eq!(j.live_entries(), 90);
        assert!(j.wants_merge(89));
        assert!(!j.wants_merge(90), "not more than the floor");
        // Removed packs stop counting, and are remembered as removed until added again.
        j.append(&path, &keys, vec![], vec![ObjectId([0; 32]), ObjectId([1; 32])]).unwrap();
        assert_eq!(j.live_entries(), 84);
        j.append(&path, &keys, vec![(ObjectId([1; 32]), table(1))], vec![]).unwrap();
        let r = Journal::load(&path, &keys);
        assert_eq!(r.live_entries(), 87);
        assert_eq!(r.removed, HashSet::from([ObjectId([0; 32])]));
        assert_eq!(j.removed, r.removed);
    }

    #[test]
    fn garbage_and_foreign_files_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunk-index");
        let keys = Keys::new(MasterKey::generate());
        std::fs::write(&path, b"not an index at all").unwrap();
        assert!(Journal::load(&path, &keys).packs.is_empty());
        let mut j = Journal::load(&path, &keys);
        j.append(&path, &keys, vec![(ObjectId([9; 32]), table(9))], vec![]).unwrap();
        assert_eq!(Journal::load(&path, &keys).packs.len(), 1);
    }
}
