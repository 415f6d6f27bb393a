//! Files that survive a power cut: [`replace_file`] swaps a file whole and returns once
//! it is on disk, and [`BackgroundWriter`] does the same on a thread of its own, so the
//! station's loop never waits for a slow card's flush (an SD card can take seconds)
//! while whoever needs the data on disk first (a text acknowledged to its sender) is
//! told once it is.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use tracing::warn;

/// Replaces `path` with `bytes`, readable by the service only (mode 0600). See
/// [`replace_file`].
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace_file(path, bytes, 0o600)
}

/// Replaces `path` with `bytes`, with permissions `mode`: written to a file beside it
/// (made with only the owner's part of `mode`, so never readable by others for a
/// moment), synced, renamed over it, and the directory synced. A power cut leaves the
/// old file or the new one, never half of one, and once this returns the new one
/// survives. Creates the directory if needed.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    // A temporary file a crash left behind is not ours to append to.
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o700)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    sync_directory_of(path)
}

/// Syncs the directory holding `path`: a rename is on disk only once its directory is.
pub fn sync_directory_of(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => std::fs::File::open(".")?.sync_all(),
    }
}

/// Told once a save is done: whether the data is on disk.
pub type Saved = Box<dyn FnOnce(bool) + Send>;

/// How a [`BackgroundWriter`] writes its file.
pub type WriteFile = fn(&Path, &[u8]) -> std::io::Result<()>;

/// Saves one file on a thread of its own. Saves that arrive while one is being written
/// are folded into one: only the newest content is written next, and everyone waiting
/// on the folded saves is told when it is on disk. Dropping the writer writes what is
/// still pending before it returns.
pub struct BackgroundWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    pending: Mutex<Pending>,
    changed: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Option<Vec<u8>>,
    waiting: Vec<Saved>,
    /// A save is being written now.
    writing: bool,
    closing: bool,
}

impl BackgroundWriter {
    /// A writer for `path`, readable by the service only ([`write_private`]).
    pub fn private(path: PathBuf) -> BackgroundWriter {
        BackgroundWriter::new(path, write_private)
    }

    /// A writer for `path` that writes with `write`.
    pub fn new(path: PathBuf, write: WriteFile) -> BackgroundWriter {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            changed: Condvar::new(),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("file writer".into())
            .spawn(move || worker.run(&path, write))
            .map_err(|e| warn!(error = %e, "cannot start the file writer; saves will be lost"))
            .ok();
        BackgroundWriter { shared, thread }
    }

    /// Saves `bytes` in place of what the file held; `then` (if any) is told once they
    /// (or newer bytes) are on disk, or the write failed. Returns at once.
    pub fn save(&self, bytes: Vec<u8>, then: Option<Saved>) {
        let mut pending = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.bytes = Some(bytes);
        pending.waiting.extend(then);
        self.shared.changed.notify_all();
    }

    /// Saves `bytes` and returns once they are on disk: whether they are. For what must
    /// be on disk before the caller goes on; it still writes in turn with the other
    /// saves, so an older one never lands over it.
    pub fn save_now(&self, bytes: Vec<u8>) -> bool {
        let (told, heard) = std::sync::mpsc::channel();
        self.save(bytes, Some(Box::new(move |saved| told.send(saved).unwrap_or(()))));
        heard.recv().unwrap_or(false)
    }

    /// Waits until every save so far is on disk (or failed).
    pub fn flush(&self) {
        let mut pending = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        while pending.bytes.is_some() || pending.writing {
            pending = self.shared.changed.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Shared {
    fn run(&self, path: &Path, write: WriteFile) {
        loop {
            let (bytes, waiting) = {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                while pending.bytes.is_none() && !pending.closing {
                    pending = self.changed.wait(pending).unwrap_or_else(|e| e.into_inner());
                }
                let Some(bytes) = pending.bytes.take() else { return };
                pending.writing = true;
                (bytes, std::mem::take(&mut pending.waiting))
            };
            let saved = match write(path, &bytes) {
                Ok(()) => true,
                Err(e) => {
                    warn!(file = %path.display(), error = %e, "cannot save the file; what it holds stays in memory");
                    false
                }
            };
            waiting.into_iter().for_each(|told| told(saved));
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).writing = false;
            self.changed.notify_all();
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.shared.pending.lock().unwrap_or_else(|e| e.into_inner()).closing = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for BackgroundWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackgroundWriter")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_save_is_on_disk_when_its_sender_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.json");
        let writer = BackgroundWriter::private(path.clone());
        let (told, heard) = mpsc::channel();
        let seen = path.clone();
        writer.save(
            b"[1]".to_vec(),
            Some(Box::new(move |saved| {
                told.send((saved, std::fs::read(&seen).unwrap())).unwrap()
            })),
        );
        assert_eq!(heard.recv().unwrap(), (true, b"[1]".to_vec()));
    }

    /// A write that does not return until the test lets it: the station's side of the
    /// writer must not wait for it.
    static GATE: Mutex<Option<mpsc::Receiver<()>>> = Mutex::new(None);
    fn gated_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(gate) = GATE.lock().unwrap().as_ref() {
            gate.recv().ok();
        }
        std::fs::write(path, bytes)
    }

    #[test]
    fn saves_during_a_slow_write_return_at_once_and_are_folded_into_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.json");
        let (open, gate) = mpsc::channel();
        *GATE.lock().unwrap() = Some(gate);
        let writer = BackgroundWriter::new(path.clone(), gated_write);
        let (told, heard) = mpsc::channel();
        for n in 1..=3 {
            let told = told.clone();
            // Each returns while the first write is held at the gate.
            writer.save(
                format!("[{n}]").into_bytes(),
                Some(Box::new(move |saved| told.send((n, saved)).unwrap())),
            );
        }
        assert!(heard.try_recv().is_err(), "nobody is told before the write is done");
        open.send(()).unwrap();
        open.send(()).unwrap();
        let mut told: Vec<_> = (0..3).map(|_| heard.recv().unwrap()).collect();
        told.sort();
        assert_eq!(told, [(1, true), (2, true), (3, true)]);
        writer.flush();
        assert_eq!(std::fs::read(&path).unwrap(), b"[3]");
        *GATE.lock().unwrap() = None;
    }

    #[test]
    fn a_save_now_is_on_disk_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.json");
        let writer = BackgroundWriter::private(path.clone());
        writer.save(b"[1]".to_vec(), None);
        assert!(writer.save_now(b"[1,2]".to_vec()));
        assert_eq!(std::fs::read(&path).unwrap(), b"[1,2]");
    }

    #[test]
    fn dropping_the_writer_writes_what_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.json");
        let writer = BackgroundWriter::private(path.clone());
        writer.save(b"[1]".to_vec(), None);
        writer.save(b"[1,2]".to_vec(), None);
        drop(writer);
        assert_eq!(std::fs::read(&path).unwrap(), b"[1,2]");
    }

    #[test]
    fn a_failed_write_is_reported_to_whoever_waits() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: the rename fails.
        let path = dir.path().join("taken");
        std::fs::create_dir_all(path.join("inside")).unwrap();
        let writer = BackgroundWriter::private(path);
        let (told, heard) = mpsc::channel();
        writer.save(b"x".to_vec(), Some(Box::new(move |saved| told.send(saved).unwrap())));
        assert!(!heard.recv().unwrap());
    }
}
