//! A day at a door in about an hour: `cargo bench --bench soak -- --day [--calls 500]
//! [--sample-secs 180] [--talk-secs 2]`.
//!
//! Door, Hall and Kitchen run as `doorway run` processes with test devices, Door with an
//! account on Kamailio and home automation on Mosquitto (see `soak_house.rs`). Over
//! `--calls` calls (500: a busy household's month of doorbell rings) Door:
//! - calls Hall, Kitchen (one in five) and the ring group of both (one in ten); one call
//!   in ten is held and resumed; every other call is hung up by the station that
//!   answered;
//! - sends a text message (one per ten calls: 50);
//! - is logged in to and watched live from a real browser (one per 25 calls: 20);
//! - streams to an RTSP viewer (one per 25 calls: 20);
//! - sees its broker restart three times and its registrar four times.
//!
//! Each of these is spread evenly over the day, at least once in a short one.
//!
//! Every `--sample-secs` it prints each station's memory (anonymous and file-backed),
//! file descriptors, threads, runtime tasks and the heap in use. The same figures are
//! taken at rest after the warm-up (the first tenth of the calls), every `--rest-every`
//! calls (a fifth of the day) and at the end; the rests show whether memory climbs or
//! levels off, and whether a climb is memory in use (a leak) or memory the allocator
//! holds. It exits 1 when any part
//! of the day failed, or when from the warm-up to the end a station's anonymous memory
//! grew by [`ANON_GROWTH_LIMIT_KB`] or more, or its descriptors, threads or tasks grew
//! at all.

use crate::process_stats::{mb, ticks_per_second};
use crate::soak_house::{Figures, Household};
use std::time::{Duration, Instant};

/// Anonymous memory (heap, stacks) a station may gain between the warm-up and the end.
const ANON_GROWTH_LIMIT_KB: u64 = 2 * 1024;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

/// `count` call numbers spread evenly over `calls` (at least one), each `phase` (0 to 1)
/// of the way into its share.
fn spread(count: u64, calls: u64, phase: f64) -> Vec<u64> {
    let count = count.max(1);
    (0..count)
        .map(|k| (((k as f64 + phase) * calls as f64 / count as f64).ceil() as u64).clamp(1, calls))
        .collect()
}

/// What the day did, and what failed.
#[derive(Default)]
struct Tally {
    calls: u64,
    held: u64,
    groups: u64,
    texts: u64,
    web_visits: u64,
    rtsp_views: u64,
    broker_restarts: u64,
    registrar_restarts: u64,
    failures: Vec<String>,
}

impl Tally {
    fn count(&mut self, what: &str, n: u64, result: Result<(), String>, counter: fn(&mut Tally) -> &mut u64) {
        match result {
            Ok(()) => *counter(self) += 1,
            Err(e) => {
                println!("  {what} {n} failed: {e}");
                self.failures.push(format!("{what} {n}: {e}"));
            }
        }
    }
}

fn print_header() {
    println!(
        "{:>7} {:>5} {:<8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5} {:>7} {:>6} {:>8}",
        "minute",
        "calls",
        "station",
        "RSS MB",
        "anon MB",
        "file MB",
        "heap MB",
        "free MB",
        "fds",
        "threads",
        "tasks",
        "CPU s"
    );
}

fn print_row(started: Instant, calls: u64, name: &str, f: &Figures) {
    println!(
        "{:>7.1} {:>5} {:<8} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>5} {:>7} {:>6} {:>8.1}",
        started.elapsed().as_secs_f64() / 60.0,
        calls,
        name,
        mb(f.proc.rss_kb),
        mb(f.proc.anon_kb),
        mb(f.proc.file_kb),
        mb(f.heap_in_use_kb),
        mb(f.heap_free_kb),
        f.proc.fds,
        f.proc.threads,
        f.tasks,
        f.proc.cpu_ticks as f64 / ticks_per_second()
    );
}

