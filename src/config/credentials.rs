//! A user and a password as `[account]`, `[mqtt]` and `[rtsp]` give them: the password
//! written in the config or kept in a file (its first line), never both.
//!
//! The three sections keep their own `user`, `password` and `password_file` keys: serde
//! cannot flatten a shared struct into a section that refuses unknown keys, and those
//! refusals are what name a mistyped key with its file and line. What the keys mean is
//! here, once.

use super::Problem;
use std::path::{Path, PathBuf};

/// One section's credentials, borrowed from its config.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The section's name in the config, for problems (`account`, `mqtt`, `rtsp`).
    pub section: &'static str,
    /// The user name.
    pub user: Option<&'a str>,
    /// The password written in the config.
    pub password: Option<&'a str>,
    /// A file holding the password, readable by the service only.
    pub password_file: Option<&'a Path>,
}

impl Credentials<'_> {
    /// Whether a password is given, either way.
    pub fn has_password(&self) -> bool {
        self.password.is_some() || self.password_file.is_some()
    }

    /// The password given both ways is a problem: which one would be meant?
    pub(super) fn check(&self) -> Result<(), Problem> {
        if self.password.is_some() && self.password_file.is_some() {
            return Err(Problem::new(
                &[self.section, "password_file"],
                "give the password or a password file, not both",
            ));
        }
        Ok(())
    }

    /// The password: as written, or the first line of its file; None when none is given.
    pub fn read_password(&self) -> Result<Option<String>, (PathBuf, std::io::Error)> {
        match (self.password, self.password_file) {
            (Some(p), _) => Ok(Some(p.to_string())),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map(|text| Some(text.lines().next().unwrap_or_default().to_string()))
                .map_err(|e| (file.to_path_buf(), e)),
            (None, None) => Ok(None),
        }
    }
}
