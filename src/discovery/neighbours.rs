//! The stations heard on the LAN, without I/O: one entry per certificate, bounded in
//! number, forgotten when not heard for a while. mDNS is open to anyone on the LAN, so a
//! name proves nothing: entries are keyed by fingerprint, and a station announcing a
//! paired neighbour's name with another certificate is a different entry. A flood of
//! announcements fills the list once and is then refused, while paired neighbours always
//! find room.

use super::record::Announced;
use crate::base::fingerprint::Fingerprint;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The most stations listed: a home or a building's stairwell has a handful.
pub const MAX_NEIGHBOURS: usize = 32;
/// Addresses kept per station (IPv4 and IPv6, a second interface).
pub const MAX_ADDRESSES: usize = 4;
/// A station not heard for this long is no longer listed (mDNS announces every 75 min
/// at most, and answers browses at once; a station that left says goodbye).
pub const FORGET_AFTER: Duration = Duration::from_secs(2 * 60 * 60);

/// A station heard on the LAN.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// Its DNS-SD instance name (`Kitchen._doorway._tcp.local.`): how its goodbye
    /// names it.
    pub instance: String,
    /// What it announced.
    pub announced: Announced,
    /// Where it was heard, newest first.
    pub addresses: Vec<IpAddr>,
    /// When it was last heard.
    pub heard_at: Instant,
}

impl Neighbour {
    /// The address to call it at: IPv4 first (what SIP on a home LAN uses), then any.
    pub fn address(&self) -> Option<IpAddr> {
        self.addresses
            .iter()
            .find(|a| a.is_ipv4())
            .or(self.addresses.first())
            .copied()
    }
}

/// What hearing an announcement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// A station not listed before.
    New,
    /// A listed station, heard again (perhaps at a new address).
    Again,
    /// Not listed: why.
    Ignored(&'static str),
}

/// Where a contact is on the LAN, as [`Neighbours::find`] tells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Found<'a> {
    /// This station.
    Here(&'a Neighbour),
    /// Not heard (or nothing to look for).
    NotHeard,
    /// Several stations announce the name, and no certificate says which: none is taken.
    Ambiguous(usize),
}

/// The stations heard on the LAN.
#[derive(Debug, Default)]
pub struct Neighbours {
    list: Vec<Neighbour>,
    own: Option<Fingerprint>,
    paired: Vec<Fingerprint>,
    refused: u64,
}

impl Neighbours {
    /// An empty list for a station whose own certificate is `own` (its own
    /// announcement is not a neighbour).
    pub fn new(own: Fingerprint) -> Self {
        Self {
            own: Some(own),
            ..Default::default()
        }
    }

    /// The certificates this station has paired with (or has pinned in its config):
    /// those always find room in the list.
    pub fn set_paired(&mut self, paired: Vec<Fingerprint>) {
        self.paired = paired;
    }

    /// Whether `fingerprint` is one this station has paired with.
    pub fn is_paired(&self, fingerprint: &Fingerprint) -> bool {
        self.paired.contains(fingerprint)
    }

    /// Takes an announcement of `instance` heard at `addresses`.
    pub fn heard(&mut self, instance: &str, announced: Announced, addresses: &[IpAddr], now: Instant) -> Heard {
        if self.own == Some(announced.fingerprint) {
            return Heard::Ignored("ourselves");
        }
        let usable: Vec<IpAddr> = addresses
            .iter()
            // A link-local IPv6 address names no interface here: SIP cannot reach it.
            .filter(|a| !a.is_unspecified() && !a.is_multicast() && !is_link_local_v6(a))
            .take(MAX_ADDRESSES)
            .copied()
            .collect();
        if usable.is_empty() {
            return Heard::Ignored("no address");
        }
        self.forget_old(now);
        if let Some(known) = self.list.iter_mut().find(|n| n.fingerprint() == announced.fingerprint) {
            known.instance = instance.to_string();
            known.announced = announced;
            // An answer carries every address still cached, the old with the new: the
            // ones not heard before go first, as the station has most likely just
            // moved there.
            let fresh = usable.iter().filter(|a| !known.addresses.contains(a));
            let before = known.addresses.iter().filter(|a| usable.contains(a));
            known.addresses = fresh.chain(before).copied().collect();
            known.heard_at = now;
            return Heard::Again;
        }
        if self.list.len() >= MAX_NEIGHBOURS {
            let oldest_unpaired = self
                .list
                .iter()
                .enumerate()
                .filter(|(_, n)| !self.is_paired(&n.fingerprint()))
                .min_by_key(|(_, n)| n.heard_at)
                .map(|(i, _)| i);
            match oldest_unpaired {
                Some(i) if self.is_paired(&announced.fingerprint) => {
                    self.list.swap_remove(i);
                }
                _ => {
                    self.refused += 1;
                    return Heard::Ignored("the list is full");
                }
            }
        }
        self.list.push(Neighbour {
            instance: instance.to_string(),
            announced,
            addresses: usable,
            heard_at: now,
        });
        Heard::New
    }

