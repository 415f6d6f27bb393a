//! The visitor log: a JPEG snapshot per ring with its time, who called whom and how it
//! ended. Kept in `visitors/` in the state directory (or in memory for stations with
//! ephemeral state), capped by count and bytes, oldest deleted first.

use crate::base::durable::BackgroundWriter;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

/// The largest snapshot taken (a camera frame as JPEG is far smaller).
pub const MAX_SNAPSHOT_BYTES: usize = 4 * 1024 * 1024;

/// Which way the ring went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Someone pressed this station's button: it called out (a door station's bell).
    Outgoing,
    /// A call rang in.
    Incoming,
}

/// How the ring ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still ringing.
    Ringing,
    /// Answered at a station.
    Answered,
    /// Answered from the web page.
    AnsweredFromWeb,
    /// Nobody answered.
    Missed,
    /// Declined.
    Declined,
}

/// One ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    /// Its number (increasing; also the snapshot's file name).
    pub id: u64,
    /// Seconds since 1970 (UTC).
    pub at: u64,
    /// Which way.
    pub direction: Direction,
    /// The other station or person.
    pub peer: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Size of the snapshot (0: none could be taken).
    pub bytes: u64,
}

/// Why the log could not be written (the station goes on; the log says it).
#[derive(Debug, thiserror::Error)]
#[error("visitor log {path}: {source}")]
pub struct VisitorLogError {
    path: PathBuf,
    source: std::io::Error,
}

/// The log.
#[derive(Debug)]
pub struct VisitorLog {
    dir: Option<PathBuf>,
    /// Writes the index off the caller's thread: a ring is logged on the station's loop,
    /// which must not wait for the disk.
    index: Option<BackgroundWriter>,
    visits: VecDeque<Visit>,
    /// Snapshots of a log kept in memory.
    memory: HashMap<u64, Vec<u8>>,
    max_count: usize,
    max_bytes: u64,
}

const INDEX: &str = "index.json";

/// Whether a change to the index waits until it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    No,
    UntilOnDisk,
}

impl VisitorLog {
    /// Opens the log in `dir` (created when first written), or in memory for `None`. An
    /// index that cannot be read starts an empty log and is left for a person to look at.
    pub fn open(dir: Option<PathBuf>, max_count: usize, max_bytes: u64) -> Self {
        let mut visits = VecDeque::new();
        if let Some(d) = &dir {
            match std::fs::read(d.join(INDEX)) {
                Ok(bytes) => match serde_json::from_slice::<Vec<Visit>>(&bytes) {
                    // A ring whose snapshot file is gone (a power cut between the two
                    // writes) stays, without its picture.
                    Ok(list) => {
                        visits = list
                            .into_iter()
                            .map(|mut v: Visit| {
                                if v.bytes > 0 && !d.join(file_name(v.id)).exists() {
                                    v.bytes = 0;
                                }
                                v
                            })
                            .collect()
                    }
                    Err(e) => tracing::warn!(error = %e, "the visitor log's index is damaged; starting a new one"),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the visitor log"),
            }
        }
        let index = dir.as_ref().map(|d| BackgroundWriter::private(d.join(INDEX)));
        let mut log = Self {
            dir,
            index,
            visits,
            memory: HashMap::new(),
            max_count: max_count.max(1),
            max_bytes,
        };
        log.enforce_caps();
        log
    }

    /// Changes the caps (a new config), deleting what no longer fits.
    pub fn set_caps(&mut self, max_count: usize, max_bytes: u64) -> Result<(), VisitorLogError> {
        self.max_count = max_count.max(1);
        self.max_bytes = max_bytes;
        self.enforce_caps();
        self.save_index(Wait::No);
        Ok(())
    }

    /// Adds a ring with its snapshot (empty: none); returns its id.
    pub fn add(&mut self, at: u64, direction: Direction, peer: &str, jpeg: &[u8]) -> Result<u64, VisitorLogError> {
        let id = self.visits.back().map_or(1, |v| v.id + 1);
        let jpeg = if jpeg.len() > MAX_SNAPSHOT_BYTES { &[][..] } else { jpeg };
        if !jpeg.is_empty() {
            self.store(id, jpeg)?;
        }
        self.visits.push_back(Visit {
            id,
            at,
            direction,
            peer: peer.chars().take(128).collect(),
            outcome: Outcome::Ringing,
            bytes: jpeg.len() as u64,
        });
        self.enforce_caps();
        // The ring is on disk before the station says it rings: a power cut after the
        // caller hears it ring loses no visitor. (A failed write is logged by the writer;
        // the ring stays in memory.)
        self.save_index(Wait::UntilOnDisk);
        Ok(id)
    }

    /// Keeps the snapshot of ring `id`, taken after the ring was logged.
    pub fn attach(&mut self, id: u64, jpeg: &[u8]) -> Result<(), VisitorLogError> {
        if jpeg.len() > MAX_SNAPSHOT_BYTES || !self.visits.iter().any(|v| v.id == id) {
            return Ok(());
        }
        self.store(id, jpeg)?;
        if let Some(v) = self.visits.iter_mut().find(|v| v.id == id) {
            v.bytes = jpeg.len() as u64;
        }
        self.enforce_caps();
        self.save_index(Wait::No);
        Ok(())
    }

    /// Records how ring `id` ended.
    pub fn set_outcome(&mut self, id: u64, outcome: Outcome) -> Result<(), VisitorLogError> {
        if let Some(v) = self.visits.iter_mut().find(|v| v.id == id) {
            v.outcome = outcome;
            self.save_index(Wait::No);
        }
        Ok(())
    }

    /// Newest first.
    pub fn list(&self) -> Vec<Visit> {
        self.visits.iter().rev().cloned().collect()
    }

    /// One ring's snapshot.
    pub fn snapshot(&self, id: u64) -> Option<Vec<u8>> {
        self.visits.iter().find(|v| v.id == id && v.bytes > 0)?;
        match &self.dir {
            Some(dir) => std::fs::read(dir.join(file_name(id))).ok(),
            None => self.memory.get(&id).cloned(),
        }
    }

    /// Deletes one ring; false when there is none with that id.
    pub fn delete(&mut self, id: u64) -> Result<bool, VisitorLogError> {
        let Some(at) = self.visits.iter().position(|v| v.id == id) else {
            return Ok(false);
        };
        self.visits.remove(at);
        self.forget(id);
        self.save_index(Wait::No);
        Ok(true)
    }

    /// Keeps ring `id`'s snapshot: a file readable by the service only, or in memory.
    fn store(&mut self, id: u64, jpeg: &[u8]) -> Result<(), VisitorLogError> {
        match &self.dir {
            Some(dir) => {
                let path = dir.join(file_name(id));
                crate::base::durable::write_private(&path, jpeg).map_err(|source| VisitorLogError { path, source })
            }
            None => {
                self.memory.insert(id, jpeg.to_vec());
                Ok(())
            }
        }
    }

    fn enforce_caps(&mut self) {
        loop {
            let bytes: u64 = self.visits.iter().map(|v| v.bytes).sum();
            if self.visits.len() <= self.max_count && bytes <= self.max_bytes {
                return;
            }
            match self.visits.pop_front() {
                Some(oldest) => self.forget(oldest.id),
                None => return,
            }
        }
    }

    fn forget(&mut self, id: u64) {
        self.memory.remove(&id);
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_file(dir.join(file_name(id)));
        }
    }

