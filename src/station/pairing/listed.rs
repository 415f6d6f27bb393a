//! Pairing with a station from the list of neighbours (heard over DNS-SD) that is not yet
//! a contact. Either side may start it; when both people confirm the code, the other
//! station becomes a contact: by the name it announces, with its pin, and on the next
//! free doorbell key, written to the config file at once and atomically.
//!
//! The announcement only says where to knock. The station that answers must hold the
//! certificate it announced, and the code both people compare is what proves it.

use super::super::Station;
use crate::config::{Config, Contact};
use crate::discovery::Neighbour;
use crate::security::identity::Fingerprint;
use std::net::SocketAddr;
use std::path::Path;
use tracing::info;

/// The keys offered to contacts paired from the list, in order.
const DOORBELL_KEYS: [&str; 12] = [
    "KEY_F1", "KEY_F2", "KEY_F3", "KEY_F4", "KEY_F5", "KEY_F6", "KEY_F7", "KEY_F8", "KEY_F9", "KEY_F10", "KEY_F11",
    "KEY_F12",
];

/// A station from the list being paired with: the contact it becomes.
#[derive(Debug, Clone)]
pub(in crate::station) struct NewContact {
    /// The name it announces.
    station: String,
    /// The certificate it announced, which it must present.
    pub(super) announced: Fingerprint,
}

impl Station {
    /// The station listed as `wanted` (the name it announces, or its short code) and not
    /// yet a contact: the name it will have as a contact, where its TLS answers, and
    /// what it becomes.
    pub(super) fn neighbour_to_pair(&self, wanted: &str) -> Result<(String, SocketAddr, NewContact), String> {
        let listed = self.not_yet_contacts();
        let by_code = |n: &&Neighbour| same_code(&n.announced.fingerprint.short_code(), wanted);
        let by_name = |n: &&Neighbour| n.announced.name.eq_ignore_ascii_case(wanted.trim());
        let found: Vec<&Neighbour> = match listed.iter().filter(by_code).collect::<Vec<_>>() {
            coded if !coded.is_empty() => coded,
            _ => listed.iter().filter(by_name).collect(),
        };
        let n = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(format!(
                    "{wanted:?} is neither a contact nor a station nearby (doorway neighbours lists them)"
                ))
            }
            many => {
                return Err(format!(
                    "{} stations nearby call themselves {wanted:?}: pair by the code their screen shows",
                    many.len()
                ))
            }
        };
        let ip = n.address().ok_or("the station nearby has no address")?;
        let name = unused_contact_name(&self.config, &n.announced.name);
        Ok((
            name,
            SocketAddr::new(ip, n.announced.tls_port),
            NewContact {
                station: n.announced.name.clone(),
                announced: n.announced.fingerprint,
            },
        ))
    }

    /// The station nearby holding `presented`, not yet a contact, asking to pair: the
    /// name it will have as a contact, and what it becomes.
    pub(super) fn neighbour_asking(&self, presented: Fingerprint) -> Option<(String, NewContact)> {
        let n = self
            .not_yet_contacts()
            .into_iter()
            .find(|n| n.announced.fingerprint == presented)?;
        Some((
            unused_contact_name(&self.config, &n.announced.name),
            NewContact {
                station: n.announced.name,
                announced: presented,
            },
        ))
    }

    /// Makes the station paired from the list a contact named `name`: in the config file
    /// (when there is one) and in the running config, on the next free key.
    pub(super) fn add_paired_neighbour(&mut self, name: &str, new: &NewContact) -> Result<(), String> {
        let contact = Contact {
            name: name.to_string(),
            uri: String::new(),
            station: Some(new.station.clone()),
            auto_answer: false,
            preview: false,
            key: next_free_key(&self.config),
            fingerprint: None,
            tls_port: None,
            may_open_door: false,
        };
        let mut config = self.config.clone();
        config.contacts.push(contact.clone());
        if let Some(path) = self.config_file.clone() {
            add_to_file(&path, &contact)?;
        }
        info!(contact = %name, key = ?contact.key, "a station nearby is now a contact");
        self.apply_config(config);
        Ok(())
    }

    /// The stations nearby to pair with, for the screen.
    pub(in crate::station) fn nearby_to_pair(&self) -> Vec<crate::ui::NearbyStation> {
        self.not_yet_contacts()
            .into_iter()
            .map(|n| crate::ui::NearbyStation {
                name: n.announced.name,
                code: n.announced.fingerprint.short_code(),
            })
            .collect()
    }

    /// The stations heard that are no contact: none holds their certificate, is given by
    /// the name they announce, or is at their address.
    fn not_yet_contacts(&self) -> Vec<Neighbour> {
        let pinned: Vec<Fingerprint> = self.trust.pinned(&self.config).into_iter().map(|(f, _)| f).collect();
        let contacts = &self.config.contacts;
        let named = |n: &Neighbour| {
            contacts.iter().any(|c| {
                c.station
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&n.announced.name))
            })
        };
        let addressed = |n: &Neighbour| {
            n.address().is_some_and(|ip| {
                let uri = format!("sip:{}@{ip}:{}", n.announced.user, n.announced.sip_port);
                crate::call::identify::match_contact(contacts, &uri, ip).is_some()
            })
        };
        self.nearby
            .neighbours()
            .into_iter()
            .filter(|n| !pinned.contains(&n.announced.fingerprint) && !named(n) && !addressed(n))
            .collect()
    }
}

