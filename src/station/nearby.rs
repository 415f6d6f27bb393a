//! Neighbours on the LAN: this station's announcement (DNS-SD over mDNS) and the
//! stations it hears, each matched to a contact only by the certificate it holds.

use super::Station;
use crate::api::NeighbourStatus;
use crate::config::Config;
use crate::config::Contact;
use crate::discovery::{Announce, Announced, Discovery, Found, Neighbour, Neighbours};
use crate::security::identity::Fingerprint;
use crate::security::pins::{pin_for, PinStore};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The station's part on the LAN: its discovery while it runs, and where contacts are.
pub(super) struct Nearby {
    _discovery: Option<Discovery>,
    locator: Arc<Locator>,
    /// When the station last looked at its own address.
    own_checked: Option<Instant>,
}

impl Nearby {
    /// The stations heard, by name.
    pub(super) fn neighbours(&self) -> Vec<Neighbour> {
        self.locator.neighbours()
    }
}

/// How often the station looks for a change of its own address.
const OWN_ADDRESS_EVERY: Duration = Duration::from_secs(1);

/// Where contacts are on the LAN, from the stations heard. Shared with the user agent,
/// which admits a caller by it the moment its announcement is heard.
pub(super) struct Locator {
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
    /// Starts announcing the station (its SIP ports as bound: `sip_port`, `tls_port`)
    /// and browsing into `locator`'s list, as `config` says; a LAN where mDNS cannot
    /// run leaves the station working without neighbours.
    pub(super) fn start(
        config: &Config,
        locator: Arc<Locator>,
        own: Fingerprint,
        (sip_port, tls_port): (u16, u16),
        advertise: IpAddr,
    ) -> Nearby {
        let d = &config.discovery;
        let announce = d.announce.then(|| Announce {
            station: Announced {
                name: config.station.name.clone(),
                user: config.station.user.clone(),
                fingerprint: own,
                sip_port,
                tls_port,
            },
            host_name: crate::web::host_name(&config.station.name),
            address: (!config.station.listen.ip().is_unspecified()).then_some(advertise),
        });
        let discovery = if d.announce || d.browse {
            match Discovery::start(announce.as_ref(), locator.list.clone(), d.browse) {
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
            locator,
            own_checked: None,
        }
    }
}

/// The certificates of `config`'s contacts that are paired or pinned.
fn paired(config: &Config, pins: &PinStore) -> Vec<Fingerprint> {
    config
        .contacts
        .iter()
        .filter_map(|c| pin_for(c, pins).map(|(f, _)| f))
        .collect()
}

impl Locator {
    /// An empty list for a station whose own certificate is `own`, with room kept for
    /// the contacts of `config` paired in `pins`.
    pub(super) fn new(config: &Config, pins: &PinStore, own: Fingerprint) -> Arc<Locator> {
        let mut neighbours = Neighbours::new(own);
        neighbours.set_paired(paired(config, pins));
        Arc::new(Locator {
            list: Arc::new(Mutex::new(neighbours)),
            last: Mutex::new(HashMap::new()),
        })
    }

    /// The stations heard, by name.
    pub(super) fn neighbours(&self) -> Vec<Neighbour> {
        self.list().all().into_iter().cloned().collect()
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Neighbours> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where `contact` of `config` is on the LAN now: for a paired (or pinned) contact,
    /// the station holding its certificate; for one given by `station`, the one station
    /// announcing that name. None when it is not looked up there (an address alone) or
    /// not heard and never was; then its `uri` is what there is. An error when a name
    /// is announced by several stations and the contact has no address to fall back on.
    pub(super) fn locate(
        &self,
        config: &Config,
        pins: &PinStore,
        contact: &Contact,
    ) -> Result<Option<Located>, String> {
        let (list, mut last) = self.paired_list(config, pins);
        locate_in(&list, &mut last, pins, contact)
    }

    /// `config` with each contact found on the LAN at its address there: who may call
    /// and who a caller is are decided by it. One look at the list for all contacts.
    pub(super) fn located(&self, config: &Config, pins: &PinStore) -> Config {
        let mut located = config.clone();
        let (list, mut last) = self.paired_list(config, pins);
        for contact in &mut located.contacts {
            if let Ok(Some(here)) = locate_in(&list, &mut last, pins, contact) {
                contact.uri = here.uri;
                contact.tls_port = Some(here.tls_port);
            }
        }
        located
    }

    /// The list, told which certificates `config`'s contacts are paired with, and the
    /// last places found; both held for one lookup.
    fn paired_list(
        &self,
        config: &Config,
        pins: &PinStore,
    ) -> (
        std::sync::MutexGuard<'_, Neighbours>,
        std::sync::MutexGuard<'_, HashMap<String, Located>>,
    ) {
        let mut list = self.list();
        list.set_paired(paired(config, pins));
        (list, self.last.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// [`Locator::locate`] in `list`, with the last places found in `last`.
fn locate_in(
    list: &Neighbours,
    last: &mut HashMap<String, Located>,
    pins: &PinStore,
    contact: &Contact,
) -> Result<Option<Located>, String> {
    let pin = pin_for(contact, pins).map(|(f, _)| f);
    if pin.is_none() && contact.station.is_none() {
        return Ok(None);
    }
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

impl Station {
    /// Where `contact` is on the LAN now ([`Locator::locate`]).
    pub(super) fn locate(&self, contact: &Contact) -> Result<Option<Located>, String> {
        self.trust
            .with_pins(|pins| self.nearby.locator.locate(&self.config, pins, contact))
    }

    /// The config with each contact found on the LAN at its address there.
    pub(super) fn located_config(&self) -> Config {
        self.trust
            .with_pins(|pins| self.nearby.locator.located(&self.config, pins))
    }

    /// Follows the station's own address when the config does not fix it: a new DHCP
    /// lease after a power cut. Looked at every second, and at once before a call (a
    /// neighbour may hear the new address and call before the next look).
    pub(super) fn follow_own_address(&mut self) {
        if self.nearby.own_checked.is_some_and(|t| t.elapsed() < OWN_ADDRESS_EVERY) {
            return;
        }
        self.check_own_address();
    }

    /// Looks at the station's own address now: when it changed, our URIs and the SDP of
    /// the next call give the new one (discovery announces it on its own).
    pub(super) fn check_own_address(&mut self) {
        let s = &self.config.station;
        if s.advertise.is_some() || !s.listen.ip().is_unspecified() {
            return;
        }
        self.nearby.own_checked = Some(Instant::now());
        let now = super::advertise_address(&self.config);
        if now == self.advertise || now.is_loopback() {
            return;
        }
        info!(was = %self.advertise, now = %now, "this station's address changed");
        self.advertise = now;
        self.ua.set_advertise(now);
    }

    /// The stations heard, for the status: each with the contact whose certificate it
    /// holds.
    pub(super) fn neighbours_status(&self) -> Vec<NeighbourStatus> {
        let pinned = self.trust.pinned(&self.config);
        let mut list = self.nearby.locator.list();
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