    /// Has the index written on the writer's thread (a failure is logged there), and
    /// waits for it when asked to.
    fn save_index(&self, wait: Wait) {
        let Some(index) = &self.index else { return };
        let list: Vec<&Visit> = self.visits.iter().collect();
        match serde_json::to_vec(&list) {
            Ok(bytes) if wait == Wait::UntilOnDisk => {
                index.save_now(bytes);
            }
            Ok(bytes) => index.save(bytes, None),
            Err(e) => tracing::warn!(error = %e, "cannot encode the visitor log"),
        }
    }

    /// Waits until the index on disk holds every change so far.
    #[cfg(test)]
    fn flush(&self) {
        if let Some(index) = &self.index {
            index.flush();
        }
    }
}

fn file_name(id: u64) -> String {
    format!("{id:08}.jpg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_within_the_caps_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path().join("visitors"));
        let mut log = VisitorLog::open(d.clone(), 3, 1000);
        for i in 0..4u64 {
            log.add(100 + i, Direction::Incoming, "Door", &[i as u8; 100]).unwrap();
        }
        let ids: Vec<u64> = log.list().iter().map(|v| v.id).collect();
        assert_eq!(ids, vec![4, 3, 2], "newest first, the oldest deleted");
        assert!(!dir.path().join("visitors/00000001.jpg").exists());
        log.set_outcome(4, Outcome::Answered).unwrap();
        // Bytes: a big one pushes out older ones until the rest fit (1000 bytes).
        log.add(200, Direction::Outgoing, "Hall", &[9; 900]).unwrap();
        assert_eq!(log.list().iter().map(|v| v.id).collect::<Vec<_>>(), vec![5, 4]);
        log.flush();
        let again = VisitorLog::open(d, 3, 1000);
        assert_eq!(again.list(), log.list());
        assert_eq!(again.snapshot(5).unwrap().len(), 900);
    }

    #[test]
    fn a_ring_without_its_picture_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path().join("visitors"));
        let mut log = VisitorLog::open(d.clone(), 10, 10_000);
        let bare = log.add(1, Direction::Incoming, "Door", &[]).unwrap();
        let pictured = log.add(2, Direction::Incoming, "Door", b"jpeg").unwrap();
        log.flush();
        // A power cut took the snapshot's file but not the index.
        std::fs::remove_file(dir.path().join("visitors").join(file_name(pictured))).unwrap();
        let again = VisitorLog::open(d, 10, 10_000);
        let ids: Vec<u64> = again.list().iter().map(|v| v.id).collect();
        assert_eq!(ids, vec![pictured, bare]);
        assert!(again.snapshot(pictured).is_none() && again.snapshot(bare).is_none());
        assert_eq!(again.list()[0].bytes, 0);
    }

    #[test]
    fn deletes_one_and_says_when_there_is_none() {
        let mut log = VisitorLog::open(None, 10, 10_000);
        let id = log.add(1, Direction::Outgoing, "Hall", b"jpeg").unwrap();
        assert_eq!(log.snapshot(id).unwrap(), b"jpeg");
        assert!(log.delete(id).unwrap());
        assert!(!log.delete(id).unwrap());
        assert!(log.snapshot(id).is_none());
    }
}
