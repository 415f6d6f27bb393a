//! What the user agent reports to the station.

use super::{message, text, Caller};
use std::net::IpAddr;

/// What the user agent reports to the station.
#[derive(Debug, Clone)]
pub enum UaEvent {
    /// A new INVITE.
    Incoming {
        /// Call-ID.
        call: String,
        /// Who sent it, as far as the transport and the SIP server tell.
        caller: Caller,
        /// The SDP offer.
        offer: String,
    },
    /// The account's registration changed.
    Account(crate::call::registration::AccountStatus),
    /// 180/183 for our INVITE.
    Progress {
        /// Call-ID.
        call: String,
        /// SDP of a 183, if any.
        early_sdp: Option<String>,
    },
    /// 2xx for our INVITE.
    Answered {
        /// Call-ID.
        call: String,
        /// SDP answer.
        answer_sdp: String,
    },
    /// A caller who may not ring this station was refused (403); at most one such
    /// event per source address every ten seconds.
    Refused {
        /// The From URI.
        from_uri: String,
        /// Where the INVITE came from.
        source: IpAddr,
        /// Why, for a person.
        why: String,
    },
    /// Our INVITE ended without a call.
    Failed {
        /// Call-ID.
        call: String,
        /// Final status, or none for timeout or transport failure.
        status: Option<u16>,
        /// Reason text.
        reason: String,
    },
    /// The caller cancelled.
    Cancelled {
        /// Call-ID.
        call: String,
        /// Because the call was answered elsewhere (RFC 3326 Reason, cause 200).
        elsewhere: bool,
    },
    /// The dialog ended with a BYE.
    Ended {
        /// Call-ID.
        call: String,
    },
    /// A re-INVITE or UPDATE in an established call; answer with
    /// [`UserAgent::respond_offer`].
    RemoteOffer {
        /// Call-ID.
        call: String,
        /// Its SDP, if it carries one.
        offer: Option<String>,
    },
    /// The outcome of our re-INVITE: the answer SDP, or the failure status (0: none).
    OfferAnswered {
        /// Call-ID.
        call: String,
        /// Answer or status.
        answer: Result<String, u16>,
    },
    /// A pairing message ([`crate::security::pairing`]) from a peer; answer through
    /// `reply` (a 200 with a body, or a refusal).
    Pairing {
        /// Who sent it.
        caller: Caller,
        /// The JSON body.
        body: String,
        /// Where the answer goes.
        reply: message::Replier,
    },
    /// A text message (checked: short UTF-8 text); answer through `reply` (200, or 403
    /// for someone who may not write to us).
    Text {
        /// Who sent it.
        from: text::TextFrom,
        /// The text, one line.
        text: String,
        /// Where the answer goes.
        reply: message::Replier,
    },
    /// We answered, but the caller never confirmed with an ACK (RFC 3261 13.3.1.4); the
    /// dialog is over.
    NoAck {
        /// Call-ID.
        call: String,
    },
}
