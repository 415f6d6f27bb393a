//! DNS-SD over mDNS on the LAN (RFC 6762/6763, through the mdns-sd crate): the station
//! announces itself as `_doorway._tcp`, `_sip._udp` and `_sips._tcp` with the same
//! properties, and browses for `_doorway._tcp`. What it hears goes through
//! [`super::record::Announced::parse`] into the bounded [`Neighbours`] list. The browse
//! runs on a daemon of its own, started afresh after a flood of announcements, so that
//! the daemon's cache of what it heard stays bounded too.

use super::neighbours::{Heard, Neighbours};
use super::record::{Announced, DOORWAY_SERVICE, SIPS_SERVICE, SIP_SERVICE};
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Why discovery cannot run.
#[derive(Debug, thiserror::Error)]
#[error("discovery over mDNS: {0}")]
pub struct DiscoveryError(#[from] mdns_sd::Error);

/// What a station announces and where.
#[derive(Debug, Clone)]
pub struct Announce {
    /// What it says of itself.
    pub station: Announced,
    /// Its host name, without `.local` (`front-door`).
    pub host_name: String,
    /// Its address when one is fixed in the config; otherwise every interface's
    /// addresses are announced and followed as they change.
    pub address: Option<IpAddr>,
}

/// Stations first heard by one browse after which it starts afresh: mdns-sd caches every
/// record it hears for a browsed service (about 2 kB a station), and a flood of fake
/// stations would grow that cache without end. A home has a handful of stations and the
/// list holds 32; a browse that meets this many is flooded. Counted as each station's
/// first record arrives (before it is resolved), so the cache stays near 1 MB.
pub const FLOOD_STATIONS: u64 = 500;
/// The pause before browsing again after a flood: a sustained flood costs one restart
/// per pause at most.
const FLOOD_PAUSE: Duration = Duration::from_secs(10);

/// Discovery while it runs: the announcement (if any) and the browse, each on a daemon
/// of its own. Dropping it says goodbye on the LAN and stops the browse.
pub struct Discovery {
    announcer: Option<(ServiceDaemon, Vec<String>)>,
    browse: Option<Browse>,
}

/// The browse's thread and what stops it.
struct Browse {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A daemon for the LAN: IPv4, no loopback, addresses looked at every second.
fn lan_daemon() -> Result<ServiceDaemon, mdns_sd::Error> {
    let daemon = ServiceDaemon::new()?;
    // Neighbours are on the LAN, and SIP listens on IPv4: announcing on loopback only
    // makes the daemon hear itself, and over IPv6 a neighbour's first answer can carry
    // only a link-local address (useless without its interface) and be taken as the
    // whole answer.
    daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6, IfKind::IPv6])?;
    // A new address (a DHCP lease after a power cut) is announced within a second, so
    // that neighbours call the station there at once.
    daemon.set_ip_check_interval(1)?;
    Ok(daemon)
}

impl Discovery {
    /// Announces `announce` (None: announces nothing) and, when `browse`, listens for
    /// other stations into `neighbours` (the caller keeps its own handle to read it).
    pub fn start(
        announce: Option<&Announce>,
        neighbours: Arc<Mutex<Neighbours>>,
        browse: bool,
    ) -> Result<Self, DiscoveryError> {
        let announcer = match announce {
            Some(a) => Some(announce_on_lan(a)?),
            None => None,
        };
        let browse = match browse {
            true => {
                let stop = Arc::new(AtomicBool::new(false));
                let stopped = stop.clone();
                let thread = std::thread::Builder::new()
                    .name("discovery".into())
                    .spawn(move || browse_until_stopped(&neighbours, &stopped))
                    .map_err(|e| mdns_sd::Error::Msg(format!("no thread for discovery: {e}")))?;
                Some(Browse {
                    stop,
                    thread: Some(thread),
                })
            }
            false => None,
        };
        Ok(Self { announcer, browse })
    }
}

