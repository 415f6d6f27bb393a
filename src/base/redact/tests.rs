use super::*;

/// Every line keeps its shape and loses its secret.
fn hides(line: &str, secret: &str) {
    let out = redact(line);
    assert!(!out.contains(secret), "{secret:?} left in {out:?}");
    assert!(out.contains(HIDDEN), "{out:?}");
}

#[test]
fn sdes_keys_in_sdp_are_hidden_and_the_rest_of_the_line_stays() {
    let line = r#"state=Active { local_sdp: "v=0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31\r\n" }"#;
    hides(line, "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz");
    assert!(redact(line).contains("AES_CM_128_HMAC_SHA1_80 inline:<redacted>|2^31"));
}

#[test]
fn passwords_in_every_printed_form_are_hidden() {
    hides(r#"Login { username: "door", password: "hunter22" }"#, "hunter22");
    hides(
        r#"Credentials { user: Some("door"), password: Some("hunter22") }"#,
        "hunter22",
    );
    hides(r#"{"user":"door","password":"hunter22"}"#, "hunter22");
    hides("mqtt_password = \"hunter22\"", "hunter22");
    hides("connecting password=hunter22 user=door", "hunter22");
    hides(r#"web_password: "h\"unter22""#, "unter22");
    assert!(redact(r#"Login { username: "door", password: "x" }"#).contains(r#"username: "door""#));
}

#[test]
fn cookies_tokens_and_authorization_are_hidden() {
    hides("cookie: doorway_session=0123456789abcdef", "0123456789abcdef");
    hides(
        "Set-Cookie: doorway_session=0123456789abcdef; HttpOnly",
        "0123456789abcdef",
    );
    hides(
        r#"headers: {"cookie": "doorway_session=0123456789abcdef"}"#,
        "0123456789abcdef",
    );
    hides("csrf_token=0123456789abcdef", "0123456789abcdef");
    hides(r#"Offer { nonce: "0123456789abcdef" }"#, "0123456789abcdef");
    hides(
        "Authorization: Digest username=\"door\", realm=\"x\", response=\"6629fae49393a05397450978507c4ef1\"",
        "6629fae49393a05397450978507c4ef1",
    );
}

#[test]
fn a_digest_response_inside_a_printed_sip_message_is_hidden() {
    let line = r#"headers: [Authorization(Authorization("Digest username=\"door\", response=\"6629fae49393a05397450978507c4ef1\""))]"#;
    hides(line, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn hashes_and_private_keys_are_hidden() {
    hides(
        "stored $argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g for door",
        "aGFzaGhhc2g",
    );
    hides(
        "key: -----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n",
        "MIGHAgEAMBMGByqGSM49",
    );
}

#[test]
fn ordinary_lines_pass_unchanged_and_uncopied() {
    for line in [
        "call state call=in a call with Kitchen, encrypted",
        "SIP/2.0 200 OK response to INVITE",
        "fingerprint=sha-256 AB:CD:EF passwords are checked",
        "a=crypto lines are offered",
    ] {
        assert!(matches!(redact(line), Cow::Borrowed(_)), "{line}");
    }
}

#[test]
fn the_writer_redacts_a_whole_event_written_in_pieces() {
    use std::io::Write;
    let mut out = Vec::new();
    {
        let mut writer = RedactingWriter::new(&mut out);
        writer.write_all(b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inl").unwrap();
        writer.write_all(b"ine:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9\n").unwrap();
    }
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<redacted>\n");
}
