//! DNS-SD over mDNS on the LAN (RFC 6762/6763, through the mdns-sd crate): the station
//! announces itself as `_doorway._tcp`, `_sip._udp` and `_sips._tcp` with the same
//! properties, and browses for `_doorway._tcp`. What it hears goes through
//! [`super::record::Announced::parse`] into the bounded [`Neighbours`] list.

use super::neighbours::{Heard, Neighbours};
use super::record::{Announced, DOORWAY_SERVICE, SIPS_SERVICE, SIP_SERVICE};
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
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

/// Discovery while it runs: the announcement (if any) and the browse. Dropping it says
/// goodbye on the LAN.
pub struct Discovery {
    daemon: ServiceDaemon,
    announced: Vec<String>,
}

impl Discovery {
    /// Announces `announce` (None: announces nothing) and, when `browse`, listens for
    /// other stations into `neighbours` (the caller keeps its own handle to read it).
    pub fn start(
        announce: Option<&Announce>,
        neighbours: Arc<Mutex<Neighbours>>,
        browse: bool,
    ) -> Result<Self, DiscoveryError> {
        let daemon = ServiceDaemon::new()?;
        // Neighbours are on the LAN, and SIP listens on IPv4: announcing on loopback
        // only makes the daemon hear itself, and over IPv6 a neighbour's first answer
        // can carry only a link-local address (useless without its interface) and be
        // taken as the whole answer.
        daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6, IfKind::IPv6])?;
        // A new address (a DHCP lease after a power cut) is announced within a second,
        // so that neighbours call the station there at once.
        daemon.set_ip_check_interval(1)?;
        let mut announced = vec![];
        if let Some(a) = announce {
            let properties = a.station.properties();
            let host = format!("{}.local.", a.host_name);
            let services = [
                (DOORWAY_SERVICE, a.station.sip_port),
                (SIP_SERVICE, a.station.sip_port),
                (SIPS_SERVICE, a.station.tls_port),
            ];
            for (service, port) in services {
                let info = match a.address {
                    Some(ip) if !ip.is_unspecified() && !ip.is_loopback() => {
                        ServiceInfo::new(service, &a.station.name, &host, ip, port, &properties[..])?
                    }
                    _ => {
                        ServiceInfo::new(service, &a.station.name, &host, (), port, &properties[..])?.enable_addr_auto()
                    }
                };
                announced.push(info.get_fullname().to_string());
                daemon.register(info)?;
            }
            info!(name = %a.station.name, host = %host.trim_end_matches('.'), "announced on the LAN");
        }
        if browse {
            let events = daemon.browse(DOORWAY_SERVICE)?;
            let list = neighbours;
            std::thread::Builder::new()
                .name("discovery".into())
                .spawn(move || {
                    // Ends when the daemon shuts down and closes the channel.
                    while let Ok(event) = events.recv() {
                        take(&list, event);
                    }
                })
                .map_err(|e| mdns_sd::Error::Msg(format!("no thread for discovery: {e}")))?;
        }
        Ok(Self { daemon, announced })
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
        for fullname in &self.announced {
            if let Err(e) = self.daemon.unregister(fullname) {
                warn!(error = %e, "cannot say goodbye on the LAN");
            }
        }
        let _ = self.daemon.shutdown();
    }
}