/// Runs the day; the process's exit code.
pub fn run(args: &[String]) -> i32 {
    let calls = arg(args, "--calls", 500).max(10);
    let sample_every = Duration::from_secs(arg(args, "--sample-secs", 180).max(10));
    let talk = Duration::from_secs(arg(args, "--talk-secs", 2));
    let dir = tempfile::Builder::new()
        .prefix("doorway-day-")
        .tempdir()
        .expect("a temporary directory");
    let mut house = Household::start(dir.path());
    println!(
        "soak --day: {calls} calls between three `doorway run` stations (test devices), with Kamailio and \
         Mosquitto; logs in {}",
        house.dir().display()
    );
    let warm_after = calls / 10;
    let rest_every = arg(args, "--rest-every", calls / 5).max(1);
    let texts_at = spread(calls / 10, calls, 0.7);
    let web_at = spread(calls / 25, calls, 0.5);
    let rtsp_at = spread(calls / 25, calls, 0.2);
    let broker_at = spread(3, calls, 0.5);
    let registrar_at = spread(4, calls, 0.3);
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut rests: Vec<(u64, [Figures; 3])> = Vec::new();
    let mut peak_rss = [0u64; 3];
    let mut last_sample = Instant::now();
    print_header();
    for n in 1..=calls {
        tally.count("call", n, house.call(n, talk), |t| &mut t.calls);
        if n % 10 == 3 {
            tally.held += 1;
        }
        if n % 10 == 0 {
            tally.groups += 1;
        }
        if tally.failures.len() > 20 {
            println!("more than 20 failures: the day stops here");
            break;
        }
        if texts_at.contains(&n) {
            tally.count("text", n, house.text(n), |t| &mut t.texts);
        }
        if web_at.contains(&n) {
            tally.count("web visit", n, house.web_visit(), |t| &mut t.web_visits);
        }
        if rtsp_at.contains(&n) {
            tally.count("RTSP viewer", n, house.rtsp_view(), |t| &mut t.rtsp_views);
        }
        if broker_at.contains(&n) {
            let result = house.restart_broker();
            tally.count("broker restart", n, result, |t| &mut t.broker_restarts);
        }
        if registrar_at.contains(&n) {
            let result = house.restart_registrar();
            tally.count("registrar restart", n, result, |t| &mut t.registrar_restarts);
        }
        if n == warm_after || (n > warm_after && n % rest_every == 0 && n < calls) {
            let label = if n == warm_after { "warm, at rest" } else { "at rest" };
            match house.at_rest() {
                Ok(figures) => {
                    for (s, f) in house.stations().iter().zip(&figures) {
                        print_row(started, n, &format!("{} ({label})", s.name), f);
                    }
                    rests.push((n, figures));
                }
                Err(e) => tally.failures.push(format!("at rest after call {n}: {e}")),
            }
        }
        if last_sample.elapsed() >= sample_every {
            last_sample = Instant::now();
            for (i, s) in house.stations().iter().enumerate() {
                let f = s.figures();
                peak_rss[i] = peak_rss[i].max(f.proc.rss_kb);
                print_row(started, n, s.name, &f);
            }
        }
        for s in [&mut house.door, &mut house.hall, &mut house.kitchen] {
            if !s.alive() {
                tally
                    .failures
                    .push(format!("{} has exited: {}", s.name, s.log_tail(30)));
            }
        }
        if tally.failures.iter().any(|f| f.contains("has exited")) {
            break;
        }
    }
    match house.at_rest() {
        Ok(figures) => rests.push((calls, figures)),
        Err(e) => tally.failures.push(format!("at rest at the end: {e}")),
    }
    let code = verdict(&house, started, &tally, &rests, peak_rss);
    drop(house);
    if code != 0 {
        // The logs outlive the run, to be read.
        println!("logs kept in {}", dir.keep().display());
    }
    code
}

