//! SRTP keys exchanged in SDP: SDES (RFC 4568) `a=crypto` lines for RTP/SAVP streams
//! (SRTP, RFC 3711; AES-GCM for SRTP, RFC 7714).
//!
//! Each side writes, for each stream, the master key and salt it encrypts what it sends
//! with; the other side decrypts with it. An offer lists one line per suite we support,
//! each with its own key (tags 1, 2, 3 in our order of preference); an answer takes the
//! offerer's first line it can use, echoes its tag and suite and carries the answerer's
//! own key. Keys come from the operating system's randomness, fresh for every call, and
//! are never shown: [`LocalCrypto`] and [`StreamCrypto`] print `<redacted>` for them and
//! serialise the suite only.
//!
//! Everything read here comes from the network: a line we cannot use in every detail
//! (an unknown suite, a key of the wrong length, several keys, a master key identifier,
//! a session parameter) is skipped, never half-used.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use rand::RngCore;
use sdp::description::media::MediaDescription;

/// An SRTP crypto suite (RFC 4568 section 6.2, RFC 7714 section 14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpSuite {
    /// AES-128 in Galois/counter mode (RFC 7714): encryption and a 16-byte tag in one.
    AeadAes128Gcm,
    /// AES-128 in counter mode with an 80-bit HMAC-SHA1 tag.
    AesCm128HmacSha1_80,
    /// AES-128 in counter mode with a 32-bit HMAC-SHA1 tag on SRTP (SRTCP keeps 80 bits).
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// The suites we offer, in our order of preference.
    pub const OFFERED: [SrtpSuite; 3] = [
        SrtpSuite::AeadAes128Gcm,
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
    ];

    /// The suite's name in an `a=crypto` line.
    pub fn sdp_name(self) -> &'static str {
        match self {
            Self::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite an `a=crypto` line names, if we support it (names are case-sensitive).
    pub fn from_sdp_name(name: &str) -> Option<Self> {
        Self::OFFERED.into_iter().find(|s| s.sdp_name() == name)
    }

    /// Bytes of master key and master salt together: 16 + 12 for GCM, 16 + 14 otherwise.
    pub fn key_len(self) -> usize {
        match self {
            Self::AeadAes128Gcm => 28,
            Self::AesCm128HmacSha1_80 | Self::AesCm128HmacSha1_32 => 30,
        }
    }

    /// GStreamer's srtpenc/srtpdec cipher for SRTP (the `GstSrtpCipherType` nick).
    pub fn rtp_cipher(self) -> &'static str {
        match self {
            Self::AeadAes128Gcm => "aes-128-gcm",
            _ => "aes-128-icm",
        }
    }

    /// GStreamer's authentication for SRTP (the `GstSrtpAuthType` nick): GCM needs none.
    pub fn rtp_auth(self) -> &'static str {
        match self {
            Self::AeadAes128Gcm => "null",
            Self::AesCm128HmacSha1_80 => "hmac-sha1-80",
            Self::AesCm128HmacSha1_32 => "hmac-sha1-32",
        }
    }

    /// GStreamer's cipher for SRTCP: the same as for SRTP.
    pub fn rtcp_cipher(self) -> &'static str {
        self.rtp_cipher()
    }

    /// GStreamer's authentication for SRTCP: 80 bits for both AES-CM suites (RFC 4568
    /// section 6.2.1 keeps SRTCP's tag at 80 bits in the `_32` suite).
    pub fn rtcp_auth(self) -> &'static str {
        match self {
            Self::AeadAes128Gcm => "null",
            _ => "hmac-sha1-80",
        }
    }
}

impl std::fmt::Display for SrtpSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.sdp_name())
    }
}

impl serde::Serialize for SrtpSuite {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.sdp_name())
    }
}

/// A master key and salt. Never printed; wiped (best effort) when dropped.
#[derive(Clone, PartialEq, Eq)]
struct MasterKey(Vec<u8>);

impl MasterKey {
    fn fresh(suite: SrtpSuite) -> Self {
        let mut key = vec![0u8; suite.key_len()];
        // rand's thread generator is a CSPRNG seeded from the operating system.
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }
    fn encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.0)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&self.0);
    }
}

/// Our keys for one call: for video and for audio, one fresh key per suite we offer
/// ([`SrtpSuite::OFFERED`] order). The same keys serve every description of the call
/// (re-offers, answers to re-INVITEs), so a description written twice is the same text.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalCrypto {
    video: [MasterKey; 3],
    audio: [MasterKey; 3],
}

