//! Strangers and broken peers on the LAN: what they send must not stop a station, freeze
//! its call or keep it ringing. Each test is a bug a stranger could once cause.

use crate::common::stranger::{offer, Stranger};
use crate::common::*;
use doorway::api::loopback as demo;
use doorway::station::Command;
use std::time::Duration;

const H264: &str = "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_types_beyond_127_cannot_stop_the_station() {
    let _serial = SERIAL.lock().await;
    // Hall answers Door at once: the offer reaches the media layer without a key press.
    let (a, b) = pair(|_, door| door.auto_answer = true).await;
    let door_uri = format!("sip:door@127.0.0.1:{}", a.handle.sip_addr.port());
    let stranger = Stranger::new(b.handle.sip_addr.port());

    // Only audio, at payload type 128: nothing usable, so 488.
    let audio_128 = "m=audio 4000 RTP/AVP 128\r\na=rtpmap:128 opus/48000/2\r\n";
    let invite = stranger.request("INVITE", &door_uri, "pt128-a", 1, Some(&offer(audio_128)));
    stranger.send(invite.as_bytes());
    let status = stranger.final_status(Duration::from_secs(3));
    assert!(
        status.as_deref().is_some_and(|s| s.starts_with("SIP/2.0 488")),
        "{status:?}"
    );

    // Audio at 255 beside usable video: answered with video only, and the station lives.
    let mixed = format!("m=audio 4000 RTP/AVP 255\r\na=rtpmap:255 PCMU/8000\r\n{H264}");
    let invite = stranger.request("INVITE", &door_uri, "pt255-b", 1, Some(&offer(&mixed)));
    stranger.send(invite.as_bytes());
    let status = stranger.final_status(Duration::from_secs(5));
    assert!(
        status.as_deref().is_some_and(|s| s.starts_with("SIP/2.0 200")),
        "{status:?}"
    );
    let s = b.wait(5, active).await;
    let negotiated = s.media.unwrap().negotiated.unwrap();
    assert!(negotiated.audio.is_none() && negotiated.video.is_some());
    b.send(Command::Hangup);
    b.wait(5, idle).await;

    // A real call still works.
    a.handle.call("Hall").await.unwrap().unwrap();
    let sa = a.wait(15, |s| active(s) && seen(s) >= 10).await;
    assert!(active(&sa));
    a.send(Command::Hangup);
    b.wait(5, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_vanishes_rings_no_longer_than_the_ring_timeout() {
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (demo::free_sip_port(), demo::free_sip_port());
    let mut hall_config = demo::loopback_config("Hall", pb, vec![demo::contact("Door", pa)]);
    hall_config.station.incoming_ring_timeout_secs = 2;
    let b = Station::start(hall_config).await;
    let a = Station::start(demo::loopback_config("Door", pa, vec![demo::contact("Hall", pb)])).await;

    // Door's address rings Hall, then goes quiet: no CANCEL ever comes.
    let stranger = Stranger::new(pb);
    let door_uri = format!("sip:door@127.0.0.1:{pa}");
    let invite = stranger.request("INVITE", &door_uri, "vanish", 1, Some(&offer(H264)));
    stranger.send(invite.as_bytes());
    b.wait(5, ringing).await;
    let started = std::time::Instant::now();
    let s = b.wait(6, idle).await;
    let rang = started.elapsed();
    assert!(idle(&s), "still ringing after {rang:?}");
    assert!(rang < Duration::from_secs(4), "rang {rang:?}");
    let missed = s.missed_call.unwrap_or_default();
    assert!(missed.contains("missed call from Door"), "{missed}");
    let status = stranger.final_status(Duration::from_secs(2));
    assert!(
        status.as_deref().is_some_and(|s| s.starts_with("SIP/2.0 480")),
        "{status:?}"
    );

    // The next real caller rings instead of hearing busy.
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    b.send(Command::Answer);
    a.wait(10, active).await;
    a.send(Command::Hangup);
    b.wait(5, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_answered_elsewhere_stops_ringing_without_a_missed_call() {
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (demo::free_sip_port(), demo::free_sip_port());
    let b = Station::start(demo::loopback_config("Hall", pb, vec![demo::contact("Door", pa)])).await;
    // A forking proxy (or a ring group) rings Hall for Door, then another station
    // answers: the CANCEL says so (RFC 3326).
    let proxy = Stranger::new(pb);
    let door_uri = format!("sip:door@127.0.0.1:{pa}");
    let invite = proxy.request("INVITE", &door_uri, "forked", 1, Some(&offer(H264)));
    proxy.send(invite.as_bytes());
    b.wait(5, ringing).await;
    let head = invite.split("Content-Type").next().unwrap();
    let cancel = head
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        + "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\nContent-Length: 0\r\n\r\n";
    let started = std::time::Instant::now();
    proxy.send(cancel.as_bytes());
    let s = b.wait(5, idle).await;
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(s.last_message.as_deref(), Some("Door's call was answered elsewhere"));
    assert_eq!(s.missed_call, None);
    b.stop().await;
}

/// Random bytes, RTP-shaped packets of other payload types, and RTP of the call's own
/// payload types from another sender (SSRC), with garbage payloads.
fn junk_datagrams(video_pt: u8, audio_pt: u8) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..100u32 {
        let noise: Vec<u8> = (0..200u32).map(|j| (i * 7919 + j * 104729) as u8).collect();
        out.push(noise.clone());
        for pt in [77u8, video_pt, audio_pt] {
            let mut p = vec![
                0x80,
                pt,
                (i >> 8) as u8,
                i as u8,
                0,
                0,
                0,
                i as u8,
                0xde,
                0xad,
                0xbe,
                0xef,
            ];
            p.extend_from_slice(&noise);
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_the_media_ports_does_not_freeze_the_call() {
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|_, _| {}).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    b.send(Command::Answer);
    let sb = b.wait(15, |s| active(s) && decoded(s) >= 20).await;
    let negotiated = sb.media.clone().unwrap().negotiated.unwrap();
    let video = negotiated.video.unwrap();
    let audio = negotiated.audio.unwrap();

    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in junk_datagrams(video.rtp.recv_pt, audio.rtp.recv_pt) {
        for port in [video.rtp.local_port, audio.rtp.local_port] {
            socket.send_to(&datagram, ("127.0.0.1", port)).unwrap();
            socket.send_to(&datagram, ("127.0.0.1", port + 1)).unwrap();
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let before = b.status().await;
    let played_before = before.media.as_ref().map(|m| m.samples_played).unwrap_or(0);
    // Pictures and sound keep coming.
    let after = b
        .wait(10, |s| {
            decoded(s) >= decoded(&before) + 30
                && s.media
                    .as_ref()
                    .is_some_and(|m| m.samples_played > played_before + 48_000)
        })
        .await;
    assert!(active(&after), "{:?}", after.last_message);
    assert!(decoded(&after) >= decoded(&before) + 30, "video froze");
    let media = after.media.unwrap();
    assert!(media.samples_played > played_before + 48_000, "sound stopped");
    assert!(media.packets_dropped >= 600, "dropped {}", media.packets_dropped);
    a.send(Command::Hangup);
    b.wait(5, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_capped_and_timed_out() {
    use std::io::{Read, Write};
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|_, _| {}).await;
    let target = b.handle.sip_addr;
    // A hundred connections from one address: only a few stay open.
    let held: Vec<std::net::TcpStream> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(target).ok())
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let open_now = b.status().await.sip.tcp_connections;
    assert!(open_now <= 8, "{open_now} connections open from one address");
    let refused = held
        .iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut stream: &std::net::TcpStream = s;
            match stream.read(&mut [0u8; 16]) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            }
        })
        .count();
    assert!(refused >= 90, "only {refused} of 100 refused");
    drop(held);
    // They are forgotten once closed.
    let s = b.wait(5, |s| s.sip.tcp_connections == 0).await;
    assert_eq!(s.sip.tcp_connections, 0);
    // A connection that dribbles a byte a second never completes a request: it is closed.
    let mut slow = std::net::TcpStream::connect(target).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(900))).unwrap();
    let started = std::time::Instant::now();
    let mut closed = false;
    for byte in b"OPTIONS sip:hall@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKslow\r\n"
        .iter()
        .cycle()
    {
        if slow.write_all(&[*byte]).is_err() || matches!(slow.read(&mut [0u8; 64]), Ok(0)) {
            closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let took = started.elapsed();
    assert!(closed, "a dribbling connection stayed open for {took:?}");
    // Closed for its silence (10 s to a complete request), not refused at the door.
    assert!(
        took > Duration::from_secs(9) && took < Duration::from_secs(14),
        "closed after {took:?}"
    );
    // Everything is released.
    let s = b.wait(5, |s| s.sip.tcp_connections == 0).await;
    assert_eq!(s.sip.tcp_connections, 0);
    a.stop().await;
    b.stop().await;
}
