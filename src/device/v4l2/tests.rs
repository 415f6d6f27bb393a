use super::*;

fn opt(pixel: PixelFormat, width: u32, height: u32, fps: &[u32]) -> FormatOption {
    FormatOption {
        pixel,
        width,
        height,
        fps: fps.to_vec(),
    }
}

fn want(width: u32, height: u32, fps: u32) -> VideoFormat {
    VideoFormat {
        pixel: PixelFormat::I420,
        width,
        height,
        fps,
    }
}

#[test]
fn exact_size_and_rate_win() {
    let options = [
        opt(PixelFormat::Yuy2, 320, 180, &[30]),
        opt(PixelFormat::Yuy2, 640, 360, &[30, 15]),
        opt(PixelFormat::Yuy2, 1280, 720, &[30]),
    ];
    let f = select_format(&options, want(640, 360, 30)).unwrap();
    assert_eq!((f.pixel, f.width, f.height, f.fps), (PixelFormat::Yuy2, 640, 360, 30));
}

#[test]
fn encoder_friendly_layout_is_preferred_at_equal_size() {
    let options = [
        opt(PixelFormat::Mjpeg, 640, 360, &[30]),
        opt(PixelFormat::Yuy2, 640, 360, &[30]),
        opt(PixelFormat::Nv12, 640, 360, &[30]),
    ];
    assert_eq!(
        select_format(&options, want(640, 360, 30)).unwrap().pixel,
        PixelFormat::Nv12
    );
}

#[test]
fn closest_size_prefers_larger_and_rate_prefers_enough() {
    // 720p at 30 beats 480x270 at 30 for a 640x360 want (closer), and 30 beats 25 fps.
    let options = [
        opt(PixelFormat::Yuy2, 480, 270, &[30]),
        opt(PixelFormat::Yuy2, 800, 450, &[25, 30]),
    ];
    let f = select_format(&options, want(640, 360, 30)).unwrap();
    assert_eq!((f.width, f.fps), (800, 30));
    // A camera only offering MJPEG at the size still gets used.
    let f = select_format(&[opt(PixelFormat::Mjpeg, 1280, 720, &[30])], want(1280, 720, 30)).unwrap();
    assert_eq!(f.pixel, PixelFormat::Mjpeg);
    assert_eq!(select_format(&[], want(640, 360, 30)), None);
}

#[test]
fn listing_works_without_cameras() {
    // On a machine with no /dev/video*, the list is empty rather than an error.
    let cameras = list();
    assert!(cameras
        .iter()
        .all(|c| c.path.to_string_lossy().starts_with("/dev/video")));
}

#[test]
fn missing_camera_says_so() {
    let mut camera = V4l2Camera::new(Some("/dev/video-does-not-exist".into()), vec![]);
    let err = camera.open(want(640, 360, 30)).unwrap_err();
    assert!(matches!(err, DeviceError::Missing(_)), "{err:?}");
    assert!(err.to_string().contains("/dev/video-does-not-exist"));
}

#[test]
fn padded_rows_are_packed_per_plane() {
    // A 4x2 I420 frame whose driver pads rows to 8 bytes (chroma rows to 4).
    let format = VideoFormat {
        pixel: PixelFormat::I420,
        width: 4,
        height: 2,
        fps: 30,
    };
    let padded = [
        1, 2, 3, 4, 0, 0, 0, 0, // Y row 0
        5, 6, 7, 8, 0, 0, 0, 0, // Y row 1
        9, 10, 0, 0, // U
        11, 12, 0, 0, // V
    ];
    let (data, stride) = tightly_packed(&padded, format, 8);
    assert_eq!(stride, 4);
    assert_eq!(data, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // Already tight: untouched.
    let (same, stride) = tightly_packed(&data, format, 4);
    assert_eq!((same, stride), (data, 4));
}