/// Registers the station's three services; the daemon and their full names.
fn announce_on_lan(a: &Announce) -> Result<(ServiceDaemon, Vec<String>), mdns_sd::Error> {
    let daemon = lan_daemon()?;
    let properties = a.station.properties();
    let host = format!("{}.local.", a.host_name);
    let services = [
        (DOORWAY_SERVICE, a.station.sip_port),
        (SIP_SERVICE, a.station.sip_port),
        (SIPS_SERVICE, a.station.tls_port),
    ];
    let mut announced = vec![];
    for (service, port) in services {
        let info = match a.address {
            Some(ip) if !ip.is_unspecified() && !ip.is_loopback() => {
                ServiceInfo::new(service, &a.station.name, &host, ip, port, &properties[..])?
            }
            _ => ServiceInfo::new(service, &a.station.name, &host, (), port, &properties[..])?.enable_addr_auto(),
        };
        announced.push(info.get_fullname().to_string());
        daemon.register(info)?;
    }
    info!(name = %a.station.name, host = %host.trim_end_matches('.'), "announced on the LAN");
    Ok((daemon, announced))
}

/// Browses for stations into `list` until `stop`: afresh, on a new daemon, after a
/// flood ([`FLOOD_STATIONS`]) or when the daemon cannot run (after a pause).
fn browse_until_stopped(list: &Mutex<Neighbours>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let browsing = lan_daemon().and_then(|d| d.browse(DOORWAY_SERVICE).map(|events| (d, events)));
        let (daemon, events) = match browsing {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "cannot look for stations nearby; trying again shortly");
                pause(stop, FLOOD_PAUSE);
                continue;
            }
        };
        let (mut first_heard, mut flooded) = (0u64, false);
        while !stop.load(Ordering::SeqCst) {
            match events.recv_timeout(Duration::from_millis(500)) {
                Ok(ServiceEvent::ServiceFound(..)) => first_heard += 1,
                Ok(event) => take(list, event),
                Err(mdns_sd::RecvTimeoutError::Timeout) => {}
                Err(mdns_sd::RecvTimeoutError::Disconnected) => break,
            }
            if first_heard > FLOOD_STATIONS {
                flooded = true;
                break;
            }
        }
        let _ = daemon.shutdown();
        if flooded {
            warn!(
                stations = FLOOD_STATIONS,
                "a flood of station announcements on the LAN; listening afresh in a moment"
            );
            pause(stop, FLOOD_PAUSE);
        }
    }
}

/// Sleeps `how_long`, or less when `stop` is set.
fn pause(stop: &AtomicBool, how_long: Duration) {
    let until = Instant::now() + how_long;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One event of the browse, into the list.
fn take(list: &Mutex<Neighbours>, event: ServiceEvent) {
    match event {
        ServiceEvent::ServiceResolved(service) => {
            let parsed = Announced::parse(|key| service.get_property_val_str(key), service.get_port());
            let announced = match parsed {
                Ok(a) => a,
                Err(e) => {
                    debug!(instance = %printable(&service.fullname), error = %e, "announcement ignored");
                    return;
                }
            };
            let addresses: Vec<IpAddr> = service.get_addresses().iter().map(|a| a.to_ip_addr()).collect();
            let name = announced.name.clone();
            let heard = list.lock().unwrap_or_else(|e| e.into_inner()).heard(
                &service.fullname,
                announced,
                &addresses,
                Instant::now(),
            );
            match heard {
                Heard::New => info!(%name, ?addresses, "a station nearby"),
                Heard::Again => debug!(%name, ?addresses, "heard again"),
                Heard::Ignored(why) => debug!(%name, why, "announcement not listed"),
            }
        }
        ServiceEvent::ServiceRemoved(_, instance) => {
            list.lock().unwrap_or_else(|e| e.into_inner()).gone(&instance);
        }
        _ => {}
    }
}

/// A name from the LAN, safe for a log line.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

impl Drop for Discovery {
    fn drop(&mut self) {
        if let Some((daemon, announced)) = &self.announcer {
            for fullname in announced {
                if let Err(e) = daemon.unregister(fullname) {
                    warn!(error = %e, "cannot say goodbye on the LAN");
                }
            }
            let _ = daemon.shutdown();
        }
        if let Some(browse) = &mut self.browse {
            browse.stop.store(true, Ordering::SeqCst);
            if let Some(thread) = browse.thread.take() {
                let _ = thread.join();
            }
        }
    }
}
