//! What the Settings page may change, and what it never shows.
//!
//! - The appliance's own paths (`station.control_socket`, `station.state_dir`) are not
//!   the page's to change: a logged-in person could otherwise point them at any file
//!   the service can write.
//! - A secret file (`password_file` of `[account]`, `[mqtt]`, `[rtsp]`) named from the
//!   page must stay inside the station: a regular file in the config file's directory,
//!   owned by the service and readable by it alone. The state directory is not one of
//!   them: it holds the station's own secrets (its key, the page's password hash), and
//!   naming one of those would send it to a server of the person's choosing.
//! - Passwords go to the page as [`MASK`]; a save that sends [`MASK`] back keeps the
//!   password the file has.

use crate::config::Config;
use std::path::{Path, PathBuf};

/// What the page shows instead of a password, and sends back for "unchanged".
pub const MASK: &str = "<secret kept>";

/// The config tables that hold a password and a password file.
const SECRET_TABLES: [&str; 3] = ["account", "mqtt", "rtsp"];

/// A setting the page may not make: the field and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The field's path, as `check-config` names fields.
    pub field: String,
    /// What to do instead.
    pub message: String,
}

fn refusal(field: &str, message: impl Into<String>) -> Refusal {
    Refusal {
        field: field.into(),
        message: message.into(),
    }
}

fn password_of<'a>(config: &'a Config, table: &str) -> (&'a Option<String>, &'a Option<PathBuf>) {
    match table {
        "account" => (&config.account.password, &config.account.password_file),
        "mqtt" => (&config.mqtt.password, &config.mqtt.password_file),
        _ => (&config.rtsp.password, &config.rtsp.password_file),
    }
}

fn password_mut<'a>(config: &'a mut Config, table: &str) -> &'a mut Option<String> {
    match table {
        "account" => &mut config.account.password,
        "mqtt" => &mut config.mqtt.password,
        _ => &mut config.rtsp.password,
    }
}

/// Checks what a save from the page changes against the file it replaces (`current`,
/// None when that could not be read) in `config_file`.
pub fn allowed(current: Option<&Config>, new: &Config, config_file: &Path) -> Result<(), Refusal> {
    let fixed = "set by the appliance, not from the web page: edit the file on the station";
    let (old_socket, old_state) = current.map_or((None, None), |c| {
        (c.station.control_socket.as_ref(), c.station.state_dir.as_ref())
    });
    if new.station.control_socket.as_ref() != old_socket {
        return Err(refusal("station.control_socket", fixed));
    }
    if new.station.state_dir.as_ref() != old_state {
        return Err(refusal("station.state_dir", fixed));
    }
    let dir = config_file.parent().unwrap_or(Path::new("/"));
    let state_dir = crate::security::state_dir(new);
    for table in SECRET_TABLES {
        let (_, file) = password_of(new, table);
        let old = current.and_then(|c| password_of(c, table).1.as_ref());
        match file {
            Some(file) if Some(file) != old => {
                secret_file_inside(file, dir, &state_dir).map_err(|m| refusal(&format!("{table}.password_file"), m))?
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `file` may hold a secret named from the page; why not, in words.
pub fn secret_file_inside(file: &Path, config_dir: &Path, state_dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let shown = file.display();
    let real = std::fs::canonicalize(file).map_err(|e| format!("{shown}: {e}"))?;
    let inside = |dir: &Path| std::fs::canonicalize(dir).is_ok_and(|d| real.starts_with(d));
    if !inside(config_dir) || inside(state_dir) {
        return Err(format!(
            "{shown}: a password file must be in {} (the station's own state is not)",
            config_dir.display()
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if meta.uid() != unsafe { libc::geteuid() } {
        return Err(format!("{shown}: must belong to the station's service user"));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!("{shown}: others can read it; chmod 600 it"));
    }
    Ok(())
}

/// The config as the page sees it: passwords masked.
pub fn masked(mut config: Config) -> Config {
    for table in SECRET_TABLES {
        let password = password_mut(&mut config, table);
        if password.is_some() {
            *password = Some(MASK.into());
        }
    }
    config
}

/// Passwords the page sent back masked take the current file's values.
pub fn unmask(new: &mut Config, current: Option<&Config>) {
    for table in SECRET_TABLES {
        let kept = current.and_then(|c| password_of(c, table).0.clone());
        let password = password_mut(new, table);
        if password.as_deref() == Some(MASK) {
            *password = kept;
        }
    }
}

/// The file's text with the passwords masked (comments and layout kept).
pub fn masked_text(text: &str) -> Option<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().ok()?;
    for table in SECRET_TABLES {
        if let Some(item) = doc.get_mut(table).and_then(|t| t.get_mut("password")) {
            if item.is_str() {
                set_keeping_comments(item, MASK);
            }
        }
    }
    Some(doc.to_string())
}

/// A text save: masked passwords take the current file's values.
pub fn unmask_text(text: &str, current: Option<&Config>) -> Option<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().ok()?;
    for table in SECRET_TABLES {
        let Some(item) = doc.get_mut(table).and_then(|t| t.get_mut("password")) else {
            continue;
        };
        if item.as_str() == Some(MASK) {
            match current.and_then(|c| password_of(c, table).0.clone()) {
                Some(kept) => set_keeping_comments(item, &kept),
                None => {
                    if let Some(t) = doc.get_mut(table).and_then(|t| t.as_table_like_mut()) {
                        t.remove("password");
                    }
                }
            }
        }
    }
    Some(doc.to_string())
}

/// Replaces a string value, keeping the spaces and comment around it.
fn set_keeping_comments(item: &mut toml_edit::Item, text: &str) {
    if let Some(value) = item.as_value_mut() {
        let decor = value.decor().clone();
        *value = text.into();
        *value.decor_mut() = decor;
    }
}

#[cfg(test)]
mod tests;
