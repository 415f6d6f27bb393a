//! A bad Wi-Fi between two hosts, in user space (this machine's kernel has no netem):
//! a program holds both ends of the wire (the TAP devices of two hosts, from
//! [`super::netns::Lan::add_tap_host`]) and passes each frame across, losing, delaying,
//! reordering and rate-limiting the media (UDP with a port in 10000-20000 at either
//! end, where both the stations and baresip take their RTP ports). Signalling, ARP and
//! mDNS pass untouched, so a condition is the media's alone and calls set up as ever.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Gilbert-Elliott loss: a good and a bad state, as Wi-Fi loses packets in bursts.
#[derive(Clone, Copy, Debug)]
pub struct Burst {
    /// Chance per packet of going from good to bad.
    pub to_bad: f64,
    /// Chance per packet of going from bad back to good (1 / mean burst length).
    pub to_good: f64,
    /// Share of packets lost while bad.
    pub loss_when_bad: f64,
}

/// What the wire does to media.
#[derive(Clone, Copy, Debug, Default)]
pub struct Condition {
    /// Share of packets lost at random.
    pub loss: f64,
    /// Burst loss, on top.
    pub burst: Option<Burst>,
    /// Each packet is delayed by a random 0 to 2x this (a mean of this), so packets
    /// overtake each other.
    pub jitter_ms: u64,
    /// The link's rate; packets wait their turn, and past 200 ms of queue are lost.
    pub rate_kbps: Option<u64>,
}

/// Frames that passed and were lost, both ways.
#[derive(Default, Debug)]
pub struct Counts {
    pub media: AtomicU64,
    pub lost: AtomicU64,
    /// Bytes of media offered to the wire (IP and UDP headers included), both ways.
    pub media_bytes: AtomicU64,
}

impl Counts {
    /// The share of media packets the wire lost so far.
    pub fn lost_share(&self) -> f64 {
        self.lost.load(Ordering::Relaxed) as f64 / self.media.load(Ordering::Relaxed).max(1) as f64
    }
}

/// The two ends of a wire and the threads that carry frames across.
pub struct Wire {
    condition: Arc<Mutex<Condition>>,
    down_until: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
    pub counts: Arc<Counts>,
}

/// Frames waiting for their time, earliest first.
type Due = Mutex<BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>>;

impl Wire {
    /// Carries frames between `a` and `b` under `condition`.
    pub fn between(a: File, b: File, condition: Condition) -> Wire {
        Wire::seeded(a, b, condition, rand::random())
    }

    /// As [`Wire::between`], with the draws taken from `seed`: two wires seeded alike
    /// lose and delay the n-th media frame each way alike, so two calls over them meet
    /// the same bad luck.
    pub fn seeded(a: File, b: File, condition: Condition, seed: u64) -> Wire {
        let wire = Wire {
            condition: Arc::new(Mutex::new(condition)),
            down_until: Arc::default(),
            stop: Arc::default(),
            counts: Arc::default(),
        };
        let (a_out, b_out) = (a.try_clone().unwrap(), b.try_clone().unwrap());
        wire.direction(a, b_out, StdRng::seed_from_u64(seed));
        wire.direction(b, a_out, StdRng::seed_from_u64(seed ^ u64::MAX));
        wire
    }

    /// From now on, media meets `condition`.
    pub fn set(&self, condition: Condition) {
        *self.condition.lock().unwrap() = condition;
    }

    /// No media passes for `how_long` from now, either way.
    pub fn outage(&self, how_long: Duration) {
        *self.down_until.lock().unwrap() = Some(Instant::now() + how_long);
    }

    fn direction(&self, mut from: File, mut to: File, mut rng: StdRng) {
        let due: Arc<(Due, Condvar)> = Arc::default();
        let (condition, down, counts, stop) = (
            self.condition.clone(),
            self.down_until.clone(),
            self.counts.clone(),
            self.stop.clone(),
        );
        let queue = due.clone();
        std::thread::spawn(move || {
            let (mut bad, mut sent, mut link_free) = (false, 0u64, Instant::now());
            let mut frame = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                if !readable(&from) {
                    continue;
                }
                let Ok(n) = from.read(&mut frame) else { return };
                let now = Instant::now();
                let mut at = now;
                if is_media(&frame[..n]) {
                    counts.media.fetch_add(1, Ordering::Relaxed);
                    counts
                        .media_bytes
                        .fetch_add(n.saturating_sub(14) as u64, Ordering::Relaxed);
                    let c = *condition.lock().unwrap();
                    let outage = down.lock().unwrap().is_some_and(|until| now < until);
                    if let Some(b) = c.burst {
                        bad = if bad {
                            !rng.random_bool(b.to_good)
                        } else {
                            rng.random_bool(b.to_bad)
                        };
                    }
                    let burst_loss = c.burst.filter(|_| bad).map_or(0.0, |b| b.loss_when_bad);
                    if outage || rng.random_bool(c.loss) || rng.random_bool(burst_loss) {
                        counts.lost.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Some(kbps) = c.rate_kbps {
                        link_free = link_free.max(now) + Duration::from_micros(n as u64 * 8 * 1000 / kbps.max(1));
                        if link_free - now > Duration::from_millis(200) {
                            counts.lost.fetch_add(1, Ordering::Relaxed);
                            link_free -= Duration::from_micros(n as u64 * 8 * 1000 / kbps.max(1));
                            continue;
                        }
                        at = link_free;
                    }
                    if c.jitter_ms > 0 {
                        at += Duration::from_micros(rng.random_range(0..=c.jitter_ms * 2000));
                    }
                }
                sent += 1;
                let (heap, ready) = &*queue;
                heap.lock().unwrap().push(Reverse((at, sent, frame[..n].to_vec())));
                ready.notify_one();
            }
        });
        let stop = self.stop.clone();
        std::thread::spawn(move || {
            let (heap, ready) = &*due;
            let mut waiting = heap.lock().unwrap();
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                match waiting.peek() {
                    Some(Reverse((at, _, _))) if *at <= now => {
                        let Reverse((_, _, frame)) = waiting.pop().unwrap();
                        // A host that is gone (its namespace deleted) ends the wire.
                        if to.write_all(&frame).is_err() {
                            return;
                        }
                    }
                    Some(Reverse((at, _, _))) => {
                        let wait = *at - now;
                        waiting = ready.wait_timeout(waiting, wait).unwrap().0;
                    }
                    None => waiting = ready.wait_timeout(waiting, Duration::from_millis(100)).unwrap().0,
                }
            }
        });
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Whether `file` has a frame within 100 ms (so that a stopped wire lets go of it).
fn readable(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, ours, for the length of the call.
    unsafe { libc::poll(&mut poll, 1, 100) > 0 }
}

/// An IPv4 UDP datagram with a port in the media range at either end.
fn is_media(frame: &[u8]) -> bool {
    const MEDIA: std::ops::RangeInclusive<u16> = 10000..=20000;
    if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] {
        return false;
    }
    let ip = &frame[14..];
    let header = usize::from(ip[0] & 0x0f) * 4;
    if ip[9] != 17 || ip.len() < header + 8 {
        return false;
    }
    let port = |at: usize| u16::from_be_bytes([ip[header + at], ip[header + at + 1]]);
    MEDIA.contains(&port(0)) || MEDIA.contains(&port(2))
}
