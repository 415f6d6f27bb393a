//! Finding the station by name: an mDNS announcement of `<name>.local` and of the page as
//! an `_https._tcp` service (so phones and laptops on the LAN reach
//! `https://front-door.local` with no DNS server).

use std::net::IpAddr;

/// The DNS-SD service type of the page.
pub const SERVICE_TYPE: &str = "_https._tcp.local.";

/// Why the station cannot be announced.
#[derive(Debug, thiserror::Error)]
#[error("mDNS: {0}")]
pub struct MdnsError(#[from] mdns_sd::Error);

/// A live announcement; dropping it says goodbye on the LAN.
pub struct Announcement {
    daemon: mdns_sd::ServiceDaemon,
    fullname: String,
}

/// Announces `host_name.local` at the station's addresses (followed as they change,
/// starting with `address`) and the page on `port`.
pub fn announce(host_name: &str, station: &str, address: IpAddr, port: u16) -> Result<Announcement, MdnsError> {
    let daemon = mdns_sd::ServiceDaemon::new()?;
    let host = format!("{host_name}.local.");
    let properties = [("path", "/"), ("product", "doorway")];
    let info = if address.is_loopback() || address.is_unspecified() {
        mdns_sd::ServiceInfo::new(SERVICE_TYPE, station, &host, (), port, &properties[..])?
    } else {
        mdns_sd::ServiceInfo::new(SERVICE_TYPE, station, &host, address, port, &properties[..])?
    }
    .enable_addr_auto();
    let fullname = info.get_fullname().to_string();
    daemon.register(info)?;
    tracing::info!(host = %host.trim_end_matches('.'), port, "announced over mDNS");
    Ok(Announcement { daemon, fullname })
}

impl Drop for Announcement {
    fn drop(&mut self) {
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}
