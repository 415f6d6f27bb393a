//! What `doorway status` shows: the call, media, devices, SIP state held, security and
//! text messages.

use super::Station;
use crate::api::Status;

impl Station {
    pub(super) fn status(&self) -> Status {
        Status {
            station: self.config.station.name.clone(),
            uri: self.ua.uri(),
            call: self.machine.state().clone(),
            legs: self.machine.legs().into_iter().cloned().collect(),
            group: self.machine.group().map(str::to_string),
            seconds_in_state: self.state_since.elapsed().as_secs(),
            media: self.call_media.media.as_ref().map(|m| m.stats()),
            conference: self.call_media.hosted.as_ref().map(|h| h.media.stats()),
            probes: self.devices.probes.report(),
            codecs: self.call_media.settings.codecs.clone(),
            last_message: self.ui.last_message.clone(),
            screen_message: self.ui.compositor.lock().unwrap().message().map(str::to_string),
            screen_on: self.ui.screen_on,
            device_problem: self.ui.idle_watch.problem(),
            missed_call: self.ui.missed_call.clone(),
            sip: self.ua.stats(),
            security: self.security_status(),
            unread_messages: self.messages.unread(),
            messages: self.messages.all(),
            address: self.advertise.to_string(),
            web: self.web_url(),
            web_setup_code: self
                .links
                .web
                .as_ref()
                .and_then(|w| w.shared.auth.lock().unwrap().setup_code()),
            web_unlock_code: self
                .links
                .web
                .as_ref()
                .and_then(|w| w.shared.auth.lock().unwrap().unlock_code(std::time::Instant::now())),
            live_views: self.live_view_status(),
            web_answer: self.web_answer_status(),
            door: self.links.door.as_ref().map(|d| d.status()),
            mqtt: self.links.home.as_ref().map(|h| h.status()),
            account: self.links.account.status.clone(),
            rtsp: self.links.rtsp.as_ref().map(|r| r.status()),
        }
    }
}
