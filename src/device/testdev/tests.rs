use super::*;
use crate::device::FrameView;

fn i420_to_bgrx(f: &VideoFrame) -> Vec<u8> {
    let (w, h) = (f.format.width as usize, f.format.height as usize);
    let (y_plane, rest) = f.data.split_at(w * h);
    let (u_plane, v_plane) = rest.split_at(w * h / 4);
    let mut out = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let c = (y / 2) * (w / 2) + x / 2;
            let (yy, u, v) = (
                y_plane[y * w + x] as f64 - 16.0,
                u_plane[c] as f64 - 128.0,
                v_plane[c] as f64 - 128.0,
            );
            let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
            let r = clamp(1.164 * yy + 1.596 * v);
            let g = clamp(1.164 * yy - 0.392 * u - 0.813 * v);
            let b = clamp(1.164 * yy + 2.017 * u);
            out.extend_from_slice(&[b, g, r, 255]);
        }
    }
    out
}

#[test]
fn pattern_camera_frames_carry_tag_and_time() {
    let mut cam = PatternCamera::new(0x4242);
    let want = VideoFormat {
        pixel: PixelFormat::Yuy2,
        width: 320,
        height: 180,
        fps: 30,
    };
    let got = cam.open(want).unwrap();
    assert_eq!(got.pixel, PixelFormat::I420);
    let frame = cam.capture().unwrap();
    assert_eq!(frame.data.len(), 320 * 180 * 3 / 2);
    let bgrx = i420_to_bgrx(&frame);
    let code = probe::read_bgrx(&bgrx, 320, 180, 320 * 4).expect("frame recognised");
    assert_eq!(code.tag, 0x4242);
    assert!(probe::latency_ms(code.ms).unwrap() < 1000.0);
    cam.close();
    assert!(matches!(cam.capture(), Err(DeviceError::Lost(_))));
}

#[test]
fn camera_paces_to_its_frame_rate() {
    let mut cam = PatternCamera::new(1);
    cam.open(VideoFormat {
        pixel: PixelFormat::I420,
        width: 160,
        height: 120,
        fps: 50,
    })
    .unwrap();
    let start = Instant::now();
    for _ in 0..10 {
        cam.capture().unwrap();
    }
    assert!(start.elapsed() >= Duration::from_millis(180), "{:?}", start.elapsed());
}

#[test]
fn tone_microphone_into_recording_speaker() {
    let mut mic = ToneMicrophone::new(700.0);
    let mut speaker = RecordingSpeaker::new();
    mic.open(48000, 1).unwrap();
    speaker.open(48000, 1).unwrap();
    let mut buf = vec![0i16; 4800];
    for _ in 0..6 {
        mic.read(&mut buf).unwrap();
        speaker.write(&buf).unwrap();
    }
    let probe = speaker.probe();
    let p = probe.lock().unwrap();
    assert_eq!(p.samples, 6 * 4800);
    assert!((p.tone_hz().unwrap() - 700.0).abs() < 2.0);
}

#[test]
fn display_keeps_frames_and_writes_png() {
    let mut display = FrameKeepingDisplay::new(64, 48);
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.png");
    display.screenshot(&blank).unwrap();
    let data = vec![200u8; 64 * 48 * 4];
    let format = VideoFormat {
        pixel: PixelFormat::Bgrx,
        width: 64,
        height: 48,
        fps: 0,
    };
    display
        .show(FrameView {
            format,
            stride: 64 * 4,
            data: &data,
        })
        .unwrap();
    let shot = dir.path().join("shot.png");
    display.screenshot(&shot).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (64, 48));
    assert_eq!(display.probe().lock().unwrap().frames, 1);
    let wrong = FrameView {
        format: VideoFormat {
            pixel: PixelFormat::I420,
            ..format
        },
        stride: 64,
        data: &data,
    };
    assert!(matches!(display.show(wrong), Err(DeviceError::Unsupported(_))));
}

#[test]
fn thumbnails_convert_camera_layouts_to_bgrx() {
    let mut cam = PatternCamera::new(0x1234);
    cam.open(VideoFormat {
        pixel: PixelFormat::I420,
        width: 320,
        height: 180,
        fps: 30,
    })
    .unwrap();
    let frame = cam.capture().unwrap();
    let thumb = crate::device::thumbnail_bgrx(&frame, 80, 45).unwrap();
    assert_eq!(
        (thumb.format.width, thumb.format.height, thumb.data.len()),
        (80, 45, 80 * 45 * 4)
    );
    // The first bar's colour survives the trip through YUV and back.
    let want = probe::palette(0x1234)[0];
    let p = &thumb.data[(30 * 80 + 5) * 4..];
    for (got, want) in [p[2], p[1], p[0]].iter().zip(want) {
        assert!((*got as i32 - want as i32).abs() < 12, "{:?} vs {want:?}", &p[..3]);
    }
    let mjpeg = VideoFrame {
        format: VideoFormat {
            pixel: PixelFormat::Mjpeg,
            ..frame.format
        },
        ..frame
    };
    assert!(crate::device::thumbnail_bgrx(&mjpeg, 80, 45).is_none());
}
