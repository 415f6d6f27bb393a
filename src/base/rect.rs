//! Rectangles of pixels: where things are on a screen or in a picture.

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: i32,
    /// Height.
    pub h: i32,
}

impl Rect {
    /// Whether the point is inside.
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w && y < self.y + self.h
    }

    /// The part of `self` inside `other`, if any.
    pub fn intersection(&self, other: &Rect) -> Option<Rect> {
        let (x0, y0) = (self.x.max(other.x), self.y.max(other.y));
        let (x1, y1) = (
            (self.x + self.w).min(other.x + other.w),
            (self.y + self.h).min(other.y + other.h),
        );
        (x1 > x0 && y1 > y0).then_some(Rect {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
    }

    /// The largest rectangle of aspect `aw:ah` centred inside `self`.
    pub fn fit(&self, aw: u32, ah: u32) -> Rect {
        if aw == 0 || ah == 0 {
            return *self;
        }
        let (aw, ah) = (aw as i64, ah as i64);
        let (w, h) = if self.w as i64 * ah <= self.h as i64 * aw {
            (self.w as i64, self.w as i64 * ah / aw)
        } else {
            (self.h as i64 * aw / ah, self.h as i64)
        };
        Rect {
            x: self.x + (self.w - w as i32) / 2,
            y: self.y + (self.h - h as i32) / 2,
            w: w as i32,
            h: h as i32,
        }
    }
}
