//! What goes into the call machine and what comes out: events, actions, states, and
//! what is known of the other end.

use crate::call::sdp::{LocalMedia, Negotiated};
use serde::Serialize;

/// What we know about the other end of a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerInfo {
    /// The contact's name when the peer is in our contact list.
    pub contact: Option<String>,
    /// The peer's SIP URI or address, for logs and the screen when it is not a contact.
    pub uri: String,
    /// IP address of the peer, used to recognise glare.
    pub ip: std::net::IpAddr,
    /// Answer without a key press.
    pub auto_answer: bool,
    /// Show the caller's video while ringing.
    pub preview: bool,
    /// The call goes over TLS with SRTP to the contact's pinned certificate.
    pub secure: bool,
}

impl PeerInfo {
    /// A short name for people: the contact name, else the URI.
    pub fn label(&self) -> &str {
        self.contact.as_deref().unwrap_or(&self.uri)
    }
}

/// Inputs to the machine. `call` is the SIP Call-ID.
#[derive(Debug, Clone)]
pub enum Event {
    /// A person asked to call `peer`; `call` is the Call-ID the INVITE will use.
    Dial {
        call: String,
        peer: PeerInfo,
        local: LocalMedia,
    },
    /// A person rang a ring group: one INVITE per member, at once; the first to answer
    /// gets the call.
    DialGroup {
        /// The group's name, for the screen.
        group: String,
        /// Per member: the Call-ID its INVITE will use, who, and our media for it.
        members: Vec<(String, PeerInfo, LocalMedia)>,
    },
    /// A person answered the ringing call.
    Answer,
    /// A person hung up, cancelled or declined, whatever the state.
    Hangup,
    /// An INVITE arrived.
    Incoming {
        call: String,
        peer: PeerInfo,
        offer: String,
        local: LocalMedia,
        allow_unknown: bool,
    },
    /// 180 or 183 arrived for our INVITE, with SDP for early media.
    Progress { call: String, early_sdp: Option<String> },
    /// 200 arrived for our INVITE.
    Answered { call: String, answer_sdp: String },
    /// Our INVITE failed: a final status, or none for timeout / transport failure.
    Failed {
        call: String,
        status: Option<u16>,
        reason: String,
    },
    /// The caller cancelled its INVITE; `elsewhere`: because someone else answered it
    /// (a ring group, a forking proxy).
    RemoteCancelled { call: String, elsewhere: bool },
    /// The other end sent BYE.
    RemoteEnded { call: String },
    /// We answered and the caller never confirmed (no ACK): the dialog is over.
    AckTimeout { call: String },
    /// No RTP from the peer for the media timeout.
    MediaTimeout { call: String },
    /// A re-INVITE or UPDATE in the established call: hold, resume, a new address or
    /// port, a stream added or removed. `offer` is its SDP, None when it has none.
    RemoteOffer { call: String, offer: Option<String> },
    /// A person put the call on hold.
    Hold,
    /// A person took the call off hold.
    Resume,
    /// The outcome of our re-INVITE: the answer, or the failure status (0: no response).
    OfferAnswered { call: String, answer: Result<String, u16> },
    /// The wait after a 491 is over: re-offer what we still want.
    RetryReoffer { call: String },
    /// An incoming call rang for the whole ring timeout without an answer (a caller that
    /// vanished without CANCEL rings no longer than this).
    RingTimeout { call: String },
}

/// Outputs of the machine, carried out by the user agent and the media layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send an INVITE with this offer.
    SendInvite {
        call: String,
        peer: PeerInfo,
        offer: String,
    },
    /// Send 180 (no SDP) or 183 with an early answer.
    SendRinging { call: String, early_answer: Option<String> },
    /// Send 200 with the answer.
    Accept { call: String, answer: String },
    /// Send a final error status to an INVITE.
    Reject { call: String, status: u16 },
    /// CANCEL our pending INVITE.
    Cancel { call: String },
    /// CANCEL our pending INVITE because another member of the group answered
    /// (RFC 3326 Reason, cause 200).
    CancelElsewhere { call: String },
    /// BYE an established call.
    Bye { call: String },
    /// Answer a re-INVITE or UPDATE: a status, and our SDP with a 2xx.
    RespondOffer {
        call: String,
        status: u16,
        sdp: Option<String>,
    },
    /// Send a re-INVITE with this offer (hold, resume).
    SendReoffer { call: String, offer: String },
    /// Both sides re-offered at once (491): feed [`Event::RetryReoffer`] after a random
    /// wait, 2.1 to 4 s when we placed the call (we own its Call-ID), else up to 2 s
    /// (RFC 3261 section 14.1).
    RetryReofferLater { call: String, we_placed_the_call: bool },
    /// Start or update media for a call.
    StartMedia { call: String, media: Negotiated },
    /// Stop the media of a call.
    StopMedia { call: String },
    /// Something a person should read (screen and log).
    Tell(String),
    /// A call from this peer rang out unanswered: a missed-call note that stays on the
    /// idle screen until someone is back at the station.
    Missed(String),
}

/// Where a leg of the call is; for the whole call, where its first leg is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
// One value per station: boxing the call's data would save nothing worth the indirection.
#[allow(clippy::large_enum_variant)]
pub enum State {
    /// No call.
    #[default]
    Idle,
    /// Our INVITE is out.
    Outgoing {
        /// Call-ID.
        call: String,
        /// Who we call.
        peer: PeerInfo,
        /// The peer rings (180/183 seen).
        ringing: bool,
        #[serde(skip)]
        /// Our offer's media parameters.
        local: LocalMedia,
    },
    /// An INVITE rings here.
    Incoming {
        /// Call-ID.
        call: String,
        /// Who calls.
        peer: PeerInfo,
        /// The caller's video is shown while ringing.
        preview: bool,
        #[serde(skip)]
        /// The caller's offer.
        offer: String,
        #[serde(skip)]
        /// Our media parameters.
        local: LocalMedia,
    },
    /// Media flows.
    Active {
        /// Call-ID.
        call: String,
        /// The other end.
        peer: PeerInfo,
        /// We placed the call.
        outgoing: bool,
        /// Negotiated streams.
        media: Negotiated,
        /// The other end put the call on hold (its last offer sends nothing to us or
        /// takes nothing from us).
        held_by_peer: bool,
        /// We put the call on hold.
        held_by_us: bool,
        #[serde(skip)]
        /// Our ports and the version of our last description.
        local: LocalMedia,
        #[serde(skip)]
        /// Our last description (offer or answer), sent again when a re-INVITE has none.
        local_sdp: String,
        /// Our own re-INVITE (hold or resume) awaits its answer.
        offer_pending: bool,
    },
}

/// The most stations in one call, this one included.
pub const MAX_PARTICIPANTS: usize = 4;
pub use crate::config::MAX_GROUP;
