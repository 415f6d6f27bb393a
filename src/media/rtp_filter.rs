//! The receive side's gate: a call's RTP and RTCP ports are open to the whole LAN, so
//! every datagram is checked before rtpbin, the depayloaders and the decoders see it.
//! Only packets from the peer (the address in its SDP, or the one its SIP comes from) that look like RTP (version 2, the
//! negotiated payload type, a consistent length, the SSRC the stream follows) or RTCP
//! (version 2, a known packet type) pass; everything else is counted and dropped. Junk then cannot put the
//! depayloader in an error state, and cannot keep a dead call alive against the media
//! timeout either.
//!
//! Encrypted streams pass the same gate: SRTP leaves the RTP header in the clear (only
//! the padding count is out of reach, [`is_srtp`]) and SRTCP the first RTCP header
//! ([`is_rtcp`] holds). What passes then goes to srtpdec, which drops anything that fails
//! authentication.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_net as gst_net;
use gstreamer_net::gio::prelude::*;
use std::net::IpAddr;

/// The fixed RTP header is 12 bytes (RFC 3550 section 5.1).
const RTP_HEADER: usize = 12;

/// The length of the RTP header of `data` (fixed part, CSRCs and extension) when it is
/// version 2 with payload type `pt` and the header fits.
pub(super) fn rtp_header(data: &[u8], pt: u8) -> Option<usize> {
    if data.len() < RTP_HEADER || data[0] >> 6 != 2 || data[1] & 0x7f != pt {
        return None;
    }
    let csrc = (data[0] & 0x0f) as usize * 4;
    let mut header = RTP_HEADER + csrc;
    if data[0] & 0x10 != 0 {
        // Extension: 4 bytes of profile and length, then length 32-bit words.
        let ext = data.get(header..header + 4)?;
        header += 4 + u16::from_be_bytes([ext[2], ext[3]]) as usize * 4;
    }
    (header <= data.len()).then_some(header)
}

/// Whether `data` is an RTP packet of payload type `pt` whose header fits in it.
pub fn is_rtp(data: &[u8], pt: u8) -> bool {
    let Some(header) = rtp_header(data, pt) else {
        return false;
    };
    let padding = if data[0] & 0x20 != 0 {
        *data.last().unwrap_or(&0) as usize
    } else {
        0
    };
    header + padding <= data.len()
}

/// Whether `data` is an SRTP packet of payload type `pt` whose header fits in it. SRTP
/// (RFC 3711) leaves the header in the clear but encrypts the padding count, and its
/// last bytes are the authentication tag: padding is srtpdec's to check.
pub fn is_srtp(data: &[u8], pt: u8) -> bool {
    rtp_header(data, pt).is_some()
}

/// Whether `data` starts like a compound RTCP packet: version 2 and a first packet type
/// RTP/AVP knows (SR, RR, SDES, BYE, APP, RTPFB, PSFB: 200 to 206), with a length that
/// fits in the datagram.
pub fn is_rtcp(data: &[u8]) -> bool {
    if data.len() < 8 || data[0] >> 6 != 2 || !(200..=206).contains(&data[1]) {
        return false;
    }
    let words = u16::from_be_bytes([data[2], data[3]]) as usize + 1;
    words * 4 <= data.len()
}

/// How long the stream's sender must be silent before another SSRC may take over (a
/// peer that restarted its sender picks a new one).
const SSRC_TAKEOVER_MS: u64 = 1000;

/// The SSRC a stream follows: the first one heard, until it falls silent.
#[derive(Debug, Default)]
pub struct SsrcLock {
    current: Option<(u32, u64)>,
}

impl SsrcLock {
    /// Whether a packet of `ssrc` arriving at `now_ms` belongs to the stream.
    pub fn admit(&mut self, ssrc: u32, now_ms: u64) -> bool {
        match self.current {
            Some((held, last)) if held != ssrc && now_ms.saturating_sub(last) < SSRC_TAKEOVER_MS => false,
            _ => {
                self.current = Some((ssrc, now_ms));
                true
            }
        }
    }
}

