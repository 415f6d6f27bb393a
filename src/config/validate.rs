//! The checks serde cannot make: names, URIs, device names, key maps and ranges, each
//! failing with the path of the field it is about.

use super::{Config, Problem, AUDIO_BACKENDS, AUDIO_CODECS, CAMERA_BACKENDS, DISPLAY_BACKENDS};

impl Config {
    /// Checks values serde cannot check: names, URIs, device names, ranges.
    pub fn validate(&self) -> Result<(), Problem> {
        self.validate_sip_strings()?;
        let s = &self.station;
        if s.name.trim().is_empty() {
            return Err(Problem::new(&["station", "name"], "must not be empty"));
        }
        if s.user.is_empty() || !s.user.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(Problem::new(
                &["station", "user"],
                "allowed: letters, digits, '-', '_' and '.' (it becomes sip:USER@host)",
            ));
        }
        for (field, secs) in [
            ("ring_timeout_secs", s.ring_timeout_secs),
            ("incoming_ring_timeout_secs", s.incoming_ring_timeout_secs),
            ("setup_timeout_secs", s.setup_timeout_secs),
            ("media_timeout_secs", s.media_timeout_secs),
        ] {
            if !(1..=600).contains(&secs) {
                return Err(Problem::new(&["station", field], "allowed: 1 to 600 seconds"));
            }
        }
        if s.quick_replies.len() > 4 {
            return Err(Problem::new(
                &["station", "quick_replies"],
                "at most 4 (they are buttons)",
            ));
        }
        for (i, text) in s.quick_replies.iter().enumerate() {
            let clean = crate::base::text::clean_text(text);
            if clean.is_empty() || clean.chars().count() > 40 || clean != *text {
                return Err(Problem::at(
                    vec!["station".into(), "quick_replies".into(), i.to_string()],
                    "allowed: 1 to 40 characters on one line, without leading, trailing or double spaces",
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.contacts.iter().enumerate() {
            let at = |f: &str| vec!["contact".to_string(), i.to_string(), f.to_string()];
            if c.name.trim().is_empty() {
                return Err(Problem::at(at("name"), "must not be empty"));
            }
            if !seen.insert(c.name.to_lowercase()) {
                return Err(Problem::at(at("name"), "another contact already has this name"));
            }
            if c.uri.trim().is_empty() {
                if c.station.is_none() && c.fingerprint.is_none() {
                    return Err(Problem::at(
                        at("uri"),
                        "missing: give its address (uri), the name its station announces on the LAN (station), or its fingerprint",
                    ));
                }
            } else {
                match super::peer::parse_peer(&c.uri) {
                    Ok(_) => {}
                    // A name, not an address: an address of record, called through the account.
                    Err(super::peer::PeerError::NotAnIp(_)) if self.account.enabled() => {
                        if super::peer::parse_aor(&c.uri).is_none() {
                            return Err(Problem::at(
                                at("uri"),
                                "an address of record is sip:USER@DOMAIN, e.g. sip:kitchen@flat12.example",
                            ));
                        }
                    }
                    Err(e @ super::peer::PeerError::NotAnIp(_)) => {
                        let hint = format!("{e}; or, with an [account] on a SIP server, an address of record");
                        return Err(Problem::at(at("uri"), &hint));
                    }
                    Err(e) => return Err(Problem::at(at("uri"), &e.to_string())),
                }
            }
            if c.station.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(Problem::at(at("station"), "must not be empty"));
            }
            if let Some(key) = &c.key {
                crate::input::check_key_name(key).map_err(|e| Problem::at(at("key"), &e.to_string()))?;
            }
            if let Some(fp) = &c.fingerprint {
                if crate::base::fingerprint::Fingerprint::parse(fp).is_none() {
                    return Err(Problem::at(
                        at("fingerprint"),
                        "not a certificate fingerprint; write it as `doorway identity` prints it: SHA256: and 64 hex digits",
                    ));
                }
            }
            if c.tls_port == Some(0) {
                return Err(Problem::at(at("tls_port"), "allowed: 1 to 65535"));
            }
        }
        self.validate_groups()?;
        if self.security.tls_port == 0 || self.security.tls_port == s.listen.port() {
            return Err(Problem::new(
                &["security", "tls_port"],
                "allowed: 1 to 65535, not the SIP listen port (TLS needs a port of its own)",
            ));
        }
        self.validate_web()?;
        self.door.validate()?;
        self.mqtt.validate()?;
        self.account.validate()?;
        self.rtsp.validate()?;
        let taken = [s.listen.port(), self.security.tls_port, self.web.port];
        if self.rtsp.enabled && self.rtsp.port != 0 && taken.contains(&self.rtsp.port) {
            return Err(Problem::new(
                &["rtsp", "port"],
                "allowed: a port no other service of the station uses (SIP, TLS, the web page)",
            ));
        }
        self.validate_input()?;
        let d = &self.devices;
        for (field, value, allowed) in [
            ("camera", &d.camera, CAMERA_BACKENDS),
            ("microphone", &d.microphone, AUDIO_BACKENDS),
            ("speaker", &d.speaker, AUDIO_BACKENDS),
            ("display", &d.display, DISPLAY_BACKENDS),
        ] {
            let backend = value.split(':').next().unwrap_or_default();
            if !allowed.contains(&backend) {
                return Err(Problem::new(
                    &["devices", field],
                    &format!("unknown backend {value:?}; allowed: {}", allowed.join(", ")),
                ));
            }
        }
        if d.display.starts_with("test:") && super::test_screen_size(&d.display).is_none() {
            return Err(Problem::new(
                &["devices", "display"],
                "a test display's size: test:WIDTHxHEIGHT, 64x64 to 3840x2160",
            ));
        }
        if d.test_camera_stall_secs > 300 || (d.test_camera_stall_secs > 0 && d.camera != "test") {
            return Err(Problem::new(
                &["devices", "test_camera_stall_secs"],
                "only for the test camera, at most 300 s",
            ));
        }
        if d.test_speaker_stuck_after_ms > 0 && d.speaker != "test" {
            return Err(Problem::new(
                &["devices", "test_speaker_stuck_after_ms"],
                "only for the test speaker",
            ));
        }
        if d.test_camera_stuck_after_ms > 0 && d.camera != "test" {
            return Err(Problem::new(
                &["devices", "test_camera_stuck_after_ms"],
                "only for the test camera",
            ));
        }
        if d.test_microphone_file.is_some() && d.microphone != "test" {
            return Err(Problem::new(
                &["devices", "test_microphone_file"],
                "only for the test microphone",
            ));
        }
        if d.test_speaker_file.is_some() && d.speaker != "test" {
            return Err(Problem::new(
                &["devices", "test_speaker_file"],
                "only for the test speaker",
            ));
        }
        if let Some(hz) = d.test_tone_hz {
            if !(100.0..=4000.0).contains(&hz) {
                return Err(Problem::new(&["devices", "test_tone_hz"], "allowed: 100 to 4000 Hz"));
            }
        }
        let m = &self.media;
        if !(160..=1920).contains(&m.width) || !m.width.is_multiple_of(16) {
            return Err(Problem::new(
                &["media", "width"],
                "allowed: 160 to 1920, a multiple of 16",
            ));
        }
        if !(120..=1080).contains(&m.height) || !m.height.is_multiple_of(2) {
            return Err(Problem::new(&["media", "height"], "allowed: 120 to 1080, even"));
        }
        if !(1..=60).contains(&m.fps) {
            return Err(Problem::new(&["media", "fps"], "allowed: 1 to 60"));
        }
        if !(64..=20000).contains(&m.video_bitrate_kbps) {
            return Err(Problem::new(&["media", "video_bitrate_kbps"], "allowed: 64 to 20000"));
        }
        if !(0.0..=2.0).contains(&m.speaker_volume) {
            return Err(Problem::new(&["media", "speaker_volume"], "allowed: 0.0 to 2.0"));
        }
        if m.jitter_ms > 2000 {
            return Err(Problem::new(&["media", "jitter_ms"], "allowed: 0 to 2000"));
        }
        if m.audio_codecs.is_empty() {
            return Err(Problem::new(
                &["media", "audio_codecs"],
                "list at least one of: opus, pcmu, pcma",
            ));
        }
        for codec in &m.audio_codecs {
            if !AUDIO_CODECS.contains(&codec.to_lowercase().as_str()) {
                return Err(Problem::new(
                    &["media", "audio_codecs"],
                    &format!("unknown codec {codec:?}; allowed: opus, pcmu, pcma"),
                ));
            }
        }
        if m.rtp_port_min < 1024 || m.rtp_port_max < m.rtp_port_min.saturating_add(3) {
            return Err(Problem::new(
                &["media", "rtp_port_min"],
                "allowed: rtp_port_min >= 1024 and rtp_port_max at least 4 ports above it",
            ));
        }
        Ok(())
    }

    /// Every string that goes into a SIP message (names become display names and
    /// message text, URIs become request lines): one line, no control characters, a
    /// sane length. A line break in a name would add header lines to what we send.
    fn validate_sip_strings(&self) -> Result<(), Problem> {
        const NAME: usize = 64;
        const URI: usize = 256;
        let mut strings: Vec<(Vec<String>, &str, usize)> =
            vec![(vec!["station".into(), "name".into()], &self.station.name, NAME)];
        for (i, c) in self.contacts.iter().enumerate() {
            strings.push((vec!["contact".into(), i.to_string(), "name".into()], &c.name, NAME));
            strings.push((vec!["contact".into(), i.to_string(), "uri".into()], &c.uri, URI));
            if let Some(station) = &c.station {
                strings.push((vec!["contact".into(), i.to_string(), "station".into()], station, NAME));
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            strings.push((vec!["group".into(), i.to_string(), "name".into()], &g.name, NAME));
        }
        let a = &self.account;
        for (field, value) in [("registrar", &a.registrar), ("proxy", &a.proxy), ("user", &a.user)] {
            if let Some(v) = value {
                strings.push((vec!["account".into(), field.into()], v, URI));
            }
        }
        for (path, text, max) in strings {
            if text.chars().any(char::is_control) {
                return Err(Problem::at(path, "must be one line, without control characters"));
            }
            if text.chars().count() > max {
                return Err(Problem::at(path, &format!("at most {max} characters")));
            }
        }
        Ok(())
    }

    fn validate_groups(&self) -> Result<(), Problem> {
        let mut seen = std::collections::HashSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            let at = |f: &str| vec!["group".to_string(), i.to_string(), f.to_string()];
            if g.name.trim().is_empty() {
                return Err(Problem::at(at("name"), "must not be empty"));
            }
            if self.contact(&g.name).is_some() || !seen.insert(g.name.to_lowercase()) {
                return Err(Problem::at(
                    at("name"),
                    "a contact or another group already has this name",
                ));
            }
            let max = super::MAX_GROUP;
            if !(2..=max).contains(&g.members.len()) {
                return Err(Problem::at(
                    at("members"),
                    &format!("a group rings 2 to {max} contacts"),
                ));
            }
            let mut members = std::collections::HashSet::new();
            for (j, m) in g.members.iter().enumerate() {
                let here = vec!["group".to_string(), i.to_string(), "members".into(), j.to_string()];
                if self.contact(m).is_none() {
                    return Err(Problem::at(here, &format!("no contact is named {m:?}")));
                }
                if !members.insert(m.to_lowercase()) {
                    return Err(Problem::at(here, "named twice"));
                }
            }
            if let Some(key) = &g.key {
                crate::input::check_key_name(key).map_err(|e| Problem::at(at("key"), &e.to_string()))?;
            }
        }
        Ok(())
    }

    fn validate_input(&self) -> Result<(), Problem> {
        let i = &self.input;
        if !["evdev", "none"].contains(&i.backend.as_str()) {
            return Err(Problem::new(&["input", "backend"], "allowed: evdev, none"));
        }
        for (table, map) in [("keys", &i.keys), ("long_press", &i.long_press)] {
            for (key, action) in map {
                let at = || vec!["input".to_string(), table.to_string(), key.clone()];
                crate::input::check_key_name(key).map_err(|e| Problem::at(at(), &e.to_string()))?;
                let action = crate::input::InputAction::parse(action).map_err(|e| Problem::at(at(), &e.to_string()))?;
                if let crate::input::InputAction::Call(name) = action {
                    if self.contact(&name).is_none() && self.group(&name).is_none() {
                        return Err(Problem::at(at(), &format!("no contact or group is named {name:?}")));
                    }
                }
            }
        }
        if !(100..=10_000).contains(&i.long_press_ms) {
            return Err(Problem::new(&["input", "long_press_ms"], "allowed: 100 to 10000"));
        }
        if i.debounce_ms > 500 {
            return Err(Problem::new(&["input", "debounce_ms"], "allowed: 0 to 500"));
        }
        if self.devices.screen_blank_secs > 86_400 {
            return Err(Problem::new(
                &["devices", "screen_blank_secs"],
                "allowed: 0 (never) to 86400",
            ));
        }
        if ![0, 90, 180, 270].contains(&self.devices.display_rotation) {
            return Err(Problem::new(
                &["devices", "display_rotation"],
                "allowed: 0, 90, 180, 270",
            ));
        }
        Ok(())
    }

    fn validate_web(&self) -> Result<(), Problem> {
        let w = &self.web;
        let sip = self.station.listen.port();
        let tls = self.security.tls_port;
        let taken = |p: u16| p != 0 && (p == sip || p == tls);
        if taken(w.port) {
            return Err(Problem::new(
                &["web", "port"],
                "allowed: a port not used for SIP (443 by default)",
            ));
        }
        if taken(w.redirect_port) || (w.redirect_port != 0 && w.redirect_port == w.port) {
            return Err(Problem::new(
                &["web", "redirect_port"],
                "allowed: 0 (none) or a port not used for SIP or HTTPS (80 by default)",
            ));
        }
        if !(1..=10_000).contains(&w.visitors_kept) {
            return Err(Problem::new(&["web", "visitors_kept"], "allowed: 1 to 10000"));
        }
        if !(1..=10_000).contains(&w.visitors_mb) {
            return Err(Problem::new(&["web", "visitors_mb"], "allowed: 1 to 10000"));
        }
        Ok(())
    }
}
