//! Secrets taken out of log text: whatever a log line holds, a key, password, token or
//! cookie does not reach stderr, the journal or the web page's Log page.
//!
//! The station's own code keeps secrets out of its log lines (key types print
//! `<redacted>`, passwords are never formatted), but SDP bodies carry SDES keys, SIP
//! messages carry digest responses, and third-party crates print their own structs at
//! debug and trace. [`redact`] is the last step before any line is written: it knows the
//! shapes secrets take in text and replaces their values.

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::LazyLock;

/// What a hidden value becomes.
pub const HIDDEN: &str = "<redacted>";

/// Names whose values are secret, in any of the forms below (case-insensitive, as part
/// of a longer name too: `web_password`, `csrf_token`, `session_cookie`).
const SECRET_NAMES: &str =
    r"[a-z_\-]*(?:password|passwd|secret|token|csrf|cookie|nonce|authorization|credential)[a-z_\-]*";

/// One shape of secret in text and how its value is replaced.
struct Shape {
    pattern: Regex,
    /// The captured groups kept before and after the hidden value.
    keep: fn(&Captures) -> String,
}

static SHAPES: LazyLock<Vec<Shape>> = LazyLock::new(|| {
    let shape = |pattern: &str, keep: fn(&Captures) -> String| Shape {
        pattern: Regex::new(pattern).expect("a valid redaction pattern"),
        keep,
    };
    vec![
        // SDES keys in SDP: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY|2^31`.
        shape(r"(inline:)[A-Za-z0-9+/=]+", |c| format!("{}{HIDDEN}", &c[1])),
        // Header lines whose whole value is secret: HTTP cookies and authorization,
        // SIP's Authorization and Proxy-Authorization (the digest response).
        shape(
            r"(?im)^(\s*(?:set-cookie|cookie|authorization|proxy-authorization)\s*:\s*)[^\r\n]*",
            |c| format!("{}{HIDDEN}", &c[1]),
        ),
        // Quoted values, as Rust's Debug, JSON, TOML or a header parameter print them:
        // `password: "x"`, `password: Some("x")`, `"password":"x"`, `csrf_token = "x"`.
        shape(
            &format!(r#"(?i)\b({SECRET_NAMES})("?\s*[:=]\s*(?:Some\()?)"(?:[^"\\]|\\.)*""#),
            |c| format!("{}{}\"{HIDDEN}\"", &c[1], &c[2]),
        ),
        // Bare values, as tracing prints a field: `password=x`, `token: x`.
        shape(&format!(r#"(?i)\b({SECRET_NAMES})(=|:\s)[^\s",;}})\]"]+"#), |c| {
            format!("{}{}{HIDDEN}", &c[1], &c[2])
        }),
        // A digest response, also inside a SIP header that a struct's Debug printed with
        // its quotes escaped: `response=\"5f3c…\"`.
        shape(r#"(?i)\b(response\\?"?\s*=\s*\\?"?)[0-9a-f]{8,}"#, |c| {
            format!("{}{HIDDEN}", &c[1])
        }),
        // A private key in PEM.
        shape(
            r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            |c| format!("-----BEGIN {}PRIVATE KEY----- {HIDDEN}", &c[1]),
        ),
        // Password hashes wherever they appear.
        shape(r"\$argon2(?:id|i|d)\$[A-Za-z0-9+/=,$.\-]+", |_| HIDDEN.to_string()),
    ]
});

/// `text` with every secret value the shapes above recognise replaced by [`HIDDEN`].
/// Text without one is returned as it is, without a copy.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(text);
    for shape in SHAPES.iter() {
        if let Cow::Owned(changed) = shape.pattern.replace_all(&text, |c: &Captures| (shape.keep)(c)) {
            text = Cow::Owned(changed);
        }
    }
    text
}

/// A writer for tracing-subscriber's fmt layer that redacts each event before it is
/// written: it gathers the event's bytes and writes them, redacted, when dropped (the
/// fmt layer makes one writer per event).
pub struct RedactingWriter<W: std::io::Write> {
    inner: W,
    event: Vec<u8>,
}

impl<W: std::io::Write> RedactingWriter<W> {
    /// Redacts what is written and passes it on to `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            event: Vec::new(),
        }
    }
}

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.event.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.event.is_empty() {
            let event = std::mem::take(&mut self.event);
            let text = String::from_utf8_lossy(&event);
            self.inner.write_all(redact(&text).as_bytes())?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // A log line that cannot be written has nowhere to be reported.
        let _ = std::io::Write::flush(self);
    }
}

/// Wraps a fmt layer's writer maker so that every event it writes is redacted.
#[derive(Clone)]
pub struct Redacting<M>(pub M);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(self.0.make_writer())
    }
}

#[cfg(test)]
mod tests;
