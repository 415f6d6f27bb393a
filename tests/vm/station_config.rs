//! The config file of an emulated station: its name, its SIP address, its one contact
//! (or none: it finds its neighbours on the LAN), and the guest's devices.

/// The microphone: the sound card's loopback capture, device 1 subdevice 0 (what is
/// played on device 0 subdevice 0 is heard there).
pub const STATION_MIC: &str = "plughw:CARD=Loopback,DEV=1,SUBDEV=0";

/// How the door differs from a standard emulated station.
#[derive(Default, Clone, Copy)]
pub struct DoorSetup<'a> {
    /// Its speaker's ALSA PCM instead of the loopback card.
    pub speaker: Option<&'a str>,
    /// More `[devices]` lines.
    pub devices: &'a str,
    /// More lines in its entry for the hall (`may_open_door = true`).
    pub contact: &'a str,
    /// Its `[door]` table, if it has a lock.
    pub door: &'a str,
}

/// The config of a station on the emulated hardware: `listen` its SIP address,
/// `control` an extra line for the control socket, `devices` the speaker line and
/// any more `[devices]` lines.
pub fn config(name: &str, listen: &str, control: &str, peer: &str, peer_ip: &str, devices: &str) -> String {
    config_with(
        name,
        listen,
        control,
        Some((peer, peer_ip)),
        devices,
        &DoorSetup::default(),
    )
}

/// As [`config`], with the door's extra contact lines and `[door]` table from `setup`;
/// with no contact at all when `peer` is `None`.
pub fn config_with(
    name: &str,
    listen: &str,
    control: &str,
    peer: Option<(&str, &str)>,
    devices: &str,
    setup: &DoorSetup<'_>,
) -> String {
    let contact = match peer {
        Some((peer, peer_ip)) => format!(
            "[[contact]]\nname = \"{peer}\"\nuri = \"sip:{}@{peer_ip}:5060\"\nkey = \"KEY_F1\"\n{}\n",
            peer.to_lowercase(),
            setup.contact
        ),
        None => String::new(),
    };
    format!(
        r#"[station]
name = "{name}"
user = "{user}"
listen = "{listen}"
{control}
media_timeout_secs = 6

{contact}
[devices]
camera = "v4l2:/dev/video0"
microphone = "alsa:{STATION_MIC}"
display = "drm"
{devices}
# vivid writes its settings over the picture; "OSD Text Mode" 2 turns that off.
camera_controls = {{ "OSD Text Mode" = 2 }}

[input]
backend = "evdev"
keys = {{ KEY_ENTER = "answer", KEY_ESC = "hangup", KEY_VOLUMEUP = "volume_up", KEY_VOLUMEDOWN = "volume_down" }}

[media]
width = 320
height = 180
fps = 10
video_bitrate_kbps = 400

{door}
"#,
        user = name.to_lowercase(),
        door = setup.door,
    )
}
