//! The station's camera and microphone as an RTSP stream, `rtsp://<station>:8554/live`,
//! for video recorders and Home Assistant: GStreamer's RTSP server with digest
//! authentication, H.264 (the call's encoder and settings) and Opus. Every viewer shares
//! one encode, and the encode takes its frames and samples from the devices' shared
//! capture ([`crate::device::hub`]): the stream starts with the first viewer and stops
//! after the last, and a call goes on untouched meanwhile.

use super::send::{configure_encoder, feed_audio, feed_video, video_caps, AUDIO_RATE};
use super::MediaSettings;
use crate::device::hub::{CameraHub, MicrophoneHub};
use crate::device::{PixelFormat, VideoFormat};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp_server;
use gstreamer_rtsp_server::prelude::*;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tracing::{info, info_span, warn};

/// The path of the stream.
pub const PATH: &str = "/live";
/// RTSP connections held at once (viewers, and whoever merely connects).
const MAX_CONNECTIONS: usize = 16;

/// Why the stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum RtspError {
    /// The port could not be opened.
    #[error("cannot serve RTSP on port {port}: {message}")]
    Listen {
        /// The port.
        port: u16,
        /// What GLib said.
        message: String,
    },
    /// The password file could not be read.
    #[error("cannot read {0}: {1}")]
    PasswordFile(std::path::PathBuf, std::io::Error),
}

/// What `status` shows about the stream.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RtspStatus {
    /// Where to watch (without the credentials).
    pub url: String,
    /// Connections open now (viewers, and clients still logging in).
    pub viewers: usize,
}

/// The running RTSP server; stops when dropped.
pub struct RtspServer {
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    url: String,
    viewers: Arc<AtomicUsize>,
}

use gstreamer::glib;

