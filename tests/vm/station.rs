//! A door station in its own emulated machine: doorway runs on the guest's real drivers
//! (vivid camera, snd-aloop sound card, bochs screen, virtio keyboard, uinput touchscreen)
//! and is watched and driven the way a person would: the screen, the speaker, keys and
//! touches.
use super::harness::{free_udp_port, Guest, System, Wiring};
use super::screen::Shot;
pub use super::station_config::{config, config_with, DoorSetup};
use doorway::ui::{buttons, Screen, UiAction};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The sound card's loopback: what is played on device 0 subdevice N is captured on
/// device 1 subdevice N. The station's microphone hears subdevice 0, its speaker plays
/// into subdevice 1.
const MIC_FEED: &str = "plughw:CARD=Loopback,DEV=0,SUBDEV=0";
const STATION_SPEAKER: &str = "plughw:CARD=Loopback,DEV=0,SUBDEV=1";
const SPEAKER_TAP: &str = "plughw:CARD=Loopback,DEV=1,SUBDEV=1";

const GST_ENV: &str = "GST_REGISTRY=target/vm/gst-registry.bin GST_REGISTRY_UPDATE=no";

/// One station.
pub struct Station {
    pub name: String,
    pub guest: Guest,
    /// Seconds from kernel start until doorway answered on its control socket.
    pub ready_secs: f64,
    /// Seconds from starting doorway until it answered.
    pub start_secs: f64,
}

/// The two stations of a scenario: a front door ("Door", 10.0.0.1) and a hall
/// ("Hall", 10.0.0.2), each the other's only contact, on key F1.
pub struct Pair {
    pub door: Station,
    pub hall: Station,
}

/// The door's end of the link between the two machines (UDP ports `p1`, `p2` here).
fn door_wiring(p1: u16, p2: u16) -> Wiring {
    Wiring {
        local_port: p1,
        peer_port: p2,
        mac: "52:54:00:00:00:01",
    }
}

/// The hall's end of the link.
fn hall_wiring(p1: u16, p2: u16) -> Wiring {
    Wiring {
        local_port: p2,
        peer_port: p1,
        mac: "52:54:00:00:00:02",
    }
}

