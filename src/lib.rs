//! doorway: a LAN video intercom and doorbell station.
//!
//! Module map, in layers from the bottom up (a module imports only from layers below
//! its own; no import circles):
//! 1. [`base`], [`input`]: shared types (rectangles, clocks, copy counts, fingerprints,
//!    GStreamer's initialisation) and key/touch input.
//! 2. [`config`]; then [`device`], [`door`], [`security`].
//! 3. [`call`], [`media`], [`ui`], [`discovery`].
//! 4. [`api`]: the station's interface (commands, status, handle, who opens the door),
//!    and [`api::loopback`], stations on one machine for the demo, benchmarks and tests.
//! 5. [`web`], [`home`], [`control`]: they speak to a station through [`api`] only.
//! 6. [`station`]: the loop that owns a call and routes events to its parts.
//!
//! The `doorway` binary (`src/main.rs`, `src/cli/`) sits on top: the commands, `doorway
//! demo` and `doorway bench`.
//!
//! - [`config`]: the TOML configuration, defaults, and validation with file:line errors.
//! - [`call`]: SIP user agent ([`call::ua`], over rsipstack, with bounded TCP), the
//!   sans-IO call state machine ([`call::machine`]: calls, hold, re-INVITE), SDP
//!   offer/answer with the other side's SDP checked at the boundary ([`call::sdp`], SRTP
//!   keys in SDP too), who a caller is ([`call::identify`]) and the strict first look at
//!   every request datagram ([`call::sip_check`], [`call::guard`]), and the account on a
//!   SIP server: registration, renewal, keepalive and who the server says calls
//!   ([`call::registration`]).
//! - [`media`]: GStreamer pipelines (encode, RTP/RTCP through rtpbin, decode), codec
//!   probing, RTP port allocation, SRTP through srtpenc/srtpdec ([`media::srtp`]), the
//!   receive gate for RTP/RTCP ([`media::rtp_filter`]) and media statistics.
//! - [`device`]: one small trait per device family (camera, microphone, speaker,
//!   display) with backends chosen by name in the config, and the built-in test devices
//!   (pattern camera with a glass-to-glass time code, tone microphone, recording speaker,
//!   frame-keeping display) with their probes.
//! - [`discovery`]: stations find each other on the LAN (DNS-SD over mDNS), listed by
//!   certificate fingerprint in a bounded list.
//! - [`door`]: the door lock: a relay (GPIO line, USB relay board, or a test relay) held
//!   closed for the configured time on each "Open door".
//! - [`home`]: home automation: the station on an MQTT broker as Home Assistant
//!   discovers it (doorbell event, last visitor's snapshot, Open door, call state).
//! - [`ui`]: what the screen shows per call state, drawn with an embedded font into
//!   BGRx frames, the compositor that puts remote video and overlays together, and
//!   touch hit-testing.
//! - [`input`]: buttons and touch: the evdev backend with hot-plug, key maps with
//!   debounce and long press, touch calibration and rotation.
//! - [`security`]: the station's own key and certificate, pins of paired contacts, TLS
//!   that trusts by pin, and pairing by a code compared on both screens.
//! - [`station`]: the event loop that wires SIP, the call machine, media and devices.
//! - [`web`]: the station's web page over HTTPS: login, live status, visitor log,
//!   settings and log.
//! - [`control`]: the local control socket behind `doorway call|answer|hangup|status`.

pub mod api;
pub mod base;
pub mod call;
pub mod config;
pub mod control;
pub mod device;
pub mod discovery;

pub mod door;
pub mod home;
pub mod input;
pub mod media;
pub mod security;
pub mod station;
pub mod ui;
pub mod web;
