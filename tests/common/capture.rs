//! What crosses the wire during a call on loopback: a raw packet socket on `lo` keeps the
//! UDP payloads sent to given ports, and a GStreamer decoder tries to get pictures and
//! sound back out of them, as an eavesdropper on the LAN would.
#![allow(dead_code)]

use doorway::device::probe;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Datagram payloads with their destination ports.
type Seen = Arc<Mutex<Vec<(u16, Vec<u8>)>>>;

/// UDP payloads seen on loopback, by destination port.
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    seen: Seen,
}

impl Capture {
    /// Starts capturing every IPv4 UDP datagram on `lo` (needs CAP_NET_RAW: root, as CI).
    pub fn start() -> Capture {
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM,
                (libc::ETH_P_IP as u16).to_be() as i32,
            )
        };
        assert!(
            fd >= 0,
            "a raw packet socket needs root (CAP_NET_RAW): {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd is a new socket we own.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        let name = std::ffi::CString::new("lo").unwrap();
        // SAFETY: a NUL-terminated interface name.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        // SAFETY: sockaddr_ll is plain data; zero is a valid start.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_IP as u16).to_be();
        addr.sll_ifindex = index as i32;
        // SAFETY: bind with a sockaddr_ll of the right size.
        let rc = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(rc, 0, "bind to lo: {}", std::io::Error::last_os_error());
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: SO_RCVTIMEO with a timeval.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &timeout as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop2.load(Ordering::Relaxed) {
                // SAFETY: recv into our buffer.
                let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n <= 0 {
                    continue;
                }
                if let Some((port, payload)) = udp_payload(&buf[..n as usize]) {
                    seen2.lock().unwrap().push((port, payload.to_vec()));
                }
            }
        });
        Capture {
            stop,
            thread: Some(thread),
            seen,
        }
    }

    /// Stops and returns the payloads sent to `port`.
    pub fn finish(mut self, port: u16) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(p, _)| *p == port)
            .map(|(_, d)| d.clone())
            .collect()
    }
}

/// The destination port and payload of an IPv4 UDP packet.
fn udp_payload(ip: &[u8]) -> Option<(u16, &[u8])> {
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
        return None;
    }
    let header = (ip[0] & 0x0f) as usize * 4;
    let udp = ip.get(header..)?;
    if udp.len() < 8 {
        return None;
    }
    let port = u16::from_be_bytes([udp[2], udp[3]]);
    Some((port, &udp[8..]))
}

/// Feeds captured RTP packets of payload type `pt` into `depay ! decode ! appsink` and
/// returns the decoded buffers (raw frames or samples) and their caps.
fn decode(packets: &[Vec<u8>], caps: gst::Caps, chain: &str) -> Vec<(gst::Caps, Vec<u8>)> {
    gst::init().unwrap();
    let description = format!("appsrc name=src is-live=false format=time ! {chain} ! appsink name=sink sync=false");
    let pipeline = gst::parse::launch(&description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    src.set_caps(Some(&caps));
    let out = Arc::new(Mutex::new(Vec::new()));
    let out2 = out.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) {
                    if let Ok(map) = buffer.map_readable() {
                        out2.lock().unwrap().push((caps.to_owned(), map.to_vec()));
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    for p in packets {
        let _ = src.push_buffer(gst::Buffer::from_slice(p.clone()));
    }
    let _ = src.end_of_stream();
    let bus = pipeline.bus().unwrap();
    let _ = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(10),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);
    std::thread::sleep(Duration::from_millis(50));
    let frames = out.lock().unwrap().clone();
    frames
}

/// Station tags an eavesdropper reads from the video sent to a port (H.264 payload
/// type `pt`): decoded frames carrying a test pattern's code.
pub fn pattern_tags(packets: &[Vec<u8>], pt: u8) -> Vec<u16> {
    let caps = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("clock-rate", 90000i32)
        .field("encoding-name", "H264")
        .field("payload", pt as i32)
        .build();
    let frames = decode(
        packets,
        caps,
        "rtpjitterbuffer latency=0 ! rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=BGRx",
    );
    frames
        .iter()
        .filter_map(|(caps, data)| {
            let s = caps.structure(0)?;
            let (w, h) = (s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?);
            probe::read_bgrx(data, w as u32, h as u32, w as usize * 4).map(|c| c.tag)
        })
        .collect()
}

/// The tone an eavesdropper hears in the Opus audio sent to a port (payload type `pt`).
pub fn opus_tone(packets: &[Vec<u8>], pt: u8) -> Option<f64> {
    let caps = gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("clock-rate", 48000i32)
        .field("encoding-name", "OPUS")
        .field("payload", pt as i32)
        .build();
    let buffers = decode(
        packets,
        caps,
        "rtpjitterbuffer latency=0 ! rtpopusdepay ! opusdec ! audioconvert ! audio/x-raw,format=S16LE,channels=1,rate=48000",
    );
    let samples: Vec<f64> = buffers
        .iter()
        .flat_map(|(_, d)| d.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f64))
        .collect();
    let hz = probe::estimate_tone(&samples, 48000)?;
    // Zero crossings alone find "a frequency" in any noise, such as Opus decoding
    // encrypted bytes; a tone is heard only when most of the sound's energy is at it.
    (doorway::device::probe::tone_share(&samples, 48000.0, hz) > 0.5).then_some(hz)
}
