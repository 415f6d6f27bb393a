//! Reading the other side's SDP: the boundary where a stranger's text becomes values the
//! media layer will use. Everything that leaves this module is checked: payload types
//! fit RTP's 7 bits (0..=127), ports are 1..=65535, and addresses are unicast, specified
//! and of the station's own family. A value that fails is treated as absent, so the
//! stream is refused (port 0 in the answer) rather than handed to GStreamer.

use super::{AudioCodec, SdpError};
use sdp::description::media::MediaDescription;
use sdp::description::session::SessionDescription;
use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

/// The largest SDP body we read; a real offer is well under 4 kB.
pub(super) const MAX_SDP_BYTES: usize = 16 * 1024;

/// The largest RTP payload type (the field has 7 bits).
const MAX_PT: u8 = 127;

/// Parses an SDP body, bounded in size.
pub(super) fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    if text.trim().is_empty() {
        return Err(SdpError::Malformed("empty body".into()));
    }
    if text.len() > MAX_SDP_BYTES {
        return Err(SdpError::Malformed(format!(
            "{} bytes is more than the {MAX_SDP_BYTES} bytes an SDP body may have",
            text.len()
        )));
    }
    // Some peers end lines with a bare LF; the parser wants CRLF.
    let normalised: String = text
        .lines()
        .map(|l| format!("{}\r\n", l.trim_end_matches('\r')))
        .collect();
    SessionDescription::unmarshal(&mut Cursor::new(normalised.as_bytes()))
        .map_err(|e| SdpError::Malformed(printable(&e.to_string())))
}

/// Text safe to show a person or write to a log line: control characters and anything
/// outside printable ASCII become `?`, and it is cut to 120 characters.
pub(super) fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(120)
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    if text.chars().count() > 120 {
        out.push('…');
    }
    out
}

/// Whether `ip` is an address RTP may be sent to from a station at `local`: unicast,
/// specified, not broadcast, and of the same family (a station with only IPv4 cannot
/// reach an IPv6 peer).
pub(super) fn usable_peer_address(ip: IpAddr, local: IpAddr) -> bool {
    if ip.is_unspecified() || ip.is_multicast() || ip.is_ipv4() != local.is_ipv4() {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => !v4.is_broadcast(),
        IpAddr::V6(_) => true,
    }
}

/// RTP and RTCP destinations of a media section (media `c=` wins over session `c=`),
/// or None when the section has no usable address or port.
pub(super) fn stream_addrs(
    md: &MediaDescription,
    s: &SessionDescription,
    local: IpAddr,
) -> Option<(SocketAddr, SocketAddr)> {
    let conn = md
        .connection_information
        .as_ref()
        .or(s.connection_information.as_ref())?;
    let ip: IpAddr = conn.address.as_ref()?.address.split('/').next()?.parse().ok()?;
    if !usable_peer_address(ip, local) {
        return None;
    }
    let port = u16::try_from(md.media_name.port.value).ok().filter(|p| *p > 0)?;
    let rtcp_port = match md.attribute("rtcp").flatten() {
        Some(v) => v.split_whitespace().next()?.parse::<u16>().ok().filter(|p| *p > 0)?,
        // RTCP on the next port (RFC 3550 section 11), which RTP's last port lacks.
        None => port.checked_add(1)?,
    };
    Some((SocketAddr::new(ip, port), SocketAddr::new(ip, rtcp_port)))
}

/// The formats of a media section as (pt, encoding) in `m=` order; static types without
/// rtpmap get an empty encoding. Formats that are not RTP payload types are skipped.
pub(super) fn formats(md: &MediaDescription) -> Vec<(u8, String)> {
    md.media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter(|pt| *pt <= MAX_PT)
        .map(|pt| {
            let enc = md
                .attributes
                .iter()
                .filter(|a| a.key == "rtpmap")
                .filter_map(|a| a.value.as_deref()?.split_once(' '))
                .find(|(p, _)| p.trim().parse::<u8>().ok() == Some(pt))
                .map(|(_, e)| e.trim().to_string())
                .unwrap_or_default();
            (pt, enc)
        })
        .collect()
}

fn fmtp(md: &MediaDescription, pt: u8) -> String {
    md.attributes
        .iter()
        .filter(|a| a.key == "fmtp")
        .filter_map(|a| a.value.as_deref()?.split_once(' '))
        .find(|(p, _)| p.trim().parse::<u8>().ok() == Some(pt))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

fn packetization_mode(fmtp: &str) -> Option<u8> {
    let value = fmtp
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("packetization-mode"))
        .map(|(_, v)| v.trim());
    match value {
        // RFC 6184: absent means mode 0.
        None => Some(0),
        Some("0") => Some(0),
        Some("1") => Some(1),
        // Mode 2 (interleaved) or garbage: not a format we can take.
        Some(_) => None,
    }
}

