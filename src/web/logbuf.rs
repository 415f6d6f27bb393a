//! The last log lines, kept in memory for the web page's Log page: a writer for
//! tracing-subscriber's fmt layer that keeps at most [`KEPT_LINES`] lines of at most
//! [`LINE_BYTES`] bytes each.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

/// Lines kept.
pub const KEPT_LINES: usize = 500;
/// A longer line is cut here.
pub const LINE_BYTES: usize = 2048;

/// The shared buffer of lines.
#[derive(Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<VecDeque<String>>>,
}

/// The process's buffer, filled once `main` installs [`LogBuffer::global`] as a writer.
pub fn global() -> &'static LogBuffer {
    static BUFFER: OnceLock<LogBuffer> = OnceLock::new();
    BUFFER.get_or_init(LogBuffer::default)
}

impl LogBuffer {
    /// Keeps one formatted event (which may span lines).
    pub fn push(&self, text: &str) {
        let mut lines = self.lines.lock().unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut end = line.len().min(LINE_BYTES);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            if lines.len() >= KEPT_LINES {
                lines.pop_front();
            }
            lines.push_back(line[..end].to_string());
        }
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().iter().cloned().collect()
    }
}

/// One event's bytes on their way into the buffer.
pub struct LineWriter {
    buffer: LogBuffer,
    bytes: Vec<u8>,
}

impl std::io::Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() < LINE_BYTES * 4 {
            self.bytes.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.buffer.push(&String::from_utf8_lossy(&self.bytes));
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            buffer: self.clone(),
            bytes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_cut_to_size() {
        let b = LogBuffer::default();
        for i in 0..KEPT_LINES + 3 {
            b.push(&format!("line {i}\n"));
        }
        let lines = b.lines();
        assert_eq!(lines.len(), KEPT_LINES);
        assert_eq!(lines[0], "line 3");
        b.push(&"é".repeat(LINE_BYTES));
        assert!(b.lines().last().unwrap().len() <= LINE_BYTES);
    }
}
