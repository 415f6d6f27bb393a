//! Which contact an incoming request comes from, told by where it came from and what its
//! From URI says. The source IP must match the contact's; the From URI's user and port
//! then tell apart contacts that share an address. When they cannot (two contacts fit),
//! the caller is nobody: taking a caller for the wrong contact would let it be answered
//! automatically or shown under the wrong name.

use crate::call::ua::Caller;
use crate::config::{Config, Contact, PlainCalls};
use crate::security::pins::{contact_with_pin, pin_for, PinStore};
use std::net::IpAddr;

/// The parts of a SIP URI that identify a station: user, host IP, port as written.
#[derive(Debug, Clone, PartialEq)]
struct UriParts {
    user: Option<String>,
    ip: IpAddr,
    port: Option<u16>,
}

fn uri_parts(text: &str) -> Option<UriParts> {
    let text = text.trim();
    let uri_text = if text.starts_with("sip:") || text.starts_with("sips:") {
        text.to_string()
    } else {
        format!("sip:{text}")
    };
    let uri = rsipstack::sip::Uri::try_from(uri_text.as_str()).ok()?;
    let ip = match &uri.host_with_port.host {
        rsipstack::sip::Host::IpAddr(ip) => *ip,
        rsipstack::sip::Host::Domain(d) => d.to_string().parse().ok()?,
    };
    Some(UriParts {
        user: uri.auth.as_ref().map(|a| a.user.to_string()).filter(|u| !u.is_empty()),
        ip,
        port: uri.host_with_port.port.as_ref().map(|p| p.value()),
    })
}

/// The contact a request from `source` with From URI `from_uri` comes from, if exactly
/// one fits.
pub fn match_contact<'a>(contacts: &'a [Contact], from_uri: &str, source: IpAddr) -> Option<&'a Contact> {
    let from = uri_parts(from_uri);
    let fits = |c: &&Contact| {
        let Some(contact) = uri_parts(&c.uri) else {
            return false;
        };
        if contact.ip != source {
            return false;
        }
        let Some(from) = &from else {
            return true;
        };
        // Users must agree where both name one; ports where both write one (an absent
        // port is the default, but a station that leaves it out may also use another).
        let user_ok = match (&contact.user, &from.user) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        let port_ok = match (contact.port, from.port) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        user_ok && port_ok
    };
    let mut candidates = contacts.iter().filter(fits);
    let first = candidates.next()?;
    match candidates.next() {
        None => Some(first),
        Some(_) => None,
    }
}

/// Who a caller is, once its certificate and address have been weighed.
#[derive(Debug, Clone)]
pub struct Recognised<'a> {
    /// The contact, when it is one.
    pub contact: Option<&'a Contact>,
    /// Recognised by its pinned certificate: the call is secure.
    pub secure: bool,
}

/// Decides who `caller` is, or why it may not ring:
/// - a certificate pinned for a contact is that contact, wherever it calls from;
/// - a caller that looks like a paired contact (address, From) without that contact's
///   certificate is refused: an impostor, or a replaced station that must pair again;
/// - other callers are taken by address as before, unless plain calls are refused.
pub fn recognise<'a>(config: &'a Config, pins: &PinStore, caller: &Caller) -> Result<Recognised<'a>, String> {
    if caller.via_server {
        return recognise_through_server(config, caller);
    }
    if let Some(certificate) = caller.certificate() {
        if let Some(contact) = contact_with_pin(config, pins, certificate) {
            return Ok(Recognised {
                contact: Some(contact),
                secure: true,
            });
        }
    }
    // Over TLS the From names the caller's TLS port, not the SIP port in our contacts.
    let from = match caller.tls {
        Some(_) => without_port(&caller.from_uri),
        None => caller.from_uri.clone(),
    };
    let by_address = match_contact(&config.contacts, &from, caller.source);
    if let Some((expected, _)) = by_address.and_then(|c| pin_for(c, pins)) {
        let name = &by_address.expect("checked").name;
        return Err(match caller.certificate() {
            Some(presented) => format!(
                "a caller claiming to be {name} presented another certificate ({presented}) than the one paired with ({expected})"
            ),
            None => format!("a caller claiming to be {name} called without its certificate ({name} is paired; its calls must use TLS)"),
        });
    }
    if config.security.plain_calls == PlainCalls::Refuse {
        return Err("only paired stations may call (security.plain_calls = \"refuse\")".into());
    }
    plain(config, by_address, || "not a contact".into())
}

/// An unencrypted caller: `contact` when it is one; else anyone, when unknown callers may
/// ring; else refused with `why_not`.
fn plain<'a>(
    config: &Config,
    contact: Option<&'a Contact>,
    why_not: impl FnOnce() -> String,
) -> Result<Recognised<'a>, String> {
    if contact.is_none() && !config.station.allow_unknown_callers {
        return Err(why_not());
    }
    Ok(Recognised { contact, secure: false })
}

