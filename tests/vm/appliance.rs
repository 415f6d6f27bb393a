//! The appliance as it ships: the x86_64 image built by image/x86_64/build (Debian,
//! systemd, the doorway package with its hardened unit) boots in an emulated machine
//! with the same emulated hardware as the other stations. It has no test agent: like a
//! station at a door, it is seen through its screen and used through its keys.
use super::harness::{Guest, System, Wiring};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The image, built once per test run from the freshly built binary.
pub struct Image {
    pub rootfs: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// Builds the image (image/x86_64/build; the Debian base is cached between runs).
pub fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        use super::requires::program;
        program("mmdebstrap", "mmdebstrap");
        program("mke2fs", "e2fsprogs");
        program("mkfs.vfat", "dosfstools");
        program("mcopy", "mtools");
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(repo.join("image/x86_64/build"))
            .arg(env!("CARGO_BIN_EXE_doorway"))
            .status()
            .expect("run image/x86_64/build");
        assert!(
            status.success(),
            "image/x86_64/build failed (it runs as root, with mmdebstrap)"
        );
        let out = repo.join("target/image");
        Image {
            rootfs: out.join("doorway-x86_64.img"),
            kernel: out.join("vmlinuz"),
            initrd: out.join("initrd.img"),
        }
    })
}

/// A FAT disk labelled DOORWAYCFG holding `doorway.toml`: what a person would put on a
/// Pi's boot partition.
pub fn config_disk(path: &Path, config: &str) {
    let _ = std::fs::remove_file(path);
    let toml = path.with_extension("toml");
    std::fs::write(&toml, config).unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("dosfstools and mtools (scripts/install-deps)");
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    run(Command::new("mkfs.vfat")
        .args(["-C", "-n", "DOORWAYCFG"])
        .arg(path)
        .arg("8192"));
    run(Command::new("mcopy")
        .arg("-i")
        .arg(path)
        .arg(&toml)
        .arg("::doorway.toml"));
}

/// The files on a config disk.
pub fn config_disk_files(path: &Path) -> String {
    let out = Command::new("mdir")
        .args(["-b", "-i"])
        .arg(path)
        .arg("::")
        .output()
        .expect("mdir");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Boots the appliance image with the emulated station's drivers.
pub fn boot(name: &str, dir: &Path, wiring: &Wiring, config: &str) -> Guest {
    let image = image();
    std::fs::create_dir_all(dir).unwrap();
    let disk = dir.join("config-disk.img");
    config_disk(&disk, config);
    Guest::boot(
        name,
        dir,
        wiring,
        System::Appliance {
            image: &image.rootfs,
            kernel: &image.kernel,
            initrd: &image.initrd,
            config_disk: &disk,
            // A Pi has its camera and sound card; here the test drivers stand in.
            cmdline: "modules-load=vivid,snd-aloop vivid.n_devs=1 vivid.node_types=1",
        },
    )
}

/// Waits for systemd to report doorway started, which for a Type=notify unit means the
/// station sent READY; seconds from kernel start, read from the kernel timestamp of the
/// journal line systemd logs then (forwarded to the console).
pub fn wait_ready(guest: &Guest) -> f64 {
    guest.wait_console("systemd[1]: Started doorway.service", Duration::from_secs(240));
    let console = std::fs::read(guest.dir.join("console.log")).unwrap();
    let console = String::from_utf8_lossy(&console);
    let line = console
        .lines()
        .find(|l| l.contains("systemd[1]: Started doorway.service"))
        .unwrap();
    line.split(']')
        .next()
        .and_then(|t| t.trim_start_matches('[').trim().parse().ok())
        .unwrap_or_else(|| panic!("no kernel timestamp on {line:?}"))
}