fn ssrc(data: &[u8]) -> u32 {
    u32::from_be_bytes([data[8], data[9], data[10], data[11]])
}

/// The payload types of a received stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payloads {
    /// The codec's.
    pub main: u8,
    /// The telephone events' (RFC 4733), when there are.
    pub events: Option<u8>,
    /// The repairs' (RFC 4588 RTX), when lost packets are sent again: they come under an
    /// SSRC of their own, followed apart from the stream's.
    pub repairs: Option<u8>,
}

impl Payloads {
    /// A stream of one payload type.
    pub fn only(main: u8) -> Payloads {
        Payloads {
            main,
            events: None,
            repairs: None,
        }
    }

    /// Whether `check` holds for `data` as one of these payload types.
    fn admit(&self, data: &[u8], check: fn(&[u8], u8) -> bool) -> bool {
        [Some(self.main), self.events, self.repairs]
            .into_iter()
            .flatten()
            .any(|pt| check(data, pt))
    }

    /// Whether `data` (whose header was checked) is a repair.
    fn is_repair(&self, data: &[u8]) -> bool {
        self.repairs
            .is_some_and(|pt| data.get(1).is_some_and(|b| b & 0x7f == pt))
    }
}

/// The SSRCs a stream follows: one for its packets, one for its repairs.
#[derive(Debug, Default)]
struct StreamLocks {
    packets: SsrcLock,
    repairs: SsrcLock,
}

impl StreamLocks {
    fn admit(&mut self, payloads: &Payloads, data: &[u8]) -> bool {
        let lock = if payloads.is_repair(data) {
            &mut self.repairs
        } else {
            &mut self.packets
        };
        lock.admit(ssrc(data), crate::device::probe::monotonic_ms())
    }
}

/// What a gate lets through.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// RTP of these payload types.
    Rtp(Payloads),
    /// SRTP of these payload types (the header is checked; srtpdec authenticates the rest).
    Srtp(Payloads),
    /// RTCP.
    Rtcp,
}

/// The sender's IP, as udpsrc recorded it on the buffer.
fn sender(buffer: &gst::BufferRef) -> Option<IpAddr> {
    let meta = buffer.meta::<gst_net::NetAddressMeta>()?;
    let inet = meta.addr().downcast::<gst_net::gio::InetSocketAddress>().ok()?;
    let ip: IpAddr = inet.address().into();
    // udpsrc on a dual-stack socket reports IPv4 senders as IPv4-mapped IPv6.
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    })
}

/// Drops, on `pad` (a udpsrc's source pad), every buffer that is not from one of `peer` or not
/// what `expect` says, and calls `on_drop` for it; `on_accept` runs for each buffer that
/// passes.
pub fn install(
    pad: &gst::Pad,
    peer: Vec<IpAddr>,
    expect: Expect,
    on_accept: impl Fn() + Send + Sync + 'static,
    on_drop: impl Fn() + Send + Sync + 'static,
) {
    // An SRTP stream follows an SSRC only once its packets authenticated (see
    // [`follow_one_ssrc`] after srtpdec): locking on a forged header here would let a
    // stranger on the LAN hold the stream until srtpdec drops everything it sends.
    let follows_ssrc = !matches!(expect, Expect::Srtp(..));
    let locks = std::sync::Mutex::new(StreamLocks::default());
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let from_peer = sender(buffer).is_some_and(|ip| peer.contains(&ip));
        let well_formed = buffer.map_readable().is_ok_and(|map| {
            let (payloads, header) = match expect {
                Expect::Rtp(p) => (p, p.admit(&map, is_rtp)),
                Expect::Srtp(p) => (p, p.admit(&map, is_srtp)),
                Expect::Rtcp => return is_rtcp(&map),
            };
            header && (!follows_ssrc || locks.lock().is_ok_and(|mut l| l.admit(&payloads, &map)))
        });
        if from_peer && well_formed {
            on_accept();
            gst::PadProbeReturn::Ok
        } else {
            on_drop();
            gst::PadProbeReturn::Drop
        }
    });
}