/// A call that came through the account's SIP server is who the server asserts it is,
/// matched against contacts that are addresses of record; never taken for a contact by
/// the server's address. Unencrypted, so refused when plain calls are.
fn recognise_through_server<'a>(config: &'a Config, caller: &Caller) -> Result<Recognised<'a>, String> {
    if config.security.plain_calls == PlainCalls::Refuse {
        return Err(
            "calls through the SIP server are not encrypted, and only paired stations may call (security.plain_calls = \"refuse\")"
                .into(),
        );
    }
    let contact = caller.asserted.as_deref().and_then(|id| {
        config
            .contacts
            .iter()
            .find(|c| crate::call::parse_aor(&c.uri).as_deref() == Some(id))
    });
    plain(config, contact, || match &caller.asserted {
        Some(id) => format!("{id} is not a contact"),
        None => "the SIP server did not say who is calling (no P-Asserted-Identity)".into(),
    })
}

/// `uri` without its port (and parameters), for matching by user and address alone.
fn without_port(uri: &str) -> String {
    match rsipstack::sip::Uri::try_from(uri.trim()) {
        Ok(mut parsed) => {
            parsed.host_with_port.port = None;
            parsed.params.clear();
            parsed.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(name: &str, uri: &str) -> Contact {
        Contact {
            name: name.into(),
            uri: uri.into(),
            station: None,
            auto_answer: false,
            preview: false,
            key: None,
            fingerprint: None,
            tls_port: None,
            may_open_door: false,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_source_address_must_match() {
        let contacts = [contact("Kitchen", "sip:kitchen@10.0.0.2:5060")];
        assert!(match_contact(&contacts, "sip:kitchen@10.0.0.2:5060", ip("10.0.0.9")).is_none());
        let found = match_contact(&contacts, "sip:kitchen@10.0.0.2:5060", ip("10.0.0.2"));
        assert_eq!(found.unwrap().name, "Kitchen");
    }

    #[test]
    fn user_and_port_tell_apart_contacts_on_one_address() {
        let contacts = [
            contact("Kitchen", "sip:kitchen@10.0.0.2:5060"),
            contact("Office", "sip:office@10.0.0.2:5070"),
        ];
        let source = ip("10.0.0.2");
        assert_eq!(
            match_contact(&contacts, "sip:office@10.0.0.2:5070", source)
                .unwrap()
                .name,
            "Office"
        );
        // No port in the From: the user decides.
        assert_eq!(
            match_contact(&contacts, "sip:kitchen@10.0.0.2", source).unwrap().name,
            "Kitchen"
        );
        assert_eq!(
            match_contact(&contacts, "sip:office@10.0.0.2", source).unwrap().name,
            "Office"
        );
        // A user that is neither, or a port that is neither: nobody.
        assert!(match_contact(&contacts, "sip:mallory@10.0.0.2", source).is_none());
        assert!(match_contact(&contacts, "sip:kitchen@10.0.0.2:5070", source).is_none());
    }

    #[test]
    fn an_ambiguous_caller_is_nobody() {
        let contacts = [contact("Kitchen", "10.0.0.2:5060"), contact("Office", "10.0.0.2:5070")];
        // Neither the user nor a port decides between them.
        assert!(match_contact(&contacts, "sip:someone@10.0.0.2", ip("10.0.0.2")).is_none());
        assert_eq!(
            match_contact(&contacts, "sip:someone@10.0.0.2:5070", ip("10.0.0.2"))
                .unwrap()
                .name,
            "Office"
        );
    }

    #[test]
    fn garbage_from_matches_only_a_single_contact_on_that_address() {
        let contacts = [contact("Kitchen", "sip:kitchen@10.0.0.2:5060")];
        let found = match_contact(&contacts, "\u{1}not a uri", ip("10.0.0.2"));
        assert_eq!(found.unwrap().name, "Kitchen");
    }

    fn through_server(asserted: Option<&str>) -> Caller {
        Caller {
            from_uri: "sip:kitchen@flat12.example".into(),
            source: ip("10.0.0.5"),
            tls: None,
            via_server: true,
            asserted: asserted.map(str::to_string),
        }
    }

    #[test]
    fn the_server_says_who_calls_through_it() {
        let mut config = crate::api::loopback::loopback_config(
            "Door",
            5060,
            vec![
                contact("Kitchen", "sip:kitchen@flat12.example"),
                contact("Pbx", "10.0.0.5"),
            ],
        );
        let pins = PinStore::in_memory();
        let known = recognise(&config, &pins, &through_server(Some("sip:kitchen@flat12.example"))).unwrap();
        assert_eq!(known.contact.unwrap().name, "Kitchen");
        assert!(!known.secure);
        // Not by the server's address, though a contact has it; not without its word.
        let err = recognise(&config, &pins, &through_server(None)).unwrap_err();
        assert!(err.contains("did not say who is calling"), "{err}");
        let err = recognise(&config, &pins, &through_server(Some("sip:mallory@flat12.example"))).unwrap_err();
        assert!(err.contains("not a contact"), "{err}");
        config.station.allow_unknown_callers = true;
        assert!(recognise(&config, &pins, &through_server(None))
            .unwrap()
            .contact
            .is_none());
        config.security.plain_calls = PlainCalls::Refuse;
        assert!(recognise(&config, &pins, &through_server(Some("sip:kitchen@flat12.example"))).is_err());
        // From anywhere else, an address of record matches nobody.
        config.security.plain_calls = PlainCalls::default();
        config.station.allow_unknown_callers = false;
        let mut direct = through_server(Some("sip:kitchen@flat12.example"));
        direct.via_server = false;
        direct.source = ip("10.0.0.9");
        assert!(recognise(&config, &pins, &direct).is_err());
    }
}