impl RtspServer {
    /// Serves the stream on `address`:`port` (0 picks a free port) for `user` with
    /// `password`, encoding with the call's `settings` what `devices` capture.
    pub fn start(
        address: IpAddr,
        advertise: IpAddr,
        port: u16,
        user: &str,
        password: &str,
        settings: &MediaSettings,
        devices: &crate::device::Devices,
    ) -> Result<RtspServer, RtspError> {
        let context = glib::MainContext::new();
        let server = rtsp_server::RTSPServer::new();
        server.set_address(&address.to_string());
        server.set_service(&port.to_string());
        // At most a few viewers: each costs a connection and its own RTP sending.
        server.set_backlog(8);

        let auth = rtsp_server::RTSPAuth::new();
        auth.set_supported_methods(rtsp_server::gst_rtsp::RTSPAuthMethod::Digest);
        let token = rtsp_server::RTSPToken::builder()
            .field(rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
            .build();
        auth.add_digest(user, password, &token);
        server.set_auth(Some(&auth));

        let factory = rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&launch_line(settings));
        // One encode for every viewer.
        factory.set_shared(true);
        factory.add_role_from_structure(
            &gst::Structure::builder("viewer")
                .field(rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                .field(rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                .build(),
        );
        let feed = Feed {
            settings: settings.clone(),
            camera: devices.camera.clone(),
            microphone: devices.microphone.clone(),
        };
        factory.connect_media_configure(move |_, media| feed.start(media));
        server
            .mount_points()
            .expect("a new server has mount points")
            .add_factory(PATH, factory);

        let viewers = Arc::new(AtomicUsize::new(0));
        let counted = viewers.clone();
        let loop_context = context.clone();
        server.connect_client_connected(move |_, client| {
            let before = counted.fetch_add(1, Ordering::Relaxed);
            let closing = counted.clone();
            client.connect_closed(move |_| {
                closing.fetch_sub(1, Ordering::Relaxed);
            });
            // A stranger opening connection after connection holds at most this many.
            if before >= MAX_CONNECTIONS {
                warn!("too many RTSP connections; closing the newest");
                // Once the server has attached it (closing it now would be undone).
                let client = client.clone();
                glib::idle_source_new(Some("rtsp-close"), glib::Priority::DEFAULT, move || {
                    client.close();
                    glib::ControlFlow::Break
                })
                .attach(Some(&loop_context));
            }
        });
        let source = server.attach(Some(&context)).map_err(|e| RtspError::Listen {
            port,
            message: e.to_string(),
        })?;
        let bound = server.bound_port();
        let url = format!("rtsp://{}{PATH}", std::net::SocketAddr::new(advertise, bound as u16));
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let running = main_loop.clone();
        let span = info_span!("rtsp", port = bound);
        let thread = std::thread::Builder::new()
            .name("rtsp".into())
            .spawn(move || {
                let _entered = span.enter();
                let _guard = context.acquire().expect("the RTSP thread owns its context");
                running.run();
                // The listening socket goes with the server's source (a restart binds
                // the port again at once).
                if let Some(source) = context.find_source_by_id(&source) {
                    source.destroy();
                }
            })
            .map_err(|e| RtspError::Listen {
                port,
                message: e.to_string(),
            })?;
        info!(%url, "RTSP stream ready");
        Ok(RtspServer {
            main_loop,
            thread: Some(thread),
            url,
            viewers,
        })
    }

    /// Where it is and who watches.
    pub fn status(&self) -> RtspStatus {
        RtspStatus {
            url: self.url.clone(),
            viewers: self.viewers.load(Ordering::Relaxed),
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The pipeline the server builds for the stream: the camera's frames (decoded when the
/// camera gives JPEG) scaled to the call's size and encoded as for a call; the
/// microphone as Opus. The element names come from the probed codecs and the numbers
/// from the validated config.
fn launch_line(settings: &MediaSettings) -> String {
    format!(
        "( appsrc name=camera is-live=true format=time do-timestamp=true max-buffers=2 max-bytes=0 leaky-type=downstream \
         ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=I420,width={w},height={h} \
         ! {encoder} name=encoder ! video/x-h264,profile=constrained-baseline \
         ! rtph264pay name=pay0 pt=96 config-interval=-1 mtu=1200 \
         appsrc name=microphone is-live=true format=time do-timestamp=true max-buffers=10 leaky-type=downstream \
         caps=audio/x-raw,format=S16LE,layout=interleaved,rate={AUDIO_RATE},channels=1 \
         ! audioconvert ! audioresample ! opusenc frame-size=20 audio-type=voice ! rtpopuspay name=pay1 pt=97 )",
        w = settings.width,
        h = settings.height,
        encoder = settings.codecs.h264_encoder,
    )
}

/// What a new stream needs: the devices' shared capture and the call's encoder settings.
struct Feed {
    settings: MediaSettings,
    camera: CameraHub,
    microphone: MicrophoneHub,
}

impl Feed {
    /// The server made the stream's pipeline: configure its encoder and feed it until
    /// the last viewer leaves.
    fn start(&self, media: &rtsp_server::RTSPMedia) {
        let Ok(bin) = media.element().downcast::<gst::Bin>() else {
            return;
        };
        if let Some(encoder) = bin.by_name("encoder") {
            configure_encoder(&encoder, &self.settings, 1);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        media.connect_unprepared(move |_| stopping.store(true, Ordering::SeqCst));
        let appsrc = |name: &str| bin.by_name(name).and_then(|e| e.downcast::<gst_app::AppSrc>().ok());
        if let Some(src) = appsrc("camera") {
            let want = VideoFormat {
                pixel: PixelFormat::I420,
                width: self.settings.width,
                height: self.settings.height,
                fps: self.settings.fps,
            };
            let camera = self.camera.handle();
            // The camera already runs for a call: its format; else opened now.
            let format = camera.lock().unwrap().open(want).unwrap_or_else(|e| {
                warn!(error = %e, "camera unavailable; the stream starts with a placeholder picture");
                want
            });
            src.set_caps(Some(&video_caps(format)));
            let stop = stop.clone();
            let counters = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
            spawn("rtsp-camera", move || {
                feed_video(src, camera, want, stop, counters.0, counters.1, Arc::new(|_| {}))
            });
        }
        if let Some(src) = appsrc("microphone") {
            let microphone = self.microphone.handle();
            let opened = microphone.lock().unwrap().open(AUDIO_RATE, 1);
            match opened {
                Ok(()) => spawn("rtsp-microphone", move || feed_audio(src, microphone, stop)),
                Err(e) => warn!(error = %e, "no microphone for the stream"),
            }
        }
        info!("RTSP stream started");
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(work) {
        warn!(error = %e, "cannot start a feeder of the RTSP stream");
    }
}

/// The stream `[rtsp]` asks for, if enabled; a stream that cannot start is logged and
/// the station runs on without it.
pub fn start_configured(
    config: &crate::config::Config,
    settings: &MediaSettings,
    devices: &crate::device::Devices,
    advertise: IpAddr,
) -> Option<RtspServer> {
    let r = &config.rtsp;
    if !r.enabled {
        return None;
    }
    let started = r
        .credentials()
        .read_password()
        .map_err(|(file, e)| RtspError::PasswordFile(file, e))
        .and_then(|password| {
            RtspServer::start(
                config.station.listen.ip(),
                advertise,
                r.port,
                r.user.as_deref().unwrap_or_default(),
                &password.unwrap_or_default(),
                settings,
                devices,
            )
        });
    started.map_err(|e| tracing::error!(error = %e, "no RTSP stream")).ok()
}
