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
            media: self.call_media.session().map(|m| m.stats()),
            conference: self.call_media.hosted().map(|h| h.stats()),
            probes: self.devices.probes.report(),
            codecs: self.call_media.settings().codecs.clone(),
            last_message: self.ui.last_message(),
            screen: self.ui.screen_kind(),
            screen_message: self.ui.screen_message(),
            screen_on: self.ui.is_on(),
            device_problem: self.idle_watch.problem(),
            missed_call: self.ui.missed_call(),
            sip: self.ua.stats(),
            security: self.security_status(),
            unread_messages: self.messages.unread(),
            messages: self.messages.all(),
            address: self.advertise.to_string(),
            web: self.web_url(),
            web_setup_code: self.links.web_setup_code(),
            web_unlock_code: self.links.web_unlock_code(),
            live_views: self.live_view_status(),
            web_answer: self.web_answer_status(),
            door: self.links.door_status(),
            mqtt: self.links.home_status(),
            account: self.links.account_status().cloned(),
            rtsp: self.links.rtsp_status(),
            neighbours: self.neighbours_status(),
            tasks: tokio::runtime::Handle::try_current().map_or(0, |h| h.metrics().num_alive_tasks()),
            heap: crate::base::heap::figures(),
        }
    }
}
