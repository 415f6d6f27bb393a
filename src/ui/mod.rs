//! What the screen shows: one [`Screen`] per call state, laid out for any display size,
//! drawn by our code into a [`canvas::Canvas`], with the buttons a touch can hit.
//!
//! Overlays during a call sit in the lower part of the screen, so the remote picture
//! keeps its top rows (where the test camera's time code is) and its centre clear.

mod add;
pub mod canvas;
pub mod compositor;
mod draw;
mod messages;

pub use draw::{render, render_overlay, self_view_rect, shows_video};

use canvas::{Rect, Rgb};

/// A contact button on the idle screen.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactButton {
    /// Contact name.
    pub name: String,
    /// Key that calls it, shown on the button ("F1").
    pub key_hint: Option<String>,
}

/// What the screen is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// No call: station name, clock, one button per contact.
    Idle {
        /// Station name.
        station: String,
        /// Clock text ("14:05").
        clock: String,
        /// Contact buttons.
        contacts: Vec<ContactButton>,
        /// The last text messages, newest first, one line each ("14:05 Kitchen: Coming!").
        messages: Vec<String>,
        /// Quick replies to whoever wrote last.
        replies: Vec<String>,
        /// The web page's address, and its one-time setup code while no password is set.
        web: Option<String>,
        /// Stations nearby that are not contacts yet: a button opens their list.
        nearby: usize,
    },
    /// We call someone.
    Calling {
        /// Who.
        peer: String,
        /// They ring.
        ringing: bool,
    },
    /// Someone calls us.
    Ringing {
        /// Who.
        peer: String,
        /// Quick replies to the caller.
        replies: Vec<String>,
    },
    /// A call is up.
    InCall {
        /// With whom.
        peer: String,
        /// Seconds since answer.
        seconds: u64,
        /// One side holds the call: no pictures or sound flow.
        on_hold: bool,
        /// Show a door-open button.
        door_open: bool,
        /// Quick replies to the other end.
        replies: Vec<String>,
        /// Another station may join: show "Add".
        can_add: bool,
    },
    /// Picking a station to add to the call.
    AddToCall {
        /// Contacts that are not in the call.
        contacts: Vec<String>,
    },
    /// The stations nearby that are not contacts yet: touching one pairs with it. Shown
    /// instead of the idle screen while the station has no contacts.
    Nearby {
        /// Each station's name and short code.
        stations: Vec<NearbyStation>,
        /// There are contacts to go back to.
        can_go_back: bool,
    },
    /// Pairing with a contact: the code to compare with the other station's screen.
    Pairing {
        /// With whom.
        peer: String,
        /// The 6-digit code, once both stations have it.
        code: Option<String>,
        /// Waiting for this station's person to confirm or decline.
        asking: bool,
        /// What to tell the person.
        note: String,
    },
}

impl Screen {
    /// A one-word name for logs: idle, calling, ringing, call.
    pub fn kind(&self) -> &'static str {
        match self {
            Screen::Idle { .. } => "idle",
            Screen::Calling { .. } => "calling",
            Screen::Ringing { .. } => "ringing",
            Screen::InCall { .. } => "call",
            Screen::AddToCall { .. } => "add",
            Screen::Nearby { .. } => "nearby",
            Screen::Pairing { .. } => "pairing",
        }
    }
}

/// What a button or key does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiAction {
    /// Call the named contact.
    Call(String),
    /// Cancel our outgoing call.
    Cancel,
    /// Answer the ringing call.
    Answer,
    /// Decline the ringing call.
    Decline,
    /// End the call.
    Hangup,
    /// Open the door.
    DoorOpen,
    /// The pairing codes match: pair.
    PairConfirm,
    /// The pairing codes differ, or the person does not want to pair.
    PairDecline,
    /// Send the quick reply with this index.
    QuickReply(usize),
    /// Show the contacts that can join the call.
    AddStation,
    /// Back to the call without adding anyone.
    AddBack,
    /// Show the stations nearby that are not contacts yet.
    ShowNearby,
    /// Back to the idle screen from the stations nearby.
    NearbyBack,
    /// Pair with the station nearby whose short code this is.
    PairWith(String),
}

/// A station nearby, on the list to pair with.
#[derive(Debug, Clone, PartialEq)]
pub struct NearbyStation {
    /// The name it announces.
    pub name: String,
    /// Its short code, as its own screen shows it.
    pub code: String,
}

/// A touchable area.
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    /// Where.
    pub rect: Rect,
    /// Text on it.
    pub label: String,
    /// Small text under the label (key hint).
    pub hint: Option<String>,
    /// What it does.
    pub action: UiAction,
    /// Its colour.
    pub colour: Rgb,
}

