//! Chat and files over the data channels of a real call.

mod common;

use std::path::PathBuf;

use common::*;
use sha2::{Digest, Sha256};
use tincan_engine::{EngineEvent, FileEvent};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tincan-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn ready(events: &mut tokio::sync::mpsc::UnboundedReceiver<EngineEvent>) {
    until(events, "data_ready", |e| matches!(e, EngineEvent::DataReady { .. }).then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_both_ways_and_a_20_mb_file_arrives_intact() {
    let server = server().await;
    let downloads = scratch("in");
    let quiet =
        |dir: &PathBuf| PeerOptions { video: false, audio: false, download_dir: dir.clone(), ..Default::default() };
    let mut p = connected_pair(&server.ws_url(), quiet(&downloads), quiet(&downloads)).await;
    ready(&mut p.a_events).await;
    ready(&mut p.b_events).await;

    let id = p.a.send_chat("Grüße aus A — ✓").await.unwrap();
    let (got_id, text) = until(&mut p.b_events, "chat at B", |e| match e {
        EngineEvent::Chat { id, text, outgoing: false, .. } => Some((id.clone(), text.clone())),
        _ => None,
    })
    .await;
    assert_eq!((got_id.as_str(), text.as_str()), (id.as_str(), "Grüße aus A — ✓"));
    until(&mut p.a_events, "receipt at A", |e| {
        matches!(e, EngineEvent::ChatDelivered { id: d } if *d == id).then_some(())
    })
    .await;
    p.b.send_chat("reply from B").await.unwrap();
    let text = until(&mut p.a_events, "chat at A", |e| match e {
        EngineEvent::Chat { text, outgoing: false, .. } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "reply from B");
    assert!(p.a.send_chat("   ").await.is_err(), "empty messages are refused");

    // 20 MB of pseudo-random bytes.
    let source = scratch("out").join("payload.bin");
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..20 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&source, &data).unwrap();
    let expected: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    drop(data);
    let started = std::time::Instant::now();
    let id = p.a.send_file(&source).await.unwrap();
    let (path, sha) = until(&mut p.b_events, "file at B", |e| match e {
        EngineEvent::File(FileEvent::Completed { id: i, path: Some(path), sha256, .. }) if *i == id => {
            Some((path.clone(), sha256.clone()))
        }
        EngineEvent::File(FileEvent::Failed { reason, .. }) => panic!("transfer failed: {reason}"),
        _ => None,
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("20 MB in {secs:.2} s ({:.1} MB/s, debug build)", 20.0 / secs);
    assert_eq!(sha, expected);
    let on_disk: String = Sha256::digest(std::fs::read(&path).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(on_disk, expected, "the saved file has the sent bytes");
    assert_eq!(path, downloads.join("payload.bin"));
    until(&mut p.a_events, "sender's confirmation", |e| match e {
        EngineEvent::File(FileEvent::Completed { id: i, outgoing: true, sha256, .. }) if *i == id => {
            Some(sha256.clone())
        }
        _ => None,
    })
    .await;

    // A cancelled transfer leaves nothing behind on either side.
    let id = p.a.send_file(&source).await.unwrap();
    until(&mut p.b_events, "second transfer starts", |e| {
        matches!(e, EngineEvent::File(FileEvent::Started { id: i, .. }) if *i == id).then_some(())
    })
    .await;
    p.b.cancel_file(id).unwrap();
    until(&mut p.b_events, "cancel at B", |e| {
        matches!(e, EngineEvent::File(FileEvent::Cancelled { id: i, .. }) if *i == id).then_some(())
    })
    .await;
    let by_peer = until(&mut p.a_events, "cancel at A", |e| match e {
        EngineEvent::File(FileEvent::Cancelled { id: i, by_peer, .. }) if *i == id => Some(*by_peer),
        EngineEvent::File(FileEvent::Completed { id: i, .. }) if *i == id => panic!("a cancelled transfer completed"),
        _ => None,
    })
    .await;
    assert!(by_peer);
    let left: Vec<_> = std::fs::read_dir(&downloads).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("payload.bin")], "no partial file stays");
    assert!(p.a.send_file("/nonexistent/file").await.is_err());

    p.b.hang_up();
    assert_eq!(state(&mut p.b_events, "ended").await.as_deref(), Some("hung_up"));
    assert_eq!(state(&mut p.a_events, "ended").await.as_deref(), Some("remote_hung_up"));
    server.shutdown().await;
}

/// Files in the directory, hidden temporary ones included.
fn listing(dir: &PathBuf) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_waits_for_the_receivers_yes_and_nothing_lands_unasked() {
    let server = server().await;
    let downloads = scratch("asked");
    let quiet = |policy| PeerOptions {
        video: false,
        audio: false,
        download_dir: downloads.clone(),
        file_policy: policy,
        ..Default::default()
    };
    let mut p = connected_pair(
        &server.ws_url(),
        quiet(tincan_engine::FilePolicy::Accept),
        quiet(tincan_engine::FilePolicy::Ask),
    )
    .await;
    ready(&mut p.a_events).await;
    ready(&mut p.b_events).await;
    let source = scratch("offered").join("notes.txt");
    std::fs::write(&source, "meet at noon\n".repeat(10_000)).unwrap();

    // Declined: the sender hears it, nothing was written.
    let id = p.a.send_file(&source).await.unwrap();
    let (name, size, a_id) = until(&mut p.b_events, "the offer", |e| match e {
        EngineEvent::File(FileEvent::Offered { id: i, name, size, peer }) if *i == id => {
            Some((name.clone(), *size, peer.clone()))
        }
        _ => None,
    })
    .await;
    assert_eq!((name.as_str(), size), ("notes.txt", 130_000));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(listing(&downloads).is_empty(), "written before anyone said yes: {:?}", listing(&downloads));
    // An answer names the sender: the same id from someone else is another offer.
    p.b.accept_file("someone-else", id).unwrap();
    p.b.decline_file(&a_id, id).unwrap();
    until(&mut p.a_events, "the decline at the sender", |e| {
        matches!(e, EngineEvent::File(FileEvent::Cancelled { id: i, outgoing: true, by_peer: true }) if *i == id)
            .then_some(())
    })
    .await;
    assert!(listing(&downloads).is_empty());

    // Accepted: it arrives whole.
    let id = p.a.send_file(&source).await.unwrap();
    until(&mut p.b_events, "the second offer", |e| {
        matches!(e, EngineEvent::File(FileEvent::Offered { id: i, .. }) if *i == id).then_some(())
    })
    .await;
    p.b.accept_file(&a_id, id).unwrap();
    let path = until(&mut p.b_events, "the file", |e| match e {
        EngineEvent::File(FileEvent::Completed { id: i, path: Some(path), .. }) if *i == id => Some(path.clone()),
        EngineEvent::File(FileEvent::Failed { reason, .. }) => panic!("transfer failed: {reason}"),
        _ => None,
    })
    .await;
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&source).unwrap());
    std::fs::remove_file(&path).unwrap();

    // Ten offers at once: four wait for an answer, the rest are declined at once; nothing is written.
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(p.a.send_file(&source).await.unwrap());
    }
    let mut declined = 0;
    let mut offered = Vec::new();
    while declined + offered.len() < 10 {
        match until(&mut p.b_events, "answers to ten offers", |e| match e {
            EngineEvent::File(f @ (FileEvent::Offered { .. } | FileEvent::Declined { .. })) => Some(f.clone()),
            _ => None,
        })
        .await
        {
            FileEvent::Offered { id, .. } => offered.push(id),
            _ => declined += 1,
        }
    }
    assert_eq!((offered.len(), declined), (tincan_engine::data::files::MAX_INCOMING, 6));
    assert!(listing(&downloads).is_empty());

    // One accepted and under way when B hangs up: its temporary file goes with the call.
    let big = scratch("big").join("big.bin");
    std::fs::write(&big, vec![7u8; 64 << 20]).unwrap();
    for id in &offered {
        p.b.decline_file(&a_id, *id).unwrap();
    }
    // B has let them go (its answers and A's next offer race otherwise: a fifth offer is refused).
    for _ in 0..offered.len() {
        until(&mut p.b_events, "the declines done", |e| {
            matches!(e, EngineEvent::File(FileEvent::Declined { id, .. }) if offered.contains(id)).then_some(())
        })
        .await;
    }
    let id = p.a.send_file(&big).await.unwrap();
    until(&mut p.b_events, "the big offer", |e| {
        matches!(e, EngineEvent::File(FileEvent::Offered { id: i, .. }) if *i == id).then_some(())
    })
    .await;
    p.b.accept_file(&a_id, id).unwrap();
    until(&mut p.b_events, "the transfer's start", |e| {
        matches!(e, EngineEvent::File(FileEvent::Started { id: i, outgoing: false, .. }) if *i == id).then_some(())
    })
    .await;
    // Looked at before hanging up: the hang-up removes it at once (CI once saw it gone already).
    let during = listing(&downloads);
    p.b.hang_up();
    assert!(during.len() == 1 && during[0].ends_with(".part"), "the temporary file while it arrives: {during:?}");
    until(&mut p.b_events, "the end", |e| {
        matches!(e, EngineEvent::State { state, .. } if state == "ended").then_some(())
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while !listing(&downloads).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(listing(&downloads).is_empty(), "left behind: {:?}", listing(&downloads));
}
