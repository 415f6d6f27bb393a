//! The emulated station's harness: boots each station as its own QEMU guest (TCG, Debian's
//! kernel, this machine's root read-only over 9p) with real drivers (vivid camera,
//! snd-aloop sound, bochs KMS, a virtio keyboard and a uinput multitouch screen), links the
//! two guests by a QEMU UDP socket network, and drives them from here: shell commands over
//! a virtio-serial agent (tests/vm/agent.sh), screenshots over QMP `screendump`, key
//! presses over QMP `input-send-event`, cable pulls over QMP `set_link`.
//!
//! Everything a person needs after a failure lands in target/vm-artifacts/SCENARIO/STATION:
//! console.log (the guest's kernel console), station.log (doorway's log), qemu.log and
//! one PNG per screenshot.
use super::screen::Shot;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// QEMU's USB audio device (a speaker); the guest names its card "Audio".
const USB_SPEAKER: &str = "usb-audio,id=usb-speaker,audiodev=usb-sound";

/// The repository, which the guest sees at the same path.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kernel_version() -> String {
    let mut versions: Vec<String> = std::fs::read_dir("/lib/modules")
        .expect("/lib/modules: install the kernel package with scripts/install-deps")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|v| Path::new(&format!("/boot/vmlinuz-{v}")).exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no /boot/vmlinuz-* with modules: install linux-image-amd64 (scripts/install-deps)")
}

/// The initramfs and the GStreamer registry, built once per test run.
fn prepared() -> &'static (String, PathBuf) {
    static PREPARED: OnceLock<(String, PathBuf)> = OnceLock::new();
    PREPARED.get_or_init(|| {
        use super::requires::{gst_element, program};
        program("qemu-system-x86_64", "qemu-system-x86");
        program("/bin/busybox", "busybox-static");
        program("cpio", "cpio");
        program("modprobe", "kmod");
        // The guests feed and record sound with GStreamer's ALSA elements.
        gst_element("alsasrc", "gstreamer1.0-alsa");
        gst_element("alsasink", "gstreamer1.0-alsa");
        gst_element("audiotestsrc", "gstreamer1.0-plugins-base");
        gst_element("wavenc", "gstreamer1.0-plugins-good");
        let kver = kernel_version();
        let dir = repo().join("target/vm");
        std::fs::create_dir_all(&dir).unwrap();
        let initrd = dir.join("initrd.gz");
        let ok = Command::new(repo().join("tests/vm/make-initramfs"))
            .arg(&initrd)
            .arg(&kver)
            .status()
            .expect("run tests/vm/make-initramfs");
        assert!(ok.success(), "tests/vm/make-initramfs failed");
        // A first registry scan takes ~15 s under TCG; the guests read this one instead.
        let ok = Command::new("gst-inspect-1.0")
            .env("GST_REGISTRY", dir.join("gst-registry.bin"))
            .stdout(Stdio::null())
            .status()
            .expect("gst-inspect-1.0 (gstreamer1.0-tools)");
        assert!(ok.success(), "building the GStreamer registry failed");
        (kver, initrd)
    })
}

/// A free UDP port on 127.0.0.1 for the guests' network link, from below the kernel's
/// ephemeral ports: QEMU binds it later, and no other socket may take it meanwhile.
pub fn free_udp_port() -> u16 {
    doorway::api::loopback::free_sip_port()
}

/// One booted guest.
pub struct Guest {
    pub name: String,
    pub dir: PathBuf,
    qemu: Child,
    qmp: BufReader<UnixStream>,
    /// The shell agent of a guest booted from the initramfs; an appliance image has none.
    agent: Option<BufReader<UnixStream>>,
    /// Seconds from kernel start to the agent answering (initramfs guests).
    pub boot_secs: f64,
    /// When QEMU started.
    pub started: Instant,
    shots: usize,
}

/// How the guest is wired: its UDP socket network endpoint and its peer's.
pub struct Wiring {
    pub local_port: u16,
    pub peer_port: u16,
    pub mac: &'static str,
}

