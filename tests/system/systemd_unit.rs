//! The shipped unit file verifies and keeps its hardening: `systemd-analyze verify`, and
//! `systemd-analyze security` exposure at or below 2.0.

use crate::common::requires;
use std::process::Command;

fn unit_with_built_binary(dir: &std::path::Path) -> std::path::PathBuf {
    requires::program("systemd-analyze", "systemd");
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/doorway.service")).unwrap();
    let path = dir.join("doorway.service");
    std::fs::write(&path, unit.replace("/usr/bin/doorway", env!("CARGO_BIN_EXE_doorway"))).unwrap();
    // The unit it starts after, beside it, as the package installs them.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/doorway-devices.service"),
        dir.join("doorway-devices.service"),
    )
    .unwrap();
    path
}

#[test]
fn unit_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_with_built_binary(dir.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .arg(dir.path().join("doorway-devices.service"))
        .output()
        .expect("systemd-analyze (package systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("Unknown key"), "{text}");
}

#[test]
fn unit_exposure_is_at_most_2() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_with_built_binary(dir.path());
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{text}"));
    let figure: f64 = line
        .split(':')
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(figure <= 2.0, "{line}");
}
