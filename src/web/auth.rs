//! Who may use the web page, without I/O or clocks of its own (times are passed in):
//! the one-time setup code shown on the station's screen, the password's hash, login
//! sessions with their CSRF tokens, and the limit on wrong guesses.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Wrong guesses (password or setup code) one address may make in [`GUESS_WINDOW`];
/// the next is refused without being checked.
pub const GUESSES_PER_ADDRESS: usize = 5;
/// Wrong guesses from all addresses together in [`GUESS_WINDOW`] (many addresses
/// guessing at once).
pub const GUESSES_IN_ALL: usize = 30;
/// The window the guess limits count in.
pub const GUESS_WINDOW: Duration = Duration::from_secs(60);
/// Sessions kept at once; the least recently used goes first.
pub const MAX_SESSIONS: usize = 32;
/// A session unused this long is over.
pub const SESSION_IDLE: Duration = Duration::from_secs(14 * 24 * 3600);
/// Addresses whose guesses are tracked at once (a stranger with many addresses cannot
/// grow the table without bound; the overall limit still holds).
const TRACKED_ADDRESSES: usize = 256;

/// A logged-in browser.
#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    /// The password hash the session logged in with: a new password ends it.
    hash: String,
    last_seen: Instant,
}

/// What a request's session cookie is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The token every change must carry in its `X-CSRF-Token` header.
    pub csrf: String,
}

/// The answer to a guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guess {
    /// Right: the new session's cookie token and its CSRF token.
    Right {
        /// Session cookie value.
        token: String,
        /// CSRF token.
        csrf: String,
    },
    /// Wrong (and counted).
    Wrong,
    /// Too many wrong guesses lately: not checked.
    TooMany,
    /// Setup asked for, but a password is already set (or the other way round).
    NotNow,
}

/// Where the hash lives.
#[derive(Debug)]
enum Store {
    /// `web-password` in the state directory (shared with `doorway web-password`).
    Dir(PathBuf),
    /// In memory (stations with ephemeral state: the demo and tests).
    Memory(Option<String>),
}

/// The web page's access state.
#[derive(Debug)]
pub struct Auth {
    store: Store,
    setup_code: Option<String>,
    sessions: HashMap<String, Session>,
    wrong_by_address: HashMap<IpAddr, VecDeque<Instant>>,
    wrong_in_all: VecDeque<Instant>,
}

impl Auth {
    /// Access kept in `state_dir`, or in memory when `None`.
    pub fn new(state_dir: Option<PathBuf>) -> Self {
        Self {
            store: match state_dir {
                Some(dir) => Store::Dir(dir),
                None => Store::Memory(None),
            },
            setup_code: None,
            sessions: HashMap::new(),
            wrong_by_address: HashMap::new(),
            wrong_in_all: VecDeque::new(),
        }
    }

    /// The stored password hash, read afresh (the console may have changed it). With no
    /// password set a setup code is made, to be shown on the station's screen.
    pub fn password_hash(&mut self) -> Option<String> {
        let hash = match &self.store {
            Store::Memory(h) => h.clone(),
            Store::Dir(dir) => match super::password::load(dir) {
                Ok(h) => h,
                Err(e) => {
                    // Nobody gets in until the file is readable; the code is not offered
                    // either, or a stranger at the screen could replace a password.
                    tracing::warn!(error = %e, "cannot read the web password file; web logins refused");
                    self.setup_code = None;
                    return Some(String::new());
                }
            },
        };
        match &hash {
            Some(_) => self.setup_code = None,
            None if self.setup_code.is_none() => {
                let n: u32 = rand::random_range(0..100_000_000);
                self.setup_code = Some(format!("{:04}-{:04}", n / 10_000, n % 10_000));
            }
            None => {}
        }
        hash
    }

    /// The one-time code for the first visit, while no password is set.
    pub fn setup_code(&mut self) -> Option<String> {
        self.password_hash();
        self.setup_code.clone()
    }

