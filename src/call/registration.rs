//! Registration with a SIP server, sans-IO: what the station shows about it, when it
//! registers again, and who the server says a caller is. The user agent
//! ([`crate::call::ua`]) does the sending.

use serde::Serialize;
use std::time::Duration;

/// Where the station's registration stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RegistrationState {
    /// A REGISTER is on its way (the first, or after a failure).
    Registering,
    /// The server holds our binding for this many seconds from the last renewal.
    Registered {
        /// Seconds the server granted.
        expires: u32,
    },
    /// Not registered: why, and how long until the next try.
    Failed {
        /// For a person: what went wrong.
        reason: String,
        /// Seconds until the station tries again.
        retry_in: u32,
    },
}

impl RegistrationState {
    /// Whether calls through the server can reach this station.
    pub fn is_registered(&self) -> bool {
        matches!(self, Self::Registered { .. })
    }
}

/// The station's account as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountStatus {
    /// Our address of record, `sip:USER@DOMAIN`.
    pub aor: String,
    /// Where requests go (`IP:PORT`), once known.
    pub server: Option<String>,
    /// The registration.
    #[serde(flatten)]
    pub state: RegistrationState,
}

impl AccountStatus {
    /// One line for the screen and the CLI when the registration is not there.
    pub fn problem(&self) -> Option<String> {
        match &self.state {
            RegistrationState::Failed { reason, .. } => Some(format!("Not registered: {reason}")),
            _ => None,
        }
    }
}

/// What one REGISTER came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the server granted this many seconds.
    Registered {
        /// Seconds granted.
        granted: u32,
    },
    /// A final response other than 2xx (after our credentials, if it challenged).
    Refused {
        /// The status code.
        status: u16,
        /// Its reason phrase.
        phrase: String,
    },
    /// No answer, or the request could not be sent.
    Unreachable(String),
}

/// Retries start at this wait and double up to [`LONGEST_WAIT`].
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// The longest wait between tries.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Never renew more often than this, whatever a server grants.
const SHORTEST_RENEWAL: Duration = Duration::from_secs(5);

/// When to register next, and what to show meanwhile.
#[derive(Debug, Clone)]
pub struct Schedule {
    user: String,
    failures: u32,
    state: RegistrationState,
}

impl Schedule {
    /// A schedule for the account `user`, about to register.
    pub fn new(user: &str) -> Self {
        Self {
            user: user.to_string(),
            failures: 0,
            state: RegistrationState::Registering,
        }
    }

    /// The state to show.
    pub fn state(&self) -> &RegistrationState {
        &self.state
    }

    /// A REGISTER goes out now.
    pub fn registering(&mut self) {
        if !self.state.is_registered() {
            self.state = RegistrationState::Registering;
        }
    }

    /// Takes a REGISTER's outcome; returns how long until the next one.
    pub fn after(&mut self, outcome: Outcome) -> Duration {
        let reason = match outcome {
            Outcome::Registered { granted } => {
                self.failures = 0;
                self.state = RegistrationState::Registered { expires: granted };
                // Renew at three quarters of the time granted (RFC 3261 leaves it to us).
                return (Duration::from_secs(u64::from(granted)) * 3 / 4).max(SHORTEST_RENEWAL);
            }
            Outcome::Refused { status, phrase } => self.refusal(status, &phrase),
            Outcome::Unreachable(why) => why,
        };
        self.fail(reason)
    }

    /// The server stopped answering while we were registered; returns how long until
    /// the next REGISTER.
    pub fn lost(&mut self, why: &str) -> Duration {
        self.fail(why.to_string())
    }

    fn fail(&mut self, reason: String) -> Duration {
        let wait = (FIRST_RETRY * 2u32.saturating_pow(self.failures.min(6))).min(LONGEST_WAIT);
        self.failures = self.failures.saturating_add(1);
        self.state = RegistrationState::Failed {
            reason,
            retry_in: wait.as_secs() as u32,
        };
        wait
    }

    fn refusal(&self, status: u16, phrase: &str) -> String {
        let what = match status {
            401 | 403 | 407 => format!("wrong user or password for {}", self.user),
            404 => format!("the server has no user {}", self.user),
            _ => "the server refused".to_string(),
        };
        format!("{what} ({status} {phrase})")
    }
}

