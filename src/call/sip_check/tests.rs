use super::*;

const OPTIONS: &str = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\n\
From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

fn status_of(message: &str) -> Option<u16> {
    match check(message.as_bytes()) {
        Verdict::Reply { response, .. } => response.split_whitespace().nth(1)?.parse().ok(),
        _ => None,
    }
}

#[test]
fn plain_requests_and_responses_pass_untouched() {
    assert_eq!(check(OPTIONS.as_bytes()), Verdict::Pass);
    assert_eq!(check(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"), Verdict::Pass);
    assert_eq!(check(b"\r\n\r\n"), Verdict::Pass);
    assert_eq!(check(b"\x00\x01 noise"), Verdict::Pass);
}

#[test]
fn request_line_problems() {
    assert_eq!(
        status_of(&OPTIONS.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia")),
        Some(505)
    );
    assert_eq!(
        status_of(&OPTIONS.replace("OPTIONS sip:a@127.0.0.1", "OPTIONS <sip:a@127.0.0.1>")),
        Some(400)
    );
    assert_eq!(
        status_of(&OPTIONS.replace("OPTIONS sip:a@127.0.0.1", "OPTIONS  sip:a@127.0.0.1")),
        Some(400)
    );
    assert_eq!(
        status_of(&OPTIONS.replace("sip:a@127.0.0.1 SIP", "sip:a@127.0.0.1?Route=x SIP")),
        Some(400)
    );
    assert_eq!(
        status_of(&OPTIONS.replace("OPTIONS sip:a@127.0.0.1", "OPTIONS foo:bar")),
        Some(416)
    );
}

#[test]
fn header_problems() {
    let twice = OPTIONS.replace("Call-ID: abc\r\n", "Call-ID: abc\r\ni: def\r\n");
    assert_eq!(status_of(&twice), Some(400));
    assert_eq!(
        status_of(&OPTIONS.replace("Content-Length: 0", "Content-Length: 99")),
        Some(400)
    );
    assert_eq!(
        status_of(&OPTIONS.replace("Content-Length: 0", "Content-Length: -1")),
        Some(400)
    );
    assert_eq!(status_of(&OPTIONS.replace("CSeq: 1 ", "CSeq: 4294967296 ")), Some(400));
    assert_eq!(
        status_of(&OPTIONS.replace("To: <sip:a@127.0.0.1>", "To: \"A <sip:a@127.0.0.1>")),
        Some(400)
    );
    assert_eq!(
        status_of(&OPTIONS.replace("To: <sip:a@127.0.0.1>", "To: < sip:a@127.0.0.1 >")),
        Some(400)
    );
    assert_eq!(
        status_of(&OPTIONS.replace(";branch=z9hG4bKx", ";branch=z9hG4bKx;;")),
        Some(400)
    );
    let required = OPTIONS.replace("Call-ID", "Require: nothingknown\r\nCall-ID");
    match check(required.as_bytes()) {
        Verdict::Reply { response, .. } => {
            assert!(response.starts_with("SIP/2.0 420 "));
            assert!(response.contains("Unsupported: nothingknown\r\n"));
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn unknown_methods_get_501_and_the_to_uri_is_kept_as_written() {
    let odd = OPTIONS
        .replace("OPTIONS sip", "NEWTHING sip")
        .replace("1 OPTIONS", "1 NEWTHING")
        .replace("To: <sip:a@127.0.0.1>", "To: <sip:%61@127.0.0.1>");
    match check(odd.as_bytes()) {
        Verdict::Reply { response, .. } => {
            assert!(response.starts_with("SIP/2.0 501 "));
            assert!(response.contains("To: <sip:%61@127.0.0.1>;tag="), "{response}");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn folded_and_spaced_heads_are_written_plainly() {
    let folded = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia  : SIP  /  2.0\r\n /UDP\r\n   127.0.0.1:5070;branch=z9hG4bKx\r\n\
From: \"J \\\"R\\\"\"  <sip:b@127.0.0.1>\r\n ; tag = 1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: abc\r\ncseq: 0009\r\n OPTIONS\r\nl: 0\r\n\r\n";
    match check(folded.as_bytes()) {
        Verdict::Rewrite(plain) => {
            let plain = String::from_utf8(plain).unwrap();
            assert!(
                plain.contains("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\n"),
                "{plain}"
            );
            assert!(
                plain.contains("From: \"J \\\"R\\\"\" <sip:b@127.0.0.1>;tag=1\r\n"),
                "{plain}"
            );
            assert!(plain.contains("CSeq: 0009 OPTIONS\r\n"), "{plain}");
        }
        v => panic!("{v:?}"),
    }
}
