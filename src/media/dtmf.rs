//! DTMF digits as RTP events (RFC 4733) on the call's audio stream.
//!
//! Receiving: what passed the gate (and srtpdec, for an encrypted stream) is looked at
//! before rtpbin; packets of the negotiated telephone-event payload type are read here
//! and dropped, so the audio decoder never sees them. One digit is reported per event
//! (its packets share one RTP timestamp, the end packet is sent three times).
//!
//! Sending: rtpdtmfsrc beside the audio payloader, both into rtpdtmfmux, which gives
//! them one SSRC and sequence and lets the event take the stream's place while it lasts.

use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, warn};

/// Where received digits go.
pub type DigitOut = Arc<dyn Fn(char) + Send + Sync>;

/// A slot for [`DigitOut`] that the station fills once it has the session.
pub type DigitSlot = Arc<Mutex<Option<DigitOut>>>;

/// How long a sent digit lasts.
const DIGIT_LENGTH: Duration = Duration::from_millis(200);

/// The digit of RFC 4733 event code `code` (0–9, `*`, `#`, A–D); other events (flash,
/// tones) are not digits.
pub fn digit_of(code: u8) -> Option<char> {
    match code {
        0..=9 => Some((b'0' + code) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + code - 12) as char),
        _ => None,
    }
}

/// The event code of `digit`.
pub fn code_of(digit: char) -> Option<u8> {
    (0..=15).find(|&code| digit_of(code) == Some(digit.to_ascii_uppercase()))
}

/// Reads digits from RTP packets of the telephone-event payload type.
#[derive(Debug, Default)]
pub struct Detector {
    /// The event last reported: (SSRC, RTP timestamp).
    last: Option<(u32, u32)>,
}

impl Detector {
    /// The digit `packet` starts, if it is the first packet of a new digit event.
    pub fn packet(&mut self, packet: &[u8], pt: u8) -> Option<char> {
        let header = super::rtp_filter::rtp_header(packet, pt)?;
        let payload = packet.get(header..header + 4)?;
        let digit = digit_of(payload[0])?;
        let ssrc = u32::from_be_bytes(packet[8..12].try_into().ok()?);
        let timestamp = u32::from_be_bytes(packet[4..8].try_into().ok()?);
        if self.last == Some((ssrc, timestamp)) {
            return None;
        }
        self.last = Some((ssrc, timestamp));
        Some(digit)
    }
}

/// Reads and drops the telephone events that leave `pad` (the pad feeding rtpbin's
/// audio session); their digits go to `slot`'s receiver.
pub(super) fn tap(pad: &gst::Pad, pt: u8, slot: DigitSlot) {
    let detector = Mutex::new(Detector::default());
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(map) = buffer.map_readable() else {
            return gst::PadProbeReturn::Ok;
        };
        if map.len() < 2 || map[1] & 0x7f != pt {
            return gst::PadProbeReturn::Ok;
        }
        if let Some(digit) = detector.lock().unwrap().packet(&map, pt) {
            debug!(%digit, "DTMF digit received");
            if let Some(out) = slot.lock().unwrap().as_ref() {
                out(digit);
            }
        }
        gst::PadProbeReturn::Drop
    });
}

/// The sending side's elements: rtpdtmfsrc (named `dtmfsrc`) and rtpdtmfmux, linked;
/// the audio payloader goes into the mux, and the mux is what goes to rtpbin.
pub(super) fn add_sender(
    pipeline: &gst::Pipeline,
    payloader: &gst::Element,
    pt: u8,
    clock_rate: u32,
) -> Result<gst::Element, super::MediaError> {
    let src = super::make("rtpdtmfsrc", "dtmfsrc")?;
    src.set_property("pt", pt as u32);
    src.set_property("clock-rate", clock_rate);
    let mux = super::make("rtpdtmfmux", "dtmfmux")?;
    pipeline.add_many([&src, &mux]).map_err(super::MediaError::link)?;
    payloader
        .link_pads(None, &mux, Some("sink_%u"))
        .map_err(super::MediaError::link)?;
    src.link_pads(None, &mux, Some("priority_sink_%u"))
        .map_err(super::MediaError::link)?;
    Ok(mux)
}

/// Sends `digit` as a telephone event from the send pipeline's rtpdtmfsrc, for
/// [`DIGIT_LENGTH`]. False when the call has no telephone events or `digit` is not one.
pub(super) fn send(pipeline: &gst::Pipeline, digit: char) -> bool {
    let (Some(src), Some(code)) = (pipeline.by_name("dtmfsrc"), code_of(digit)) else {
        return false;
    };
    let event = move |start: bool| {
        let s = gst::Structure::builder("dtmf-event")
            .field("type", 1i32)
            .field("number", code as i32)
            .field("volume", 25i32)
            .field("start", start)
            .build();
        gst::event::CustomUpstream::new(s)
    };
    // Into its source pad: basesrc's element-level send_event leaves custom upstream
    // events to the subclass's own, which rtpdtmfsrc does not have.
    let Some(pad) = src.static_pad("src") else {
        return false;
    };
    if !pad.send_event(event(true)) {
        warn!(%digit, "the DTMF sender did not take the digit");
        return false;
    }
    std::thread::spawn(move || {
        std::thread::sleep(DIGIT_LENGTH);
        pad.send_event(event(false));
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(pt: u8, ssrc: u32, timestamp: u32, code: u8, end: bool) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 1];
        p.extend_from_slice(&timestamp.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[code, if end { 0x80 } else { 0 } | 10, 0x03, 0x20]);
        p
    }

    #[test]
    fn digits_and_codes_map_both_ways() {
        for (code, digit) in [(0, '0'), (9, '9'), (10, '*'), (11, '#'), (12, 'A'), (15, 'D')] {
            assert_eq!(digit_of(code), Some(digit));
            assert_eq!(code_of(digit), Some(code));
        }
        assert_eq!(digit_of(16), None);
        assert_eq!(code_of('x'), None);
        assert_eq!(code_of('b'), Some(13));
    }

    #[test]
    fn one_digit_per_event_however_many_packets_it_has() {
        let mut d = Detector::default();
        assert_eq!(d.packet(&event(101, 7, 1000, 11, false), 101), Some('#'));
        assert_eq!(d.packet(&event(101, 7, 1000, 11, false), 101), None);
        for _ in 0..3 {
            assert_eq!(d.packet(&event(101, 7, 1000, 11, true), 101), None);
        }
        assert_eq!(
            d.packet(&event(101, 7, 2600, 11, false), 101),
            Some('#'),
            "the same key again"
        );
        assert_eq!(d.packet(&event(101, 7, 4000, 1, false), 101), Some('1'));
    }

    #[test]
    fn odd_packets_are_no_digits() {
        let mut d = Detector::default();
        assert_eq!(
            d.packet(&event(100, 7, 1000, 11, false), 101),
            None,
            "another payload type"
        );
        assert_eq!(
            d.packet(&event(101, 7, 1000, 200, false), 101),
            None,
            "not a digit event"
        );
        let short = &event(101, 7, 1000, 11, false)[..14];
        assert_eq!(d.packet(short, 101), None, "payload cut short");
        assert_eq!(d.packet(&[], 101), None);
    }
}