fn verdict(
    house: &Household,
    started: Instant,
    tally: &Tally,
    rests: &[(u64, [Figures; 3])],
    peak_rss: [u64; 3],
) -> i32 {
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    println!(
        "\nthe day in {minutes:.0} min: {} calls ({} to the ring group, {} held and resumed), {} texts, \
         {} web logins with a live view, {} RTSP viewers, {} broker and {} registrar restarts",
        tally.calls,
        tally.groups,
        tally.held,
        tally.texts,
        tally.web_visits,
        tally.rtsp_views,
        tally.broker_restarts,
        tally.registrar_restarts
    );
    let mut failed = !tally.failures.is_empty();
    for f in &tally.failures {
        println!("failed: {f}");
    }
    let (Some((_, warm)), Some((_, end))) = (rests.first(), rests.last()) else {
        println!("no figures at rest to compare");
        return 1;
    };
    if rests.len() < 2 {
        println!("only one rest: nothing to compare");
        return 1;
    }
    println!(
        "\nat rest, after calls: {:?}",
        rests.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for (i, s) in house.stations().iter().enumerate() {
        let series = |f: fn(&Figures) -> u64| {
            rests
                .iter()
                .map(|(_, figures)| format!("{:.1}", mb(f(&figures[i]))))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!("{:<8} anon MB      {}", s.name, series(|f| f.proc.anon_kb));
        println!("{:<8} heap in use  {}", "", series(|f| f.heap_in_use_kb));
        println!("{:<8} heap free    {}", "", series(|f| f.heap_free_kb));
    }
    println!(
        "\n{:<8} {:>22} {:>10} {:>16} {:>16} {:>10} {:>10} {:>10} {:>13}",
        "station",
        "anon MB warm -> end",
        "growth kB",
        "kB per 100 calls",
        "heap in use, kB",
        "fds",
        "threads",
        "tasks",
        "peak RSS MB"
    );
    for (i, s) in house.stations().iter().enumerate() {
        let (w, e) = (warm[i], end[i]);
        let growth = e.proc.anon_kb as i64 - w.proc.anon_kb as i64;
        let slope = slope_per_100_calls(rests.iter().map(|(n, f)| (*n, f[i].proc.anon_kb)));
        println!(
            "{:<8} {:>10.1} -> {:>8.1} {:>10} {:>16.0} {:>16} {:>4} -> {:<3} {:>4} -> {:<3} {:>4} -> {:<3} {:>13.1}",
            s.name,
            mb(w.proc.anon_kb),
            mb(e.proc.anon_kb),
            growth,
            slope,
            format!("{:+}", e.heap_in_use_kb as i64 - w.heap_in_use_kb as i64),
            w.proc.fds,
            e.proc.fds,
            w.proc.threads,
            e.proc.threads,
            w.tasks,
            e.tasks,
            mb(peak_rss[i].max(e.proc.rss_kb))
        );
        let grew = growth >= ANON_GROWTH_LIMIT_KB as i64
            || e.proc.fds > w.proc.fds
            || e.proc.threads > w.proc.threads
            || e.tasks > w.tasks;
        if grew {
            println!(
                "  {}: past a bound (anonymous memory grows by under {ANON_GROWTH_LIMIT_KB} kB; descriptors, \
                 threads and tasks do not grow)",
                s.name
            );
        }
        failed |= grew;
    }
    i32::from(failed)
}

/// The least-squares slope of memory against calls, in kB per 100 calls: a leak shows
/// as a steady slope, an allocator settling in as a step that the slope plays down.
fn slope_per_100_calls(points: impl Iterator<Item = (u64, u64)>) -> f64 {
    let points: Vec<(f64, f64)> = points.map(|(n, kb)| (n as f64, kb as f64)).collect();
    let count = points.len() as f64;
    if count < 2.0 {
        return 0.0;
    }
    let mean_n = points.iter().map(|p| p.0).sum::<f64>() / count;
    let mean_kb = points.iter().map(|p| p.1).sum::<f64>() / count;
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_n) * (p.1 - mean_kb)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_n).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        100.0 * covariance / variance
    }
}
