//! Writing our descriptions: the session part and each media section's formats.

use super::{AudioCodec, Direction, LocalMedia, PROFILE_LEVEL_ID};
use sdp::description::common::{Address, Attribute, ConnectionInformation};
use sdp::description::media::{MediaDescription, MediaName, RangedPort};
use sdp::description::session::{Origin, SessionDescription, TimeDescription, Timing};
use std::net::IpAddr;

pub(super) fn session(local: &LocalMedia) -> SessionDescription {
    let (addr_type, addr) = ip_fields(local.addr);
    SessionDescription {
        origin: Origin {
            username: "doorway".into(),
            session_id: local.session_id,
            session_version: local.version,
            network_type: "IN".into(),
            address_type: addr_type.into(),
            unicast_address: addr.clone(),
        },
        session_name: "doorway".into(),
        connection_information: Some(ConnectionInformation {
            network_type: "IN".into(),
            address_type: addr_type.into(),
            address: Some(Address {
                address: addr,
                ttl: None,
                range: None,
            }),
        }),
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: 0,
                stop_time: 0,
            },
            repeat_times: vec![],
        }],
        ..Default::default()
    }
}

fn ip_fields(ip: IpAddr) -> (&'static str, String) {
    match ip {
        IpAddr::V4(v4) => ("IP4", v4.to_string()),
        IpAddr::V6(v6) => ("IP6", v6.to_string()),
    }
}

pub(super) fn media(kind: &str, port: u16, direction: Direction) -> MediaDescription {
    MediaDescription {
        media_name: MediaName {
            media: kind.into(),
            port: RangedPort {
                value: port as isize,
                range: None,
            },
            protos: vec!["RTP".into(), "AVP".into()],
            formats: vec![],
        },
        media_title: None,
        connection_information: None,
        bandwidth: vec![],
        encryption_key: None,
        attributes: vec![Attribute::new(direction.attr().into(), None)],
    }
}

fn with_format(mut md: MediaDescription, pt: u8, rtpmap: &str, fmtp: Option<&str>) -> MediaDescription {
    md.media_name.formats.push(pt.to_string());
    md = md.with_value_attribute("rtpmap".into(), format!("{pt} {rtpmap}"));
    if let Some(fmtp) = fmtp {
        md = md.with_value_attribute("fmtp".into(), format!("{pt} {fmtp}"));
    }
    md
}

/// An H.264 format. We ask for and honour picture loss indications (RFC 4585
/// `nack pli`): a peer that sends keyframes seldom (baresip: every 10 s) would otherwise
/// leave the screen blank for that long when the first one is lost.
pub(super) fn add_h264(md: MediaDescription, pt: u8, mode: u8) -> MediaDescription {
    let fmtp = format!("profile-level-id={PROFILE_LEVEL_ID};packetization-mode={mode}");
    with_format(md, pt, "H264/90000", Some(&fmtp)).with_value_attribute("rtcp-fb".into(), format!("{pt} nack pli"))
}

/// The RTX format (RFC 4588) that repairs format `apt`, and generic NACK for `apt`
/// (RFC 4585): we take the other side's NACKs and send the lost packets again.
pub(super) fn add_rtx(md: MediaDescription, pt: u8, apt: u8) -> MediaDescription {
    with_format(md, pt, "rtx/90000", Some(&format!("apt={apt}")))
        .with_value_attribute("rtcp-fb".into(), format!("{apt} nack"))
}

pub(super) fn add_audio(md: MediaDescription, codec: AudioCodec, pt: u8) -> MediaDescription {
    let fmtp = (codec == AudioCodec::Opus).then_some("useinbandfec=1;stereo=0");
    with_format(md, pt, codec.rtpmap(), fmtp)
}

pub(super) fn add_dtmf(md: MediaDescription, pt: u8, rate: u32) -> MediaDescription {
    with_format(md, pt, &format!("telephone-event/{rate}"), Some("0-15"))
}

pub(super) fn rejected(md: &MediaDescription) -> MediaDescription {
    let mut out = media(&md.media_name.media, 0, Direction::Inactive);
    out.media_name.protos = md.media_name.protos.clone();
    out.media_name.formats = md.media_name.formats.iter().take(1).cloned().collect();
    if out.media_name.formats.is_empty() {
        out.media_name.formats.push("0".into());
    }
    out
}