/// Whether `typed` is the short code `code` (as a person types it: any case, with or
/// without its dash).
fn same_code(code: &str, typed: &str) -> bool {
    let plain = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    !typed.trim().is_empty() && plain(code) == plain(typed)
}

/// `wanted`, or `wanted 2`, `wanted 3`...: the first no contact or group has.
fn unused_contact_name(config: &Config, wanted: &str) -> String {
    let taken = |name: &str| config.contact(name).is_some() || config.group(name).is_some();
    (1..)
        .map(|n| match n {
            1 => wanted.to_string(),
            n => format!("{wanted} {n}"),
        })
        .find(|name| !taken(name))
        .expect("some number is free")
}

/// The first doorbell key no contact, group or key setting uses.
fn next_free_key(config: &Config) -> Option<String> {
    let used = |key: &str| {
        config.contacts.iter().any(|c| c.key.as_deref() == Some(key))
            || config.groups.iter().any(|g| g.key.as_deref() == Some(key))
            || config.input.keys.contains_key(key)
            || config.input.long_press.contains_key(key)
    };
    DOORBELL_KEYS.iter().find(|k| !used(k)).map(|k| k.to_string())
}

/// Appends `contact` to the config file at `path` as a `[[contact]]` table, keeping the
/// rest of the file (comments included) as it is. The file is replaced atomically, and
/// the result must still be a valid config.
fn add_to_file(path: &Path, contact: &Contact) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("{}: cannot add {}: {e}", path.display(), contact.name);
    let text = std::fs::read_to_string(path).map_err(|e| failed(&e))?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| failed(&e))?;
    let mut table = toml_edit::Table::new();
    table.insert("name", toml_edit::value(contact.name.as_str()));
    if let Some(station) = &contact.station {
        table.insert("station", toml_edit::value(station.as_str()));
    }
    if let Some(key) = &contact.key {
        table.insert("key", toml_edit::value(key.as_str()));
    }
    let contacts = doc
        .entry("contact")
        .or_insert_with(|| toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()));
    contacts
        .as_array_of_tables_mut()
        .ok_or_else(|| failed(&"`contact` is not a list of tables"))?
        .push(table);
    let new_text = doc.to_string();
    Config::parse(&new_text, path).map_err(|e| failed(&e))?;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    crate::base::durable::replace_file(path, new_text.as_bytes(), mode).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("test.toml")).unwrap()
    }

    #[test]
    fn a_code_is_typed_in_any_case_with_or_without_its_dash() {
        assert!(same_code("KE3J-0DAG", "ke3j0dag"));
        assert!(same_code("KE3J-0DAG", " KE3J-0DAG "));
        assert!(!same_code("KE3J-0DAG", "KE3J"));
        assert!(!same_code("KE3J-0DAG", ""));
    }

    #[test]
    fn a_new_contact_gets_a_free_name_and_the_next_free_key() {
        let c = config(
            "[station]\nname = \"Door\"\n[[contact]]\nname = \"Hall\"\nuri = \"10.0.0.2\"\nkey = \"KEY_F1\"\n\
             [input]\nkeys = { KEY_F2 = \"answer\" }\n",
        );
        assert_eq!(unused_contact_name(&c, "Hall"), "Hall 2");
        assert_eq!(unused_contact_name(&c, "Kitchen"), "Kitchen");
        assert_eq!(next_free_key(&c).as_deref(), Some("KEY_F3"));
    }

    #[test]
    fn the_contact_is_added_to_the_file_keeping_its_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doorway.toml");
        std::fs::write(&path, "# the front door\n[station]\nname = \"Door\"\n").unwrap();
        let contact = Contact {
            name: "Hall".into(),
            uri: String::new(),
            station: Some("Hall".into()),
            auto_answer: false,
            preview: false,
            key: Some("KEY_F1".into()),
            fingerprint: None,
            tls_port: None,
            may_open_door: false,
        };
        add_to_file(&path, &contact).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# the front door\n"), "{text}");
        let c = config(&text);
        let hall = c.contact("Hall").unwrap();
        assert_eq!(hall.station.as_deref(), Some("Hall"));
        assert_eq!(hall.key.as_deref(), Some("KEY_F1"));
    }
}
