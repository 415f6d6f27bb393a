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
    // Opened again for the next user.
    let c = hub.handle();
    c.lock().unwrap().open(WANT).unwrap();
    assert!(c.lock().unwrap().capture().is_ok());
    assert_eq!(opens.load(Ordering::Relaxed), 2);
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