/// Whether the other side asks for Opus in-band FEC on format `pt` (RFC 7587:
/// `useinbandfec=1`; absent means no).
pub(super) fn asks_for_fec(md: &MediaDescription, pt: u8) -> bool {
    fmtp(md, pt)
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k.trim().eq_ignore_ascii_case("useinbandfec") && v.trim() == "1")
}

/// First H.264 format with packetization-mode 1, else the first with mode 0.
pub(super) fn pick_h264(md: &MediaDescription) -> Option<(u8, u8)> {
    let h264: Vec<(u8, u8)> = formats(md)
        .into_iter()
        .filter(|(_, enc)| enc.to_ascii_lowercase().starts_with("h264/90000"))
        .filter_map(|(pt, _)| Some((pt, packetization_mode(&fmtp(md, pt))?)))
        .collect();
    h264.iter()
        .find(|(_, m)| *m == 1)
        .or_else(|| h264.iter().find(|(_, m)| *m == 0))
        .copied()
}

/// Our most preferred audio codec that the section offers.
pub(super) fn pick_audio(md: &MediaDescription, ours: &[AudioCodec]) -> Option<(AudioCodec, u8)> {
    let offered = formats(md);
    ours.iter().find_map(|codec| {
        offered
            .iter()
            .find(|(pt, enc)| codec.matches(enc, *pt))
            .map(|(pt, _)| (*codec, *pt))
    })
}

/// The telephone-event format to use beside `codec`: the one at the codec's clock rate
/// (RFC 4733 section 2.1), else none. Returns its payload type and rate.
pub(super) fn pick_telephone_event(md: &MediaDescription, codec: AudioCodec) -> Option<(u8, u32)> {
    let events: Vec<(u8, u32)> = formats(md)
        .into_iter()
        .filter_map(|(pt, enc)| {
            let mut parts = enc.split('/');
            let name = parts.next()?;
            let rate: u32 = parts.next()?.trim().parse().ok()?;
            name.eq_ignore_ascii_case("telephone-event").then_some((pt, rate))
        })
        .collect();
    // RFC 4733 wants the audio's clock rate; many phones offer 8000 beside Opus only,
    // and their digits count all the same (a digit is read from its event code).
    let same_rate = events.iter().find(|(_, rate)| *rate == codec.clock_rate());
    same_rate.or(events.first()).copied()
}

/// Whether the section takes picture loss indications for format `pt`
/// (`a=rtcp-fb:PT nack pli` or `a=rtcp-fb:* nack pli`, RFC 4585 section 4.2).
pub(super) fn asks_for_pli(md: &MediaDescription, pt: u8) -> bool {
    takes_feedback(md, pt, &["nack", "pli"])
}

/// Whether the section takes generic NACKs for format `pt` (`a=rtcp-fb:PT nack` or
/// `a=rtcp-fb:* nack`: `nack` alone, not `nack pli`).
fn takes_nack(md: &MediaDescription, pt: u8) -> bool {
    takes_feedback(md, pt, &["nack"])
}

/// Whether an `a=rtcp-fb` line for format `pt` (or `*`) names exactly `kind` (RFC 4585
/// section 4.2), in any case.
fn takes_feedback(md: &MediaDescription, pt: u8, kind: &[&str]) -> bool {
    md.attributes
        .iter()
        .filter(|a| a.key == "rtcp-fb")
        .filter_map(|a| a.value.as_deref())
        .any(|value| {
            let mut words = value.split_ascii_whitespace();
            let applies = words
                .next()
                .is_some_and(|p| p == "*" || p.parse::<u8>().ok() == Some(pt));
            let named: Vec<&str> = words.collect();
            applies && named.len() == kind.len() && named.iter().zip(kind).all(|(w, k)| w.eq_ignore_ascii_case(k))
        })
}

/// The RTX format (RFC 4588: `rtx/90000` with `apt=PT`) that repairs format `pt`, when
/// the section has one and takes NACKs for `pt`: retransmission needs both.
pub(super) fn repairs(md: &MediaDescription, pt: u8) -> Option<u8> {
    if !takes_nack(md, pt) {
        return None;
    }
    formats(md)
        .into_iter()
        .filter(|(_, enc)| enc.eq_ignore_ascii_case("rtx/90000"))
        .find(|(rtx, _)| {
            fmtp(md, *rtx)
                .split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .any(|(k, v)| k.trim().eq_ignore_ascii_case("apt") && v.trim().parse::<u8>().ok() == Some(pt))
        })
        .map(|(rtx, _)| rtx)
}
