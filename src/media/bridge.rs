//! Device ends that join two legs instead of a person: what one leg decodes becomes the
//! camera and microphone of the other. A call answered from the web page runs the SIP
//! leg's usual pipelines with the browser's picture as its camera and the browser's
//! sound as its microphone, and the browser leg's with the caller's.

use super::conference::ends::LegMicrophone;
use crate::device::{Camera, DeviceError, FrameView, Speaker, VideoFormat, VideoFrame};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Plays into a [`LegMicrophone`]: one leg's speaker is the other leg's microphone.
pub struct PipeSpeaker(pub LegMicrophone);

impl Speaker for PipeSpeaker {
    fn open(&mut self, _rate: u32, _channels: u16) -> Result<(), DeviceError> {
        Ok(())
    }
    fn write(&mut self, samples: &[i16]) -> Result<(), DeviceError> {
        self.0.feed(samples);
        Ok(())
    }
    fn close(&mut self) {}
}

/// The newest picture of the other leg, as a camera. A capture waits up to a frame
/// interval for a new picture, then gives the last one again (or a grey one before the
/// first), so the encoder behind it keeps its pace whatever the other leg does.
#[derive(Clone, Default)]
pub struct FramePipe {
    shared: Arc<(Mutex<PipeState>, Condvar)>,
}

#[derive(Default)]
struct PipeState {
    newest: Option<VideoFrame>,
    fresh: bool,
    open: Option<VideoFormat>,
}

impl FramePipe {
    /// The other leg's side: a decoded picture.
    pub fn feed(&self, frame: FrameView<'_>) {
        let (lock, ready) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        VideoFrame::keep(&mut s.newest, frame);
        s.fresh = true;
        ready.notify_all();
    }
}

impl Camera for FramePipe {
    fn open(&mut self, want: VideoFormat) -> Result<VideoFormat, DeviceError> {
        let (lock, _) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        s.open = Some(want);
        // The format of the pictures already there, else what was asked for.
        Ok(s.newest.as_ref().map_or(want, |f| VideoFormat {
            fps: want.fps,
            ..f.format
        }))
    }

    fn capture(&mut self) -> Result<VideoFrame, DeviceError> {
        let (lock, ready) = &*self.shared;
        let s = lock.lock().unwrap_or_else(|e| e.into_inner());
        let want = s.open.ok_or_else(|| DeviceError::Lost("not open".into()))?;
        let interval = Duration::from_millis(1000 / u64::from(want.fps.max(1)));
        let (mut s, _) = ready
            .wait_timeout_while(s, interval, |s| !s.fresh)
            .unwrap_or_else(|e| e.into_inner());
        s.fresh = false;
        match &s.newest {
            Some(f) => Ok(f.clone()),
            None => Ok(grey(want)),
        }
    }

    fn close(&mut self) {
        let (lock, _) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).open = None;
    }

    fn is_open(&self) -> bool {
        let (lock, _) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).open.is_some()
    }
}

/// A mid-grey I420 picture.
fn grey(format: VideoFormat) -> VideoFrame {
    let (w, h) = (format.width as usize, format.height as usize);
    let format = VideoFormat {
        pixel: crate::device::PixelFormat::I420,
        ..format
    };
    let mut data = vec![128u8; w * h * 3 / 2];
    data[..w * h].fill(100);
    VideoFrame {
        format,
        stride: w,
        data,
    }
}

/// A call answered from the web page: each caller's picture goes to the screen and,
/// converted, into the pipe that is the browser leg's camera.
pub struct AlsoToBrowser {
    /// The browser leg's camera.
    pub pipe: FramePipe,
    /// The screen.
    pub screen: super::VideoOut,
}

impl crate::device::PictureSink for AlsoToBrowser {
    fn show(&self, picture: crate::device::Picture) {
        if let Some(frame) = picture.to_frame() {
            self.pipe.feed(frame.view());
        }
        self.screen.show(picture)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PixelFormat;

    #[test]
    fn a_frame_pipe_gives_the_newest_picture_and_keeps_its_pace() {
        let mut pipe = FramePipe::default();
        let want = VideoFormat {
            pixel: PixelFormat::I420,
            width: 4,
            height: 2,
            fps: 50,
        };
        assert_eq!(pipe.open(want).unwrap(), want);
        let first = pipe.capture().unwrap();
        assert_eq!(first.data[0], 100, "grey before the first picture");
        let bgrx = VideoFormat {
            pixel: PixelFormat::Bgrx,
            width: 2,
            height: 1,
            fps: 0,
        };
        pipe.feed(FrameView {
            format: bgrx,
            stride: 8,
            data: &[1, 2, 3, 4, 5, 6, 7, 8],
        });
        assert_eq!(pipe.capture().unwrap().data, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        let started = std::time::Instant::now();
        assert_eq!(pipe.capture().unwrap().data[0], 1, "the last picture again");
        assert!(started.elapsed() >= Duration::from_millis(19));
    }
}
