//! Which contact an incoming request comes from, told by where it came from and what its
//! From URI says. The source IP must match the contact's; the From URI's user and port
//! then tell apart contacts that share an address. When they cannot (two contacts fit),
//! the caller is nobody: taking a caller for the wrong contact would let it be answered
//! automatically or shown under the wrong name.

use crate::config::Contact;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(name: &str, uri: &str) -> Contact {
        Contact {
            name: name.into(),
            uri: uri.into(),
            auto_answer: false,
            preview: false,
            key: None,
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
}
