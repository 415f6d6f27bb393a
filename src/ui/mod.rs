//! What the screen shows: one [`Screen`] per call state, laid out for any display size,
//! drawn by our code into a [`canvas::Canvas`], with the buttons a touch can hit.
//!
//! Overlays during a call sit in the lower part of the screen, so the remote picture
//! keeps its top rows (where the test camera's time code is) and its centre clear.

mod add;
pub mod canvas;
pub mod compositor;
mod messages;

use canvas::{Canvas, Rect, Rgb};

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
            let n = contacts.len().max(1) as i32;
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
            contacts
                .iter()
                .zip(add::cells(contacts.len(), cols, area, margin))
                .map(|(c, rect)| Button {
                    rect,
                    label: c.name.clone(),
                    hint: c.key_hint.clone(),
                    action: UiAction::Call(c.name.clone()),
                    colour: BLUE,
                })
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

/// Draws `screen` onto `canvas`. `remote` is the far end's picture (preview while ringing,
/// the call itself when in a call), `self_view` our own camera, `message` a line a person
/// must read (an error, a refused call).
pub fn render(
    canvas: &mut Canvas,
    screen: &Screen,
    remote: Option<crate::device::FrameView<'_>>,
    self_view: Option<crate::device::FrameView<'_>>,
    message: Option<&str>,
) {
    let video_area = canvas.bounds();
    match (shows_video(screen), remote) {
        (true, Some(frame)) => {
            let fitted = video_area.fit(frame.format.width, frame.format.height);
            if fitted != video_area {
                canvas.fill(video_area, Rgb(0, 0, 0));
            }
            canvas.blit(frame, fitted);
        }
        _ => canvas.fill(video_area, BACKGROUND),
    }
    if let (Some(me), Some(r)) = (
        self_view,
        self_view_rect(screen, canvas.width as i32, canvas.height as i32),
    ) {
        canvas.blit(me, r.fit(me.format.width, me.format.height));
    }
    render_overlay(canvas, screen, remote.is_some(), message);
}

/// Whether `screen` shows the far end's picture.
pub fn shows_video(screen: &Screen) -> bool {
    matches!(screen, Screen::Ringing { .. } | Screen::InCall { .. })
}

/// Where our own camera goes on `screen` (a `w`x`h` display), if it is shown: bottom
/// right, beside the hang-up button (above "Add" when there is one), clear of the
/// picture's middle.
pub fn self_view_rect(screen: &Screen, w: i32, h: i32) -> Option<Rect> {
    let Screen::InCall { can_add, .. } = screen else {
        return None;
    };
    let lift = if *can_add { h / 6 + h / 40 } else { 0 };
    Some(Rect {
        x: w - w / 4 - w / 40,
        y: h - h / 4 - h / 40 - lift,
        w: w / 4,
        h: h / 4,
    })
}