fn connect(path: &Path, deadline: Instant) -> UnixStream {
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return s,
            Err(e) if Instant::now() > deadline => panic!("{}: {e}", path.display()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// What a guest boots.
pub enum System<'a> {
    /// Debian's kernel, the busybox initramfs, and this machine's root over 9p, driven by
    /// the shell agent.
    HostRoot,
    /// The x86_64 appliance image (image/x86_64/build) through systemd, with a FAT config
    /// disk standing in for a Pi's boot partition. Writes go to a throwaway overlay.
    Appliance {
        image: &'a Path,
        kernel: &'a Path,
        initrd: &'a Path,
        config_disk: &'a Path,
        /// Extra kernel command line: the emulated hardware's drivers.
        cmdline: &'a str,
    },
}

impl Guest {
    /// Boots a guest; for a host-root guest, waits for its agent.
    pub fn boot(name: &str, dir: &Path, wiring: &Wiring, system: System<'_>) -> Guest {
        std::fs::create_dir_all(dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        let (qmp_path, agent_path) = (dir.join("qmp.sock"), dir.join("agent.sock"));
        let _ = std::fs::remove_file(&qmp_path);
        let _ = std::fs::remove_file(&agent_path);
        let log = std::fs::File::create(dir.join("qemu.log")).unwrap();
        let netdev = format!(
            "socket,id=net0,udp=127.0.0.1:{},localaddr=127.0.0.1:{}",
            wiring.peer_port, wiring.local_port
        );
        let mut qemu = Command::new("qemu-system-x86_64");
        qemu.args(["-machine", "q35", "-m", "1536", "-smp", "2", "-accel", "tcg"])
            .args(["-vga", "std", "-display", "none", "-no-reboot"])
            .args(["-serial", &format!("file:{}", dir.join("console.log").display())])
            .args(["-netdev", &netdev])
            .args(["-device", &format!("virtio-net-pci,netdev=net0,mac={}", wiring.mac)])
            .args(["-device", "virtio-keyboard-pci,id=keyboard"])
            .args(["-qmp", &format!("unix:{},server=on,wait=off", qmp_path.display())]);
        let has_agent = matches!(system, System::HostRoot);
        match system {
            System::HostRoot => {
                let (kver, initrd) = prepared();
                let scenario = dir.join("boot.sh");
                std::fs::write(&scenario, format!("cd {}\n. tests/vm/agent.sh\n", repo().display())).unwrap();
                qemu.args(["-kernel", &format!("/boot/vmlinuz-{kver}")])
                    .arg("-initrd")
                    .arg(initrd)
                    .args([
                        "-append",
                        &format!(
                            "console=ttyS0 quiet panic=-1 scenario={} repo={}",
                            scenario.display(),
                            repo().display()
                        ),
                    ])
                    .args([
                        "-virtfs",
                        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
                    ])
                    .args([
                        "-virtfs",
                        &format!("local,path={},mount_tag=out,security_model=none", dir.display()),
                    ])
                    .args([
                        "-chardev",
                        &format!("socket,id=agent,path={},server=on,wait=off", agent_path.display()),
                    ])
                    .args(["-device", "virtio-serial-pci"])
                    .args(["-device", "virtserialport,chardev=agent,name=agent"])
                    // A USB speaker (snd-usb-audio in the guest), to pull out mid-call.
                    .args(["-audiodev", "none,id=usb-sound", "-device", "qemu-xhci,id=usb"])
                    .args(["-device", USB_SPEAKER])
                    // A USB relay board's serial adapter: QEMU's FTDI chip (ftdi_sio in
                    // the guest, /dev/ttyUSB0), its other end a socket the test reads.
                    // Plugged in from boot, as a board is: by default QEMU attaches the
                    // adapter only while a client holds the socket, and the guest then
                    // needs a moment to find it, which raced the first door opening.
                    .args([
                        "-chardev",
                        &format!(
                            "socket,id=relay,path={},server=on,wait=off",
                            dir.join("relay.sock").display()
                        ),
                    ])
                    .args(["-device", "usb-serial,chardev=relay,always-plugged=on"]);
            }
            System::Appliance {
                image,
                kernel,
                initrd,
                config_disk,
                cmdline,
            } => {
                qemu.arg("-kernel")
                    .arg(kernel)
                    .arg("-initrd")
                    .arg(initrd)
                    .args([
                        "-append",
                        // The journal goes to the serial console too: the appliance's log for a
                        // person reading a failed run is console.log.
                        &format!(
                            "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=1 \
                             systemd.journald.forward_to_console=1 panic=-1 {cmdline}"
                        ),
                    ])
                    .args([
                        "-drive",
                        &format!("file={},if=virtio,format=raw,snapshot=on", image.display()),
                    ])
                    .args([
                        "-drive",
                        &format!("file={},if=virtio,format=raw", config_disk.display()),
                    ]);
            }
        }
        let qemu = qemu
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("qemu-system-x86_64 (qemu-system-x86): run scripts/install-deps");
        let started = Instant::now();
        let deadline = started + Duration::from_secs(20);
        let agent = has_agent.then(|| BufReader::new(connect(&agent_path, deadline)));
        let qmp = connect(&qmp_path, deadline);
        let mut guest = Guest {
            name: name.into(),
            dir: dir.clone(),
            qemu,
            qmp: BufReader::new(qmp),
            agent,
            boot_secs: 0.0,
            started,
            shots: 0,
        };
        guest.qmp_greeting();
        if has_agent {
            let line = guest.read_agent_line(Duration::from_secs(120));
            guest.boot_secs = line
                .strip_prefix("@@ready ")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name}: agent said {line:?}; see {}/console.log", dir.display()));
        }
        guest
    }

    /// Waits until the guest's console shows a line containing `text`; seconds since QEMU
    /// started.
    pub fn wait_console(&self, text: &str, timeout: Duration) -> f64 {
        let path = self.dir.join("console.log");
        loop {
            let console = std::fs::read(&path).unwrap_or_default();
            if without_colours(&String::from_utf8_lossy(&console)).contains(text) {
                return self.started.elapsed().as_secs_f64();
            }
            if self.started.elapsed() > timeout {
                panic!(
                    "{}: the console never showed {text:?}; see {}",
                    self.name,
                    path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn agent(&mut self) -> &mut BufReader<UnixStream> {
        let name = self.name.clone();
        self.agent
            .as_mut()
            .unwrap_or_else(|| panic!("{name} is an appliance: it has no shell agent"))
    }

    fn read_agent_line(&mut self, timeout: Duration) -> String {
        self.agent().get_ref().set_read_timeout(Some(timeout)).unwrap();
        let mut line = String::new();
        match self.agent().read_line(&mut line) {
            Ok(0) => panic!(
                "{}: the guest closed its agent; see {}/console.log",
                self.name,
                self.dir.display()
            ),
            Ok(_) => line,
            Err(e) => panic!(
                "{}: no answer from the guest in {timeout:?} ({e})\n{}",
                self.name,
                self.last_words()
            ),
        }
    }

    /// The ends of the station's log and of the guest's console: what a failed run
    /// leaves to read when its directory is gone.
    pub fn last_words(&self) -> String {
        let tail = |file: &str, lines: usize| {
            let text = std::fs::read(self.dir.join(file)).unwrap_or_default();
            let text = without_colours(&String::from_utf8_lossy(&text));
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            format!("--- last lines of {file}:\n{}", all[start..].join("\n"))
        };
        format!("{}\n{}", tail("station.log", 40), tail("console.log", 30))
    }

    /// Runs a shell command in the guest (as root, in the repository); its exit status
    /// and output. Panics when it does not finish within `timeout`.
    pub fn run_for(&mut self, command: &str, timeout: Duration) -> (i32, String) {
        assert!(!command.contains('\n'), "one line per agent command");
        writeln!(self.agent().get_mut(), "{command}").unwrap();
        let deadline = Instant::now() + timeout;
        let mut output = String::new();
        loop {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            let line = self.read_agent_line(left);
            if let Some(at) = line.find("@@exit ") {
                output.push_str(&line[..at]);
                let code = line[at + 7..].trim().parse().unwrap_or(-1);
                return (code, output);
            }
            output.push_str(&line);
        }
    }

    /// Runs a command that must succeed within a minute; its output.
    pub fn sh(&mut self, command: &str) -> String {
        let (code, output) = self.run_for(command, Duration::from_secs(60));
        assert_eq!(
            code,
            0,
            "{}: `{command}` failed:\n{output}\n{}",
            self.name,
            self.last_words()
        );
        output
    }

    fn qmp_greeting(&mut self) {
        let mut line = String::new();
        self.qmp.read_line(&mut line).unwrap();
        assert!(line.contains("QMP"), "QMP greeting: {line}");
        self.qmp("qmp_capabilities", json!({}));
    }

    /// One QMP command; its "return" value.
    pub fn qmp(&mut self, command: &str, arguments: Value) -> Value {
        let request = json!({"execute": command, "arguments": arguments});
        writeln!(self.qmp.get_mut(), "{request}").unwrap();
        self.qmp
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        loop {
            let mut line = String::new();
            self.qmp.read_line(&mut line).expect("QMP answer");
            let reply: Value = serde_json::from_str(&line).expect("QMP JSON");
            if reply.get("event").is_some() {
                continue;
            }
            if let Some(e) = reply.get("error") {
                panic!("{}: QMP {command}: {e}", self.name);
            }
            return reply["return"].clone();
        }
    }

    /// What the guest's screen shows now, read by QEMU from the graphics card: it costs
    /// the guest nothing.
    pub fn peek(&mut self) -> Shot {
        let ppm = self.dir.join("screendump.ppm");
        self.qmp("screendump", json!({"filename": ppm.to_str().unwrap()}));
        Shot::from_ppm(&std::fs::read(&ppm).unwrap()).unwrap()
    }

    /// What the guest's screen shows now; also kept as NN-label.png in the artifacts.
    pub fn screenshot(&mut self, label: &str) -> Shot {
        let shot = self.peek();
        self.keep(&shot, label);
        shot
    }

    /// Keeps a screenshot as NN-label.png in the artifacts.
    pub fn keep(&mut self, shot: &Shot, label: &str) {
        self.shots += 1;
        shot.save_png(&self.dir.join(format!("{:02}-{label}.png", self.shots)));
    }

    /// Takes screenshots until one satisfies `pred` (the UI and the video take a moment
    /// to arrive); panics after `secs`, the last screenshot kept in the artifacts.
    pub fn wait_screen(&mut self, secs: f64, what: &str, pred: impl Fn(&Shot) -> bool) -> Shot {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let shot = self.peek();
            if pred(&shot) {
                self.keep(&shot, &what.replace(' ', "-"));
                return shot;
            }
            if Instant::now() > deadline {
                self.keep(&shot, &format!("not-{}", what.replace(' ', "-")));
                panic!(
                    "{}: the screen does not show {what} within {secs} s; see {}",
                    self.name,
                    self.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The far end of the guest's USB-serial adapter (what a relay board would read):
    /// connect before the guest writes, or QEMU drops what it writes.
    pub fn relay_board(&self) -> super::host::RelayBoard {
        let stream = connect(&self.dir.join("relay.sock"), Instant::now() + Duration::from_secs(5));
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        super::host::RelayBoard::new(stream)
    }

    /// Presses and releases a key on the guest's virtio keyboard (a QEMU key code such as
    /// "f1" or "esc").
    pub fn press_key(&mut self, qcode: &str) {
        for down in [true, false] {
            let event = json!({"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": qcode}}});
            // Without a device the event goes to the keyboard the guest's driver last
            // activated: the virtio keyboard once virtio_input has bound it.
            self.qmp("input-send-event", json!({"events": [event]}));
            std::thread::sleep(Duration::from_millis(80));
        }
    }

    /// Holds a key down for `ms` milliseconds (a long press), then releases it.
    pub fn hold_key(&mut self, qcode: &str, ms: u64) {
        for down in [true, false] {
            let event = json!({"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": qcode}}});
            self.qmp("input-send-event", json!({"events": [event]}));
            std::thread::sleep(Duration::from_millis(if down { ms } else { 80 }));
        }
    }

    /// Plugs the USB speaker back in.
    pub fn plug_usb_speaker(&mut self) {
        self.qmp(
            "device_add",
            json!({"driver": "usb-audio", "id": "usb-speaker", "audiodev": "usb-sound"}),
        );
    }

    /// Pulls the USB speaker out.
    pub fn unplug_usb_speaker(&mut self) {
        self.qmp("device_del", json!({"id": "usb-speaker"}));
    }

    /// Plugs or pulls the guest's network cable.
    pub fn set_link(&mut self, up: bool) {
        self.qmp("set_link", json!({"name": "net0", "up": up}));
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}

/// Text without its terminal colour codes (systemd colours its console status lines).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
