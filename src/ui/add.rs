//! Pickers: the one that adds a station to a call (the contacts not in it, as big
//! buttons: touching one calls it into the call), and the list of stations nearby to
//! pair with (touching one starts pairing); each with "Back".

use super::canvas::Rect;
use super::{Button, NearbyStation, UiAction, BLUE, RED, TEAL};

/// The picker's buttons on a `w`x`h` display: contacts in up to three columns above a
/// "Back" bar.
pub(super) fn buttons(contacts: &[String], w: i32, h: i32, margin: i32) -> Vec<Button> {
    let bar_h = h / 6;
    let top = h / 5;
    let area = Rect {
        x: 0,
        y: top,
        w,
        h: h - bar_h - margin - top,
    };
    let cols = (contacts.len() as i32).clamp(1, 3);
    let back = back(UiAction::AddBack, w, h, margin);
    contacts
        .iter()
        .zip(cells(contacts.len(), cols, area, margin))
        .map(|(name, rect)| Button {
            rect,
            label: name.clone(),
            hint: None,
            action: UiAction::Call(name.clone()),
            colour: BLUE,
        })
        .chain(std::iter::once(back))
        .collect()
}

/// The list of stations nearby on a `w`x`h` display: one button each (its name, its
/// code under it) in up to three columns, above "Back" when there are contacts.
pub(super) fn nearby_buttons(
    stations: &[NearbyStation],
    can_go_back: bool,
    w: i32,
    h: i32,
    margin: i32,
) -> Vec<Button> {
    let bar_h = h / 6;
    let top = h / 4;
    let bottom = if can_go_back { h - bar_h - margin } else { h };
    let area = Rect {
        x: 0,
        y: top,
        w,
        h: bottom - margin - top,
    };
    let cols = (stations.len() as i32).clamp(1, 3);
    let back = can_go_back.then(|| back(UiAction::NearbyBack, w, h, margin));
    stations
        .iter()
        .zip(cells(stations.len(), cols, area, margin))
        .map(|(s, rect)| Button {
            rect,
            label: s.name.clone(),
            hint: Some(s.code.clone()),
            action: UiAction::PairWith(s.code.clone()),
            colour: TEAL,
        })
        .chain(back)
        .collect()
}

/// A picker's "Back" bar, doing `action`, on a `w`x`h` display.
fn back(action: UiAction, w: i32, h: i32, margin: i32) -> Button {
    let bar_h = h / 6;
    Button {
        rect: Rect {
            x: w / 4,
            y: h - bar_h - margin,
            w: w / 2,
            h: bar_h,
        },
        label: "Back".into(),
        hint: None,
        action,
        colour: RED,
    }
}

/// `count` buttons' places in `cols` columns filling `area` (left to right, top to
/// bottom), `margin` apart.
pub(super) fn cells(count: usize, cols: i32, area: Rect, margin: i32) -> Vec<Rect> {
    let cols = cols.max(1);
    let rows = ((count as i32).max(1) + cols - 1) / cols;
    let (cell_w, cell_h) = ((area.w - margin) / cols, (area.h - margin) / rows);
    (0..count as i32)
        .map(|i| Rect {
            x: area.x + margin + (i % cols) * cell_w,
            y: area.y + (i / cols) * cell_h,
            w: cell_w - margin,
            h: cell_h - margin,
        })
        .collect()
}
