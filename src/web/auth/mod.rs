//! Who may use the web page, without I/O or clocks of its own (times are passed in):
//! the one-time setup code shown on the station's screen, the password's hash, login
//! sessions with their CSRF tokens, and the limits on guesses ([`super::guesses`]).
//!
//! A guess goes in two steps: `begin_*` counts it and hands back the [`Attempt`] (or
//! refuses it without any work), the caller makes the slow hash outside any lock, and
//! `*_checked` / `finish_*` settle it.

use super::guesses::Guesses;
pub use super::guesses::{Attempt, Refusal, GUESSES_IN_ALL, GUESSES_PER_ADDRESS, GUESS_WINDOW};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Sessions kept at once; the least recently used goes first.
pub const MAX_SESSIONS: usize = 32;
/// A session unused this long is over.
pub const SESSION_IDLE: Duration = Duration::from_secs(14 * 24 * 3600);

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
    /// Too many wrong guesses from this address lately: not checked.
    TooMany,
    /// Too many wrong guesses from everywhere: only the unlock code on the station's
    /// screen gets a guess checked.
    LockedOut,
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
    guesses: Guesses,
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
            guesses: Guesses::default(),
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

    /// The code the station's screen shows while the page is locked by many wrong
    /// guesses (see [`super::guesses`]).
    pub fn unlock_code(&mut self, now: Instant) -> Option<String> {
        self.guesses.unlock_code(now)
    }

    fn refused(refusal: Refusal) -> Guess {
        match refusal {
            Refusal::TooMany => Guess::TooMany,
            Refusal::LockedOut => Guess::LockedOut,
        }
    }

    /// A login from `from` (with the screen's unlock code, if typed): the attempt and the
    /// hash to check the password against, or the answer when it is not checked.
    pub fn begin_login(
        &mut self,
        from: IpAddr,
        unlock: Option<&str>,
        now: Instant,
    ) -> Result<(Attempt, String), Guess> {
        let Some(hash) = self.password_hash() else {
            return Err(Guess::NotNow);
        };
        let attempt = self.guesses.begin(from, unlock, now).map_err(Self::refused)?;
        Ok((attempt, hash))
    }

    /// A guess that was let through but could not be checked now: it counts against
    /// nobody.
    pub fn withdraw(&mut self, attempt: &Attempt) {
        self.guesses.withdraw(attempt);
    }

    /// The result of checking a login's password against `hash` (the caller made the
    /// slow check outside any lock): a session when right.
    pub fn login_checked(&mut self, attempt: Attempt, hash: &str, right: bool, now: Instant) -> Guess {
        if !right {
            return Guess::Wrong;
        }
        self.guesses.forgive(&attempt);
        // The password may have changed while the hash was checked.
        if self.password_hash().as_deref() != Some(hash) {
            return Guess::Wrong;
        }
        self.open_session(hash.to_string(), now)
    }

    /// First visit: checks the code from the screen (the setup code, or the unlock code
    /// while the page is locked). Right: the caller hashes the new password and calls
    /// [`Auth::finish_setup`]. Nothing is hashed for a wrong code.
    pub fn begin_setup(&mut self, from: IpAddr, code: &str, now: Instant) -> Result<(), Guess> {
        if self.password_hash().is_some() {
            return Err(Guess::NotNow);
        }
        let attempt = self.guesses.begin(from, Some(code), now).map_err(Self::refused)?;
        let wanted = self.setup_code.clone().unwrap_or_default();
        if !attempt.unlocked && !super::guesses::same_digits(&wanted, code) {
            return Err(Guess::Wrong);
        }
        self.guesses.forgive(&attempt);
        Ok(())
    }

    /// Sets the first password (its hash made by the caller after [`Auth::begin_setup`])
    /// and opens a session, unless a password was set meanwhile.
    pub fn finish_setup(&mut self, new_hash: String, now: Instant) -> Result<Guess, std::io::Error> {
        if self.password_hash().is_some() {
            return Ok(Guess::NotNow);
        }
        self.set_password(new_hash, now)
    }

    /// A change of password by a logged-in person who gave the current one (checked
    /// like a login, from [`Auth::begin_login`]): every session ends, and the one
    /// returned is the only one open.
    pub fn change_password(
        &mut self,
        attempt: Attempt,
        old_hash: &str,
        right: bool,
        new_hash: String,
        now: Instant,
    ) -> Result<Guess, std::io::Error> {
        if !right {
            return Ok(Guess::Wrong);
        }
        self.guesses.forgive(&attempt);
        if self.password_hash().as_deref() != Some(old_hash) {
            return Ok(Guess::Wrong);
        }
        self.set_password(new_hash, now)
    }

    fn set_password(&mut self, new_hash: String, now: Instant) -> Result<Guess, std::io::Error> {
        match &mut self.store {
            Store::Memory(h) => *h = Some(new_hash.clone()),
            Store::Dir(dir) => {
                crate::base::durable::write_private(&super::password::path(dir), format!("{new_hash}\n").as_bytes())?
            }
        }
        self.setup_code = None;
        // Sessions of the old password end (they hold its hash); close them now too.
        self.sessions.retain(|_, s| s.hash == new_hash);
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

    /// Whether the session behind a token is still open (without counting as a use).
    pub fn session_open(&mut self, token: &str, now: Instant) -> bool {
        let current = self.password_hash();
        self.sessions.get(token).is_some_and(|s| {
            now.saturating_duration_since(s.last_seen) < SESSION_IDLE && current.as_deref() == Some(s.hash.as_str())
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

fn random_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests;
