//! The Raspberry Pi image's recipe, checked against what pi-gen really does (its
//! build.sh at the tag image/pi/build uses) and against Raspberry Pi OS's real boot files
//! (tests/data/raspios/). The image itself needs Docker, arm64 emulation and GitHub, so
//! it is not built here; what pi-gen would run of our stage is.
use crate::common::requires;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stage() -> PathBuf {
    repo().join("image/pi/stage-doorway")
}

fn executable(path: &Path) -> bool {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o111 != 0
}

/// What pi-gen's run_sub_stage does with a file of a sub-stage, by name: `NN-debconf`,
/// `NN-packages`, `NN-packages-nr`, `NN-patches` (a directory), `NN-run.sh` (run only when
/// executable) and `NN-run-chroot.sh`; `files` is where scripts find their files.
fn pi_gen_uses(name: &str, path: &Path) -> Result<(), String> {
    if name == "files" && path.is_dir() {
        return Ok(());
    }
    let Some((number, kind)) = name.split_once('-') else {
        return Err(format!("{name}: pi-gen ignores it (no NN- prefix)"));
    };
    if number.len() != 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name}: pi-gen ignores it (not NN-)"));
    }
    match kind {
        "debconf" | "packages" | "packages-nr" | "run-chroot.sh" => Ok(()),
        "patches" if path.is_dir() => Ok(()),
        "run.sh" if executable(path) => Ok(()),
        "run.sh" => Err(format!("{name}: pi-gen skips it (not executable)")),
        _ => Err(format!("{name}: pi-gen never runs a file named like this")),
    }
}

