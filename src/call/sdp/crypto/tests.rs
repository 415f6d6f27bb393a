use super::super::*;
use super::*;

fn local(crypto: Option<LocalCrypto>) -> LocalMedia {
    LocalMedia {
        addr: "192.168.1.10".parse().unwrap(),
        video_port: 10000,
        audio_port: 10002,
        audio_codecs: vec![AudioCodec::Opus, AudioCodec::Pcmu],
        direction: Direction::SendRecv,
        session_id: 42,
        version: 1,
        crypto,
    }
}

fn secure() -> LocalMedia {
    local(Some(LocalCrypto::fresh()))
}

/// The base64 keys of a section's `a=crypto` lines, as (tag, suite, key text).
fn crypto_lines(sdp: &str, media: &str) -> Vec<(String, String, String)> {
    let section = sdp
        .split("m=")
        .find(|s| s.starts_with(media))
        .unwrap_or_else(|| panic!("no {media} in {sdp}"));
    section
        .lines()
        .filter_map(|l| l.strip_prefix("a=crypto:"))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].into(), f[1].into(), f[2].trim_start_matches("inline:").into())
        })
        .collect()
}

fn decode(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A foreign offer of one audio stream with these `a=crypto` lines.
fn audio_offer(proto: &str, crypto: &[String]) -> String {
    let lines: String = crypto.iter().map(|c| format!("a=crypto:{c}\r\n")).collect();
    format!(
        "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
         m=audio 4000 {proto} 0\r\n{lines}"
    )
}

#[test]
fn secure_offer_is_savp_with_one_key_per_suite_in_our_order() {
    let offer = build_offer(&secure());
    assert!(offer.contains("m=video 10000 RTP/SAVP 96 97 98 99\r\n"), "{offer}");
    assert!(offer.contains("m=audio 10002 RTP/SAVP 111 0 101 100\r\n"), "{offer}");
    let mut all_keys = Vec::new();
    for media in ["video", "audio"] {
        let lines = crypto_lines(&offer, media);
        let names: Vec<(&str, &str)> = lines.iter().map(|(t, s, _)| (t.as_str(), s.as_str())).collect();
        assert_eq!(
            names,
            [
                ("1", "AEAD_AES_128_GCM"),
                ("2", "AES_CM_128_HMAC_SHA1_80"),
                ("3", "AES_CM_128_HMAC_SHA1_32")
            ]
        );
        let lens: Vec<usize> = lines.iter().map(|(_, _, k)| decode(k).len()).collect();
        assert_eq!(lens, [28, 30, 30]);
        all_keys.extend(lines.into_iter().map(|(_, _, k)| k));
    }
    let mut distinct = all_keys.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 6, "every stream and suite has its own key");
    // Without keys: plain RTP/AVP and no crypto line.
    let plain = build_offer(&local(None));
    assert!(plain.contains("RTP/AVP") && !plain.contains("SAVP") && !plain.contains("a=crypto"));
}

#[test]
fn both_roles_agree_on_suite_and_each_uses_its_own_key() {
    let (caller, mut callee) = (secure(), secure());
    (callee.video_port, callee.audio_port) = (20000, 20002);
    let offer = build_offer(&caller);
    let (answer_text, answered) = answer(&offer, &callee).unwrap();
    assert!(
        answer_text.contains("m=video 20000 RTP/SAVP 96 98\r\n"),
        "{answer_text}"
    );
    assert!(
        answer_text.contains("m=audio 20002 RTP/SAVP 111 101\r\n"),
        "{answer_text}"
    );
    let offered = build_offer(&callee);
    let caller_side = apply_answer(&caller, &answer_text).unwrap();
    for media in ["video", "audio"] {
        let ours = crypto_lines(&answer_text, media);
        assert_eq!(ours.len(), 1, "{answer_text}");
        let (tag, suite, key) = &ours[0];
        assert_eq!((tag.as_str(), suite.as_str()), ("1", "AEAD_AES_128_GCM"));
        // The answer carries the callee's own GCM key, the one its offer would carry.
        assert_eq!(key, &crypto_lines(&offered, media)[0].2);
        let their_key = decode(&crypto_lines(&offer, media)[0].2);
        let (callee_keys, caller_keys) = if media == "video" {
            (
                answered.video.as_ref().unwrap().rtp.crypto.clone().unwrap(),
                caller_side.video.as_ref().unwrap().rtp.crypto.clone().unwrap(),
            )
        } else {
            (
                answered.audio.as_ref().unwrap().rtp.crypto.clone().unwrap(),
                caller_side.audio.as_ref().unwrap().rtp.crypto.clone().unwrap(),
            )
        };
        assert_eq!(callee_keys.suite, SrtpSuite::AeadAes128Gcm);
        assert_eq!(caller_keys.suite, SrtpSuite::AeadAes128Gcm);
        assert_eq!(callee_keys.send_key(), decode(key));
        assert_eq!(callee_keys.recv_key(), their_key);
        assert_eq!(caller_keys.send_key(), callee_keys.recv_key());
        assert_eq!(caller_keys.recv_key(), callee_keys.send_key());
        assert_ne!(callee_keys.send_key(), callee_keys.recv_key());
    }
}