/// How long to wait for an answer to a keepalive: the interval, within 2 to 5 seconds.
pub fn keepalive_timeout(interval: Duration) -> Duration {
    interval.clamp(Duration::from_secs(2), Duration::from_secs(5))
}

/// The caller a trusted server asserts (the value of a P-Asserted-Identity header,
/// RFC 3325), as `sip:USER@HOST`: host in lower case, no port, no parameters. `None`
/// when it is not a SIP URI with a user.
pub fn asserted_identity(header: &str) -> Option<String> {
    let text = header.trim();
    // `"Name" <sip:...>` or a bare URI; the first one counts when several are given.
    let uri_text = match (text.find('<'), text.find('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text.split([',', ';']).next().unwrap_or(text),
    };
    let uri = rsipstack::sip::Uri::try_from(uri_text.trim()).ok()?;
    if !uri_text.trim().starts_with("sip:") {
        return None;
    }
    let user = uri.auth.as_ref().map(|a| a.user.to_string())?;
    if !crate::config::user_is_sane(&user) {
        return None;
    }
    let host = uri.host_with_port.host.to_string().to_ascii_lowercase();
    Some(format!("sip:{user}@{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_at_three_quarters_and_backs_off_on_failure() {
        let mut s = Schedule::new("door");
        assert_eq!(s.after(Outcome::Registered { granted: 600 }), Duration::from_secs(450));
        assert_eq!(s.state(), &RegistrationState::Registered { expires: 600 });
        assert_eq!(s.after(Outcome::Registered { granted: 2 }), SHORTEST_RENEWAL);
        let waits: Vec<u64> = (0..8)
            .map(|_| s.after(Outcome::Unreachable("no answer".into())).as_secs())
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        // A success starts the backoff over.
        s.after(Outcome::Registered { granted: 600 });
        assert_eq!(s.lost("the server stopped answering"), Duration::from_secs(2));
        assert_eq!(
            s.state(),
            &RegistrationState::Failed {
                reason: "the server stopped answering".into(),
                retry_in: 2
            }
        );
    }

    #[test]
    fn a_refusal_says_what_to_fix() {
        let mut s = Schedule::new("door");
        s.after(Outcome::Refused {
            status: 403,
            phrase: "Forbidden".into(),
        });
        let RegistrationState::Failed { reason, .. } = s.state() else {
            panic!("not failed");
        };
        assert_eq!(reason, "wrong user or password for door (403 Forbidden)");
        let status = AccountStatus {
            aor: "sip:door@flat12.example".into(),
            server: None,
            state: s.state().clone(),
        };
        assert!(status.problem().unwrap().starts_with("Not registered: wrong user"));
    }

    #[test]
    fn registering_does_not_hide_a_live_registration() {
        let mut s = Schedule::new("door");
        s.registering();
        assert_eq!(s.state(), &RegistrationState::Registering);
        s.after(Outcome::Registered { granted: 60 });
        s.registering();
        assert!(s.state().is_registered());
    }

    #[test]
    fn asserted_identities() {
        let id = |h: &str| asserted_identity(h);
        assert_eq!(
            id("\"Kitchen\" <sip:kitchen@Flat12.Example:5060;user=phone>").as_deref(),
            Some("sip:kitchen@flat12.example")
        );
        assert_eq!(
            id("sip:door@flat12.example").as_deref(),
            Some("sip:door@flat12.example")
        );
        assert_eq!(id("<sip:a@x.example>, <tel:+123>").as_deref(), Some("sip:a@x.example"));
        assert_eq!(id("<tel:+4930123>"), None);
        assert_eq!(id("<sip:flat12.example>"), None);
        assert_eq!(id("garbage"), None);
        assert_eq!(id(""), None);
    }

    #[test]
    fn keepalive_timeouts() {
        assert_eq!(keepalive_timeout(Duration::from_secs(1)), Duration::from_secs(2));
        assert_eq!(keepalive_timeout(Duration::from_secs(30)), Duration::from_secs(5));
    }
}