#[test]
fn the_stage_holds_only_what_pi_gen_runs() {
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(stage()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match name.as_str() {
            // run_stage: prerun.sh when executable; EXPORT_IMAGE marks a stage to export.
            "prerun.sh" if executable(&path) => {}
            "EXPORT_IMAGE" => {}
            _ if path.is_dir() => {
                for file in std::fs::read_dir(&path).unwrap() {
                    let file = file.unwrap().path();
                    let file_name = file.file_name().unwrap().to_string_lossy().to_string();
                    if let Err(problem) = pi_gen_uses(&file_name, &file) {
                        problems.push(format!("{name}/{problem}"));
                    }
                }
            }
            _ => problems.push(format!("{name}: pi-gen never runs it")),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The stage run the way pi-gen's build.sh runs a stage, in a copy with the files
/// image/pi/build adds, on a root filesystem holding Raspberry Pi OS's boot files.
/// Chroot commands are recorded, not run. Returns the root and the chroot log.
fn run_stage_as_pi_gen_does() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("stage-doorway");
    assert!(Command::new("cp")
        .arg("-r")
        .arg(stage())
        .arg(&copy)
        .status()
        .unwrap()
        .success());
    let files = copy.join("00-doorway/files");
    std::fs::write(files.join("doorway.deb"), "a package").unwrap();
    std::fs::write(
        files.join("customize"),
        "#!/bin/sh\necho \"customize $1\" >> \"$CHROOT_LOG\"\n",
    )
    .unwrap();
    assert!(Command::new("chmod")
        .arg("+x")
        .arg(files.join("customize"))
        .status()
        .unwrap()
        .success());
    let rootfs = dir.path().join("rootfs");
    let firmware = rootfs.join("boot/firmware");
    std::fs::create_dir_all(&firmware).unwrap();
    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    for file in ["config.txt", "cmdline.txt"] {
        std::fs::copy(repo().join("tests/data/raspios").join(file), firmware.join(file)).unwrap();
    }
    let log = dir.path().join("chroot.log");
    // The loops of build.sh's run_stage and run_sub_stage, in the order pi-gen keeps.
    let driver = r#"
set -e
on_chroot() { cat >> "$CHROOT_LOG"; }
copy_previous() { echo "copy_previous" >> "$CHROOT_LOG"; }
export -f on_chroot copy_previous
cd "$STAGE_DIR"
if [ -x prerun.sh ]; then ./prerun.sh; fi
for SUB_STAGE_DIR in "$STAGE_DIR"/*; do
  [ -d "$SUB_STAGE_DIR" ] && [ ! -f "$SUB_STAGE_DIR/SKIP" ] || continue
  pushd "$SUB_STAGE_DIR" > /dev/null
  for i in {00..99}; do
    if [ -f "${i}-debconf" ]; then echo "debconf ${i}" >> "$CHROOT_LOG"; fi
    if [ -f "${i}-packages-nr" ]; then echo "apt-get install --no-install-recommends $(cat "${i}-packages-nr")" >> "$CHROOT_LOG"; fi
    if [ -f "${i}-packages" ]; then echo "apt-get install $(grep -v '^#' "${i}-packages" | tr '\n' ' ')" >> "$CHROOT_LOG"; fi
    if [ -x "${i}-run.sh" ]; then "./${i}-run.sh"; fi
    if [ -f "${i}-run-chroot.sh" ]; then on_chroot < "${i}-run-chroot.sh"; fi
  done
  popd > /dev/null
done
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(driver)
        .env("STAGE_DIR", &copy)
        .env("ROOTFS_DIR", &rootfs)
        .env("CHROOT_LOG", &log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the stage failed as pi-gen runs it:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    (dir, log)
}

#[test]
fn pi_gen_installs_the_package_and_edits_the_boot_files() {
    let (dir, log) = run_stage_as_pi_gen_does();
    assert!(
        log.contains("apt-get install") && log.contains("gstreamer1.0-libcamera"),
        "{log}"
    );
    assert!(
        log.contains("/tmp/doorway.deb"),
        "the package is never installed:\n{log}"
    );
    assert!(
        log.contains("customize "),
        "the shared settings are never applied:\n{log}"
    );
    let firmware = dir.path().join("rootfs/boot/firmware");
    let config = std::fs::read_to_string(firmware.join("config.txt")).unwrap();
    assert!(
        config.contains("enable_uart=1"),
        "pi-gen never applied the boot edits:\n{config}"
    );
    let cmdline = std::fs::read_to_string(firmware.join("cmdline.txt")).unwrap();
    assert!(!cmdline.contains("console=tty1"), "{cmdline}");
}

#[test]
fn boot_settings_on_raspberry_pi_os_files() {
    let dir = tempfile::tempdir().unwrap();
    let (config, cmdline) = (dir.path().join("config.txt"), dir.path().join("cmdline.txt"));
    std::fs::copy(repo().join("tests/data/raspios/config.txt"), &config).unwrap();
    std::fs::copy(repo().join("tests/data/raspios/cmdline.txt"), &cmdline).unwrap();
    let boot_config = stage().join("00-doorway/files/boot-config");
    let mut after_first = String::new();
    for round in 0..2 {
        let out = Command::new(&boot_config).arg(&config).arg(&cmdline).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let both = std::fs::read_to_string(&config).unwrap() + &std::fs::read_to_string(&cmdline).unwrap();
        if round == 0 {
            after_first = both;
        } else {
            assert_eq!(both, after_first, "a second run changed the files");
        }
    }
    let config = std::fs::read_to_string(&config).unwrap();
    // Every setting we add applies to every model: it sits under [all], after the
    // stock file's [cm4] and [cm5] sections.
    let ours = config.rsplit("[all]").next().unwrap();
    for setting in ["enable_uart=1", "disable_splash=1"] {
        assert!(ours.contains(setting), "{setting} is not under [all]:\n{config}");
    }
    for setting in ["camera_auto_detect=1", "display_auto_detect=1"] {
        assert_eq!(config.matches(setting).count(), 1, "{config}");
    }
    assert_eq!(config.matches("dtoverlay=vc4-kms-v3d").count(), 1, "{config}");
    assert_eq!(config.matches("doorway: doorbell buttons").count(), 1, "{config}");
    let cmdline = std::fs::read_to_string(&cmdline).unwrap();
    assert_eq!(cmdline.lines().count(), 1, "{cmdline}");
    assert!(!cmdline.contains("console=tty1"), "{cmdline}");
    // The serial console, the root device and the first boot's resize stay.
    for kept in [
        "console=serial0,115200",
        "root=ROOTDEV",
        "rootwait",
        "init=/usr/lib/raspberrypi-sys-mods/firstboot",
    ] {
        assert!(cmdline.contains(kept), "{kept} lost: {cmdline}");
    }
    // Raspberry Pi OS's first boot drops ` quiet` when there is no `splash`; the kernel
    // must stay quiet without it.
    let after_first_boot = cmdline.replace(" quiet", "");
    for option in ["loglevel=3", "logo.nologo", "vt.global_cursor_default=0"] {
        assert!(after_first_boot.contains(option), "{option}: {after_first_boot}");
    }
}

#[test]
fn the_package_strips_an_arm64_binary_with_arm64_tools() {
    requires::program("aarch64-linux-gnu-as", "binutils-aarch64-linux-gnu");
    requires::program("dpkg-deb", "dpkg");
    let dir = tempfile::tempdir().unwrap();
    // A small arm64 program with symbols of its own.
    let source = dir.path().join("door.s");
    std::fs::write(
        &source,
        ".global _start\n_start:\n  mov x8, #93\n  svc #0\nbell:\n  ret\n",
    )
    .unwrap();
    let (object, binary) = (dir.path().join("door.o"), dir.path().join("doorway"));
    let ok = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    ok(Command::new("aarch64-linux-gnu-as").arg(&source).arg("-o").arg(&object));
    ok(Command::new("aarch64-linux-gnu-ld").arg(&object).arg("-o").arg(&binary));
    assert!(ok(Command::new("aarch64-linux-gnu-nm").arg(&binary)).contains("bell"));

    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let build = repo().join("image/package/build-deb");
    let deb = ok(Command::new(&build).arg(&binary).arg("arm64").arg(&out_dir));
    let unpacked = dir.path().join("unpacked");
    ok(Command::new("dpkg-deb").arg("-x").arg(deb.trim()).arg(&unpacked));
    let symbols = Command::new("aarch64-linux-gnu-nm")
        .arg(unpacked.join("usr/bin/doorway"))
        .output()
        .unwrap();
    let symbols = String::from_utf8_lossy(&symbols.stdout).to_string() + &String::from_utf8_lossy(&symbols.stderr);
    assert!(symbols.contains("no symbols"), "not stripped: {symbols}");
    let control = ok(Command::new("dpkg-deb").arg("-f").arg(deb.trim()).arg("Architecture"));
    assert_eq!(control.trim(), "arm64");

    // The wrong architecture is refused, saying so.
    let wrong = Command::new(&build)
        .arg(&binary)
        .arg("amd64")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not an amd64 ELF binary"));
}

#[test]
fn the_unit_allows_every_device_class_a_pi_station_opens_once_drivers_are_there() {
    let unit = std::fs::read_to_string(repo().join("systemd/doorway.service")).unwrap();
    for class in [
        "char-video4linux rw", // cameras, the codec's /dev/video10-12, sub-devices
        "char-media rw",       // libcamera's /dev/media*
        "char-dma_heap rw",    // libcamera's frame buffers
        "char-drm rw",         // the display
        "char-alsa rw",        // sound
        "char-input r",        // buttons and touch
    ] {
        assert!(
            unit.contains(&format!("DeviceAllow={class}")),
            "DeviceAllow={class} missing"
        );
    }
    // Classes become device numbers when the unit starts: it starts after udev settled.
    let wants = unit.lines().find(|l| l.starts_with("Wants=")).unwrap_or("");
    let after = unit.lines().find(|l| l.starts_with("After=")).unwrap_or("");
    assert!(wants.contains("doorway-devices.service") && after.contains("doorway-devices.service"));
    let settle = std::fs::read_to_string(repo().join("systemd/doorway-devices.service")).unwrap();
    assert!(settle.contains("ExecStart=/usr/bin/udevadm settle"), "{settle}");
    assert!(settle.contains("After=systemd-udev-trigger.service"), "{settle}");
}

/// Runs import-wifi on `content` as the boot partition's doorway-wifi.txt, with a recorder
/// in place of Raspberry Pi OS's helper. Returns the boot dir (kept alive) and the calls.
fn import_wifi(content: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    let helper = dir.path().join("imager_custom");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" >> {}\necho >> {}\n",
            log.display(),
            log.display()
        ),
    )
    .unwrap();
    assert!(Command::new("chmod").arg("+x").arg(&helper).status().unwrap().success());
    let boot = dir.path().join("boot");
    std::fs::create_dir(&boot).unwrap();
    std::fs::write(boot.join("doorway-wifi.txt"), content).unwrap();
    let out = Command::new(repo().join("image/package/import-wifi"))
        .arg(boot.join("doorway-wifi.txt"))
        .env("DOORWAY_SET_WLAN", &helper)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    (dir, calls)
}

#[test]
fn wifi_settings_on_the_boot_partition_reach_network_manager_and_leave_no_password() {
    // Written on Windows: CR LF line ends.
    let (dir, calls) =
        import_wifi("# our flat\r\ncountry=GB\r\nssid=Flat 12 = upstairs\r\npassword=correct horse battery\r\n");
    assert_eq!(calls, "set_wlan|--plain|Flat 12 = upstairs|correct horse battery|GB|\n");
    let boot = dir.path().join("boot");
    assert!(!boot.join("doorway-wifi.txt").exists());
    let applied = std::fs::read_to_string(boot.join("doorway-wifi.txt.applied")).unwrap();
    assert!(
        applied.contains("ssid=Flat 12 = upstairs") && !applied.contains("horse"),
        "{applied}"
    );

    let (_dir, calls) = import_wifi("country=DE\nssid=Cafe\npassword=\n");
    assert_eq!(calls, "set_wlan|Cafe|\nset_wlan_country|DE|\n", "an open network");
}

#[test]
fn wrong_wifi_settings_change_nothing_and_say_why() {
    for (content, why) in [
        (
            "country=gb\nssid=Home\npassword=longenough\n",
            "two-letter code in capitals",
        ),
        ("ssid=Home\npassword=longenough\n", "country is missing"),
        ("country=GB\nssid=\npassword=longenough\n", "ssid must be 1 to 32 bytes"),
        ("country=GB\nssid=Home\npassword=short\n", "8 to 63 characters"),
        ("country=GB\nssid=Home\n", "password is missing"),
        (
            "country=GB\nSSID=Home\npassword=longenough\n",
            "line 2: expected country=",
        ),
    ] {
        let (dir, calls) = import_wifi(content);
        assert_eq!(calls, "", "{content:?} reached the helper");
        let boot = dir.path().join("boot");
        assert!(boot.join("doorway-wifi.txt.rejected").exists(), "{content:?}");
        let error = std::fs::read_to_string(boot.join("doorway-wifi-error.txt")).unwrap();
        assert!(error.contains(why), "{content:?}: {error}");
    }
}

#[test]
fn cross_building_leaves_the_machine_s_own_packages_alone() {
    // arm64 -dev packages beside the amd64 ones remove the amd64
    // libgstreamer-plugins-base1.0-dev (no Multi-Arch in bookworm): the sysroot keeps
    // them apart. Run on this machine: an arm64 binary, and every native test still passes.
    let script = std::fs::read_to_string(repo().join("image/pi/cross-build")).unwrap();
    let commands: Vec<&str> = script.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
    for line in &commands {
        assert!(
            !line.contains("--add-architecture"),
            "adds a foreign architecture: {line}"
        );
        assert!(
            !line.contains(":arm64"),
            "installs an arm64 package on the machine: {line}"
        );
    }
    assert!(commands
        .iter()
        .any(|l| l.contains("mmdebstrap") && l.contains("--architectures=arm64")));
    assert!(commands.iter().any(|l| l.contains("PKG_CONFIG_SYSROOT_DIR=")));
    assert!(commands.iter().any(|l| l.contains("--sysroot=")));
}
