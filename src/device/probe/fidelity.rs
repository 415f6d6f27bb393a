//! How faithfully a shown picture renders the pattern camera's: the peak signal-to-noise
//! ratio of its colour bars against the colours the tag gives them. A frame damaged by
//! a lost packet (a smear of another frame's blocks, a grey patch) shows it at once;
//! a clean one stays near what the colour conversions and the encoder cost.
//!
//! Only a band across the bars is measured: their middle rows above the self view (which
//! the call screen sets over the lower right) and below the code rows, and each bar's
//! middle, away from the edges the chroma subsampling blurs.

use super::palette;

/// Where a picture sits on a screen: the byte offset of its top left corner and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Offset of the top left pixel in the screen's BGRx bytes.
    pub offset: usize,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A frame as exact as a PSNR can say (equal pixels give an infinite one).
pub const EXACT_DB: f64 = 60.0;

/// The PSNR in dB of the bars of a `tag` pattern placed at `at` in a BGRx screen of
/// `stride` bytes a row (None when the band does not fit).
pub fn bars_psnr(screen: &[u8], stride: usize, at: Placement, tag: u16) -> Option<f64> {
    let (w, h) = (at.width as usize, at.height as usize);
    let bars_top = 2 * super::block_size(at.width) as usize;
    let bars = h.checked_sub(bars_top)?;
    let (top, bottom) = (bars_top + bars / 4, bars_top + bars * 9 / 20);
    let bar_w = w / 4;
    if bar_w < 8 || bottom <= top {
        return None;
    }
    let colours = palette(tag);
    let (mut squared, mut samples) = (0u64, 0u64);
    for y in top..bottom {
        let row = screen.get(at.offset + y * stride..)?;
        for (i, want) in colours.iter().enumerate() {
            for x in i * bar_w + bar_w / 5..(i + 1) * bar_w - bar_w / 5 {
                let p = row.get(x * 4..x * 4 + 3)?;
                for (got, want) in [p[2], p[1], p[0]].iter().zip(want) {
                    let d = i64::from(*got) - i64::from(*want);
                    squared += (d * d) as u64;
                    samples += 1;
                }
            }
        }
    }
    let mse = squared as f64 / samples.max(1) as f64;
    Some(if mse == 0.0 {
        EXACT_DB
    } else {
        (10.0 * (255.0f64 * 255.0 / mse).log10()).min(EXACT_DB)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen_of(tag: u16, w: usize, h: usize) -> Vec<u8> {
        let mut screen = vec![0u8; w * h * 4];
        let colours = palette(tag);
        for y in 0..h {
            for x in 0..w {
                let [r, g, b] = colours[(x / (w / 4)).min(3)];
                screen[(y * w + x) * 4..][..3].copy_from_slice(&[b, g, r]);
            }
        }
        screen
    }

    #[test]
    fn exact_bars_are_exact_and_a_damaged_band_is_not() {
        let (w, h) = (320usize, 180usize);
        let mut screen = screen_of(7, w, h);
        let at = Placement {
            offset: 0,
            width: w as u32,
            height: h as u32,
        };
        assert_eq!(bars_psnr(&screen, w * 4, at, 7), Some(EXACT_DB));
        // A grey block over part of the band, as a lost slice leaves.
        for y in 60..80 {
            for x in 0..100 {
                screen[(y * w + x) * 4..][..3].copy_from_slice(&[128, 128, 128]);
            }
        }
        let damaged = bars_psnr(&screen, w * 4, at, 7).unwrap();
        assert!(damaged < 25.0, "{damaged} dB");
        assert_eq!(bars_psnr(&screen[..100], w * 4, at, 7), None, "a cut screen");
    }
}