/// Draws everything of `screen` but the pictures over what `canvas` holds: texts,
/// buttons, the message. `has_remote`: the far end's picture is under it. Returns the
/// rectangles it covered with opaque drawing over a picture (each text over a picture
/// has a band of its own), so a new picture can be drawn around them without drawing
/// them again.
pub fn render_overlay(canvas: &mut Canvas, screen: &Screen, has_remote: bool, message: Option<&str>) -> Vec<Rect> {
    let (w, h) = (canvas.width as i32, canvas.height as i32);
    let has_video = shows_video(screen);
    let mut covered = Vec::new();
    let big = text_size(h, 0.09);
    let small = text_size(h, 0.06);
    match screen {
        Screen::Idle {
            station,
            clock,
            messages: list,
            replies,
            web,
            ..
        } => {
            canvas.text(w / 40 + 4, h / 20, station, big, WHITE);
            let cw = Canvas::text_width(clock, big);
            canvas.text(w - cw - w / 40 - 4, h / 20, clock, big, WHITE);
            if let (Some(web), None) = (web, message) {
                // Where the banner goes, while there is none: where to find the page (and
                // the code a first visit asks for).
                let mut size = small * 0.6;
                let natural = Canvas::text_width(web, size);
                if natural > w - 32 {
                    size *= (w - 32) as f32 / natural as f32;
                }
                let tw = Canvas::text_width(web, size);
                canvas.text((w - tw) / 2, h * 3 / 20 + 4, web, size, QUIET);
            }
            if !list.is_empty() {
                let margin = (w.min(h) / 40).max(4);
                let split = w * 3 / 5;
                let top = h / 4;
                let panel = Rect {
                    x: split,
                    y: top,
                    w: w - split - margin,
                    h: h - top - margin,
                };
                let replies_top = messages::replies_area(panel, replies.len(), h / 6).y;
                let list_area = Rect {
                    h: replies_top - top - margin,
                    ..panel
                };
                messages::draw_list(canvas, list, list_area, small * 0.6);
            }
        }
        Screen::Calling { peer, ringing } => {
            let text = if *ringing {
                format!("{peer} is ringing...")
            } else {
                format!("Calling {peer}...")
            };
            canvas.text_centred(
                Rect {
                    x: 0,
                    y: h / 4,
                    w,
                    h: h / 4,
                },
                &text,
                big,
                WHITE,
            );
        }
        Screen::Ringing { peer, .. } if !has_remote => {
            canvas.text_centred(
                Rect {
                    x: 0,
                    y: h / 4,
                    w,
                    h: h / 4,
                },
                &format!("{peer} is calling"),
                big,
                WHITE,
            );
        }
        Screen::Ringing { peer, .. } => {
            let y = h - h / 6 - h / 40 - (small as i32 + 12);
            let text = format!("{peer} is calling");
            let tw = Canvas::text_width(&text, small);
            let band = Rect {
                x: (w - tw) / 2 - 8,
                y: y - 4,
                w: tw + 16,
                h: line_height(small) + 8,
            };
            canvas.fill(band, BACKGROUND);
            covered.push(band);
            canvas.text((w - tw) / 2, y, &text, small, WHITE);
        }
        Screen::Pairing { peer, code, note, .. } => {
            let row = |y: i32| Rect { x: 0, y, w, h: h / 6 };
            canvas.text_centred(row(h / 12), &format!("Pair with {peer}"), big, WHITE);
            if let Some(code) = code {
                canvas.text_centred(row(h / 4), code, big * 2.0, WHITE);
            }
            let size = (small * 0.8).min(small * (w - 32) as f32 / Canvas::text_width(note, small).max(1) as f32);
            canvas.text_centred(row(h / 2), note, size, WHITE);
        }
        Screen::AddToCall { contacts } => {
            let title = if contacts.is_empty() {
                "Nobody else to add"
            } else {
                "Add to the call"
            };
            canvas.text_centred(
                Rect {
                    x: 0,
                    y: h / 30,
                    w,
                    h: h / 7,
                },
                title,
                big,
                WHITE,
            );
        }
        Screen::InCall {
            peer, seconds, on_hold, ..
        } => {
            let held = if *on_hold { "  on hold" } else { "" };
            let text = format!("{peer}{held}  {:02}:{:02}", seconds / 60, seconds % 60);
            let y = h - h / 6 - h / 40 - (small as i32 + 12);
            let tw = Canvas::text_width(&text, small);
            let band = Rect {
                x: w / 40,
                y: y - 4,
                w: tw + 16,
                h: line_height(small) + 8,
            };
            canvas.fill(band, BACKGROUND);
            covered.push(band);
            canvas.text(w / 40 + 8, y, &text, small, WHITE);
        }
    }
    for b in buttons(screen, w, h) {
        canvas.fill(b.rect, b.colour);
        covered.push(b.rect);
        canvas.outline(b.rect, 2, WHITE);
        let label_size = text_size(b.rect.h.min(h / 4), 0.35).min(big);
        // A long label (a quick reply) shrinks to the button's width.
        let natural = Canvas::text_width(&b.label, label_size).max(1);
        let label_size = label_size.min(label_size * (b.rect.w - 12) as f32 / natural as f32);
        match &b.hint {
            Some(hint) => {
                let upper = Rect {
                    h: b.rect.h * 2 / 3,
                    ..b.rect
                };
                canvas.text_centred(upper, &b.label, label_size, WHITE);
                let lower = Rect {
                    y: b.rect.y + b.rect.h / 2,
                    h: b.rect.h / 2,
                    ..b.rect
                };
                canvas.text_centred(lower, hint, label_size * 0.6, WHITE);
            }
            None => canvas.text_centred(b.rect, &b.label, label_size, WHITE),
        }
    }
    if let Some(message) = message {
        // A long message shrinks to fit the screen's width rather than run off it.
        let mut size = small * 0.8;
        let room = w - 32;
        let natural = Canvas::text_width(message, size);
        if natural > room {
            size *= room as f32 / natural as f32;
        }
        let tw = Canvas::text_width(message, size).min(room);
        // Over video the band goes below the middle, clear of the picture's top and centre.
        let y = if has_video { h * 3 / 5 } else { h * 3 / 20 };
        let r = Rect {
            x: (w - tw) / 2 - 8,
            y,
            w: tw + 16,
            h: line_height(size) + 10,
        };
        canvas.fill(r, AMBER);
        covered.push(r);
        canvas.text(r.x + 8, r.y + 4, message, size, Rgb(0, 0, 0));
    }
    if !has_video {
        // Nothing of a picture shows: the whole screen is drawn.
        return vec![canvas.bounds()];
    }
    covered
}

/// Height of a line of text `size` pixels high, descenders included (a band behind
/// text over a picture must hold all of it).
fn line_height(size: f32) -> i32 {
    (size * 1.17).ceil() as i32
}

#[cfg(test)]
#[path = "ui_tests.rs"]
mod tests;
