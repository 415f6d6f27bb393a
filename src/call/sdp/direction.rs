//! Media direction (RFC 3264 section 5.1): sendrecv, sendonly, recvonly, inactive.

use sdp::description::media::MediaDescription;
use sdp::description::session::SessionDescription;

/// Media direction, from our point of view once negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// We send only.
    SendOnly,
    /// We receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    pub(super) fn attr(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }
    pub(super) fn from_media(md: &MediaDescription, session: &SessionDescription) -> Self {
        for (name, dir) in [
            ("sendonly", Self::SendOnly),
            ("recvonly", Self::RecvOnly),
            ("inactive", Self::Inactive),
            ("sendrecv", Self::SendRecv),
        ] {
            if md.attribute(name).is_some() {
                return dir;
            }
        }
        for (name, dir) in [
            ("sendonly", Self::SendOnly),
            ("recvonly", Self::RecvOnly),
            ("inactive", Self::Inactive),
        ] {
            if session.has_attribute(name) {
                return dir;
            }
        }
        Self::SendRecv
    }
    /// The direction seen from the other end.
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }
    /// What both `self` and `other` allow.
    pub fn intersect(self, other: Self) -> Self {
        let send = self.sends() && other.sends();
        let recv = self.receives() && other.receives();
        match (send, recv) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }
    /// Whether media flows from us.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }
    /// Whether media flows to us.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}
