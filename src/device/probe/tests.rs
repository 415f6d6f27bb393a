use super::*;

/// A BGRx frame with the code and bars of `tag`, drawn directly (no codec).
fn frame(tag: u16, ms: u32, w: u32, h: u32) -> Vec<u8> {
    let b = block_size(w);
    let mut data = vec![0u8; (w * h * 4) as usize];
    let colours = palette(tag);
    let rows = [ms, (tag as u32) << 16 | check_word(ms, tag) as u32];
    for y in 0..h {
        for x in 0..w {
            let rgb = if y < 2 * b && x < CODE_BITS * b {
                let bit = rows[(y / b) as usize] >> (CODE_BITS - 1 - x / b) & 1;
                if bit == 1 {
                    [235, 235, 235]
                } else {
                    [16, 16, 16]
                }
            } else {
                colours[((x / (w / 4)) as usize).min(3)]
            };
            let i = ((y * w + x) * 4) as usize;
            data[i..i + 4].copy_from_slice(&[rgb[2], rgb[1], rgb[0], 255]);
        }
    }
    data
}

#[test]
fn code_round_trips() {
    let data = frame(0xbeef, 0x1234_5678, 640, 360);
    assert_eq!(
        read_bgrx(&data, 640, 360, 640 * 4),
        Some(FrameCode {
            ms: 0x1234_5678,
            tag: 0xbeef
        })
    );
}

#[test]
fn wrong_bars_or_noise_are_not_recognised() {
    let mut data = frame(0x0102, 99, 320, 180);
    // Paint the bars of another station.
    let other = frame(0x7777, 99, 320, 180);
    let bars_from = (320 * 4 * 40) as usize;
    data[bars_from..].copy_from_slice(&other[bars_from..]);
    assert_eq!(read_bgrx(&data, 320, 180, 320 * 4), None);
    let noise: Vec<u8> = (0..320 * 180 * 4).map(|i| (i * 7919 % 251) as u8).collect();
    assert_eq!(read_bgrx(&noise, 320, 180, 320 * 4), None);
    assert_eq!(read_bgrx(&[], 320, 180, 320 * 4), None);
}

#[test]
fn stations_get_distinct_tags_and_tones() {
    assert_ne!(station_tag("Front door"), station_tag("Kitchen"));
    assert_ne!(station_tone_hz("Front door"), station_tone_hz("Kitchen"));
    let hz = station_tone_hz("anything");
    assert!((400.0..1600.0).contains(&hz));
}

#[test]
fn tone_estimate_finds_the_frequency_and_ignores_silence() {
    let rate = 48000;
    for hz in [440.0, 1020.0] {
        let samples: Vec<f64> = (0..24000)
            .map(|i| 8000.0 * (std::f64::consts::TAU * hz * i as f64 / rate as f64).sin())
            .collect();
        let got = estimate_tone(&samples, rate).unwrap();
        assert!((got - hz).abs() < 2.0, "{hz} -> {got}");
    }
    assert_eq!(estimate_tone(&vec![3.0; 24000], rate), None);
}

#[test]
fn percentiles_and_latency() {
    assert_eq!(percentile(vec![5.0, 1.0, 3.0, 2.0, 4.0], 50.0), Some(3.0));
    assert_eq!(percentile(vec![], 50.0), None);
    let mut p = DisplayProbe::default();
    p.record(Some(FrameCode {
        ms: time_code_now().wrapping_sub(25),
        tag: 9,
    }));
    p.record(None);
    assert_eq!(p.frames, 2);
    assert_eq!(p.recognised.get(&9), Some(&1));
    let l = p.latency_percentile(50.0).unwrap();
    assert!((2.5..100.0).contains(&l), "{l}");
}