#[test]
fn the_offerers_order_decides_and_the_tag_is_echoed() {
    let cm32 = format!("7 AES_CM_128_HMAC_SHA1_32 inline:{}", b64(&[1; 30]));
    let gcm = format!("9 AEAD_AES_128_GCM inline:{}", b64(&[2; 28]));
    let ours = secure();
    let (text, n) = answer(&audio_offer("RTP/SAVP", &[cm32, gcm]), &ours).unwrap();
    let keys = n.audio.unwrap().rtp.crypto.unwrap();
    assert_eq!(keys.suite, SrtpSuite::AesCm128HmacSha1_32);
    assert_eq!(keys.recv_key(), [1; 30]);
    let lines = crypto_lines(&text, "audio");
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0].0.as_str(), lines[0].1.as_str()),
        ("7", "AES_CM_128_HMAC_SHA1_32")
    );
    assert_eq!(decode(&lines[0].2).len(), 30);
    assert!(text.contains("m=audio 10002 RTP/SAVP 0\r\n"), "{text}");
}

#[test]
fn lines_we_cannot_use_in_every_detail_are_skipped() {
    let k30 = b64(&[3; 30]);
    for bad in [
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", b64(&[3; 28])),
        format!("1 AEAD_AES_128_GCM inline:{k30}"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k30}|2^20|1:4"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k30}|1:4"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k30} KDR=1"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k30} UNENCRYPTED_SRTP"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k30};inline:{k30}"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k30}|2^31|2^31"),
        format!("1 AES_256_CM_HMAC_SHA1_80 inline:{}", b64(&[3; 46])),
        format!("1 aes_cm_128_hmac_sha1_80 inline:{k30}"),
        format!("1 AES_CM_128_HMAC_SHA1_80 INLINE:{k30}"),
        format!("1234567890 AES_CM_128_HMAC_SHA1_80 inline:{k30}"),
        format!("x AES_CM_128_HMAC_SHA1_80 inline:{k30}"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k30}|2^"),
        "1 AES_CM_128_HMAC_SHA1_80 inline:!!!notbase64!!!".into(),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", "A".repeat(4000)),
        "1 AES_CM_128_HMAC_SHA1_80".into(),
        String::new(),
    ] {
        let e = answer(&audio_offer("RTP/SAVP", std::slice::from_ref(&bad)), &secure()).unwrap_err();
        assert_eq!(e.status(), 488, "{bad}");
        assert!(e.to_string().contains("no SRTP key we support"), "{bad}: {e}");
        // The same line after a bad one is not reached for; a good one after it is.
        let good = format!("2 AES_CM_128_HMAC_SHA1_80 inline:{k30}");
        let (text, _) = answer(&audio_offer("RTP/SAVP", &[bad.clone(), good]), &secure()).unwrap();
        assert!(
            text.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:"),
            "{bad}: {text}"
        );
    }
    // A lifetime is accepted and ignored, with or without padding on the key.
    for ok in [
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k30}|2^31"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k30}|1048576"),
        format!("1 AEAD_AES_128_GCM inline:{}", b64(&[4; 28]).trim_end_matches('=')),
    ] {
        let (_, n) = answer(&audio_offer("RTP/SAVP", std::slice::from_ref(&ok)), &secure()).unwrap();
        assert!(n.audio.unwrap().rtp.crypto.is_some(), "{ok}");
    }
}

