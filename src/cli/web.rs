//! `doorway web-password`: sets or clears the web page's password from the console.

use anyhow::Context;
use doorway::config::Config;
use std::io::{BufRead, IsTerminal};
use std::path::Path;

/// Sets a new password (asked twice on a terminal, one line from a pipe), or clears it
/// so that the next visitor needs the one-time code on the station's screen. Either way
/// every browser is logged out.
pub fn web_password(config_path: &Path, clear: bool) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let dir = doorway::security::state_dir(&config);
    let file = doorway::web::password::path(&dir);
    if clear {
        doorway::web::password::clear(&dir)?;
        println!("web password cleared: the station's screen shows a code for the next visit");
        return Ok(());
    }
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New web password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ; nothing changed");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    doorway::web::password::store(&dir, &password)?;
    // Written by root for a service that runs as its own user: the file belongs to
    // whoever owns the state directory.
    let owner = std::fs::metadata(&dir).with_context(|| format!("{}", dir.display()))?;
    use std::os::unix::fs::MetadataExt;
    std::os::unix::fs::chown(&file, Some(owner.uid()), Some(owner.gid()))
        .with_context(|| format!("cannot give {} to the station's user", file.display()))?;
    println!(
        "web password set in {}; every browser must log in again",
        file.display()
    );
    Ok(())
}
