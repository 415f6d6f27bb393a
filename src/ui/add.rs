//! The picker that adds a station to a call: the contacts not in it, as big buttons
//! (touching one calls it into the call), and "Back".

use super::canvas::Rect;
use super::{Button, UiAction, BLUE, RED};

/// The picker's buttons on a `w`x`h` display: contacts in up to three columns above a
/// "Back" bar.
pub(super) fn buttons(contacts: &[String], w: i32, h: i32, margin: i32) -> Vec<Button> {
    let bar_h = h / 6;
    let (top, bottom) = (h / 5, h - bar_h - 2 * margin);
    let n = contacts.len().max(1) as i32;
    let cols = n.clamp(1, 3);
    let rows = (n + cols - 1) / cols;
    let (cell_w, cell_h) = ((w - margin) / cols, (bottom - top) / rows);
    let back = Button {
        rect: Rect {
            x: w / 4,
            y: h - bar_h - margin,
            w: w / 2,
            h: bar_h,
        },
        label: "Back".into(),
        hint: None,
        action: UiAction::AddBack,
        colour: RED,
    };
    contacts
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (col, row) = (i as i32 % cols, i as i32 / cols);
            Button {
                rect: Rect {
                    x: margin + col * cell_w,
                    y: top + row * cell_h,
                    w: cell_w - margin,
                    h: cell_h - margin,
                },
                label: name.clone(),
                hint: None,
                action: UiAction::Call(name.clone()),
                colour: BLUE,
            }
        })
        .chain(std::iter::once(back))
        .collect()
}
