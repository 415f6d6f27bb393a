//! The limits on guesses at the web page's password and codes, without I/O or clocks of
//! their own (times are passed in).
//!
//! Every guess is counted as wrong *before* it is checked, and forgiven once it proves
//! right: guesses sent at the same moment cannot slip past the limit while their hashes
//! are being made. When many addresses together pass the overall limit, the page is
//! locked for everyone who does not hold the *unlock code*: 16 digits shown on the
//! station's screen, so the person standing at it always has a way in, while a stranger
//! has one chance in 10^16 per guess.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Wrong guesses one address may make in [`GUESS_WINDOW`]; the next is refused without
/// being checked.
pub const GUESSES_PER_ADDRESS: usize = 5;
/// Wrong guesses from all addresses together in [`GUESS_WINDOW`]; past it only the
/// unlock code gets a guess checked.
pub const GUESSES_IN_ALL: usize = 30;
/// The window the guess limits count in.
pub const GUESS_WINDOW: Duration = Duration::from_secs(60);
/// The unlock code stays this long after the lock last turned someone away.
pub const UNLOCK_CODE_LIFE: Duration = Duration::from_secs(10 * 60);
/// Addresses whose guesses are tracked one by one (a stranger with many addresses cannot
/// grow the table without bound; the overall limit still counts them).
const TRACKED_ADDRESSES: usize = 256;

/// A guess let through to be checked. It counts as wrong until [`Guesses::forgive`].
#[derive(Debug)]
pub struct Attempt {
    from: IpAddr,
    at: Instant,
    counted_in_all: bool,
    /// The guess carried the unlock code from the station's screen.
    pub unlocked: bool,
}

/// Why a guess is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many wrong guesses from this address lately.
    TooMany,
    /// Too many wrong guesses from everywhere: only the unlock code helps.
    LockedOut,
}

/// Wrong guesses by address and in all, and the unlock code while one is needed.
#[derive(Debug, Default)]
pub struct Guesses {
    by_address: HashMap<IpAddr, VecDeque<Instant>>,
    in_all: VecDeque<Instant>,
    /// The unlock code, and when the lock last turned someone away.
    unlock: Option<(String, Instant)>,
}

impl Guesses {
    /// Lets a guess from `from` be checked, counting it now, or says why not. `unlock` is
    /// what the person typed as a code, if anything (compared with the unlock code).
    pub fn begin(&mut self, from: IpAddr, unlock: Option<&str>, now: Instant) -> Result<Attempt, Refusal> {
        self.forget_old(now);
        let mine = self.by_address.get(&from).map_or(0, VecDeque::len);
        if mine >= GUESSES_PER_ADDRESS {
            return Err(Refusal::TooMany);
        }
        let unlocked = match (&self.unlock, unlock) {
            (Some((code, _)), Some(given)) => same_digits(code, given),
            _ => false,
        };
        let locked = self.in_all.len() >= GUESSES_IN_ALL;
        if locked && !unlocked {
            let code = self.unlock.take().map_or_else(
                || {
                    tracing::warn!(
                        wrong = self.in_all.len(),
                        "the web page is locked: too many wrong guesses from the network; the station's screen shows an unlock code"
                    );
                    new_unlock_code()
                },
                |(code, _)| code,
            );
            self.unlock = Some((code, now));
            if unlock.is_some_and(|u| !u.is_empty()) {
                // A wrong unlock code was checked: it counts against its address.
                self.count(from, now, false);
            }
            return Err(Refusal::LockedOut);
        }
        // The unlock code's guesses stay out of the overall count, so strangers cannot
        // lock its holder out.
        let counted_in_all = !unlocked;
        self.count(from, now, counted_in_all);
        Ok(Attempt {
            from,
            at: now,
            counted_in_all,
            unlocked,
        })
    }

    /// The guess was right: it no longer counts against anyone, and an unlock code it
    /// carried is used up.
    pub fn forgive(&mut self, attempt: &Attempt) {
        self.withdraw(attempt);
        if attempt.unlocked {
            // Used: the next lock makes a new one.
            self.unlock = None;
        }
    }

