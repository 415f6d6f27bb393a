//! The shared capture: one opening for several users, every frame and sample to each.

use super::*;
use crate::device::testdev::{PatternCamera, ToneMicrophone};
use crate::device::{probe, shared, PixelFormat};
use std::sync::atomic::Ordering;

const WANT: VideoFormat = VideoFormat {
    pixel: PixelFormat::I420,
    width: 64,
    height: 48,
    fps: 30,
};

#[test]
fn two_users_share_one_opening_and_the_last_one_closes_it() {
    let camera = PatternCamera::new(7);
    let opens = camera.opens();
    let hub = CameraHub::new(shared(Box::new(camera) as Box<dyn Camera>));
    let (a, b) = (hub.handle(), hub.handle());
    assert_eq!(a.lock().unwrap().open(WANT).unwrap(), WANT);
    // The second gets the format the camera runs at, whatever it asks for.
    let other = VideoFormat { width: 32, ..WANT };
    assert_eq!(b.lock().unwrap().open(other).unwrap(), WANT);
    for _ in 0..3 {
        for handle in [&a, &b] {
            let frame = handle.lock().unwrap().capture().unwrap();
            assert_eq!(frame.format, WANT);
            assert_eq!(frame.data.len(), 64 * 48 * 3 / 2);
        }
    }
    assert_eq!(opens.load(Ordering::Relaxed), 1);
    a.lock().unwrap().close();
    assert!(hub.in_use());
    assert!(b.lock().unwrap().capture().is_ok(), "one user left keeps the capture");
    drop(b);
    assert!(!hub.in_use());
    // The next user joins the capture if it has not begun closing yet, or opens the
    // camera again once it has closed.
    let c = hub.handle();
    c.lock().unwrap().open(WANT).unwrap();
    assert!(c.lock().unwrap().capture().is_ok());
    assert!((1..=2).contains(&opens.load(Ordering::Relaxed)));
}

#[test]
fn a_handle_that_could_not_open_reports_the_device_lost() {
    let hub = CameraHub::new(shared(Box::new(PatternCamera::new(1)) as Box<dyn Camera>));
    let handle = hub.handle();
    assert!(matches!(handle.lock().unwrap().capture(), Err(DeviceError::Lost(_))));
    let mic = MicrophoneHub::new(shared(Box::new(ToneMicrophone::new(440.0)) as Box<dyn Microphone>));
    let reader = mic.handle();
    assert!(matches!(
        reader.lock().unwrap().read(&mut [0; 480]),
        Err(DeviceError::Lost(_))
    ));
}

#[test]
fn every_user_hears_every_sample() {
    let mic = MicrophoneHub::new(shared(Box::new(ToneMicrophone::new(500.0)) as Box<dyn Microphone>));
    let (a, b) = (mic.handle(), mic.handle());
    a.lock().unwrap().open(48_000, 1).unwrap();
    b.lock().unwrap().open(48_000, 1).unwrap();
    // Another rate while it runs is refused, not silently resampled.
    let c = mic.handle();
    assert!(matches!(
        c.lock().unwrap().open(8_000, 1),
        Err(DeviceError::Unsupported(_))
    ));
    let mut heard = [vec![], vec![]];
    for _ in 0..20 {
        for (i, handle) in [&a, &b].into_iter().enumerate() {
            let mut chunk = [0i16; 480];
            assert_eq!(handle.lock().unwrap().read(&mut chunk).unwrap(), 480);
            heard[i].extend(chunk.iter().map(|s| f64::from(*s)));
        }
    }
    for samples in &heard {
        let hz = probe::estimate_tone(samples, 48_000).unwrap();
        assert!((hz - 500.0).abs() < 10.0, "{hz}");
    }
}

