//! The sound card's own playback volume control (ALSA simple mixer), so the speaker
//! volume keys change the amplifier's level rather than scaling samples: no lost
//! resolution at low volume, and the level survives in `alsactl` state like any other
//! card setting. Cards without such a control (USB speakerphones without a mixer, the
//! loopback card) keep the software volume in the receive pipeline.

use alsa::mixer::{Mixer, SelemId};
use tracing::info;

/// Playback controls, most specific first: a board's speaker amplifier, then the card's
/// master, then its PCM stream.
const CONTROLS: &[&str] = &["Speaker", "Master", "PCM", "Headphone", "Digital"];

/// The control device of the card a PCM name plays on: `plughw:CARD=X,DEV=0` and
/// `hw:X,0` are on card X, `hw:1` on card 1; anything else (`default`, a plugin) on the
/// default card.
pub fn card_of(pcm: &str) -> String {
    let args = pcm
        .strip_prefix("plughw:")
        .or_else(|| pcm.strip_prefix("hw:"))
        .or_else(|| pcm.strip_prefix("sysdefault:"));
    let Some(args) = args else { return "default".into() };
    let card = args
        .split(',')
        .find_map(|a| a.strip_prefix("CARD="))
        .or_else(|| args.split(',').next().filter(|a| !a.contains('=')));
    match card {
        Some(card) if !card.is_empty() => format!("hw:{card}"),
        _ => "default".into(),
    }
}

/// A card's playback volume control.
pub struct HardwareVolume {
    mixer: Mixer,
    control: String,
}

impl HardwareVolume {
    /// The playback volume control of the card `pcm` plays on, if it has one.
    pub fn find(pcm: &str) -> Option<HardwareVolume> {
        let card = card_of(pcm);
        let mixer = Mixer::new(&card, false).ok()?;
        let control = CONTROLS.iter().find(|name| {
            mixer
                .find_selem(&SelemId::new(name, 0))
                .is_some_and(|s| s.has_playback_volume())
        })?;
        info!(%card, control, "speaker volume set on the sound card's mixer");
        Some(HardwareVolume {
            mixer,
            control: control.to_string(),
        })
    }

    /// Sets the level, 0.0 (the control's minimum) to 1.0 (its maximum), and unmutes.
    pub fn set(&self, level: f64) -> Result<(), alsa::Error> {
        let Some(selem) = self.mixer.find_selem(&SelemId::new(&self.control, 0)) else {
            return Err(alsa::Error::unsupported("mixer control vanished"));
        };
        let (min, max) = selem.get_playback_volume_range();
        let value = min + ((max - min) as f64 * level.clamp(0.0, 1.0)).round() as i64;
        selem.set_playback_volume_all(value)?;
        if selem.has_playback_switch() {
            selem.set_playback_switch_all(1)?;
        }
        Ok(())
    }

    /// The control's name.
    pub fn control(&self) -> &str {
        &self.control
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_names_come_from_pcm_names() {
        assert_eq!(card_of("plughw:CARD=Loopback,DEV=0,SUBDEV=1"), "hw:Loopback");
        assert_eq!(card_of("hw:CARD=Device,DEV=0"), "hw:Device");
        assert_eq!(card_of("hw:1,0"), "hw:1");
        assert_eq!(card_of("sysdefault:CARD=Headphones"), "hw:Headphones");
        assert_eq!(card_of("default"), "default");
        assert_eq!(card_of("dmix"), "default");
    }

    #[test]
    fn a_machine_without_sound_cards_has_no_hardware_volume() {
        assert!(HardwareVolume::find("hw:CARD=NoSuchCard,DEV=0").is_none());
    }
}