    /// Whether `from` may guess now.
    pub fn may_guess(&mut self, from: IpAddr, now: Instant) -> bool {
        self.forget_old_guesses(now);
        let mine = self.wrong_by_address.get(&from).map_or(0, VecDeque::len);
        mine < GUESSES_PER_ADDRESS && self.wrong_in_all.len() < GUESSES_IN_ALL
    }

    /// Counts a wrong guess from `from`.
    pub fn wrong_guess(&mut self, from: IpAddr, now: Instant) {
        self.forget_old_guesses(now);
        if !self.wrong_by_address.contains_key(&from) && self.wrong_by_address.len() >= TRACKED_ADDRESSES {
            return; // the overall count below still limits them
        }
        self.wrong_by_address.entry(from).or_default().push_back(now);
        self.wrong_in_all.push_back(now);
    }

    fn forget_old_guesses(&mut self, now: Instant) {
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < GUESS_WINDOW;
        while self.wrong_in_all.front().is_some_and(|t| !fresh(t)) {
            self.wrong_in_all.pop_front();
        }
        self.wrong_by_address.retain(|_, times| {
            while times.front().is_some_and(|t| !fresh(t)) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    /// The result of checking a password (the caller runs the slow hash check outside
    /// any lock): a session when right.
    pub fn login_checked(&mut self, from: IpAddr, hash: &str, right: bool, now: Instant) -> Guess {
        if !right {
            self.wrong_guess(from, now);
            return Guess::Wrong;
        }
        // The password may have changed while the hash was checked.
        if self.password_hash().as_deref() != Some(hash) {
            return Guess::Wrong;
        }
        self.open_session(hash.to_string(), now)
    }

    /// First visit: the code from the screen, and the new password's hash (made by the
    /// caller). Sets the password and opens a session when the code is right.
    pub fn set_up(
        &mut self,
        from: IpAddr,
        code: &str,
        new_hash: String,
        now: Instant,
    ) -> Result<Guess, std::io::Error> {
        if !self.may_guess(from, now) {
            return Ok(Guess::TooMany);
        }
        if self.password_hash().is_some() {
            return Ok(Guess::NotNow);
        }
        let wanted = self.setup_code.clone().unwrap_or_default();
        let given: String = code.chars().filter(char::is_ascii_digit).collect();
        let wanted_digits: String = wanted.chars().filter(char::is_ascii_digit).collect();
        if wanted_digits.is_empty() || !same(given.as_bytes(), wanted_digits.as_bytes()) {
            self.wrong_guess(from, now);
            return Ok(Guess::Wrong);
        }
        match &mut self.store {
            Store::Memory(h) => *h = Some(new_hash.clone()),
            Store::Dir(dir) => {
                crate::security::write_private(&super::password::path(dir), format!("{new_hash}\n").as_bytes())?
            }
        }
        self.setup_code = None;
        Ok(self.open_session(new_hash, now))
    }

    fn open_session(&mut self, hash: String, now: Instant) -> Guess {
        while self.sessions.len() >= MAX_SESSIONS {
            let Some(oldest) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.sessions.remove(&oldest);
        }
        let token = random_token();
        let csrf = random_token();
        self.sessions.insert(
            token.clone(),
            Session {
                csrf: csrf.clone(),
                hash,
                last_seen: now,
            },
        );
        Guess::Right { token, csrf }
    }

    /// The session behind a cookie token, if it is still good.
    pub fn session(&mut self, token: &str, now: Instant) -> Option<SessionView> {
        let current = self.password_hash();
        let session = self.sessions.get_mut(token)?;
        let stale = now.saturating_duration_since(session.last_seen) >= SESSION_IDLE;
        if stale || current.as_deref() != Some(session.hash.as_str()) {
            self.sessions.remove(token);
            return None;
        }
        session.last_seen = now;
        Some(SessionView {
            csrf: session.csrf.clone(),
        })
    }

    /// Ends a session.
    pub fn log_out(&mut self, token: &str) {
        self.sessions.remove(token);
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }
}

/// Compares without an early exit, so the time taken does not tell how much matched.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
