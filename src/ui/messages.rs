//! Text messages on screen: the list of the last ones beside the contacts, and the
//! quick-reply buttons (under the list between calls; in a row above the call's own
//! buttons while ringing or in a call, clear of the picture's top and centre).

use super::canvas::{Canvas, Rect, Rgb};
use super::{Button, UiAction, WHITE};

const REPLY: Rgb = Rgb(70, 80, 100);
const PANEL: Rgb = Rgb(34, 40, 52);

/// Where `n` reply buttons go at the bottom of `panel`, each `bar_h * 3 / 4` high.
pub(super) fn replies_area(panel: Rect, n: usize, bar_h: i32) -> Rect {
    let each = bar_h * 3 / 4;
    let height = (each * n as i32).min(panel.h / 2);
    Rect {
        x: panel.x,
        y: panel.y + panel.h - height,
        w: panel.w,
        h: height,
    }
}

/// Where reply buttons go during a ringing call or a call on a `w`x`h` screen: a row
/// across the screen below its upper three fifths (the picture's top and centre stay
/// clear; on small panels a little higher, never above the middle) and above the name
/// line over the bottom buttons.
pub(super) fn call_replies_area(w: i32, h: i32) -> Rect {
    let margin = (w.min(h) / 40).max(4);
    let name_line = h - h / 6 - h / 40 - (super::text_size(h, 0.06) as i32 + 12);
    // A tenth of the screen at least, to be touchable on small panels.
    let top = (h * 3 / 5 + 2).min(name_line - 6 - h / 10);
    Rect {
        x: margin,
        y: top,
        w: w - 2 * margin,
        h: name_line - 6 - top,
    }
}

/// One button per reply in `area`: stacked, or side by side in a `row`.
pub(super) fn reply_buttons(replies: &[String], area: Rect, row: bool) -> Vec<Button> {
    if replies.is_empty() || area.h <= 0 || area.w <= 0 {
        return vec![];
    }
    let n = replies.len() as i32;
    let step = if row { area.w / n } else { area.h / n };
    let gap = (step / 12).max(2);
    replies
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let at = i as i32 * step;
            let rect = if row {
                Rect {
                    x: area.x + at,
                    y: area.y,
                    w: step - gap,
                    h: area.h,
                }
            } else {
                Rect {
                    x: area.x,
                    y: area.y + at,
                    w: area.w,
                    h: step - gap,
                }
            };
            Button {
                rect,
                label: text.clone(),
                hint: None,
                action: UiAction::QuickReply(i),
                colour: REPLY,
            }
        })
        .collect()
}

/// Draws `lines` (newest first) into `area`, as many as fit, each cut to the width.
pub(super) fn draw_list(canvas: &mut Canvas, lines: &[String], area: Rect, size: f32) {
    if area.h <= 0 {
        return;
    }
    canvas.fill(area, PANEL);
    let step = size as i32 + 6;
    let mut y = area.y + 4;
    for line in lines {
        if y + step > area.y + area.h {
            break;
        }
        canvas.text(area.x + 6, y, &fit(line, size, area.w - 12), size, WHITE);
        y += step;
    }
}

/// `line` cut (with "...") to `room` pixels at `size`.
fn fit(line: &str, size: f32, room: i32) -> String {
    if Canvas::text_width(line, size) <= room {
        return line.to_string();
    }
    let mut cut: String = line.to_string();
    while !cut.is_empty() && Canvas::text_width(&format!("{cut}..."), size) > room {
        cut.pop();
    }
    format!("{cut}...")
}
