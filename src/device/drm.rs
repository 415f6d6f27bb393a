//! The DRM/KMS display backend (drm crate): the configured or first card with a connected
//! connector, its preferred mode, two dumb buffers flipped on vblank, and software
//! composition (the compositor draws the whole screen), which works on one-plane,
//! no-scaling devices such as QEMU's bochs as well as on a Pi's vc4.

use super::{DeviceError, Display, FrameMut, FrameView};
use drm::buffer::{Buffer, DrmFourcc};
use drm::control::{
    connector, crtc, dumbbuffer::DumbBuffer, framebuffer, Device as ControlDevice, Mode, PageFlipFlags,
};
use serde::Serialize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use tracing::{info, warn};

struct Card(std::fs::File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl drm::Device for Card {}
impl ControlDevice for Card {}

/// A connector and its modes, for `doorway devices`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorInfo {
    /// Card node.
    pub card: PathBuf,
    /// Connector name, e.g. `HDMI-A-1` or `Virtual-1`.
    pub name: String,
    /// Something is plugged in.
    pub connected: bool,
    /// Modes as `WIDTHxHEIGHT@HZ`, preferred first.
    pub modes: Vec<String>,
    /// Number of planes the card has (1 means no hardware scaling overlay).
    pub planes: usize,
}

fn open_card(path: &Path) -> std::io::Result<Card> {
    Ok(Card(std::fs::OpenOptions::new().read(true).write(true).open(path)?))
}

fn cards() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir("/dev/dri")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.retain(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("card")));
    out.sort();
    out
}

fn connector_name(info: &connector::Info) -> String {
    format!("{:?}-{}", info.interface(), info.interface_id())
}

fn mode_text(m: &Mode) -> String {
    let (w, h) = m.size();
    format!("{w}x{h}@{}", m.vrefresh())
}

/// Lists connectors of every card.
pub fn list() -> Vec<ConnectorInfo> {
    let mut out = Vec::new();
    for path in cards() {
        let Ok(card) = open_card(&path) else { continue };
        // Without this cap the kernel lists overlay planes only, hiding the primary one.
        let _ = drm::Device::set_client_capability(&card, drm::ClientCapability::UniversalPlanes, true);
        let Ok(res) = card.resource_handles() else { continue };
        let planes = card.plane_handles().map(|p| p.len()).unwrap_or(0);
        for c in res.connectors() {
            if let Ok(info) = card.get_connector(*c, false) {
                out.push(ConnectorInfo {
                    card: path.clone(),
                    name: connector_name(&info),
                    connected: info.state() == connector::State::Connected,
                    modes: sorted_modes(info.modes()).iter().map(mode_text).collect(),
                    planes,
                });
            }
        }
    }
    out
}

/// Preferred mode first, then by size.
fn sorted_modes(modes: &[Mode]) -> Vec<Mode> {
    let mut m = modes.to_vec();
    m.sort_by_key(|m| {
        let preferred = m.mode_type().contains(drm::control::ModeTypeFlags::PREFERRED);
        let (w, h) = m.size();
        (!preferred, std::cmp::Reverse(w as u32 * h as u32))
    });
    m
}

/// A screen driven through KMS.
pub struct DrmDisplay {
    card: Card,
    crtc: crtc::Handle,
    connector: connector::Handle,
    mode: Mode,
    buffers: [(DumbBuffer, framebuffer::Handle); 2],
    front: usize,
    mode_size: (u32, u32),
    rotation: u32,
    flips: bool,
    /// A flip was asked for and its event has not been read yet.
    flip_pending: bool,
    flip_late_logged: bool,
    /// DPMS on. While off, frames are drawn but not presented: presenting (a flip or,
    /// where flips fail, setting the CRTC) would light the screen again.
    powered: bool,
    /// Presents so far, and at which one each buffer was last drawn.
    presents: u64,
    drawn_at: [Option<u64>; 2],
    /// For a turned panel: the upright screen, drawn before it is turned.
    upright: Option<Vec<u8>>,
    upright_drawn: bool,
}