#[test]
fn a_secure_call_refuses_plain_media() {
    let key = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", b64(&[5; 30]));
    for offer in [
        build_offer(&local(None)),
        audio_offer("RTP/AVP", std::slice::from_ref(&key)),
        audio_offer("RTP/SAVPF", std::slice::from_ref(&key)),
    ] {
        let e = answer(&offer, &secure()).unwrap_err();
        assert!(matches!(e, SdpError::NotAcceptable(_)), "{e:?}");
        assert_eq!(e.status(), 488);
    }
    let e = answer(&build_offer(&local(None)), &secure()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no acceptable media: the other side offered unencrypted media to a secure call"
    );
    // Encrypted audio beside plain video: the audio goes ahead, the picture is refused.
    let offer = build_offer(&secure()).replacen("RTP/SAVP", "RTP/AVP", 1);
    let (text, n) = answer(&offer, &secure()).unwrap();
    assert!(n.video.is_none() && n.audio.unwrap().rtp.crypto.is_some());
    assert!(n.video_refused.unwrap().contains("unencrypted"));
    assert!(text.contains("m=video 0 RTP/AVP"), "{text}");
    // Our secure offer answered in the clear is refused too.
    let (plain_answer, _) = answer(&build_offer(&local(None)), &local(None)).unwrap();
    let e = apply_answer(&secure(), &plain_answer).unwrap_err();
    assert!(e.to_string().contains("unencrypted"), "{e}");
}

#[test]
fn a_call_without_keys_refuses_encrypted_media() {
    let offer = build_offer(&secure());
    assert!(offers_srtp(&offer));
    assert!(!offers_srtp(&build_offer(&local(None))));
    assert!(!offers_srtp("garbage"));
    assert!(!offers_srtp(
        &offer
            .replace("m=video 10000", "m=video 0")
            .replace("m=audio 10002", "m=audio 0")
    ));
    let e = answer(&offer, &local(None)).unwrap_err();
    assert_eq!(e.status(), 488);
    assert!(e.to_string().contains("encrypted media (RTP/SAVP)"), "{e}");
    // An answer that turns our plain offer into SRTP is not taken either.
    let (secure_answer, _) = answer(&offer, &secure()).unwrap();
    assert!(apply_answer(&local(None), &secure_answer).is_err());
}

#[test]
fn every_call_has_new_keys_and_one_call_keeps_its_own() {
    let (a, b) = (secure(), secure());
    assert_ne!(
        crypto_lines(&build_offer(&a), "video"),
        crypto_lines(&build_offer(&b), "video")
    );
    assert_ne!(a.crypto, b.crypto);
    // One call writes the same description twice (re-INVITE answers compare texts).
    let offer = build_offer(&secure());
    assert_eq!(answer(&offer, &a).unwrap().0, answer(&offer, &a).unwrap().0);
    assert_eq!(build_offer(&a), build_offer(&a));
}

#[test]
fn keys_never_show_in_debug_or_serde_output() {
    let (caller, callee) = (secure(), secure());
    let offer = build_offer(&caller);
    let (answer_text, n) = answer(&offer, &callee).unwrap();
    let back = apply_answer(&caller, &answer_text).unwrap();
    let keys: Vec<String> = ["video", "audio"]
        .iter()
        .flat_map(|m| crypto_lines(&offer, m).into_iter().chain(crypto_lines(&answer_text, m)))
        .map(|(_, _, k)| k)
        .collect();
    assert_eq!(keys.len(), 8);
    let shown = [
        format!("{caller:?}"),
        format!("{:?}", caller.crypto),
        format!("{n:?}"),
        format!("{back:#?}"),
        serde_json::to_string(&n).unwrap(),
        serde_json::to_string(&back).unwrap(),
    ];
    for text in &shown {
        for key in &keys {
            assert!(!text.contains(key.as_str()), "key {key} in {text}");
            let bytes = decode(key);
            assert!(!text.contains(&format!("{bytes:?}")[1..20]), "key bytes in {text}");
            assert!(!text.contains(&format!("{bytes:02x?}")[1..20]), "key bytes in {text}");
        }
    }
    assert!(shown[2].contains("<redacted>"), "{}", shown[2]);
    assert!(
        shown[4].contains(r#""crypto":{"suite":"AEAD_AES_128_GCM"}"#),
        "{}",
        shown[4]
    );
}

#[test]
fn suite_names_and_gstreamer_parameters() {
    for suite in SrtpSuite::OFFERED {
        assert_eq!(SrtpSuite::from_sdp_name(suite.sdp_name()), Some(suite));
    }
    assert_eq!(SrtpSuite::from_sdp_name("F8_128_HMAC_SHA1_80"), None);
    let gcm = SrtpSuite::AeadAes128Gcm;
    assert_eq!(
        (gcm.key_len(), gcm.rtp_cipher(), gcm.rtp_auth()),
        (28, "aes-128-gcm", "null")
    );
    let cm32 = SrtpSuite::AesCm128HmacSha1_32;
    assert_eq!((cm32.rtp_auth(), cm32.rtcp_auth()), ("hmac-sha1-32", "hmac-sha1-80"));
}
