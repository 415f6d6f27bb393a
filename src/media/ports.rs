//! RTP port pairs: an even RTP port and the RTCP port above it, from the configured range.
//!
//! A pair found free stays bound here until the call's receive pipeline takes its
//! sockets ([`take_held`]): between the offer and the answer another station on the same
//! host (the demo, the tests) or any program would otherwise find the same ports free,
//! and one of the two calls could not receive.

use std::net::{IpAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a pair is held for a call that has not started its media: longer than a
/// call rings (60 s by default) and is set up.
const HOLD_FOR: Duration = Duration::from_secs(120);

/// At most this many pairs are held (a call of four holds six); the oldest is let go
/// first, so calls that never start cannot take the station's descriptors.
const MAX_HELD: usize = 32;

struct Held {
    port: u16,
    since: Instant,
    sockets: (UdpSocket, UdpSocket),
}

static HELD: Mutex<Vec<Held>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<Held>> {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    held.retain(|h| h.since.elapsed() < HOLD_FOR);
    held
}

/// The bound RTP and RTCP sockets of a pair [`allocate_pair`] found, for the pipeline
/// that receives on it; `None` once taken or let go (the pipeline then binds the port
/// itself, as it does when it is rebuilt for a changed call).
pub fn take_held(port: u16) -> Option<(UdpSocket, UdpSocket)> {
    let mut held = held();
    let at = held.iter().position(|h| h.port == port)?;
    Some(held.swap_remove(at).sockets)
}

/// Finds a free RTP/RTCP pair in `min..=max`, starting at a random place so that two
/// stations on one machine (tests, demo) do not race for the same ports, and holds it
/// for the call's receive pipeline ([`take_held`]). The range should lie outside the
/// kernel's ephemeral ports (`ip_local_port_range`, 32768-60999 by default; the
/// station's default is 10000-20000): a pipeline rebuilt later binds the port by number.
pub fn allocate_pair(bind: IpAddr, min: u16, max: u16, skip: &[u16]) -> Option<u16> {
    let mut held = held();
    let (port, sockets) = find_pair(bind, min, max, skip, &held)?;
    if held.len() >= MAX_HELD {
        held.remove(0);
    }
    held.push(Held {
        port,
        since: Instant::now(),
        sockets,
    });
    Some(port)
}

/// As [`allocate_pair`], but let go at once: for pipelines and programs that bind the
/// pair by number themselves (the benchmark's reference, test peers). Two calls do not
/// find the same pair only when each gives the other's in `skip`.
pub fn free_pair(bind: IpAddr, min: u16, max: u16, skip: &[u16]) -> Option<u16> {
    find_pair(bind, min, max, skip, &held()).map(|(port, _)| port)
}

/// A pair in `min..=max` not in `skip` nor `held`, bound.
fn find_pair(bind: IpAddr, min: u16, max: u16, skip: &[u16], held: &[Held]) -> Option<(u16, (UdpSocket, UdpSocket))> {
    let first = u32::from(min).div_ceil(2) * 2;
    // Pairs whose RTCP port (the odd one) is still within `max`.
    let pairs = ((u32::from(max) + 1).saturating_sub(first) / 2).max(1);
    let start = rand::random::<u32>() % pairs;
    (0..pairs).find_map(|i| {
        let port = u16::try_from(first + ((start + i) % pairs) * 2).ok()?;
        if skip.contains(&port) || held.iter().any(|h| h.port == port) {
            return None;
        }
        let rtp = UdpSocket::bind((bind, port)).ok()?;
        let rtcp = UdpSocket::bind((bind, port + 1)).ok()?;
        Some((port, (rtp, rtcp)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lets go of a pair a test found.
    fn release(port: u16) {
        drop(take_held(port));
    }

    #[test]
    fn pairs_are_even_in_range_and_distinct() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let a = allocate_pair(lo, 31000, 31100, &[]).unwrap();
        let b = allocate_pair(lo, 31000, 31100, &[a]).unwrap();
        for p in [a, b] {
            assert_eq!(p % 2, 0);
            assert!((31000..31100).contains(&p));
        }
        assert_ne!(a, b);
        release(a);
        release(b);
    }

    #[test]
    fn the_last_pair_of_the_range_is_used_too() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let a = allocate_pair(lo, 31300, 31303, &[]).unwrap();
        let b = allocate_pair(lo, 31300, 31303, &[a]).unwrap();
        let mut both = [a, b];
        both.sort();
        assert_eq!(both, [31300, 31302]);
        both.into_iter().for_each(release);
    }

    #[test]
    fn a_found_pair_stays_bound_until_taken() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let port = allocate_pair(lo, 31400, 31401, &[]).unwrap();
        assert!(UdpSocket::bind((lo, port)).is_err(), "another program could take it");
        assert_eq!(allocate_pair(lo, 31400, 31401, &[]), None, "found twice");
        let (rtp, rtcp) = take_held(port).expect("held for the pipeline");
        assert_eq!(rtp.local_addr().unwrap().port(), port);
        assert_eq!(rtcp.local_addr().unwrap().port(), port + 1);
        assert!(take_held(port).is_none(), "taken once");
        drop((rtp, rtcp));
        assert_eq!(allocate_pair(lo, 31400, 31401, &[]), Some(port));
        release(port);
    }

    #[test]
    fn busy_ports_are_skipped() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let _busy = UdpSocket::bind((lo, 31202)).unwrap();
        for _ in 0..20 {
            assert_eq!(allocate_pair(lo, 31200, 31204, &[]), Some(31200));
            release(31200);
        }
    }
}
