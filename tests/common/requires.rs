//! What the tests need from the machine, checked up front: a missing program or
//! GStreamer element fails the test at once, naming the Debian package that brings it
//! (scripts/install-deps installs them all), instead of failing later with a less clear
//! message. Included by the test files that shell out.
#![allow(dead_code)]

use std::path::Path;

/// Fails unless `program` is on the PATH (or is an existing path); names `package`.
pub fn program(program: &str, package: &str) {
    let found = if program.contains('/') {
        Path::new(program).exists()
    } else {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
            .unwrap_or(false)
    };
    assert!(
        found,
        "{program} is not installed: apt-get install {package} (scripts/install-deps installs everything the tests need)"
    );
}

/// Fails unless the GStreamer `element` is installed; names `package`.
pub fn gst_element(element: &str, package: &str) {
    program("gst-inspect-1.0", "gstreamer1.0-tools");
    let ok = std::process::Command::new("gst-inspect-1.0")
        .args(["--exists", element])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "GStreamer element {element} is not installed: apt-get install {package} (scripts/install-deps installs everything the tests need)"
    );
}