impl DrmDisplay {
    /// Opens `card` (or the first with something connected), `mode` `WxH` (or the
    /// preferred one), drawing the UI rotated `rotation` degrees clockwise.
    pub fn open(card: Option<&Path>, mode: Option<(u32, u32)>, rotation: u32) -> Result<Self, DeviceError> {
        let candidates = card.map(|c| vec![c.to_path_buf()]).unwrap_or_else(cards);
        if candidates.is_empty() {
            return Err(DeviceError::Missing("no DRM card in /dev/dri".into()));
        }
        let mut last = DeviceError::Missing("no connected display".into());
        for path in candidates {
            match Self::open_card(&path, mode, rotation) {
                Ok(d) => return Ok(d),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn open_card(path: &Path, want: Option<(u32, u32)>, rotation: u32) -> Result<Self, DeviceError> {
        let err = |e: std::io::Error| DeviceError::Lost(format!("display {}: {e}", path.display()));
        let card = open_card(path).map_err(|e| DeviceError::Missing(format!("display {}: {e}", path.display())))?;
        let res = card.resource_handles().map_err(err)?;
        let (conn, mode) = res
            .connectors()
            .iter()
            .filter_map(|c| card.get_connector(*c, true).ok())
            .filter(|i| i.state() == connector::State::Connected && !i.modes().is_empty())
            .find_map(|i| {
                let modes = sorted_modes(i.modes());
                let mode = match want {
                    Some((w, h)) => modes.iter().find(|m| m.size() == (w as u16, h as u16)).copied(),
                    None => modes.first().copied(),
                }?;
                Some((i, mode))
            })
            .ok_or_else(|| {
                DeviceError::Missing(format!(
                    "display {}: nothing connected (or no such mode)",
                    path.display()
                ))
            })?;
        let crtc = conn
            .encoders()
            .iter()
            .filter_map(|e| card.get_encoder(*e).ok())
            .flat_map(|e| res.filter_crtcs(e.possible_crtcs()))
            .next()
            .ok_or_else(|| {
                DeviceError::Unsupported(format!(
                    "display {}: no CRTC for {}",
                    path.display(),
                    connector_name(&conn)
                ))
            })?;
        let (w, h) = mode.size();
        let mode_size = (w as u32, h as u32);
        let make = || -> std::io::Result<(DumbBuffer, framebuffer::Handle)> {
            let db = card.create_dumb_buffer(mode_size, DrmFourcc::Xrgb8888, 32)?;
            let fb = card.add_framebuffer(&db, 24, 32)?;
            Ok((db, fb))
        };
        let buffers = [make().map_err(err)?, make().map_err(err)?];
        // Doing our own modeset is what one-plane devices (bochs) need to show anything.
        card.set_crtc(crtc, Some(buffers[0].1), (0, 0), &[conn.handle()], Some(mode))
            .map_err(err)?;
        info!(card = %path.display(), connector = %connector_name(&conn), mode = %mode_text(&mode), "display open");
        Ok(Self {
            card,
            crtc,
            connector: conn.handle(),
            mode,
            buffers,
            front: 0,
            mode_size,
            rotation,
            flips: true,
            flip_pending: false,
            flip_late_logged: false,
            powered: true,
            presents: 0,
            drawn_at: [None, None],
            upright: None,
            upright_drawn: false,
        })
    }

    /// Waits for the flip just asked for, at most [`FLIP_WAIT_MS`]: the event arrives on
    /// the next vblank, but a driver that loses it must not freeze the thread that
    /// draws (and, through the screen's lock, the station) for good.
    fn wait_for_flip(&mut self) {
        if !wait_readable(self.card.as_fd(), FLIP_WAIT_MS) {
            // The flip may still complete; the next present waits for it first.
            self.flip_pending = true;
            if !self.flip_late_logged {
                warn!(
                    ms = FLIP_WAIT_MS,
                    "the display did not report a page flip in time; going on"
                );
                self.flip_late_logged = true;
            }
            return;
        }
        self.flip_pending = false;
        if let Ok(events) = self.card.receive_events() {
            for _ in events {}
        }
    }
}

/// The longest wait for a page flip's event: a few frames even at 20 Hz.
const FLIP_WAIT_MS: i32 = 250;

/// Whether `fd` becomes readable within `ms` milliseconds.
fn wait_readable(fd: BorrowedFd<'_>, ms: i32) -> bool {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd for the duration of the call; the fd is borrowed.
        let n = unsafe { libc::poll(&mut poll, 1, ms) };
        if n >= 0 {
            return n > 0 && poll.revents & libc::POLLIN != 0;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

/// Copies a logical screen (as the UI drew it) into a physical scanout buffer, rotating
/// it `rotation` degrees clockwise.
pub fn copy_rotated(src: FrameView<'_>, dst: &mut [u8], dst_pitch: usize, dst_size: (u32, u32), rotation: u32) {
    let (sw, sh) = (src.format.width as usize, src.format.height as usize);
    let (dw, dh) = (dst_size.0 as usize, dst_size.1 as usize);
    if rotation.is_multiple_of(360) {
        for y in 0..sh.min(dh) {
            let n = sw.min(dw) * 4;
            dst[y * dst_pitch..y * dst_pitch + n].copy_from_slice(&src.data[y * src.stride..y * src.stride + n]);
        }
        return;
    }
    for y in 0..dh {
        for x in 0..dw {
            // Inverse of the rotation: which logical pixel lands at physical (x, y).
            let (lx, ly) = match rotation % 360 {
                90 => (y, sh.wrapping_sub(1).wrapping_sub(x)),
                180 => (sw.wrapping_sub(1).wrapping_sub(x), sh.wrapping_sub(1).wrapping_sub(y)),
                _ => (sw.wrapping_sub(1).wrapping_sub(y), x),
            };
            if lx < sw && ly < sh {
                let s = ly * src.stride + lx * 4;
                dst[y * dst_pitch + x * 4..y * dst_pitch + x * 4 + 4].copy_from_slice(&src.data[s..s + 4]);
            }
        }
    }
}

impl Display for DrmDisplay {
    fn present(&mut self, draw: &mut dyn FnMut(FrameMut<'_>, Option<u32>)) -> Result<(), DeviceError> {
        let back = 1 - self.front;
        let (mode_size, rotation) = (self.mode_size, self.rotation);
        let (w, h) = self.size();
        self.presents += 1;
        {
            let (db, _) = &mut self.buffers[back];
            let pitch = db.pitch() as usize;
            let mut map = self
                .card
                .map_dumb_buffer(db)
                .map_err(|e| DeviceError::Lost(format!("display: {e}")))?;
            if rotation.is_multiple_of(360) {
                // The screen is drawn straight into the buffer that is scanned out next.
                let age = self.drawn_at[back].map(|at| (self.presents - at) as u32);
                draw(
                    FrameMut {
                        width: mode_size.0,
                        height: mode_size.1,
                        stride: pitch,
                        data: map.as_mut(),
                    },
                    age,
                );
            } else {
                // A turned panel: drawn upright, then turned into the buffer (a copy).
                let logical = self.upright.get_or_insert_with(|| vec![0; w as usize * h as usize * 4]);
                draw(
                    FrameMut {
                        width: w,
                        height: h,
                        stride: w as usize * 4,
                        data: logical,
                    },
                    self.upright_drawn.then_some(1),
                );
                self.upright_drawn = true;
                crate::base::copies::count(crate::base::copies::Path::Receive);
                let view = FrameView {
                    format: super::VideoFormat {
                        pixel: super::PixelFormat::Bgrx,
                        width: w,
                        height: h,
                        fps: 0,
                    },
                    stride: w as usize * 4,
                    data: logical,
                };
                copy_rotated(view, map.as_mut(), pitch, mode_size, rotation);
            }
            self.drawn_at[back] = Some(self.presents);
        }
        if !self.powered {
            // Kept for when the screen wakes.
            self.front = back;
            return Ok(());
        }
        let fb = self.buffers[back].1;
        if self.flips {
            if self.flip_pending {
                // The last flip's event was late: let it land before asking for another.
                self.wait_for_flip();
            }
            match self.card.page_flip(self.crtc, fb, PageFlipFlags::EVENT, None) {
                Ok(()) => {
                    self.wait_for_flip();
                    self.front = back;
                    return Ok(());
                }
                // The last flip has still not landed: this picture is skipped, the
                // next one tries again.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    self.flip_pending = true;
                    return Ok(());
                }
                Err(e) => {
                    warn!(error = %e, "page flip not supported; setting the CRTC per frame");
                    self.flips = false;
                }
            }
        }
        self.card
            .set_crtc(self.crtc, Some(fb), (0, 0), &[self.connector], Some(self.mode))
            .map_err(|e| DeviceError::Lost(format!("display: {e}")))?;
        self.front = back;
        Ok(())
    }

    fn size(&self) -> (u32, u32) {
        let (w, h) = self.mode_size;
        if self.rotation % 180 == 90 {
            (h, w)
        } else {
            (w, h)
        }
    }

    fn set_power(&mut self, on: bool) -> Result<(), DeviceError> {
        let props = self
            .card
            .get_properties(self.connector)
            .map_err(|e| DeviceError::Lost(format!("display: {e}")))?;
        let (handles, _) = props.as_props_and_values();
        for handle in handles {
            let Ok(info) = self.card.get_property(*handle) else {
                continue;
            };
            if info.name().to_bytes() == b"DPMS" {
                // DRM_MODE_DPMS_ON = 0, DRM_MODE_DPMS_OFF = 3.
                let value = if on { 0 } else { 3 };
                self.card
                    .set_property(self.connector, *handle, value)
                    .map_err(|e| DeviceError::Unsupported(format!("display power: {e}")))?;
                if on && !self.powered {
                    // What was drawn while dark.
                    let fb = self.buffers[self.front].1;
                    self.card
                        .set_crtc(self.crtc, Some(fb), (0, 0), &[self.connector], Some(self.mode))
                        .map_err(|e| DeviceError::Lost(format!("display: {e}")))?;
                }
                self.powered = on;
                return Ok(());
            }
        }
        Err(DeviceError::Unsupported("display has no DPMS property".into()))
    }

    fn screenshot(&self, path: &Path) -> Result<(), DeviceError> {
        Err(DeviceError::Unsupported(format!(
            "{}: screenshots of a KMS display are taken by whoever watches it (QEMU screendump)",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{PixelFormat, VideoFormat};

    /// A 2x3 logical screen whose pixels are numbered 0..6 (in the blue byte).
    fn logical() -> Vec<u8> {
        (0..6u8).flat_map(|i| [i, 0, 0, 255]).collect()
    }

    fn rotate(rotation: u32) -> Vec<u8> {
        let data = logical();
        let src = FrameView {
            format: VideoFormat {
                pixel: PixelFormat::Bgrx,
                width: 2,
                height: 3,
                fps: 0,
            },
            stride: 8,
            data: &data,
        };
        let (w, h) = if rotation % 180 == 90 { (3, 2) } else { (2, 3) };
        let mut dst = vec![0u8; w * h * 4];
        copy_rotated(src, &mut dst, w * 4, (w as u32, h as u32), rotation);
        dst.chunks(4).map(|p| p[0]).collect()
    }

    #[test]
    fn rotations_turn_the_picture_clockwise() {
        // Logical:  0 1      90°:  4 2 0     180°:  5 4     270°:  1 3 5
        //           2 3            5 3 1            3 2            0 2 4
        //           4 5                             1 0
        assert_eq!(rotate(0), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(rotate(90), vec![4, 2, 0, 5, 3, 1]);
        assert_eq!(rotate(180), vec![5, 4, 3, 2, 1, 0]);
        assert_eq!(rotate(270), vec![1, 3, 5, 0, 2, 4]);
    }

    #[test]
    fn a_flip_that_never_comes_is_waited_for_a_bounded_time() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let started = std::time::Instant::now();
        assert!(!wait_readable(reader.as_fd(), 50), "nothing was written");
        assert!(started.elapsed() >= std::time::Duration::from_millis(45));
        std::io::Write::write_all(&mut writer, b"x").unwrap();
        assert!(wait_readable(reader.as_fd(), 1000), "an event is waiting");
    }

    #[test]
    fn no_card_is_reported_as_missing() {
        let err = DrmDisplay::open(Some(Path::new("/dev/dri/card-none")), None, 0)
            .err()
            .unwrap();
        assert!(matches!(err, DeviceError::Missing(_)), "{err:?}");
    }
}
