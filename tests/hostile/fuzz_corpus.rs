//! Replays the fuzz corpus (tests/fuzz/corpus/) and every input fuzzing ever found a
//! fault with (tests/fuzz/regressions/) through the fuzz targets' checks, on every
//! `cargo test`: a fixed fault stays fixed even where cargo-fuzz does not run.

use crate::targets;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut seen = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails its check", path.display());
            seen += 1;
        }
    }
    assert!(seen > 0, "{target}: no corpus under {}", root.display());
    eprintln!("{target}: {seen} inputs replayed");
}

#[test]
fn sdp_corpus_and_regressions_hold() {
    replay("sdp", targets::check_sdp);
}

#[test]
fn sip_request_corpus_and_regressions_hold() {
    replay("sip_request", targets::check_sip_request);
    replay("sip_request", targets::check_sip_stream);
}

#[test]
fn rtp_gate_corpus_and_regressions_hold() {
    replay("rtp_gate", targets::check_rtp_gate);
}

#[test]
fn config_corpus_and_regressions_hold() {
    replay("config", targets::check_config);
}
