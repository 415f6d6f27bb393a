//! Two stations with test devices on 127.0.0.1 calling each other: `doorway demo`.

use doorway::api::loopback::{is_idle, loopback_pair, pair_stations, wait_for, LoopbackError};
use doorway::call::machine::State;
use doorway::station::{self, Command, StationError, StationHandle, Status};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What one direction of a call carried.
#[derive(Debug, Clone, Serialize)]
pub struct DirectionReport {
    /// "A -> B".
    pub direction: String,
    /// Frames the receiver's display showed.
    pub frames_decoded: u64,
    /// Frames recognised as the sender's pattern.
    pub frames_recognised: u64,
    /// The receiver saw the sender's pattern at least 30 times.
    pub pattern_recognised: bool,
    /// The tone the receiver heard.
    pub tone_heard_hz: Option<f64>,
    /// The tone the sender played.
    pub tone_sent_hz: Option<f64>,
    /// Glass-to-glass latency p50.
    pub latency_p50_ms: Option<f64>,
    /// Glass-to-glass latency p95.
    pub latency_p95_ms: Option<f64>,
    /// How the media was protected on the way (the receiver's view), e.g.
    /// "SRTP AEAD_AES_128_GCM" or "unencrypted".
    pub encryption: Option<String>,
}

impl DirectionReport {
    /// Compares what `receiver` saw with what `sender` sent.
    pub fn between(label: &str, sender: &Status, receiver: &Status) -> Self {
        let recognised = receiver
            .probes
            .recognised
            .get(&sender.probes.own_tag)
            .copied()
            .unwrap_or(0);
        Self {
            direction: label.into(),
            frames_decoded: receiver.media.as_ref().map(|m| m.frames_decoded).unwrap_or(0),
            frames_recognised: recognised,
            pattern_recognised: recognised >= 30,
            tone_heard_hz: receiver.probes.tone_heard_hz,
            tone_sent_hz: sender.probes.own_tone_hz,
            latency_p50_ms: receiver.probes.latency_p50_ms,
            latency_p95_ms: receiver.probes.latency_p95_ms,
            encryption: receiver.media.as_ref().and_then(|m| m.encryption_received.clone()),
        }
    }

    /// Video recognised and the right tone heard (within 3%).
    pub fn media_flowed(&self) -> bool {
        let tone_ok = match (self.tone_heard_hz, self.tone_sent_hz) {
            (Some(h), Some(s)) => (h - s).abs() / s < 0.03,
            _ => false,
        };
        self.pattern_recognised && tone_ok
    }
}

/// The outcome of a demo call.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Seconds from dialing to both sides in the call.
    pub setup_seconds: f64,
    /// Both directions.
    pub directions: Vec<DirectionReport>,
    /// Seconds from hang-up to both sides idle.
    pub teardown_seconds: f64,
    /// Screenshots written.
    pub screenshots: Vec<PathBuf>,
    /// Media statistics of each station just before hang-up.
    pub media: Vec<Option<doorway::media::MediaStats>>,
    /// The code both stations showed when they paired.
    pub pairing_code: String,
    /// The call went over TLS between the paired certificates.
    pub secure: bool,
}

/// Runs two stations, pairs them, calls from A to B over TLS and SRTP, answers on B,
/// holds for `seconds`, hangs up.
pub async fn run(seconds: u64, screenshot_dir: Option<PathBuf>) -> Result<DemoReport, DemoError> {
    let (a_cfg, b_cfg) = loopback_pair("Front door", "Kitchen");
    let (a, _ta) = station::start(a_cfg).await?;
    let (b, _tb) = station::start(b_cfg).await?;
    let mut shots = Screenshots {
        dir: screenshot_dir,
        taken: Vec::new(),
    };
    shots.take(&a, "front-door-idle.png").await?;
    let pairing_code = pair_stations(&a, &b, "Kitchen").await?;
    let t0 = Instant::now();
    a.call("Kitchen").await?.map_err(DemoError::Call)?;
    let ringing = wait_for(&b, Duration::from_secs(10), |s| {
        matches!(s.call, State::Incoming { .. })
    })
    .await?;
    if !matches!(ringing.call, State::Incoming { .. }) {
        let a_status = a.status().await?;
        return Err(DemoError::Call(format!(
            "Kitchen never rang; Front door says: {}",
            a_status.last_message.unwrap_or_else(|| "nothing".into())
        )));
    }
    shots.take(&b, "kitchen-ringing.png").await?;
    b.send(Command::Answer)?;
    let active = |s: &Status| matches!(s.call, State::Active { .. });
    wait_for(&a, Duration::from_secs(10), active).await?;
    wait_for(&b, Duration::from_secs(10), active).await?;
    let setup_seconds = t0.elapsed().as_secs_f64();
    let secure = match a.status().await?.call {
        State::Active { peer, .. } => peer.secure,
        _ => false,
    };
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    shots.take(&a, "front-door-call.png").await?;
    shots.take(&b, "kitchen-call.png").await?;
    let screenshots = shots.taken;
    let (sa, sb) = (a.status().await?, b.status().await?);
    let t1 = Instant::now();
    a.send(Command::Hangup)?;
    wait_for(&a, Duration::from_secs(5), is_idle).await?;
    wait_for(&b, Duration::from_secs(5), is_idle).await?;
    let teardown_seconds = t1.elapsed().as_secs_f64();
    a.send(Command::Shutdown)?;
    b.send(Command::Shutdown)?;
    Ok(DemoReport {
        setup_seconds,
        directions: vec![
            DirectionReport::between("Front door -> Kitchen", &sa, &sb),
            DirectionReport::between("Kitchen -> Front door", &sb, &sa),
        ],
        teardown_seconds,
        screenshots,
        media: vec![sa.media.clone(), sb.media.clone()],
        pairing_code,
        secure,
    })
}

/// Screenshots of the demo, when a folder was given.
struct Screenshots {
    dir: Option<PathBuf>,
    taken: Vec<PathBuf>,
}

impl Screenshots {
    async fn take(&mut self, station: &StationHandle, name: &str) -> Result<(), DemoError> {
        let Some(dir) = &self.dir else { return Ok(()) };
        std::fs::create_dir_all(dir).map_err(|e| DemoError::Call(format!("{}: {e}", dir.display())))?;
        let path = dir.join(name);
        station.screenshot(path.clone()).await?.map_err(DemoError::Call)?;
        self.taken.push(path);
        Ok(())
    }
}

/// Why the demo call did not work.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The two stations could not be set up.
    #[error(transparent)]
    Loopback(#[from] LoopbackError),
    /// A station failed.
    #[error(transparent)]
    Station(#[from] StationError),
    /// The call did not go as planned.
    #[error("{0}")]
    Call(String),
}
