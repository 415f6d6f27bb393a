//! Neighbours on the LAN: this station's announcement (DNS-SD over mDNS) and the
//! stations it hears, each matched to a contact only by the certificate it holds.

use super::Station;
use crate::api::NeighbourStatus;
use crate::config::Config;
use crate::discovery::{Announce, Announced, Discovery, Neighbours};
use crate::security::identity::Fingerprint;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::warn;

/// The station's part on the LAN: its discovery while it runs, and the stations heard.
pub(super) struct Nearby {
    _discovery: Option<Discovery>,
    list: Arc<Mutex<Neighbours>>,
}

impl Nearby {
    /// Starts announcing and browsing as `config` says; a LAN where mDNS cannot run
    /// leaves the station working without neighbours.
    pub(super) fn start(config: &Config, own: Fingerprint, paired: Vec<Fingerprint>, advertise: IpAddr) -> Nearby {
        let mut neighbours = Neighbours::new(own);
        neighbours.set_paired(paired);
        let list = Arc::new(Mutex::new(neighbours));
        let d = &config.discovery;
        let announce = d.announce.then(|| Announce {
            station: Announced {
                name: config.station.name.clone(),
                user: config.station.user.clone(),
                fingerprint: own,
                sip_port: config.station.listen.port(),
                tls_port: config.security.tls_port,
            },
            host_name: crate::web::host_name(&config.station.name),
            address: (!config.station.listen.ip().is_unspecified()).then_some(advertise),
        });
        let discovery = if d.announce || d.browse {
            match Discovery::start(announce.as_ref(), list.clone(), d.browse) {
                Ok(discovery) => Some(discovery),
                Err(e) => {
                    warn!(error = %e, "neighbours cannot be found on this network; contacts need their addresses");
                    None
                }
            }
        } else {
            None
        };
        Nearby {
            _discovery: discovery,
            list,
        }
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Neighbours> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Station {
    /// The stations heard, for the status: each with the contact whose certificate it
    /// holds.
    pub(super) fn neighbours_status(&self) -> Vec<NeighbourStatus> {
        let pinned = self.trust.pinned(&self.config);
        let mut list = self.nearby.list();
        list.set_paired(pinned.iter().map(|(f, _)| *f).collect());
        let now = Instant::now();
        list.all()
            .into_iter()
            .map(|n| {
                let a = &n.announced;
                NeighbourStatus {
                    name: a.name.clone(),
                    user: a.user.clone(),
                    code: a.fingerprint.short_code(),
                    fingerprint: a.fingerprint.to_string(),
                    address: n.address(),
                    sip_port: a.sip_port,
                    tls_port: a.tls_port,
                    seconds_ago: now.saturating_duration_since(n.heard_at).as_secs(),
                    contact: pinned
                        .iter()
                        .find(|(f, _)| *f == a.fingerprint)
                        .map(|(_, name)| name.clone()),
                }
            })
            .collect()
    }
}