/// A clean start for `scenario`: no guest of an earlier one still runs, and its artifacts
/// directory is empty. Prints what else keeps the machine busy.
fn artifacts(scenario: &str) -> PathBuf {
    let strays = super::host::stray_guests();
    assert!(
        strays.is_empty(),
        "{scenario}: guests of an earlier scenario still run:\n{}",
        strays.join("\n")
    );
    println!("{scenario}: {}", super::host::machine_load());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/vm-artifacts")
        .join(scenario);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The appliance image as "Door" (10.0.0.1, by DHCP from the hall) and a hall station.
pub struct AppliancePair {
    pub door: Guest,
    pub hall: Station,
    /// Seconds from kernel start until systemd reported the door's doorway ready.
    pub door_ready_secs: f64,
}

impl AppliancePair {
    /// Boots both machines at once; returns when both stations are ready.
    pub fn boot(scenario: &str) -> AppliancePair {
        let dir = artifacts(scenario);
        let (p1, p2) = (free_udp_port(), free_udp_port());
        // The image takes its config from its config disk, as from a Pi's boot partition.
        let devices = format!("speaker = \"alsa:{STATION_SPEAKER}\"");
        let door_config = config("Door", "0.0.0.0:5060", "", "Hall", "10.0.0.2", &devices);
        let (door, hall) = std::thread::scope(|s| {
            let door = s.spawn(|| {
                let wiring = door_wiring(p1, p2);
                let guest = super::appliance::boot("Door", &dir.join("door"), &wiring, &door_config);
                let ready = super::appliance::wait_ready(&guest);
                (guest, ready)
            });
            let hall = s.spawn(|| {
                let mut hall = Station::boot_hall(&dir, p1, p2);
                hall.serve_dhcp("10.0.0.1");
                hall
            });
            (door.join().expect("Door boots"), hall.join().expect("Hall boots"))
        });
        AppliancePair {
            door: door.0,
            door_ready_secs: door.1,
            hall,
        }
    }
}

impl Pair {
    /// Boots both machines at once and starts doorway on each.
    pub fn boot(scenario: &str) -> Pair {
        Pair::boot_with(scenario, DoorSetup::default())
    }

    /// Both stations, the door set up as `door` says.
    pub fn boot_with(scenario: &str, door: DoorSetup<'_>) -> Pair {
        Self::boot_knowing(scenario, door, true)
    }

    /// Both stations as new ones: no contact, and no address in either config (each
    /// listens on all its addresses and finds the other on the LAN).
    pub fn boot_strangers(scenario: &str) -> Pair {
        Self::boot_knowing(scenario, DoorSetup::default(), false)
    }

    fn boot_knowing(scenario: &str, door: DoorSetup<'_>, contacts: bool) -> Pair {
        let dir = artifacts(scenario);
        let (p1, p2) = (free_udp_port(), free_udp_port());
        let (door, hall) = std::thread::scope(|s| {
            let door = s.spawn(|| {
                let wiring = door_wiring(p1, p2);
                let peer = contacts.then_some(("Hall", "10.0.0.2"));
                Station::boot("Door", "10.0.0.1", peer, &dir, &wiring, door)
            });
            let hall = s.spawn(|| {
                let wiring = hall_wiring(p1, p2);
                let peer = contacts.then_some(("Door", "10.0.0.1"));
                Station::boot("Hall", "10.0.0.2", peer, &dir, &wiring, DoorSetup::default())
            });
            (door.join().expect("Door boots"), hall.join().expect("Hall boots"))
        });
        Pair { door, hall }
    }
}

impl Station {
    /// The hall station (10.0.0.2), on the other end of the link from the door.
    fn boot_hall(dir: &std::path::Path, p1: u16, p2: u16) -> Station {
        let wiring = hall_wiring(p1, p2);
        Station::boot(
            "Hall",
            "10.0.0.2",
            Some(("Door", "10.0.0.1")),
            dir,
            &wiring,
            DoorSetup::default(),
        )
    }

    fn boot(
        name: &str,
        ip: &str,
        peer: Option<(&str, &str)>,
        dir: &std::path::Path,
        wiring: &Wiring,
        setup: DoorSetup<'_>,
    ) -> Station {
        let mut guest = Guest::boot(name, &dir.join(name.to_lowercase()), wiring, System::HostRoot);
        let speaker = setup.speaker.unwrap_or(STATION_SPEAKER);
        let devices = format!("speaker = \"alsa:{speaker}\"\n{}", setup.devices);
        let control = "control_socket = \"/tmp/doorway.sock\"\nstate_dir = \"/tmp/out/state\"";
        // A station that knows nobody is configured as a new one is: no address at all.
        let listen = match peer {
            Some(_) => format!("{ip}:5060"),
            None => "0.0.0.0:5060".into(),
        };
        let config = config_with(name, &listen, control, peer, &devices, &setup);
        std::fs::write(guest.dir.join("station.toml"), config).unwrap();
        // The drivers a Pi's camera, sound card, screen, buttons and touchscreen would have.
        guest.sh(
            "modprobe -a virtio_net virtio_input evdev uinput snd-aloop snd-dummy xhci_pci snd-usb-audio ftdi_sio bochs \
             && modprobe vivid n_devs=1 node_types=1",
        );
        guest.sh(&format!("ip addr add {ip}/24 dev eth0 && ip link set eth0 up"));
        // The guests' clocks start from a whole-second RTC: set them from this machine's
        // so the two stations' logs line up.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        guest.sh(&format!(
            "date -s @{}.{:03} >/dev/null",
            now.as_secs(),
            now.subsec_millis()
        ));
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_doorway"));
        let touchscreen = super::host::touchscreen_helper();
        guest.sh(&format!(
            "mkfifo /tmp/touch && (setsid {} /tmp/touch > /tmp/out/touchscreen.log 2>&1 &)",
            touchscreen.display()
        ));
        let started = uptime(&mut guest);
        guest.sh(&format!(
            "({GST_ENV} DOORWAY_LOG=info,rsipstack=warn,doorway::ui=debug,doorway::media::dtmf=debug setsid {} run --config /tmp/out/station.toml \
             > /tmp/out/station.log 2>&1 &)",
            bin.display()
        ));
        let (code, out) = guest.run_for(
            &format!(
                "timeout 120 sh -c 'until {} status --socket /tmp/doorway.sock >/dev/null 2>&1; do sleep 0.1; done'",
                bin.display()
            ),
            Duration::from_secs(130),
        );
        assert_eq!(code, 0, "{name}: doorway never became ready: {out}; see station.log");
        let ready_secs = uptime(&mut guest);
        Station {
            name: name.into(),
            guest,
            ready_secs,
            start_secs: ready_secs - started,
        }
    }

    /// `doorway status --json`.
    pub fn status(&mut self) -> Value {
        let command = format!(
            "{} status --json --socket /tmp/doorway.sock",
            env!("CARGO_BIN_EXE_doorway")
        );
        // An emulated machine (TCG, on a busy host) can starve the station for a while:
        // its loop then takes seconds over one step (starting a call's media, say) and
        // the control socket says so at once. A status that is slow or stuck is asked
        // again, with the logs shown the first time, for up to 90 s; a station that
        // stays stuck, or any other failure, fails the test.
        let first = Instant::now();
        let mut tries = 0;
        let out = loop {
            let started = Instant::now();
            let (code, out) = self.guest.run_for(&command, Duration::from_secs(60));
            if code == 0 {
                break out;
            }
            tries += 1;
            let slow = out.contains("no answer within")
                || out.contains("did not answer within")
                || out.contains("loop is stuck");
            println!(
                "{}: status failed after {:.1} s (try {tries}): {out}",
                self.name,
                started.elapsed().as_secs_f64(),
            );
            if tries == 1 {
                println!("{}", self.guest.last_words());
            }
            let within = first.elapsed() < Duration::from_secs(90) && tries < 30;
            assert!(slow && within, "{}: `{command}` failed:\n{out}", self.name);
            std::thread::sleep(Duration::from_secs(1));
        };
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{}: status JSON {e}: {out}", self.name))
    }

    /// The call state: idle, outgoing, incoming, active...
    pub fn call_state(&mut self) -> String {
        self.status()["call"]["state"].as_str().unwrap_or("?").to_string()
    }

    /// Waits until the station's status satisfies `pred`; panics with the last status after
    /// `secs`.
    pub fn wait_until(&mut self, secs: f64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let status = self.status();
            if pred(&status) {
                return status;
            }
            if Instant::now() > deadline {
                panic!("{}: not {what} within {secs} s; status: {status:#}", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a call state.
    pub fn wait_state(&mut self, secs: f64, state: &str) -> Value {
        self.wait_until(secs, state, |s| s["call"]["state"] == state)
    }

    /// Takes screenshots until one satisfies `pred`; panics after `secs`.
    pub fn wait_screen(&mut self, secs: f64, what: &str, pred: impl Fn(&Shot) -> bool) -> Shot {
        self.guest.wait_screen(secs, what, pred)
    }

    /// Touches the screen at a pixel, through the uinput touchscreen whose raw range
    /// (0..=4095) the station maps onto its screen.
    pub fn touch(&mut self, shot: &Shot, x: i32, y: i32) {
        let raw = |v: i32, size: usize| v as i64 * 4095 / (size as i64 - 1);
        self.guest.sh(&format!(
            "echo tap {} {} > /tmp/touch",
            raw(x, shot.width),
            raw(y, shot.height)
        ));
    }

    /// Touches the middle of the button for `action` on `screen`.
    pub fn touch_button(&mut self, shot: &Shot, screen: &Screen, action: UiAction) {
        let button = buttons(screen, shot.width as i32, shot.height as i32)
            .into_iter()
            .find(|b| b.action == action)
            .unwrap_or_else(|| panic!("no {action:?} button on {screen:?}"));
        self.touch(
            shot,
            button.rect.x + button.rect.w / 2,
            button.rect.y + button.rect.h / 2,
        );
    }

    /// Waits until the guest has the device node `path` (a driver made it); panics after
    /// `secs`, with the guest's kernel messages.
    pub fn wait_for_device(&mut self, secs: f64, path: &str) {
        let started = Instant::now();
        let tenths = (secs * 10.0) as u32;
        let (code, _) = self.guest.run_for(
            &format!("i=0; until [ -e {path} ]; do i=$((i+1)); [ $i -gt {tenths} ] && exit 1; sleep 0.1; done"),
            Duration::from_secs_f64(secs + 60.0),
        );
        if code != 0 {
            let kernel = self.guest.sh("dmesg | tail -n 30");
            panic!("{}: no {path} within {secs} s; the kernel said:\n{kernel}", self.name);
        }
        println!(
            "{}: {path} is there ({:.1} s to check)",
            self.name,
            started.elapsed().as_secs_f64()
        );
    }

    /// Plays a steady tone into the station's microphone, until the machine stops.
    pub fn play_into_microphone(&mut self, hz: u32) {
        self.guest.sh(&format!(
            "({GST_ENV} setsid gst-launch-1.0 -q audiotestsrc is-live=true freq={hz} volume=0.5 \
             ! audio/x-raw,rate=48000,channels=1 ! alsasink device={MIC_FEED} > /tmp/out/tone.log 2>&1 &)"
        ));
    }

    /// Records a second and a half of what the station's speaker plays; the tone's
    /// frequency, None for silence.
    pub fn speaker_tone(&mut self) -> Option<f64> {
        self.guest.sh(&format!(
            "{GST_ENV} gst-launch-1.0 -q alsasrc device={SPEAKER_TAP} num-buffers=150 \
             ! audio/x-raw,rate=48000,channels=1,format=S16LE ! wavenc ! filesink location=/tmp/out/speaker.wav"
        ));
        let reader = hound::WavReader::open(self.guest.dir.join("speaker.wav")).expect("speaker.wav");
        let rate = reader.spec().sample_rate;
        let samples: Vec<f64> = reader.into_samples::<i16>().map(|s| s.unwrap() as f64).collect();
        // The first half second can still hold the start of the stream.
        let skip = (rate as usize / 2).min(samples.len());
        let (tone, windows) = steady_tone(&samples[skip..], rate);
        // Shown with a failing test's output.
        println!("{}: speaker tone {tone:?} Hz; by 20 ms: {windows}", self.name);
        tone
    }

    /// Hands out `address` by DHCP on the station's network (the one other machine on it
    /// gets it), as a home router would.
    pub fn serve_dhcp(&mut self, address: &str) {
        std::fs::write(
            self.guest.dir.join("udhcpd.conf"),
            format!(
                "start {address}\nend {address}\ninterface eth0\nmax_leases 1\n\
                 lease_file /tmp/udhcpd.leases\noption subnet 255.255.255.0\n"
            ),
        )
        .unwrap();
        self.guest.sh(
            "touch /tmp/udhcpd.leases && (setsid busybox udhcpd -f /tmp/out/udhcpd.conf > /tmp/out/udhcpd.log 2>&1 &)",
        );
    }

    /// The level of a sound card's mixer control, in percent (`amixer`).
    pub fn mixer_percent(&mut self, card: &str, control: &str) -> u32 {
        let out = self.guest.sh(&format!("amixer -c {card} sget {control}"));
        out.split('[')
            .find_map(|part| part.split_once("%]").and_then(|(p, _)| p.parse().ok()))
            .unwrap_or_else(|| panic!("{}: no level in amixer's answer: {out}", self.name))
    }

    /// Pulls the camera off the machine (unbinds the vivid driver) or plugs it back.
    pub fn set_camera_plugged(&mut self, plugged: bool) {
        let action = if plugged { "bind" } else { "unbind" };
        self.guest
            .sh(&format!("echo vivid.0 > /sys/bus/platform/drivers/vivid/{action}"));
    }
}

impl Station {
    /// When (seconds of the day, on the guest's clock, which boot sets from this
    /// machine's) the station first logged a line containing all of `words` at or after
    /// `after`.
    pub fn logged(&self, words: &[&str], after: f64) -> Option<f64> {
        let log = std::fs::read_to_string(self.guest.dir.join("station.log")).ok()?;
        log.lines()
            .filter(|line| words.iter().all(|w| line.contains(w)))
            .filter_map(log_time)
            .find(|t| *t >= after)
    }
}

/// Seconds of the day of a log line starting "2026-11-21T08:09:32.148046Z".
fn log_time(line: &str) -> Option<f64> {
    let time = line.get(11..26)?;
    let mut parts = time.split(':');
    let (h, m, s): (f64, f64, f64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    Some(h * 3600.0 + m * 60.0 + s)
}

fn uptime(guest: &mut Guest) -> f64 {
    let out = guest.sh("cut -d' ' -f1 /proc/uptime");
    out.trim().parse().expect("uptime")
}

/// The tone of a recording that may have gaps, and the tone of each 20 ms window as
/// text. An emulated machine cannot always keep up with real-time audio: late packets
/// leave silences in what the speaker plays, and each silence shifts the tone's phase,
/// which smears a spectrum taken over the whole recording (700 Hz read as 750). Within
/// 20 ms the tone is whole or nearly; the median over the windows that hold sound is the
/// answer, None when fewer than five do.
fn steady_tone(samples: &[f64], rate: u32) -> (Option<f64>, String) {
    let tones: Vec<Option<f64>> = samples
        .chunks_exact(rate as usize / 50)
        .map(|w| dominant_tone(w, rate))
        .collect();
    let shown: Vec<String> = tones
        .iter()
        .map(|t| t.map_or("-".into(), |hz| format!("{hz:.0}")))
        .collect();
    let mut heard: Vec<f64> = tones.into_iter().flatten().collect();
    heard.sort_by(f64::total_cmp);
    let tone = (heard.len() >= 5).then(|| heard[heard.len() / 2]);
    (tone, shown.join(" "))
}

/// The strongest frequency between 200 and 2000 Hz (10 Hz steps), None for silence.
fn dominant_tone(samples: &[f64], rate: u32) -> Option<f64> {
    let rms = (samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64).sqrt();
    if rms < 300.0 {
        return None;
    }
    let strength = |hz: f64| {
        let (mut s, mut c) = (0.0, 0.0);
        for (i, x) in samples.iter().enumerate() {
            let phase = std::f64::consts::TAU * hz * i as f64 / rate as f64;
            s += x * phase.sin();
            c += x * phase.cos();
        }
        s.hypot(c)
    };
    (20..=200)
        .map(|step| step as f64 * 10.0)
        .map(|hz| (hz, strength(hz)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(hz, _)| hz)
}
