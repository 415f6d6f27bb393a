//! Drawing a screen: the far end's picture, our own camera, and over them the texts,
//! buttons and bands, which report what they cover.

use super::canvas::{Canvas, Rect, Rgb};
use super::{buttons, messages, text_size, Screen, AMBER, BACKGROUND, QUIET, WHITE};

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
        Screen::Nearby { stations, .. } => {
            let title = if stations.is_empty() {
                "No station nearby yet"
            } else {
                "Stations nearby"
            };
            canvas.text_centred(
                Rect {
                    x: 0,
                    y: h / 30,
                    w,
                    h: h / 8,
                },
                title,
                big,
                WHITE,
            );
            let hint = if stations.is_empty() {
                "Stations on this network appear here"
            } else {
                "Touch one to pair: both screens show a code"
            };
            canvas.text_centred(
                Rect {
                    x: 0,
                    y: h / 30 + h / 8,
                    w,
                    h: h / 12,
                },
                hint,
                small * 0.7,
                QUIET,
            );
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
