//! SIP over a stream (TCP, TLS): where one message ends and the next begins.
//!
//! RFC 3261 section 18.3 frames each message on a stream by its Content-Length. Here
//! the bytes of a connection are cut into messages before anything parses them, so
//! that each can get the same first look as a datagram ([`super::check`]). Framing is
//! lost, and the connection must close, when the head does not end within
//! [`MAX_MESSAGE`], when its Content-Length cannot be read, or when a message would be
//! larger than [`MAX_MESSAGE`]. Keep-alive pings (a CRLFCRLF between messages, RFC 5626
//! section 3.5.1) are passed on; a lone CRLF between messages is ignored (RFC 3261
//! section 7.5).

/// The largest message accepted on a stream, head and body.
pub const MAX_MESSAGE: usize = 65_535;

/// What comes next on the stream.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// One whole message.
    Message(Vec<u8>),
    /// A keep-alive ping (CRLFCRLF).
    Ping,
}

/// Framing is lost: nothing after this point can be read as messages.
#[derive(Debug, PartialEq)]
pub struct Lost {
    /// Why, for the log and the answer.
    pub why: &'static str,
    /// The head of the message that broke framing, when it was complete: enough to
    /// answer it.
    pub head: Option<Vec<u8>>,
}

/// Cuts a stream's bytes into messages.
#[derive(Debug, Default)]
pub struct Framer {
    buffered: Vec<u8>,
    /// How far the search for the head's end has looked without finding it: a peer
    /// that sends a byte at a time costs one pass over the head, not one per byte.
    searched: usize,
    /// The length of the message being read, once its head is complete (0: a ping).
    message_len: Option<usize>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The body length a head declares: None when it declares none.
fn declared_length(head: &[u8]) -> Result<Option<usize>, &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "the head is not UTF-8")?;
    let mut length = None;
    let mut has_type = false;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if line.starts_with([' ', '\t']) {
            continue; // A folded continuation of the previous header.
        }
        let name = name.trim().to_ascii_lowercase();
        if name == "content-type" || name == "c" {
            has_type = true;
        }
        if name != "content-length" && name != "l" {
            continue;
        }
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err("Content-Length is not a number");
        }
        let n: usize = value.parse().map_err(|_| "Content-Length is too large")?;
        match length {
            Some(before) if before != n => return Err("Content-Length is given twice, differently"),
            _ => length = Some(n),
        }
    }
    if length.is_none() && has_type {
        return Err("a body without Content-Length on a stream");
    }
    Ok(length)
}