/// A subscriber gets the frames on the capture's thread, shared with a user that asks
/// for them (no copy for the subscriber), until it closes; then the capture goes on for
/// the other user.
#[test]
fn a_subscriber_gets_every_frame_beside_a_user_that_asks() {
    let hub = CameraHub::new(shared(Box::new(PatternCamera::new(9)) as Box<dyn Camera>));
    let (subscriber, asker) = (hub.handle(), hub.handle());
    assert!(
        !subscriber.lock().unwrap().subscribe(Box::new(|_| {})),
        "a closed handle cannot subscribe"
    );
    subscriber.lock().unwrap().open(WANT).unwrap();
    asker.lock().unwrap().open(WANT).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    assert!(subscriber.lock().unwrap().subscribe(Box::new(move |frame| {
        let _ = tx.send(frame.map(|f| (std::thread::current().name().map(str::to_string), f.format)));
    })));
    for _ in 0..5 {
        assert!(asker.lock().unwrap().capture().is_ok());
        let (thread, format) = rx.recv_timeout(std::time::Duration::from_secs(2)).unwrap().unwrap();
        assert_eq!(format, WANT);
        assert_eq!(thread.as_deref(), Some("camera"), "handed over on the capture's thread");
    }
    subscriber.lock().unwrap().close();
    while rx.try_recv().is_ok() {}
    assert!(
        asker.lock().unwrap().capture().is_ok(),
        "the capture goes on for the other user"
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(rx.try_recv().is_err(), "nothing after the subscriber closed");
    drop(asker);
    assert!(!hub.in_use());
}

/// A subscribed microphone handle gets every chunk as a reading handle does, and only
/// while open.
#[test]
fn a_microphone_subscriber_hears_every_chunk() {
    let hub = MicrophoneHub::new(shared(Box::new(ToneMicrophone::new(440.0)) as Box<dyn Microphone>));
    let (subscriber, reader) = (hub.handle(), hub.handle());
    subscriber.lock().unwrap().open(48_000, 1).unwrap();
    reader.lock().unwrap().open(48_000, 1).unwrap();
    let heard = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = heard.clone();
    assert!(subscriber.lock().unwrap().subscribe(Box::new(move |chunk| {
        if let Ok(samples) = chunk {
            h.fetch_add(samples.len(), Ordering::Relaxed);
        }
    })));
    let mut buf = vec![0i16; 4800];
    reader.lock().unwrap().read(&mut buf).unwrap();
    let got = heard.load(Ordering::Relaxed);
    assert!(
        got >= 4800 - CHUNK,
        "the subscriber heard {got} samples of the reader's 4800"
    );
    assert!(
        subscriber.lock().unwrap().read(&mut buf).is_err(),
        "a subscribed handle's samples go to its subscriber"
    );
    subscriber.lock().unwrap().close();
    drop(reader);
    // Nobody holds it now: it opens at another rate.
    assert!(hub.handle().lock().unwrap().open(16_000, 1).is_ok());
}

/// Runs `open` on a thread of its own and gives its result, or None when it has not
/// returned within `limit`.
fn open_within(handle: Shared<dyn Camera>, limit: std::time::Duration) -> Option<Result<VideoFormat, DeviceError>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(handle.lock().unwrap().open(WANT));
    });
    rx.recv_timeout(limit).ok()
}

#[test]
fn a_camera_stuck_in_a_capture_does_not_hold_the_next_user() {
    let mut camera = PatternCamera::new(3);
    camera.stick_after(std::time::Duration::from_millis(100));
    let hub = CameraHub::new(shared(Box::new(camera) as Box<dyn Camera>));
    let first = hub.handle();
    first.lock().unwrap().open(WANT).unwrap();
    let frames = (0..10).take_while(|_| first.lock().unwrap().capture().is_ok()).count();
    assert!(
        (1..=3).contains(&frames),
        "the camera delivers three frames, then hangs: {frames}"
    );
    first.lock().unwrap().close();
    // The capture thread is inside the camera for good: the next user joins it.
    let opened = open_within(hub.handle(), std::time::Duration::from_secs(1));
    assert_eq!(
        opened.map(|r| r.ok()),
        Some(Some(WANT)),
        "the next user waits for a stuck capture"
    );
}

/// A camera whose close hangs for ten seconds, as a driver stuck in stopping its stream.
struct SlowToClose(PatternCamera);

impl Camera for SlowToClose {
    fn open(&mut self, want: VideoFormat) -> Result<VideoFormat, DeviceError> {
        self.0.open(want)
    }
    fn capture(&mut self) -> Result<VideoFrame, DeviceError> {
        self.0.capture()
    }
    fn close(&mut self) {
        std::thread::sleep(std::time::Duration::from_secs(10));
        self.0.close()
    }
    fn is_open(&self) -> bool {
        self.0.is_open()
    }
}

#[test]
fn a_camera_stuck_in_its_close_fails_the_next_open_in_bounded_time() {
    let hub = CameraHub::new(shared(Box::new(SlowToClose(PatternCamera::new(4))) as Box<dyn Camera>));
    let first = hub.handle();
    first.lock().unwrap().open(WANT).unwrap();
    assert!(first.lock().unwrap().capture().is_ok());
    first.lock().unwrap().close();
    // Let the capture thread find nobody left and begin closing.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let opened = open_within(hub.handle(), std::time::Duration::from_secs(5));
    assert!(
        matches!(opened, Some(Err(DeviceError::Stuck(_)))),
        "{opened:?} after {:?}",
        started.elapsed()
    );
}