impl LocalCrypto {
    /// New random keys, from the operating system's randomness.
    pub fn fresh() -> Self {
        let keys = || SrtpSuite::OFFERED.map(MasterKey::fresh);
        Self {
            video: keys(),
            audio: keys(),
        }
    }

    fn key(&self, kind: Kind, suite: SrtpSuite) -> &MasterKey {
        let keys = match kind {
            Kind::Video => &self.video,
            Kind::Audio => &self.audio,
        };
        let index = SrtpSuite::OFFERED.iter().position(|s| *s == suite).unwrap_or(0);
        &keys[index]
    }
}

impl std::fmt::Debug for LocalCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCrypto")
            .field("suites", &SrtpSuite::OFFERED)
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// The SRTP parameters of one negotiated stream: the suite, our key (we encrypt our SRTP
/// and SRTCP with it) and the other side's (we decrypt theirs with it). Only the suite
/// is serialised or printed.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamCrypto {
    /// The suite both sides use.
    pub suite: SrtpSuite,
    // Boxed: a negotiated call is moved around in events, and two keys inline would
    // double a stream's size.
    #[serde(skip)]
    keys: Box<KeyPair>,
}

/// Our key and theirs.
#[derive(Clone, PartialEq, Eq)]
struct KeyPair {
    send: MasterKey,
    recv: MasterKey,
}

impl StreamCrypto {
    fn new(suite: SrtpSuite, send: MasterKey, recv: MasterKey) -> Self {
        Self {
            suite,
            keys: Box::new(KeyPair { send, recv }),
        }
    }
    /// Master key and salt we encrypt with.
    pub(crate) fn send_key(&self) -> &[u8] {
        &self.keys.send.0
    }
    /// Master key and salt the other side encrypts with.
    pub(crate) fn recv_key(&self) -> &[u8] {
        &self.keys.recv.0
    }
}

impl std::fmt::Debug for StreamCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamCrypto")
            .field("suite", &self.suite)
            .field("send_key", &self.keys.send)
            .field("recv_key", &self.keys.recv)
            .finish()
    }
}

/// Which of a call's streams a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Video,
    Audio,
}

/// Why a stream's security does not fit the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// A secure call, and the stream is plain RTP.
    Unencrypted,
    /// An RTP/SAVP stream without an `a=crypto` line we can use.
    NoUsableKey,
    /// A call without keys, and the stream is encrypted.
    Encrypted,
}

impl Refusal {
    /// For a person: why the call (or this stream) was refused.
    pub(super) fn why(self) -> &'static str {
        match self {
            Self::Unencrypted => "the other side offered unencrypted media to a secure call",
            Self::NoUsableKey => {
                "the other side's encrypted media uses no SRTP key we support \
                 (AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32)"
            }
            Self::Encrypted => "the other side wants encrypted media (RTP/SAVP) but this call has no keys",
        }
    }
}

/// The profile we write: RTP/SAVP for a secure call, RTP/AVP otherwise.
pub(super) fn protos(secure: bool) -> Vec<String> {
    vec!["RTP".into(), if secure { "SAVP" } else { "AVP" }.into()]
}

/// Whether a media section is RTP/SAVP (SRTP with SDES keys).
fn is_savp(md: &MediaDescription) -> bool {
    let p = &md.media_name.protos;
    p.len() == 2 && p[0].eq_ignore_ascii_case("RTP") && p[1].eq_ignore_ascii_case("SAVP")
}

/// Whether a media section asks for any kind of secure RTP (RTP/SAVP, RTP/SAVPF,
/// UDP/TLS/RTP/SAVPF...): nothing we may answer in the clear.
fn is_secure_profile(md: &MediaDescription) -> bool {
    md.media_name
        .protos
        .iter()
        .any(|p| p.len() >= 4 && p[..4].eq_ignore_ascii_case("SAVP"))
}

/// Whether an offer has a stream it keeps (port other than 0) on RTP/SAVP: the station
/// then answers with [`LocalCrypto`]. Unreadable offers have none.
pub fn offers_srtp(offer: &str) -> bool {
    super::remote::parse(offer).is_ok_and(|remote| {
        remote
            .media_descriptions
            .iter()
            .any(|md| md.media_name.port.value != 0 && is_savp(md))
    })
}

/// The longest base64 text of a key we support (30 bytes are 40 characters).
const MAX_KEY_TEXT: usize = 64;
/// Tags have at most 9 digits (RFC 4568 section 9.1).
const MAX_TAG_DIGITS: usize = 9;

