//! What can be checked of the image recipes without building a Raspberry Pi image here:
//! every script parses, the doorway package holds what the images need, the boot-partition
//! config import takes good files and refuses bad ones with a readable reason. (The Pi
//! stage is checked against pi-gen in tests/system/pi_image.rs.) (The x86_64 image itself is built and
//! booted by the emulated station, tests/emulated_station.rs.)
use crate::common::requires;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn every_image_script_parses() {
    let scripts = [
        "image/package/build-deb",
        "image/package/import-config",
        "image/package/import-wifi",
        "image/common/customize",
        "image/x86_64/build",
        "image/pi/build",
        "image/pi/cross-build",
        "image/pi/stage-doorway/prerun.sh",
        "image/pi/stage-doorway/00-doorway/01-run.sh",
        "image/pi/stage-doorway/00-doorway/02-run.sh",
        "image/pi/stage-doorway/00-doorway/files/boot-config",
    ];
    for script in scripts {
        let path = repo().join(script);
        run(Command::new("bash").arg("-n").arg(&path));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert!(mode & 0o111 != 0, "{script} is not executable");
    }
    // pi-gen takes a stage by these names.
    for file in ["prerun.sh", "EXPORT_IMAGE", "00-doorway/00-packages"] {
        assert!(repo().join("image/pi/stage-doorway").join(file).exists(), "{file}");
    }
}

#[test]
fn package_holds_binary_units_user_and_config() {
    requires::program("dpkg-deb", "dpkg");
    requires::program("systemd-analyze", "systemd");
    let dir = tempfile::tempdir().unwrap();
    let deb = run(Command::new(repo().join("image/package/build-deb"))
        .arg(env!("CARGO_BIN_EXE_doorway"))
        .arg("amd64")
        .arg(dir.path()));
    let deb = deb.trim();
    let contents = run(Command::new("dpkg-deb").args(["-c", deb]));
    for path in [
        "./usr/bin/doorway",
        "./lib/systemd/system/doorway.service",
        "./lib/systemd/system/doorway-import-config.service",
        "./lib/systemd/system/doorway-devices.service",
        "./lib/systemd/system/doorway-import-wifi.service",
        "./usr/lib/doorway/import-wifi",
        "./usr/lib/doorway/import-config",
        "./usr/lib/sysusers.d/doorway.conf",
        "./etc/doorway/doorway.toml",
        "./usr/share/doc/doorway/doorway.example.toml",
    ] {
        assert!(contents.contains(path), "{path} missing from the package:\n{contents}");
    }
    let control = run(Command::new("dpkg-deb").args(["-f", deb]));
    assert!(control.contains("gstreamer1.0-libav"), "{control}");
    assert_eq!(
        run(Command::new("dpkg-deb").args(["-f", deb, "Architecture"])).trim(),
        "amd64"
    );
    // The shipped config is valid, and the import unit verifies with the station's unit.
    run(Command::new(env!("CARGO_BIN_EXE_doorway"))
        .arg("check-config")
        .arg(repo().join("image/package/doorway.toml")));
    let units = dir.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    for unit in [
        "systemd/doorway.service",
        "systemd/doorway-devices.service",
        "image/package/doorway-import-config.service",
        "image/package/doorway-import-wifi.service",
    ] {
        let text = std::fs::read_to_string(repo().join(unit)).unwrap();
        let text = text.replace("/usr/bin/doorway", env!("CARGO_BIN_EXE_doorway")).replace(
            "/usr/lib/doorway/import-config",
            &repo().join("image/package/import-config").display().to_string(),
        );
        let text = text.replace(
            "/usr/lib/doorway/import-wifi",
            &repo().join("image/package/import-wifi").display().to_string(),
        );
        std::fs::write(units.join(Path::new(unit).file_name().unwrap()), text).unwrap();
    }
    run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(units.join("doorway-import-config.service"))
        .arg(units.join("doorway-devices.service"))
        .arg(units.join("doorway-import-wifi.service"))
        .arg(units.join("doorway.service")));
}

fn import(boot: &Path, etc: &Path) -> String {
    run(Command::new(repo().join("image/package/import-config"))
        .arg(boot.join("doorway.toml"))
        .arg(etc.join("doorway.toml"))
        .env("DOORWAY_BIN", env!("CARGO_BIN_EXE_doorway")))
}

#[test]
fn boot_partition_config_is_taken_when_valid_and_explained_when_not() {
    let dir = tempfile::tempdir().unwrap();
    let (boot, etc) = (dir.path().join("boot"), dir.path().join("etc"));
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("doorway.toml"), "[station]\nname = \"Old\"\n").unwrap();

    // A good file replaces the config; the old one is kept beside it.
    std::fs::write(boot.join("doorway.toml"), "[station]\nname = \"Front door\"\n").unwrap();
    import(&boot, &etc);
    assert!(std::fs::read_to_string(etc.join("doorway.toml"))
        .unwrap()
        .contains("Front door"));
    assert!(std::fs::read_to_string(etc.join("doorway.toml.previous"))
        .unwrap()
        .contains("Old"));
    assert!(boot.join("doorway.toml.applied").exists());
    assert!(!boot.join("doorway.toml").exists());

    // A bad file changes nothing and says why, in a file a person can open on any computer.
    std::fs::write(boot.join("doorway.toml"), "[station]\nname = \"X\"\n[media]\nfps = 0\n").unwrap();
    import(&boot, &etc);
    assert!(std::fs::read_to_string(etc.join("doorway.toml"))
        .unwrap()
        .contains("Front door"));
    assert!(boot.join("doorway.toml.rejected").exists());
    let why = std::fs::read_to_string(boot.join("doorway-config-error.txt")).unwrap();
    assert!(why.contains("media.fps") && why.contains(":4"), "{why}");
}
