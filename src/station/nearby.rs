//! Neighbours on the LAN: this station's announcement (DNS-SD over mDNS) and the
//! stations it hears, each matched to a contact only by the certificate it holds.

use super::Station;
use crate::api::NeighbourStatus;
use crate::config::Config;
use crate::config::Contact;
use crate::discovery::{Announce, Announced, Discovery, Found, Neighbour, Neighbours};
use crate::security::identity::Fingerprint;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::warn;

/// The station's part on the LAN: its discovery while it runs, and the stations heard.
pub(super) struct Nearby {
    _discovery: Option<Discovery>,
    list: Arc<Mutex<Neighbours>>,
    /// Where each contact found on the LAN was last heard: called there while it is
    /// not heard (a station that missed an announcement is usually still there).
    last: Mutex<HashMap<String, Located>>,
}

/// Where a contact found on the LAN is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Located {
    /// Its SIP URI there (`sip:USER@ADDRESS:PORT`).
    pub(super) uri: String,
    /// Its SIP-over-TLS port.
    pub(super) tls_port: u16,
}

impl Located {
    fn of(n: &Neighbour) -> Option<Located> {
        let host = match n.address()? {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        Some(Located {
            uri: format!("sip:{}@{host}:{}", n.announced.user, n.announced.sip_port),
            tls_port: n.announced.tls_port,
        })
    }
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
            last: Mutex::new(HashMap::new()),
        }
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Neighbours> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Station {
    /// Where `contact` is on the LAN now: for a paired (or pinned) contact, the station
    /// holding its certificate; for one given by `station`, the one station announcing
    /// that name. None when it is not looked up there (an address alone) or not heard
    /// and never was; then its `uri` is what there is. An error when a name is
    /// announced by several stations and the contact has no address to fall back on.
    pub(super) fn locate(&self, contact: &Contact) -> Result<Option<Located>, String> {
        let pin = self.trust.pin_of(contact);
        if pin.is_none() && contact.station.is_none() {
            return Ok(None);
        }
        let mut list = self.nearby.list();
        list.set_paired(self.trust.pinned(&self.config).into_iter().map(|(f, _)| f).collect());
        let mut last = self.nearby.last.lock().unwrap_or_else(|e| e.into_inner());
        match list.find(pin.as_ref(), contact.station.as_deref()) {
            Found::Here(n) => {
                let here = Located::of(n);
                if let Some(here) = &here {
                    last.insert(contact.name.clone(), here.clone());
                }
                Ok(here)
            }
            Found::NotHeard => Ok(last.get(&contact.name).cloned()),
            Found::Ambiguous(_) if !contact.uri.trim().is_empty() => Ok(None),
            Found::Ambiguous(many) => Err(format!(
                "{many} stations on the LAN call themselves {:?}; pair with the right one (doorway pair {})",
                contact.station.as_deref().unwrap_or_default(),
                contact.name
            )),
        }
    }

    /// The config with each contact found on the LAN at its address there: who may
    /// call and who a caller is are decided by it.
    pub(super) fn located_config(&self) -> Config {
        let mut config = self.config.clone();
        for contact in &mut config.contacts {
            if let Ok(Some(here)) = self.locate(contact) {
                contact.uri = here.uri;
                contact.tls_port = Some(here.tls_port);
            }
        }
        config
    }

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