/// One usable `a=crypto` line: its tag, its suite and the key it carries.
struct Offered {
    tag: u32,
    suite: SrtpSuite,
    key: MasterKey,
}

/// Reads an `a=crypto` value, or None unless every part of it is something we use.
fn read_line(value: &str) -> Option<Offered> {
    let mut fields = value.split_ascii_whitespace();
    let (tag, suite, key_params) = (fields.next()?, fields.next()?, fields.next()?);
    // Session parameters (KDR, UNENCRYPTED_SRTP, WSH...) change how SRTP runs: skip.
    if fields.next().is_some() {
        return None;
    }
    if tag.is_empty() || tag.len() > MAX_TAG_DIGITS || !tag.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let suite = SrtpSuite::from_sdp_name(suite)?;
    // One key only: several (`;`-separated) come with master key identifiers.
    let info = key_params.strip_prefix("inline:")?;
    if info.contains(';') {
        return None;
    }
    let mut parts = info.split('|');
    let key_text = parts.next()?;
    let mut lifetime_seen = false;
    for part in parts {
        // A master key identifier (`MKI:length`) would need MKI in every packet: skip.
        if lifetime_seen || part.contains(':') || !is_lifetime(part) {
            return None;
        }
        lifetime_seen = true;
    }
    if key_text.len() > MAX_KEY_TEXT {
        return None;
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let key = engine.decode(key_text).ok()?;
    if key.len() != suite.key_len() {
        return None;
    }
    Some(Offered {
        tag: tag.parse().ok()?,
        suite,
        key: MasterKey(key),
    })
}

/// A key lifetime (`2^31` or a decimal count), which we accept and ignore: we never send
/// that many packets with one key, and the other side rekeys when it has to.
fn is_lifetime(text: &str) -> bool {
    let digits = text.strip_prefix("2^").unwrap_or(text);
    !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The usable `a=crypto` lines of a section, in its order.
fn usable_lines(md: &MediaDescription) -> impl Iterator<Item = Offered> + '_ {
    md.attributes
        .iter()
        .filter(|a| a.key == "crypto")
        .filter_map(|a| read_line(a.value.as_deref()?))
}

/// What we answer for a stream: its crypto line's tag and the stream's keys.
pub(super) struct Answered {
    pub(super) tag: u32,
    pub(super) crypto: StreamCrypto,
}

/// The security of an offered stream against ours: `Ok(None)` for plain RTP on a call
/// without keys, `Ok(Some)` for SRTP with the offerer's first usable suite, else why not.
pub(super) fn answer_stream(
    md: &MediaDescription,
    ours: Option<&LocalCrypto>,
    kind: Kind,
) -> Result<Option<Answered>, Refusal> {
    let Some(ours) = ours else {
        return if is_secure_profile(md) {
            Err(Refusal::Encrypted)
        } else {
            Ok(None)
        };
    };
    if !is_savp(md) {
        return Err(if is_secure_profile(md) {
            Refusal::NoUsableKey
        } else {
            Refusal::Unencrypted
        });
    }
    let theirs = usable_lines(md).next().ok_or(Refusal::NoUsableKey)?;
    Ok(Some(Answered {
        tag: theirs.tag,
        crypto: StreamCrypto::new(theirs.suite, ours.key(kind, theirs.suite).clone(), theirs.key),
    }))
}

/// The security of an answered stream against our offer. The suite in the answer's line
/// decides (we offered every suite we support, each with its own key); the tag is not
/// checked against ours.
pub(super) fn accept_answer(
    md: &MediaDescription,
    ours: Option<&LocalCrypto>,
    kind: Kind,
) -> Result<Option<StreamCrypto>, Refusal> {
    answer_stream(md, ours, kind).map(|a| a.map(|a| a.crypto))
}

/// The `a=crypto` lines of our offer: one per suite, tags 1, 2, 3.
pub(super) fn offer_lines(ours: &LocalCrypto, kind: Kind) -> Vec<String> {
    SrtpSuite::OFFERED
        .iter()
        .zip(1..)
        .map(|(suite, tag)| line(tag, *suite, ours.key(kind, *suite)))
        .collect()
}

/// The `a=crypto` line of our answer.
pub(super) fn answer_line(answered: &Answered) -> String {
    line(answered.tag, answered.crypto.suite, &answered.crypto.keys.send)
}

fn line(tag: u32, suite: SrtpSuite, key: &MasterKey) -> String {
    format!("{tag} {suite} inline:{}", key.encoded())
}

#[cfg(test)]
mod tests;
