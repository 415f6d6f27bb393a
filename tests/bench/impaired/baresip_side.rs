//! Two baresip instances, one in each namespace, calling over the impaired wire with
//! their defaults: Opus, sound only, the same speech from their file source.

use super::{last_seconds, score, talk, wired_lan, Case, Figures, Speech};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// How long before the call is up after baresip starts.
const SETUP: Duration = Duration::from_secs(3);

fn start(
    lan: &super::common::netns::Lan,
    dir: &Path,
    n: u8,
    id: &str,
    speech: &Speech,
    dial: Option<&str>,
    quit_after: u64,
) -> Child {
    let home = dir.join(id);
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config"),
        format!(
            "poll_method epoll\nsip_listen 10.77.0.{n}:5060\nrtp_ports 10000-20000\n\
             audio_player aubridge,nil\naudio_source aufile,{}\naudio_alert aubridge,nil\n\
             ausrc_srate 48000\nausrc_channels 1\nauplay_srate 48000\nauplay_channels 1\n\
             snd_path {}\nmodule_path /usr/lib/baresip/modules\n\
             module opus.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
             module_app account.so\nmodule_app menu.so\n",
            speech.wav48.display(),
            home.display(),
        ),
    )
    .unwrap();
    std::fs::write(
        home.join("accounts"),
        format!("<sip:{id}@10.77.0.{n}>;regint=0;answermode=auto\n"),
    )
    .unwrap();
    let mut command = lan.command(n, "baresip");
    command.arg("-f").arg(&home).args(["-t", &quit_after.to_string()]);
    if let Some(target) = dial {
        command.args(["-e", &format!("/dial {target}")]);
    }
    let log = std::fs::File::create(home.join("baresip.log")).unwrap();
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("baresip starts")
}

/// baresip's dump of what it decoded, first channel, as raw 48 kHz.
fn decoded(home: &Path) -> PathBuf {
    let (samples, rate) = super::common::baresip::decoded_sound(home)
        .unwrap_or_else(|| panic!("baresip dumped no decoded sound in {}", home.display()));
    assert_eq!(rate, 48000, "baresip decoded at {rate} Hz");
    let raw: Vec<u8> = samples.into_iter().flat_map(i16::to_le_bytes).collect();
    let out = home.join("heard.raw");
    std::fs::write(&out, raw).unwrap();
    out
}

/// A baresip call under `case`: the sound's figures (pictures are not measured), and
/// the share of media the wire lost.
pub fn call(case: &Case, speech: &Speech, python: &Path, seconds: u64, dir: &Path) -> (Figures, f64) {
    let dir = dir.join(format!("baresip-{}", case.name.replace([' ', '%', '/'], "-")));
    std::fs::create_dir_all(&dir).unwrap();
    let (lan, wire) = wired_lan(case);
    let quit = SETUP.as_secs() + seconds + 1;
    let b = start(&lan, &dir, 2, "b", speech, None, quit + 1);
    std::thread::sleep(Duration::from_millis(500));
    let a = start(&lan, &dir, 1, "a", speech, Some("sip:b@10.77.0.2:5060"), quit);
    std::thread::sleep(SETUP);
    talk(case, &wire, seconds);
    for mut child in [a, b] {
        let _ = child.wait();
    }
    let lost = wire.counts.lost_share();
    drop((wire, lan));
    let mut figures = Figures::default();
    for id in ["a", "b"] {
        let heard = decoded(&dir.join(id));
        let (pesq, silent) = score(python, speech, &last_seconds(&heard, seconds), seconds);
        figures.pesq += pesq / 2.0;
        figures.silent += silent / 2.0;
    }
    (figures, lost)
}
