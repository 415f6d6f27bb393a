//! The station's last text messages, both ways, kept in `messages.json` in the state
//! directory so a restart loses none. The file is the station's own; still, what it
//! holds is checked again when read, as a file from an older version could hold more.
//! The file is written on a thread of its own ([`BackgroundWriter`]): the station's loop
//! never waits for the disk.

use crate::api::TextMessage;
use crate::base::durable::{BackgroundWriter, Saved};
use crate::call::ua::text::{clean_text, MAX_TEXT};
use std::collections::VecDeque;
use std::path::Path;
use tracing::warn;

/// How many messages are kept.
pub const KEPT: usize = 20;
const FILE: &str = "messages.json";

/// The last [`KEPT`] messages, oldest first.
#[derive(Debug)]
pub struct MessageLog {
    file: Option<BackgroundWriter>,
    messages: VecDeque<TextMessage>,
}

impl MessageLog {
    /// A log that lives in memory only (the demo's stations).
    pub fn in_memory() -> MessageLog {
        MessageLog {
            file: None,
            messages: VecDeque::new(),
        }
    }

    /// Reads the log from `dir`. A file that cannot be read is set aside (renamed to
    /// `messages.json.unreadable`) and logged: the station starts with none rather than
    /// not at all, and the old file is still there to look at.
    pub fn load(dir: &Path) -> MessageLog {
        let path = dir.join(FILE);
        let messages = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Vec<TextMessage>>(&bytes) {
                Ok(list) => list
                    .into_iter()
                    .filter_map(|mut m| {
                        m.text = clean_text(&m.text);
                        m.peer = clean_text(&m.peer);
                        (!m.text.is_empty() && m.text.len() <= MAX_TEXT).then_some(m)
                    })
                    .collect::<VecDeque<_>>(),
                Err(e) => {
                    let aside = path.with_extension("json.unreadable");
                    warn!(file = %path.display(), error = %e, aside = %aside.display(), "messages file unreadable; set aside");
                    let _ = std::fs::rename(&path, &aside);
                    VecDeque::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => VecDeque::new(),
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot read the messages file");
                VecDeque::new()
            }
        };
        let mut log = MessageLog {
            file: Some(BackgroundWriter::private(path)),
            messages,
        };
        log.trim();
        log
    }

    fn trim(&mut self) {
        while self.messages.len() > KEPT {
            self.messages.pop_front();
        }
    }

    /// Adds a message and saves the log; `then` is told once the message is on disk (at
    /// once for a log in memory).
    pub fn push(&mut self, message: TextMessage, then: Option<Saved>) {
        self.messages.push_back(message);
        self.trim();
        self.save(then);
    }

    /// Everything kept, oldest first.
    pub fn all(&self) -> Vec<TextMessage> {
        self.messages.iter().cloned().collect()
    }

    /// The messages nobody has seen yet, oldest first.
    pub fn unread(&self) -> Vec<TextMessage> {
        self.messages.iter().filter(|m| m.unread).cloned().collect()
    }

    /// The newest messages, newest first, at most `n`.
    pub fn newest(&self, n: usize) -> Vec<TextMessage> {
        self.messages.iter().rev().take(n).cloned().collect()
    }

    /// Who wrote to us last: where a reply goes.
    pub fn last_sender(&self) -> Option<&str> {
        self.messages.iter().rev().find(|m| m.incoming).map(|m| m.peer.as_str())
    }

    /// Someone is at the station: every message counts as read.
    pub fn mark_read(&mut self) {
        if self.messages.iter().any(|m| m.unread) {
            self.messages.iter_mut().for_each(|m| m.unread = false);
            self.save(None);
        }
    }

    /// Has the file written: a new file renamed over the old one, readable by the
    /// service only (messages are private). A failure is logged; the messages stay in
    /// memory.
    fn save(&self, then: Option<Saved>) {
        let Some(file) = &self.file else {
            return then.into_iter().for_each(|told| told(true));
        };
        let list: Vec<&TextMessage> = self.messages.iter().collect();
        match serde_json::to_vec_pretty(&list) {
            Ok(text) => file.save(text, then),
            Err(e) => {
                warn!(error = %e, "cannot encode the messages");
                then.into_iter().for_each(|told| told(false));
            }
        }
    }

    /// Waits until every change so far is on disk.
    #[cfg(test)]
    pub fn flush(&self) {
        if let Some(file) = &self.file {
            file.flush();
        }
    }
}

/// Seconds since 1970 now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: usize, incoming: bool) -> TextMessage {
        TextMessage {
            at: n as u64,
            peer: if incoming { "Kitchen".into() } else { "Office".into() },
            incoming,
            text: format!("message {n}"),
            unread: incoming,
        }
    }

    #[test]
    fn keeps_the_last_twenty_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MessageLog::load(dir.path());
        for n in 0..25 {
            log.push(message(n, n % 2 == 0), None);
        }
        log.flush();
        let again = MessageLog::load(dir.path());
        assert_eq!(again.all().len(), KEPT);
        assert_eq!(again.all()[0].text, "message 5");
        assert_eq!(again.newest(1)[0].text, "message 24");
        assert_eq!(again.last_sender(), Some("Kitchen"));
        assert_eq!(again.unread().len(), 10);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn read_messages_stay_read_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MessageLog::load(dir.path());
        log.push(message(1, true), None);
        log.mark_read();
        log.flush();
        assert!(MessageLog::load(dir.path()).unread().is_empty());
    }

    #[test]
    fn an_unreadable_file_is_set_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        let mut log = MessageLog::load(dir.path());
        assert!(log.all().is_empty());
        assert_eq!(
            std::fs::read(dir.path().join("messages.json.unreadable")).unwrap(),
            b"{not json"
        );
        let (told, heard) = std::sync::mpsc::channel();
        log.push(message(1, true), Some(Box::new(move |saved| told.send(saved).unwrap())));
        assert!(heard.recv().unwrap(), "told once it is on disk");
        assert_eq!(MessageLog::load(dir.path()).all().len(), 1);
    }

    #[test]
    fn what_a_file_holds_is_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(MAX_TEXT + 1);
        let text = format!(
            r#"[{{"at":1,"peer":"K\u001b[2J","incoming":true,"text":"hi\nthere"}},{{"at":2,"peer":"K","incoming":true,"text":"{long}"}}]"#
        );
        std::fs::write(dir.path().join(FILE), text).unwrap();
        let log = MessageLog::load(dir.path());
        let all = log.all();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].text, "hi there");
        assert_eq!(all[0].peer, "K[2J");
    }
}