/// Keeps, on `pad` (srtpdec's RTP source pad: only packets that authenticated), one
/// SSRC as [`SsrcLock`] does (and one for the repairs, when `payloads` has them), drops
/// the others' buffers, and calls `on_accept` for each buffer it keeps.
pub fn follow_one_ssrc(pad: &gst::Pad, payloads: Payloads, on_accept: impl Fn() + Send + Sync + 'static) {
    let locks = std::sync::Mutex::new(StreamLocks::default());
    let admit = move |buffer: &gst::BufferRef| {
        buffer
            .map_readable()
            .is_ok_and(|map| map.len() >= 12 && locks.lock().is_ok_and(|mut l| l.admit(&payloads, &map)))
    };
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| match &mut info.data {
            Some(gst::PadProbeData::Buffer(buffer)) => {
                if admit(buffer) {
                    on_accept();
                    gst::PadProbeReturn::Ok
                } else {
                    gst::PadProbeReturn::Drop
                }
            }
            Some(gst::PadProbeData::BufferList(list)) => {
                let mut kept = gst::BufferList::new();
                if let Some(kept) = kept.get_mut() {
                    for buffer in list.iter_owned().filter(|b| admit(b)) {
                        on_accept();
                        kept.add(buffer);
                    }
                }
                *list = kept;
                gst::PadProbeReturn::Ok
            }
            _ => gst::PadProbeReturn::Ok,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn rtp_of_the_negotiated_type_passes() {
        assert!(is_rtp(&rtp(96, &[0x65, 1, 2]), 96));
        assert!(
            is_rtp(&rtp(96 | 0x80, &[1]), 96),
            "the marker bit is not part of the type"
        );
    }

    #[test]
    fn junk_and_other_types_do_not() {
        assert!(!is_rtp(&rtp(97, &[1]), 96));
        assert!(!is_rtp(b"hello there, station", 96));
        assert!(!is_rtp(&[0x80, 96, 0], 96));
        assert!(!is_rtp(&[], 96));
        // 15 CSRCs promised, none there.
        let mut p = rtp(96, &[1, 2]);
        p[0] |= 0x0f;
        assert!(!is_rtp(&p, 96));
        // An extension longer than the packet.
        let mut p = rtp(96, &[0xbe, 0xde, 0xff, 0xff]);
        p[0] |= 0x10;
        assert!(!is_rtp(&p, 96));
        // Padding longer than the packet.
        let mut p = rtp(96, &[1, 200]);
        p[0] |= 0x20;
        assert!(!is_rtp(&p, 96));
    }

    #[test]
    fn a_second_sender_waits_until_the_first_falls_silent() {
        let mut lock = SsrcLock::default();
        assert!(lock.admit(7, 1000));
        assert!(!lock.admit(9, 1200), "another SSRC while the first talks");
        assert!(lock.admit(7, 1500));
        assert!(!lock.admit(9, 2400));
        assert!(
            lock.admit(9, 2600),
            "the first has been silent for a second: a restarted sender"
        );
        assert!(!lock.admit(7, 2700));
    }

    #[test]
    fn srtp_padding_is_not_read_from_the_tag() {
        // An SRTP packet with the padding bit: its last byte is part of the tag.
        let mut p = rtp(96, &[1, 2, 3, 0xff]);
        p[0] |= 0x20;
        assert!(!is_rtp(&p, 96));
        assert!(is_srtp(&p, 96));
        assert!(!is_srtp(&rtp(97, &[1]), 96));
        assert!(!is_srtp(&[0x80, 96, 0, 1, 0, 0], 96));
        let mut p = rtp(96, &[0xbe, 0xde, 0xff, 0xff]);
        p[0] |= 0x10;
        assert!(!is_srtp(&p, 96), "an extension longer than the packet");
    }

    #[test]
    fn srtcp_passes_the_rtcp_check() {
        // SRTCP (RFC 3711 section 3.4): the first 8 bytes in the clear, then the
        // encrypted rest, the E flag and index, and the tag.
        let mut srtcp = vec![0x80, 200, 0, 6, 1, 2, 3, 4];
        srtcp.extend_from_slice(&[0xaa; 20]);
        srtcp.extend_from_slice(&[0x80, 0, 0, 1]);
        srtcp.extend_from_slice(&[0x55; 10]);
        assert!(is_rtcp(&srtcp));
    }

    #[test]
    fn rtcp_needs_version_type_and_length() {
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert!(is_rtcp(&rr));
        assert!(!is_rtcp(&[0x80, 96, 0, 1, 0, 0, 0, 1]));
        assert!(!is_rtcp(&[0x80, 201, 0, 9, 0, 0, 0, 1]));
        assert!(!is_rtcp(&[0x40, 201, 0, 1, 0, 0, 0, 1]));
        assert!(!is_rtcp(b"junk"));
    }

    /// Authenticated packets (after srtpdec) of a second SSRC do not reach rtpbin while
    /// the first talks, one by one or in a list.
    #[test]
    fn after_decryption_one_ssrc_is_followed() {
        use gst::prelude::*;
        crate::base::gst::init().unwrap();
        let pipeline =
            gst::parse::launch("appsrc name=src format=time ! identity name=gate ! appsink name=sink sync=false")
                .unwrap()
                .downcast::<gst::Pipeline>()
                .unwrap();
        let kept = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = kept.clone();
        let gate = pipeline.by_name("gate").unwrap().static_pad("src").unwrap();
        let payloads = Payloads {
            repairs: Some(98),
            ..Payloads::only(96)
        };
        follow_one_ssrc(&gate, payloads, move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let src = pipeline
            .by_name("src")
            .unwrap()
            .downcast::<gstreamer_app::AppSrc>()
            .unwrap();
        let sink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gstreamer_app::AppSink>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let packet = |ssrc: u8| {
            let mut p = rtp(if ssrc > 20 { 98 } else { 96 }, &[1, 2, 3]);
            p[11] = ssrc;
            gst::Buffer::from_slice(p)
        };
        // 21 and 23 are repairs: the first repair SSRC is followed beside the stream's.
        for ssrc in [7, 7, 21, 9, 23, 7, 21] {
            src.push_buffer(packet(ssrc)).unwrap();
        }
        let mut list = gst::BufferList::new();
        for ssrc in [9, 7, 9] {
            list.get_mut().unwrap().add(packet(ssrc));
        }
        src.push_buffer_list(list).unwrap();
        src.end_of_stream().unwrap();
        let mut ssrcs = vec![];
        while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(5)) {
            let buffers = sample.buffer_list().map(|l| l.iter_owned().collect::<Vec<_>>());
            for buffer in buffers.unwrap_or_else(|| sample.buffer_owned().into_iter().collect()) {
                ssrcs.push(buffer.map_readable().unwrap()[11]);
            }
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(ssrcs, vec![7, 7, 21, 7, 21, 7]);
        assert_eq!(kept.load(std::sync::atomic::Ordering::Relaxed), 6);
    }

    #[test]
    fn repairs_pass_as_their_own_type_under_their_own_ssrc() {
        let payloads = Payloads {
            main: 96,
            events: None,
            repairs: Some(98),
        };
        assert!(payloads.admit(&rtp(98, &[0, 1, 2]), is_rtp));
        assert!(
            !Payloads::only(96).admit(&rtp(98, &[0, 1, 2]), is_rtp),
            "no repairs negotiated"
        );
        assert!(!payloads.admit(&rtp(99, &[0, 1, 2]), is_rtp));
        let mut locks = StreamLocks::default();
        let with_ssrc = |pt: u8, ssrc: u8| {
            let mut p = rtp(pt, &[1]);
            p[11] = ssrc;
            p
        };
        assert!(locks.admit(&payloads, &with_ssrc(96, 7)));
        assert!(
            locks.admit(&payloads, &with_ssrc(98, 8)),
            "the repairs' SSRC beside the stream's"
        );
        assert!(!locks.admit(&payloads, &with_ssrc(98, 9)), "a second repair SSRC");
        assert!(
            !locks.admit(&payloads, &with_ssrc(96, 8)),
            "the repairs' SSRC as the stream"
        );
    }
}
