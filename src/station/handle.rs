//! How the rest of the program talks to a running station: its commands, its handle,
//! and why it could not start.

use crate::api::Command;
use crate::call::machine::Event;
use std::time::Instant;

impl super::Station {
    /// Carries out a command from the control socket, the web page or the station itself.
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Call(target, reply) => {
                let result = self.dial(&target);
                let _ = reply.send(result);
            }
            Command::Answer => self.feed(Event::Answer),
            Command::Hangup => self.feed(Event::Hangup),
            Command::Hold => self.feed(Event::Hold),
            Command::Resume => self.feed(Event::Resume),
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Screenshot(path, reply) => {
                let r = self
                    .devices
                    .display
                    .lock()
                    .unwrap()
                    .screenshot(&path)
                    .map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Command::Input(raw) => self.on_input(raw, Instant::now()),
            Command::OpenDoor(by, reply) => {
                let _ = reply.send(self.open_door(by));
            }
            Command::Digit(call, digit) => self.on_digit(&call, digit),
            Command::ResetProbes => self.devices.probes.reset(),
            Command::RetryReoffer(call) => self.feed(Event::RetryReoffer { call }),
            Command::Pairing(c) => self.on_pairing_command(c),
            Command::Text(c) => self.on_text_command(c),
            Command::WebLive(offer, reply) => self.start_live_view(offer, reply),
            Command::WebLiveEnd(id) => self.end_live_view(id),
            Command::WebAnswer(offer, reply) => self.answer_from_web(offer, reply),
            Command::WebAnswerEnd(id) => self.end_web_answer(id),
            Command::ApplyConfig(config, reply) => {
                let later = self.apply_config(*config);
                let _ = reply.send(later);
            }
            Command::Shutdown => {}
        }
    }
}