    /// The station announced as `instance` said goodbye, or its records expired.
    pub fn gone(&mut self, instance: &str) {
        self.list.retain(|n| n.instance != instance);
    }

    /// Drops stations not heard for [`FORGET_AFTER`].
    pub fn forget_old(&mut self, now: Instant) {
        self.list
            .retain(|n| now.saturating_duration_since(n.heard_at) < FORGET_AFTER);
    }

    /// The station holding `fingerprint`, if heard.
    pub fn by_fingerprint(&self, fingerprint: &Fingerprint) -> Option<&Neighbour> {
        self.list.iter().find(|n| n.fingerprint() == *fingerprint)
    }

    /// Stations announcing `name` (more than one when someone copies a name), the most
    /// recently heard first.
    pub fn named(&self, name: &str) -> Vec<&Neighbour> {
        let mut found: Vec<&Neighbour> = self
            .list
            .iter()
            .filter(|n| n.announced.name.eq_ignore_ascii_case(name))
            .collect();
        found.sort_by_key(|n| std::cmp::Reverse(n.heard_at));
        found
    }

    /// The station a contact is. With a pinned certificate (`pin`), only the station
    /// holding it, whatever name it announces. Otherwise by the name it announces
    /// (`station`): taken only when exactly one station announces it, and never one
    /// whose certificate is paired (that one is another contact).
    pub fn find(&self, pin: Option<&Fingerprint>, station: Option<&str>) -> Found<'_> {
        if let Some(pin) = pin {
            return self.by_fingerprint(pin).map_or(Found::NotHeard, Found::Here);
        }
        let Some(name) = station else {
            return Found::NotHeard;
        };
        let candidates: Vec<&Neighbour> = self
            .named(name)
            .into_iter()
            .filter(|n| !self.is_paired(&n.fingerprint()))
            .collect();
        match candidates.as_slice() {
            [] => Found::NotHeard,
            [one] => Found::Here(one),
            many => Found::Ambiguous(many.len()),
        }
    }

    /// Every station listed, by name.
    pub fn all(&self) -> Vec<&Neighbour> {
        let mut all: Vec<&Neighbour> = self.list.iter().collect();
        all.sort_by(|a, b| a.announced.name.cmp(&b.announced.name));
        all
    }

    /// Announcements refused because the list was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

fn is_link_local_v6(address: &IpAddr) -> bool {
    matches!(address, IpAddr::V6(v6) if v6.is_unicast_link_local())
}

impl Neighbour {
    fn fingerprint(&self) -> Fingerprint {
        self.announced.fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station(name: &str, id: u8) -> Announced {
        Announced {
            name: name.into(),
            user: name.to_lowercase(),
            fingerprint: Fingerprint([id; 32]),
            sip_port: 5060,
            tls_port: 5061,
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 168, 1, last])
    }

    #[test]
    fn a_station_is_listed_once_and_follows_its_address() {
        let now = Instant::now();
        let mut n = Neighbours::new(Fingerprint([0; 32]));
        assert_eq!(n.heard("k", station("Kitchen", 1), &[ip(20)], now), Heard::New);
        assert_eq!(n.heard("k", station("Kitchen", 1), &[ip(31)], now), Heard::Again);
        assert_eq!(n.all().len(), 1);
        assert_eq!(n.by_fingerprint(&Fingerprint([1; 32])).unwrap().address(), Some(ip(31)));
        // Our own announcement, heard back.
        assert_eq!(
            n.heard("me", station("Me", 0), &[ip(2)], now),
            Heard::Ignored("ourselves")
        );
        assert_eq!(n.heard("x", station("X", 9), &[], now), Heard::Ignored("no address"));
    }

    #[test]
    fn a_new_address_is_called_before_the_old_one_still_cached() {
        let now = Instant::now();
        let mut n = Neighbours::new(Fingerprint([0; 32]));
        n.heard("k", station("Kitchen", 1), &[ip(20)], now);
        // The answer after a move carries the cached old address too, in any order.
        n.heard("k", station("Kitchen", 1), &[ip(20), ip(31)], now);
        let kitchen = |n: &Neighbours| n.by_fingerprint(&Fingerprint([1; 32])).unwrap().addresses.clone();
        assert_eq!(kitchen(&n), vec![ip(31), ip(20)]);
        n.heard("k", station("Kitchen", 1), &[ip(31), ip(20)], now);
        assert_eq!(kitchen(&n), vec![ip(31), ip(20)], "heard again: the order holds");
        n.heard("k", station("Kitchen", 1), &[ip(31)], now);
        assert_eq!(kitchen(&n), vec![ip(31)], "the old one expired");
    }