    /// The guess was not checked after all (no hash could be made now): it counts
    /// against nobody.
    pub fn withdraw(&mut self, attempt: &Attempt) {
        if let Some(times) = self.by_address.get_mut(&attempt.from) {
            if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                times.remove(i);
            }
            if times.is_empty() {
                self.by_address.remove(&attempt.from);
            }
        }
        if attempt.counted_in_all {
            if let Some(i) = self.in_all.iter().rposition(|t| *t == attempt.at) {
                self.in_all.remove(i);
            }
        }
    }

    /// The unlock code for the station's screen, while the page is locked or was lately.
    pub fn unlock_code(&mut self, now: Instant) -> Option<String> {
        if self
            .unlock
            .as_ref()
            .is_some_and(|(_, needed)| now.saturating_duration_since(*needed) >= UNLOCK_CODE_LIFE)
        {
            self.unlock = None;
        }
        self.unlock.as_ref().map(|(code, _)| code.clone())
    }

    /// Wrong guesses from all addresses in the window.
    pub fn wrong_in_all(&self) -> usize {
        self.in_all.len()
    }

    fn count(&mut self, from: IpAddr, now: Instant, in_all: bool) {
        let tracked = self.by_address.contains_key(&from) || self.by_address.len() < TRACKED_ADDRESSES;
        if tracked {
            self.by_address.entry(from).or_default().push_back(now);
        }
        if in_all {
            self.in_all.push_back(now);
        }
    }

    fn forget_old(&mut self, now: Instant) {
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < GUESS_WINDOW;
        while self.in_all.front().is_some_and(|t| !fresh(t)) {
            self.in_all.pop_front();
        }
        self.by_address.retain(|_, times| {
            while times.front().is_some_and(|t| !fresh(t)) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }
}

/// Compares without an early exit, so the time taken does not tell how much matched.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether two codes have the same digits (whatever separators were typed), without an
/// early exit.
pub fn same_digits(wanted: &str, given: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (wanted, given) = (digits(wanted), digits(given));
    !wanted.is_empty() && same(wanted.as_bytes(), given.as_bytes())
}

/// 16 random digits in groups of four.
fn new_unlock_code() -> String {
    let groups: Vec<String> = (0..4)
        .map(|_| format!("{:04}", rand::random_range(0..10_000u32)))
        .collect();
    groups.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> IpAddr {
        IpAddr::from([192, 168, 1, last])
    }

    #[test]
    fn a_guess_counts_before_it_is_checked() {
        let mut g = Guesses::default();
        let now = Instant::now();
        // Sent together: each is counted as it is let through, so the sixth is refused
        // though no hash has finished yet.
        let held: Vec<_> = (0..GUESSES_PER_ADDRESS)
            .map(|_| g.begin(addr(9), None, now).unwrap())
            .collect();
        assert_eq!(g.begin(addr(9), None, now).unwrap_err(), Refusal::TooMany);
        // A right one is forgiven: it leaves room again.
        g.forgive(&held[0]);
        assert!(g.begin(addr(9), None, now).is_ok());
        assert!(g.begin(addr(10), None, now).is_ok(), "another address is not blocked");
        assert!(g.begin(addr(9), None, now + GUESS_WINDOW).is_ok(), "the window passes");
    }

    #[test]
    fn many_addresses_lock_the_page_and_the_screens_code_still_opens_it() {
        let mut g = Guesses::default();
        let now = Instant::now();
        for i in 0..GUESSES_IN_ALL {
            g.begin(addr(i as u8), None, now).unwrap();
        }
        assert_eq!(g.unlock_code(now), None, "no code until someone is turned away");
        assert_eq!(g.begin(addr(200), None, now).unwrap_err(), Refusal::LockedOut);
        let code = g.unlock_code(now).expect("a code for the screen");
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(
            g.begin(addr(201), Some("0000-0000"), now).unwrap_err(),
            Refusal::LockedOut
        );
        let attempt = g.begin(addr(202), Some(&code.replace('-', " ")), now).unwrap();
        assert!(attempt.unlocked);
        assert_eq!(
            g.wrong_in_all(),
            GUESSES_IN_ALL,
            "the code's guess is not counted in all"
        );
        g.forgive(&attempt);
        assert_eq!(g.unlock_code(now), None, "used once");
    }

    #[test]
    fn the_unlock_code_goes_once_not_needed_for_a_while() {
        let mut g = Guesses::default();
        let now = Instant::now();
        for i in 0..=GUESSES_IN_ALL {
            let _ = g.begin(addr(i as u8), None, now);
        }
        assert!(g.unlock_code(now).is_some());
        assert!(g.unlock_code(now + UNLOCK_CODE_LIFE).is_none());
    }

    #[test]
    fn untracked_addresses_still_count_in_all() {
        let mut g = Guesses::default();
        let now = Instant::now();
        for i in 0..TRACKED_ADDRESSES {
            g.count(IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]), now, false);
        }
        let before = g.wrong_in_all();
        g.begin(IpAddr::from([10, 9, 9, 9]), None, now).unwrap();
        assert_eq!(g.wrong_in_all(), before + 1);
        assert!(!g.by_address.contains_key(&IpAddr::from([10, 9, 9, 9])));
    }
}