const BLUE: Rgb = Rgb(30, 90, 160);
const GREEN: Rgb = Rgb(30, 150, 60);
const RED: Rgb = Rgb(190, 40, 40);
const AMBER: Rgb = Rgb(200, 130, 20);
/// "Open door": its own colour, so no one takes it for a message (amber).
const TEAL: Rgb = Rgb(20, 125, 135);
pub(crate) const BACKGROUND: Rgb = Rgb(18, 22, 30);
const WHITE: Rgb = Rgb(240, 240, 240);
const QUIET: Rgb = Rgb(150, 160, 175);

/// Text size proportional to the screen, so small and large panels both read well.
fn text_size(height: i32, fraction: f32) -> f32 {
    (height as f32 * fraction).max(10.0)
}

/// The buttons of `screen` on a `w`x`h` display.
pub fn buttons(screen: &Screen, w: i32, h: i32) -> Vec<Button> {
    let margin = (w.min(h) / 40).max(4);
    let bar_h = h / 6;
    let bottom = |x: i32, width: i32, label: &str, action: UiAction, colour: Rgb| Button {
        rect: Rect {
            x,
            y: h - bar_h - margin,
            w: width,
            h: bar_h,
        },
        label: label.into(),
        hint: None,
        action,
        colour,
    };
    match screen {
        Screen::Idle {
            contacts,
            messages,
            replies,
            nearby,
            ..
        } => {
            let top = h / 4;
            // With messages to show, the contacts take the left part and the messages
            // and their replies the right.
            let (w, mut extra) = if messages.is_empty() {
                (w, vec![])
            } else {
                let split = w * 3 / 5;
                let panel = Rect {
                    x: split,
                    y: top,
                    w: w - split - margin,
                    h: h - top - margin,
                };
                (
                    split,
                    messages::reply_buttons(replies, messages::replies_area(panel, replies.len(), bar_h), false),
                )
            };
            // Stations nearby to pair with take one more cell after the contacts.
            let cells = contacts.len() + usize::from(*nearby > 0);
            let n = cells.max(1) as i32;
            let cols = if n <= 2 {
                n
            } else if n <= 6 {
                2
            } else {
                3
            };
            let area = Rect {
                x: 0,
                y: top,
                w,
                h: h - top,
            };
            let places = add::cells(cells, cols, area, margin);
            let nearby_button = (*nearby > 0).then(|| Button {
                rect: places[cells - 1],
                label: format!("Nearby ({nearby})"),
                hint: Some("pair".into()),
                action: UiAction::ShowNearby,
                colour: TEAL,
            });
            contacts
                .iter()
                .zip(places)
                .map(|(c, rect)| Button {
                    rect,
                    label: c.name.clone(),
                    hint: c.key_hint.clone(),
                    action: UiAction::Call(c.name.clone()),
                    colour: BLUE,
                })
                .chain(nearby_button)
                .chain(extra.drain(..))
                .collect()
        }
        Screen::Calling { .. } => vec![bottom(w / 4, w / 2, "Cancel", UiAction::Cancel, RED)],
        Screen::Ringing { replies, .. } => {
            let half = (w - 3 * margin) / 2;
            let mut b = vec![
                bottom(margin, half, "Answer", UiAction::Answer, GREEN),
                bottom(2 * margin + half, half, "Decline", UiAction::Decline, RED),
            ];
            b.extend(messages::reply_buttons(
                replies,
                messages::call_replies_area(w, h),
                true,
            ));
            b
        }
        Screen::Pairing { asking: true, .. } => {
            let half = (w - 3 * margin) / 2;
            vec![
                bottom(margin, half, "Same code: pair", UiAction::PairConfirm, GREEN),
                bottom(2 * margin + half, half, "Cancel", UiAction::PairDecline, RED),
            ]
        }
        Screen::Pairing { .. } => vec![],
        Screen::AddToCall { contacts } => add::buttons(contacts, w, h, margin),
        Screen::Nearby { stations, can_go_back } => add::nearby_buttons(stations, *can_go_back, w, h, margin),
        Screen::InCall {
            door_open,
            replies,
            can_add,
            ..
        } => {
            let mut b = vec![bottom(w / 3, w / 3, "Hang up", UiAction::Hangup, RED)];
            if *can_add {
                b.push(bottom(
                    2 * w / 3 + margin,
                    w / 3 - 2 * margin,
                    "Add",
                    UiAction::AddStation,
                    BLUE,
                ));
            }
            b.extend(messages::reply_buttons(
                replies,
                messages::call_replies_area(w, h),
                true,
            ));
            if *door_open {
                b.push(bottom(
                    margin,
                    w / 3 - 2 * margin,
                    "Open door",
                    UiAction::DoorOpen,
                    TEAL,
                ));
            }
            b
        }
    }
}

/// The action under a touch at (x, y), if any.
pub fn hit(screen: &Screen, w: i32, h: i32, x: i32, y: i32) -> Option<UiAction> {
    buttons(screen, w, h)
        .into_iter()
        .find(|b| b.rect.contains(x, y))
        .map(|b| b.action)
}

#[cfg(test)]
mod tests;