    #[test]
    fn a_copied_name_with_another_certificate_is_another_station() {
        let now = Instant::now();
        let mut n = Neighbours::new(Fingerprint([0; 32]));
        n.heard("k", station("Kitchen", 1), &[ip(20)], now);
        n.heard("k2", station("Kitchen", 66), &[ip(66)], now + Duration::from_secs(1));
        let named = n.named("kitchen");
        assert_eq!(named.len(), 2);
        assert_eq!(named[0].address(), Some(ip(66)), "the newest first");
        // The real one still holds its own address.
        assert_eq!(n.by_fingerprint(&Fingerprint([1; 32])).unwrap().address(), Some(ip(20)));
    }

    #[test]
    fn a_flood_fills_the_list_once_and_paired_stations_still_get_in() {
        let start = Instant::now();
        let mut n = Neighbours::new(Fingerprint([0; 32]));
        n.set_paired(vec![Fingerprint([200; 32])]);
        for i in 0..5000u32 {
            let mut fake = station(&format!("fake {i}"), 1);
            fake.fingerprint.0[..4].copy_from_slice(&i.to_be_bytes());
            n.heard("fake", fake, &[ip(99)], start + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(n.all().len(), MAX_NEIGHBOURS);
        assert_eq!(n.refused(), 5000 - MAX_NEIGHBOURS as u64);
        let at = start + Duration::from_secs(10);
        assert_eq!(n.heard("h", station("Hall", 200), &[ip(30)], at), Heard::New);
        assert!(n.by_fingerprint(&Fingerprint([200; 32])).is_some());
        assert_eq!(n.all().len(), MAX_NEIGHBOURS);
        // Two hours on, the flood is forgotten and a new station is listed again.
        let later = start + FORGET_AFTER + Duration::from_secs(20);
        assert_eq!(n.heard("p", station("Porch", 150), &[ip(40)], later), Heard::New);
        assert_eq!(n.all().len(), 1);
    }

    #[test]
    fn a_contact_is_found_by_its_pin_first_and_by_a_name_only_when_it_is_unique() {
        let now = Instant::now();
        let mut n = Neighbours::new(Fingerprint([0; 32]));
        n.heard("k", station("Kitchen", 1), &[ip(20)], now);
        let kitchen = Fingerprint([1; 32]);
        assert!(matches!(n.find(None, Some("kitchen")), Found::Here(k) if k.address() == Some(ip(20))));
        assert_eq!(n.find(None, Some("Hall")), Found::NotHeard);
        assert_eq!(n.find(None, None), Found::NotHeard);
        // A second station takes the name: neither is called by it.
        n.heard("k2", station("Kitchen", 66), &[ip(66)], now);
        assert_eq!(n.find(None, Some("Kitchen")), Found::Ambiguous(2));
        // Paired, the real one is found by its certificate, and the copy's name no
        // longer stands for it.
        n.set_paired(vec![kitchen]);
        assert!(matches!(n.find(Some(&kitchen), Some("Kitchen")), Found::Here(k) if k.address() == Some(ip(20))));
        assert!(matches!(n.find(None, Some("Kitchen")), Found::Here(k) if k.address() == Some(ip(66))));
        // A pinned contact is its certificate only: not heard means not heard, whatever
        // announces its name.
        assert_eq!(n.find(Some(&Fingerprint([9; 32])), Some("Kitchen")), Found::NotHeard);
    }

    #[test]
    fn addresses_are_bounded_and_ipv4_is_called_first() {
        let now = Instant::now();
        let mut n = Neighbours::new(Fingerprint([0; 32]));
        let mut many: Vec<IpAddr> = vec!["fd00::1".parse().unwrap(), "0.0.0.0".parse().unwrap()];
        many.extend((1..20).map(ip));
        n.heard("k", station("Kitchen", 1), &many, now);
        let k = n.by_fingerprint(&Fingerprint([1; 32])).unwrap();
        assert_eq!(k.addresses.len(), MAX_ADDRESSES);
        assert_eq!(k.address(), Some(ip(1)));
        // Only a link-local IPv6 address (heard before the IPv4 one): not callable yet.
        let link_local: IpAddr = "fe80::c087:1bff:fe9e:105f".parse().unwrap();
        assert_eq!(
            n.heard("l", station("Loft", 3), &[link_local], now),
            Heard::Ignored("no address")
        );
        n.gone("k");
        assert!(n.all().is_empty());
    }
}
