use super::*;
use std::os::unix::fs::PermissionsExt;

fn private(path: &Path) {
    std::fs::write(path, "secret\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_secret_file_must_be_a_private_file_beside_the_config() {
    let config_dir = tempfile::tempdir().unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let (c, s) = (config_dir.path(), state_dir.path());
    let good = c.join("mqtt-password");
    private(&good);
    assert_eq!(secret_file_inside(&good, c, s), Ok(()));

    let open = c.join("open");
    private(&open);
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(secret_file_inside(&open, c, s).unwrap_err().contains("chmod 600"));

    // The station's own secrets, and anything elsewhere, are out of reach.
    let hash = s.join("web-password");
    private(&hash);
    assert!(secret_file_inside(&hash, c, s).is_err());
    assert!(secret_file_inside(Path::new("/etc/passwd"), c, s).is_err());
    // A link beside the config that leads out is judged by where it leads.
    let link = c.join("link");
    std::os::unix::fs::symlink(&hash, &link).unwrap();
    assert!(secret_file_inside(&link, c, s).is_err());
    // A name with ../ in it is judged after it is resolved.
    let dotted = c.join("..").join(s.file_name().unwrap()).join("web-password");
    assert!(secret_file_inside(&dotted, c, s).is_err());
    assert!(secret_file_inside(&c.join("missing"), c, s).is_err());
}

#[test]
fn the_page_cannot_move_the_appliances_paths() {
    let current = crate::api::loopback::loopback_config("Door", 5060, vec![]);
    let file = Path::new("/etc/doorway/doorway.toml");
    assert_eq!(allowed(Some(&current), &current, file), Ok(()));
    let mut moved = current.clone();
    moved.station.control_socket = Some("/home/user/file".into());
    assert_eq!(
        allowed(Some(&current), &moved, file).unwrap_err().field,
        "station.control_socket"
    );
    let mut moved = current.clone();
    moved.station.state_dir = Some("/tmp/elsewhere".into());
    assert_eq!(
        allowed(Some(&current), &moved, file).unwrap_err().field,
        "station.state_dir"
    );
    let mut named = current.clone();
    named.mqtt.password_file = Some("/var/lib/doorway/web-password".into());
    assert_eq!(
        allowed(Some(&current), &named, file).unwrap_err().field,
        "mqtt.password_file"
    );
    // A file the config already names (put there by hand) stays.
    assert_eq!(allowed(Some(&named), &named, file), Ok(()));
}

#[test]
fn passwords_go_out_masked_and_a_mask_sent_back_keeps_them() {
    let mut current = crate::api::loopback::loopback_config("Door", 5060, vec![]);
    current.mqtt.password = Some("broker secret".into());
    let shown = masked(current.clone());
    assert_eq!(shown.mqtt.password.as_deref(), Some(MASK));
    assert_eq!(shown.account.password, None, "nothing set, nothing shown");
    let mut saved = shown.clone();
    unmask(&mut saved, Some(&current));
    assert_eq!(saved.mqtt.password.as_deref(), Some("broker secret"));
    saved.mqtt.password = Some("a new one".into());
    unmask(&mut saved, Some(&current));
    assert_eq!(saved.mqtt.password.as_deref(), Some("a new one"));

    let text = "# the broker\n[mqtt]\nhost = \"10.0.0.9\"\npassword = \"broker secret\" # kept here\n";
    let shown = masked_text(text).unwrap();
    assert!(!shown.contains("broker secret"), "{shown}");
    assert!(
        shown.contains("# the broker") && shown.contains("# kept here"),
        "{shown}"
    );
    let back = unmask_text(&shown, Some(&current)).unwrap();
    assert_eq!(back, text);
}
