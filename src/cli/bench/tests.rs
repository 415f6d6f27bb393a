//! The benchmark measures what it says: a short run of `doorway bench` carries pictures
//! in all three cases, splits CPU into parts that add up, counts no copy of a received
//! picture (it is converted straight into the display's buffer), and its quality table
//! compares every encoder setting on both scenes.

use super::BenchOptions;
use std::sync::{Mutex, MutexGuard};

/// The benchmarks measure the CPU of the whole process by thread: one at a time, so no
/// other benchmark's threads are counted in their parts.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_short_benchmark_measures_every_case_and_part() {
    let _alone = alone();
    let report = super::run(BenchOptions {
        seconds: 4,
        size: (640, 360),
        screen: (1280, 800),
        quality: false,
    })
    .expect("the benchmark runs");
    println!("{report}");
    for (name, case) in [
        ("reference", &report.reference),
        ("doorway", &report.doorway),
        ("secured", &report.secured),
    ] {
        assert!(case.frames >= 60, "{name}: only {} pictures measured", case.frames);
        assert!(case.p50_ms < 100.0, "{name}: p50 {} ms", case.p50_ms);
        let p = case.parts;
        let sum = p.encode + p.decode + p.audio + p.composition + p.rest;
        assert!(
            (sum - case.cpu_s_per_call_minute).abs() <= 0.02 * case.cpu_s_per_call_minute + 0.05,
            "{name}: parts add up to {sum:.2}, not {:.2}",
            case.cpu_s_per_call_minute
        );
        for (part, value) in [
            ("encode", p.encode),
            ("decode", p.decode),
            ("audio", p.audio),
            ("composition", p.composition),
        ] {
            assert!(
                value > 0.05,
                "{name}: no CPU found for {part} ({value:.3} s per minute)"
            );
        }
    }
    for case in [&report.doorway, &report.secured] {
        assert_eq!(case.receive_copies_per_frame, 0.0, "a received picture was copied");
        assert!(
            case.send_copies_per_frame <= 1.0,
            "{} copies per frame sent",
            case.send_copies_per_frame
        );
        assert!(case.switches_per_second > 0.0);
    }
    let text = report.to_string();
    assert!(text.contains("CPU ratio doorway/reference"));
    assert!(text.contains("copies per frame"));
}

#[test]
fn the_quality_table_compares_every_setting_on_both_scenes() {
    let _alone = alone();
    let report = super::quality::measure(320, 180, 30, 600, 30).expect("the quality bench runs");
    println!("{report}");
    let settings = super::quality::candidates().len();
    assert_eq!(report.rows.len(), 2 * settings);
    for row in &report.rows {
        assert!(row.cpu_s_per_minute > 0.0, "{}: no CPU measured", row.setting);
        match row.scene {
            // The moving scene is hard at this bitrate: neither lossless nor broken.
            "moving scene" => {
                assert!(
                    (15.0..60.0).contains(&row.psnr_db),
                    "{}: PSNR {}",
                    row.setting,
                    row.psnr_db
                );
                assert!((0.3..1.0).contains(&row.ssim), "{}: SSIM {}", row.setting, row.ssim);
                assert!(
                    (300.0..1200.0).contains(&row.kbps_out),
                    "{}: {} kbit/s out for 600 asked",
                    row.setting,
                    row.kbps_out
                );
            }
            _ => assert!(
                row.psnr_db > 35.0,
                "{}: the pattern camera at PSNR {}",
                row.setting,
                row.psnr_db
            ),
        }
    }
}

/// `doorway bench --host` runs and prints sensible figures: hosting three remotes costs
/// more than one, and the grid keeps pace with the camera.
#[test]
fn the_hosting_benchmark_measures_both_calls() {
    let _alone = alone();
    let report = super::host::run(2).unwrap();
    println!("{report}");
    assert!(report.two_stations > 0.0, "{report}");
    assert!(report.four_stations > report.two_stations, "{report}");
    assert!(report.grid_fps > 10.0, "{report}");
}