impl Framer {
    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffered.extend_from_slice(bytes);
    }

    /// Bytes held for a message not yet complete.
    pub fn pending(&self) -> usize {
        self.buffered.len()
    }

    /// The next frame, None until more bytes arrive, or why framing is lost (the
    /// buffered bytes are dropped then).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, Lost> {
        let total = match self.message_len {
            Some(total) => total,
            None => match self.read_head()? {
                Some(total) => total,
                None => return Ok(None),
            },
        };
        if total == 0 {
            self.buffered.drain(..4);
            self.message_len = None;
            return Ok(Some(Frame::Ping));
        }
        if self.buffered.len() < total {
            return Ok(None);
        }
        let rest = self.buffered.split_off(total);
        self.searched = 0;
        self.message_len = None;
        Ok(Some(Frame::Message(std::mem::replace(&mut self.buffered, rest))))
    }

    /// At a message boundary: skips stray CRLFs and finds how long the next message is
    /// (0 for a ping), once its head is complete.
    fn read_head(&mut self) -> Result<Option<usize>, Lost> {
        while self.searched == 0 && self.buffered.starts_with(b"\r\n") {
            if self.buffered.starts_with(b"\r\n\r\n") {
                return Ok(Some(0));
            }
            // "\r\n", "\r\n\r": perhaps the start of a ping.
            if self.buffered.len() < 4 && b"\r\n\r\n".starts_with(&self.buffered) {
                return Ok(None);
            }
            self.buffered.drain(..2);
        }
        let from = self.searched.saturating_sub(3);
        let Some(head_end) = find(&self.buffered[from..], b"\r\n\r\n").map(|i| from + i + 4) else {
            if self.buffered.len() > MAX_MESSAGE {
                return Err(self.lose("the head does not end within 64 KiB", None));
            }
            // A lone "\r" may still become a ping: search it again then.
            if !b"\r\n\r\n".starts_with(&self.buffered) {
                self.searched = self.buffered.len();
            }
            return Ok(None);
        };
        let body = match declared_length(&self.buffered[..head_end]) {
            Ok(n) => n.unwrap_or(0),
            Err(why) => {
                let head = self.buffered[..head_end].to_vec();
                return Err(self.lose(why, Some(head)));
            }
        };
        let total = head_end.saturating_add(body);
        if total > MAX_MESSAGE {
            let head = self.buffered[..head_end].to_vec();
            return Err(self.lose("a message larger than 64 KiB", Some(head)));
        }
        self.message_len = Some(total);
        Ok(Some(total))
    }

    /// The stream ended: a message left unfinished is lost (with its head, when whole).
    pub fn finish(&mut self) -> Option<Lost> {
        let rest = std::mem::take(&mut self.buffered);
        self.searched = 0;
        self.message_len = None;
        if rest.iter().all(|b| *b == b'\r' || *b == b'\n') {
            return None;
        }
        let head = find(&rest, b"\r\n\r\n").map(|i| rest[..i + 4].to_vec());
        Some(Lost {
            why: "the stream ended inside a message",
            head,
        })
    }

    fn lose(&mut self, why: &'static str, head: Option<Vec<u8>>) -> Lost {
        self.buffered = Vec::new();
        self.searched = 0;
        self.message_len = None;
        Lost { why, head }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKx\r\n\
From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\n";

    fn with_body(body: &str) -> String {
        format!(
            "{OPTIONS}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn frames(framer: &mut Framer) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(f) = framer.next_frame().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn messages_split_anywhere_come_out_whole_and_in_order() {
        let stream = format!("\r\n{}\r\n\r\n{}", with_body("hello"), with_body("second body"));
        for cut in 0..stream.len() {
            let mut framer = Framer::default();
            framer.push(&stream.as_bytes()[..cut]);
            let mut got = frames(&mut framer);
            framer.push(&stream.as_bytes()[cut..]);
            got.extend(frames(&mut framer));
            assert_eq!(
                got,
                vec![
                    Frame::Message(with_body("hello").into_bytes()),
                    Frame::Ping,
                    Frame::Message(with_body("second body").into_bytes())
                ],
                "cut at {cut}"
            );
            assert_eq!(framer.finish(), None);
        }
    }

    #[test]
    fn a_missing_length_means_no_body_unless_there_is_a_content_type() {
        let mut framer = Framer::default();
        framer.push(format!("{OPTIONS}\r\n").as_bytes());
        assert_eq!(
            frames(&mut framer),
            vec![Frame::Message(format!("{OPTIONS}\r\n").into_bytes())]
        );
        framer.push(format!("{OPTIONS}Content-Type: text/plain\r\n\r\nbody").as_bytes());
        let lost = framer.next_frame().unwrap_err();
        assert_eq!(lost.why, "a body without Content-Length on a stream");
        assert!(lost.head.unwrap().starts_with(b"OPTIONS"));
        assert_eq!(framer.pending(), 0);
    }

    #[test]
    fn unreadable_or_oversized_lengths_lose_framing_with_the_head() {
        for (header, why) in [
            ("Content-Length: -999\r\n", "Content-Length is not a number"),
            (
                "Content-Length: 0\r\nl: 4\r\n",
                "Content-Length is given twice, differently",
            ),
            (
                "Content-Length: 99999999999999999999999\r\n",
                "Content-Length is too large",
            ),
            ("Content-Length: 70000\r\n", "a message larger than 64 KiB"),
        ] {
            let mut framer = Framer::default();
            framer.push(format!("{OPTIONS}{header}\r\n").as_bytes());
            let lost = framer.next_frame().unwrap_err();
            assert_eq!(lost.why, why);
            assert!(lost.head.is_some());
        }
        let mut framer = Framer::default();
        framer.push(&vec![b'a'; MAX_MESSAGE + 1]);
        assert_eq!(framer.next_frame().unwrap_err().head, None);
    }

    #[test]
    fn an_unfinished_message_at_the_end_is_lost() {
        let mut framer = Framer::default();
        let message = with_body("hello");
        framer.push(&message.as_bytes()[..message.len() - 2]);
        assert_eq!(framer.next_frame(), Ok(None));
        let lost = framer.finish().unwrap();
        assert!(lost.head.is_some_and(|h| h.ends_with(b"\r\n\r\n")));
    }
}
