//! RTP port pairs: an even RTP port and the RTCP port above it, from the configured range.

use std::net::{IpAddr, UdpSocket};

/// Finds a free RTP/RTCP pair in `min..=max`, starting at a random place so that two
/// stations on one machine (tests, demo) do not race for the same ports. The range
/// should lie outside the kernel's ephemeral ports (`ip_local_port_range`, 32768-60999
/// by default; the station's default is 10000-20000): there any socket bound to port 0
/// can take a port between this probe and the pipeline's own bind.
pub fn allocate_pair(bind: IpAddr, min: u16, max: u16, skip: &[u16]) -> Option<u16> {
    let first = u32::from(min).div_ceil(2) * 2;
    // Pairs whose RTCP port (the odd one) is still within `max`.
    let pairs = ((u32::from(max) + 1).saturating_sub(first) / 2).max(1);
    let start = rand::random::<u32>() % pairs;
    (0..pairs).find_map(|i| {
        let port = u16::try_from(first + ((start + i) % pairs) * 2).ok()?;
        if skip.contains(&port) {
            return None;
        }
        // Both must bind now; the pipeline binds them again right after we let go.
        let rtp = UdpSocket::bind((bind, port)).ok()?;
        let rtcp = UdpSocket::bind((bind, port + 1)).ok()?;
        drop((rtp, rtcp));
        Some(port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn the_last_pair_of_the_range_is_used_too() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let a = allocate_pair(lo, 31300, 31303, &[]).unwrap();
        let b = allocate_pair(lo, 31300, 31303, &[a]).unwrap();
        let mut both = [a, b];
        both.sort();
        assert_eq!(both, [31300, 31302]);
    }

    #[test]
    fn busy_ports_are_skipped() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let _held = UdpSocket::bind((lo, 31202)).unwrap();
        for _ in 0..20 {
            assert_eq!(allocate_pair(lo, 31200, 31204, &[]), Some(31200));
        }
    }
}
