//! Text messages at the station: who may write to us (contacts only), what a message
//! does when it arrives (banner, blip, the log kept across restarts), and sending to a
//! contact, inside its call when one is up, from the control socket or a quick reply.

use super::message_log::now;
use super::Station;
use crate::api::{TextCommand, TextMessage};
use crate::call::machine::{Action, State};
use crate::call::ua::message::{Replier, Route};
use crate::call::ua::text::{clean_text, TextFrom, MAX_TEXT};
use crate::media::ring::Tone;
use tokio::sync::oneshot;
use tracing::{debug, info};

impl Station {
    pub(super) fn on_text_command(&mut self, command: TextCommand) {
        match command {
            TextCommand::Send { to, text, reply } => self.send_text(to, text, Some(reply)),
            TextCommand::Reply { text, reply } => match self.messages.last_sender() {
                Some(to) => self.send_text(to.to_string(), text, Some(reply)),
                None => {
                    let _ = reply.send(Err("nobody has written to this station yet".into()));
                }
            },
            TextCommand::Sent {
                to,
                text,
                result,
                reply,
            } => {
                // Whoever asked is answered once the sent message is on disk.
                let answer = move |result| {
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                };
                match result {
                    Ok(()) => {
                        info!(to = %to, bytes = text.len(), "text message delivered");
                        let message = TextMessage {
                            at: now(),
                            peer: to,
                            incoming: false,
                            text,
                            unread: false,
                        };
                        self.messages.push(message, Some(Box::new(move |_| answer(Ok(())))));
                    }
                    Err(why) => {
                        self.act(Action::Tell(why.clone()));
                        answer(Err(why));
                    }
                }
                self.update_screen();
            }
        }
    }

    /// The quick reply `index` of the config, to the person this screen is about: the
    /// caller or the call's other end, else whoever wrote last.
    pub(super) fn quick_reply(&mut self, index: usize) {
        let Some(text) = self.config.station.quick_replies.get(index).cloned() else {
            return;
        };
        match self.reply_target() {
            Some(to) => self.send_text(to, text, None),
            None => self.act(Action::Tell("nobody to reply to".into())),
        }
    }

    /// Who a quick reply goes to now.
    pub(super) fn reply_target(&self) -> Option<String> {
        if self.machine.group().is_some() {
            // Several members ring: no one of them is "the" other end.
            return None;
        }
        match self.machine.state() {
            State::Incoming { peer, .. } | State::Active { peer, .. } | State::Outgoing { peer, .. } => {
                peer.contact.clone()
            }
            State::Idle => self.messages.last_sender().map(str::to_string),
        }
    }

    pub(super) fn send_text(&mut self, to: String, text: String, reply: Option<oneshot::Sender<Result<(), String>>>) {
        let answer = |reply: Option<oneshot::Sender<_>>, result| {
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        };
        let text = clean_text(&text);
        if text.is_empty() {
            return answer(reply, Err("the message is empty".into()));
        }
        if text.len() > MAX_TEXT {
            return answer(
                reply,
                Err(format!(
                    "the message is {} bytes long; the most is {MAX_TEXT}",
                    text.len()
                )),
            );
        }
        let Some(contact) = self.config.contact(&to).cloned() else {
            return answer(reply, Err(format!("{to:?} is not a contact")));
        };
        let peer = match self.reach(&contact) {
            Ok(p) => p,
            Err(e) => return answer(reply, Err(e.why())),
        };
        let secure = peer.secure;
        // Inside the call with this contact when one is up (the same connection and
        // checks as the call), else on its own.
        let call = self.machine.legs().into_iter().find_map(|leg| match leg {
            State::Active { call, peer, .. } if peer.contact.as_deref() == Some(&contact.name) => Some(call.clone()),
            _ => None,
        });
        if peer.proxied && call.is_none() {
            // In a call, a message follows the call's route through the server; outside
            // one it would need the server's challenge answered, which is not done yet.
            return answer(
                reply,
                Err(format!(
                    "{} is reached through the SIP server: messages go only during a call with it",
                    contact.name
                )),
            );
        }
        let user = rsipstack::sip::Uri::try_from(peer.uri.as_str())
            .ok()
            .and_then(|u| u.auth.map(|a| a.user))
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "doorway".into());
        let ua = self.ua.clone();
        let own = self.own_commands.clone();
        let name = contact.name.clone();
        tokio::spawn(async move {
            let route = match secure {
                Some((addr, pin)) => match ua.ensure_tls(addr, Some(pin)).await {
                    Ok(_) => Ok(Route::Tls(addr)),
                    Err(e) => Err(format!("{name} is unreachable over TLS: {e}")),
                },
                None if peer.tcp => Ok(Route::Tcp(peer.addr)),
                None => Ok(Route::Udp(peer.addr)),
            };
            let result = match route {
                Err(e) => Err(e),
                Ok(route) => match ua.send_text(call.as_deref(), route, &user, &text).await {
                    Ok(code) if (200..300).contains(&code) => Ok(()),
                    Ok(403) => Err(format!("{name} does not take messages from this station (403)")),
                    Ok(413) => Err(format!("{name} found the message too long (413)")),
                    Ok(code) => Err(format!("{name} did not take the message ({code})")),
                    Err(e) => Err(format!("{name} did not get the message: {e}")),
                },
            };
            if let Some(own) = own.upgrade() {
                let sent = TextCommand::Sent {
                    to: name,
                    text,
                    result,
                    reply,
                };
                let _ = own.send(super::Command::Text(sent));
            }
        });
    }

    /// A text arrived: from a contact it is taken (200), shown and kept; from anyone else
    /// it is refused (403).
    pub(super) fn on_text(&mut self, from: TextFrom, text: String, reply: Replier) {
        let located = self.located_config();
        let sender = match &from {
            TextFrom::Caller(caller) => self
                .trust
                .recognise(&located, caller)
                .ok()
                .and_then(|r| r.contact.map(|c| c.name.clone())),
            // Any leg of the call that is up: its other end.
            TextFrom::Call(id) => self.machine.legs().into_iter().find_map(|leg| match leg {
                State::Active { call, peer, .. } if call == id => peer.contact.clone(),
                _ => None,
            }),
        };
        let Some(sender) = sender else {
            debug!(?from, "refused a text message from someone who is not a contact");
            return reply.send(403, None);
        };
        info!(from = %sender, bytes = text.len(), "text message");
        let message = TextMessage {
            at: now(),
            peer: sender.clone(),
            incoming: true,
            text: text.clone(),
            unread: true,
        };
        // Acknowledged only once it is on disk: a power cut after the 200 loses nothing.
        // The station took it even where the disk failed: it is on the screen and in
        // memory, and the failure is logged.
        self.messages
            .push(message, Some(Box::new(move |_| reply.send(200, None))));
        self.ui.show_message(banner(&sender, &text));
        self.wake();
        // The blip only between calls: in a call the speaker carries the call.
        if self.machine.state() == &State::Idle && !self.trust.is_pairing() {
            self.call_media.ring(Tone::Message, &self.devices.speaker);
        }
        self.update_screen();
    }
}

/// The banner line for a message: sender and text, cut to what a screen line can hold.
fn banner(sender: &str, text: &str) -> String {
    const LONGEST: usize = 90;
    let line = format!("{sender}: {text}");
    match line.char_indices().nth(LONGEST) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}
