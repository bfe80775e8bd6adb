//! A hostile participant: a raw webrtc-rs peer that joins the room through the real signaling server and
//! speaks the engine's wire formats by hand, to do what a Tincan engine never would. The engine under test is
//! a real `Call`; what it must hold to is checked from outside.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use rtc::media::Sample;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tincan_engine::data::files::CHUNK;
use tincan_engine::data::{CONTROL_STREAM, FILES_STREAM};
use tincan_engine::peer::{PeerEvent, PeerSettings, VideoTrack, add_track, build_peer, codec_parameters};
use tincan_engine::{Call, EngineEvent, FileEvent, FilePolicy, Target};
use tincan_media::codec::VideoCodec;
use tincan_signal::client::{ClientConfig, ClientEvent, SignalClient};
use tincan_signal::code::RoomCode;
use tincan_signal::protocol::{PeerId, ServerMessage, SignalKind};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

/// The raw peer, connected to the engine: its signaling client, its connection, its `files` channel.
struct Hostile {
    _client: SignalClient,
    pc: Arc<dyn PeerConnection>,
    files: Arc<dyn DataChannel>,
    tracks: Vec<VideoTrack>,
}

async fn next_message(events: &mut mpsc::Receiver<ClientEvent>) -> ServerMessage {
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await.expect("a server message in time") {
            Some(ClientEvent::Message(m)) => return m,
            Some(_) => continue,
            None => panic!("the signaling client stopped"),
        }
    }
}

/// Join `room` (where the engine waits), offer with `video_tracks` VP8 tracks and the engine's two
/// negotiated channels, and wait until both channels are open.
async fn join(url: &str, room: &RoomCode, video_tracks: usize) -> Hostile {
    let (client, mut events) = SignalClient::connect(ClientConfig::new(url, "hostile"));
    client.join(room, false, None, Some("Mallory".into())).expect("join");
    let engine: PeerId = loop {
        if let ServerMessage::Joined { peers, .. } = next_message(&mut events).await {
            break peers.first().expect("the engine is in the room").id.clone();
        }
    };
    let peer = build_peer(&PeerSettings::loopback()).await.expect("peer");
    let (pc, mut peer_events) = (peer.pc, peer.events);
    let channel = |label: &'static str, id: u16| {
        let pc = pc.clone();
        async move {
            let init = RTCDataChannelInit { ordered: true, negotiated: Some(id), ..Default::default() };
            pc.create_data_channel(label, Some(init)).await.expect("channel")
        }
    };
    let control = channel("control", CONTROL_STREAM).await;
    let files = channel("files", FILES_STREAM).await;
    let mut tracks = Vec::new();
    for _ in 0..video_tracks {
        let codec = codec_parameters(VideoCodec::Vp8).rtp_codec;
        tracks.push(add_track(&pc, RtpCodecKind::Video, codec).await.expect("track"));
    }
    let offer = pc.create_offer(None).await.expect("offer");
    pc.set_local_description(offer.clone()).await.expect("local");
    client
        .signal(Some(engine.clone()), SignalKind::Offer, json!({"type": "offer", "sdp": offer.sdp}))
        .await
        .expect("offer sent");
    // Candidates out, as they come; the answer and the engine's candidates in.
    let (out_client, out_to) = (client.clone(), engine.clone());
    tokio::spawn(async move {
        while let Some(e) = peer_events.recv().await {
            if let PeerEvent::Candidate(c) = e {
                let _ = out_client.signal(Some(out_to.clone()), SignalKind::Candidate, c).await;
            }
        }
    });
    let in_pc = pc.clone();
    tokio::spawn(async move {
        let mut early = Vec::new();
        let mut answered = false;
        while let Some(event) = events.recv().await {
            let ClientEvent::Message(ServerMessage::Signal { kind, data, .. }) = event else { continue };
            match kind {
                SignalKind::Answer => {
                    let sdp = data["sdp"].as_str().unwrap_or_default().to_owned();
                    in_pc
                        .set_remote_description(RTCSessionDescription::answer(sdp).expect("sdp"))
                        .await
                        .expect("answer");
                    answered = true;
                    for c in early.drain(..) {
                        let _ = in_pc.add_ice_candidate(c).await;
                    }
                }
                SignalKind::Candidate => {
                    let Ok(c) = serde_json::from_value(data) else { continue };
                    if answered {
                        let _ = in_pc.add_ice_candidate(c).await;
                    } else {
                        early.push(c);
                    }
                }
                _ => {}
            }
        }
    });
    for dc in [&control, &files] {
        tokio::time::timeout(WAIT, async {
            loop {
                match dc.poll().await {
                    Some(DataChannelEvent::OnOpen) => break,
                    Some(_) => continue,
                    None => panic!("channel closed before opening"),
                }
            }
        })
        .await
        .expect("the engine's channels open");
    }
    Hostile { _client: client, pc, files, tracks }
}

impl Hostile {
    async fn send_json(&self, v: Value) {
        self.files.send_text(&v.to_string()).await.expect("file message sent");
    }

    async fn send_chunk(&self, id: u64, data: &[u8]) {
        let mut chunk = BytesMut::with_capacity(8 + data.len());
        chunk.put_u64(id);
        chunk.put_slice(data);
        self.files.send(chunk).await.expect("chunk sent");
    }

    /// The next text message on the `files` channel.
    async fn file_message(&self) -> Value {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.files.poll().await {
                    Some(DataChannelEvent::OnMessage(m)) if m.is_string => {
                        return serde_json::from_slice(&m.data).expect("JSON");
                    }
                    Some(_) => continue,
                    None => panic!("files channel closed"),
                }
            }
        })
        .await
        .expect("a file message in time")
    }
}

/// The engine, alone in a fresh room, taking files into `dir` (when `files` says so) and sending nothing.
async fn engine_waiting(url: &str, dir: &std::path::Path) -> (RoomCode, Call, mpsc::UnboundedReceiver<EngineEvent>) {
    let options = PeerOptions {
        video: false,
        audio: false,
        download_dir: dir.to_owned(),
        file_policy: FilePolicy::Accept,
        ..Default::default()
    };
    let (config, _) = config(url, "Vic", &options);
    let room = RoomCode::generate();
    let (call, mut events) = Call::start(config, Target::Room { code: room.clone(), create: true });
    state(&mut events, "waiting").await;
    (room, call, events)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tincan-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A transfer id offered again while its transfer runs is refused, and so is an offer from a sender that will
/// not wait for the answer; the first transfer is untouched and arrives whole, and nothing else is left in
/// the folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_transfer_id_or_an_offer_that_will_not_wait_is_refused_and_the_first_transfer_survives() {
    let server = server().await;
    let dir = temp_dir("reuse");
    let (room, call, mut events) = engine_waiting(&server.ws_url(), &dir).await;
    let mallory = join(&server.ws_url(), &room, 0).await;

    let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let sha256: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    mallory.send_json(json!({"type": "offer", "id": 7, "name": "first.bin", "size": data.len(), "waits": true})).await;
    let accepted = mallory.file_message().await;
    assert_eq!((accepted["type"].as_str(), accepted["id"].as_u64()), (Some("accept"), Some(7)), "{accepted}");
    for chunk in data[..100_000].chunks(CHUNK) {
        mallory.send_chunk(7, chunk).await;
    }
    // The same id again, for another file: refused, and said so.
    mallory.send_json(json!({"type": "offer", "id": 7, "name": "second.bin", "size": 50_000, "waits": true})).await;
    let refused = mallory.file_message().await;
    assert_eq!((refused["type"].as_str(), refused["id"].as_u64()), (Some("cancel"), Some(7)), "{refused}");
    assert!(refused["reason"].as_str().is_some_and(|r| r.contains("used before")), "{refused}");
    until(&mut events, "the refusal", |e| match e {
        EngineEvent::File(FileEvent::Declined { id: 7, reason, .. }) => Some(reason.clone()),
        _ => None,
    })
    .await;
    // A sender that does not say it waits for the answer (an older Tincan, which streams at once): refused at
    // once, not after its data stalled.
    mallory.send_json(json!({"type": "offer", "id": 8, "name": "eager.bin", "size": 10})).await;
    let refused = mallory.file_message().await;
    assert_eq!((refused["type"].as_str(), refused["id"].as_u64()), (Some("cancel"), Some(8)), "{refused}");
    assert!(refused["reason"].as_str().is_some_and(|r| r.contains("needs an update")), "{refused}");
    // The first transfer goes on and arrives whole.
    for chunk in data[100_000..].chunks(CHUNK) {
        mallory.send_chunk(7, chunk).await;
    }
    mallory.send_json(json!({"type": "done", "id": 7, "sha256": sha256})).await;
    let result = mallory.file_message().await;
    assert_eq!((result["type"].as_str(), result["ok"].as_bool()), (Some("result"), Some(true)), "{result}");
    let path = until(&mut events, "the file", |e| match e {
        EngineEvent::File(FileEvent::Completed { id: 7, path: Some(p), .. }) => Some(p.clone()),
        _ => None,
    })
    .await;
    assert_eq!(std::fs::read(&path).unwrap(), data);
    let left: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, vec!["first.bin".to_owned()], "only the file that was taken");
    call.hang_up();
    let _ = mallory.pc.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}

/// Threads of this process whose name is `name` (Linux names a thread in /proc/self/task/*/comm).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

/// Ten video tracks from one participant: the first is their camera, each later one their screen share,
/// which replaces the share before it (a participant shares one thing at a time). So two decoders run,
/// however many tracks come — never one per track.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_cannot_make_the_engine_start_a_decoder_per_track_without_end() {
    let server = server().await;
    let dir = temp_dir("tracks");
    let decoders_before = threads_named("vp8-decoder");
    let (room, call, mut events) = engine_waiting(&server.ws_url(), &dir).await;
    let mallory = join(&server.ws_url(), &room, 10).await;
    // A frame on every track now and then (garbage to a decoder, but RTP that opens the track).
    let mut outlets = Vec::new();
    for t in &mallory.tracks {
        let params = t.sender.get_parameters().await.expect("parameters");
        let pt = params.rtp_parameters.codecs.first().expect("a negotiated codec").payload_type;
        outlets.push((t.track.clone(), t.ssrc, pt));
    }
    let started = Instant::now();
    let decoders = || threads_named("vp8-decoder").saturating_sub(decoders_before);
    let mut shares = 0;
    let mut two_since: Option<Instant> = None;
    // Every track's frames keep coming: the decoders reach two (camera and the latest share) and stay there
    // for two seconds, never more than the four tracks a participant may have playing.
    while two_since.is_none_or(|t| t.elapsed() < Duration::from_secs(2)) {
        assert!(started.elapsed() < WAIT, "{} decoder threads, not 2, after {WAIT:?}", decoders());
        for (track, ssrc, pt) in &outlets {
            let sample = Sample {
                data: Bytes::from_static(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]),
                duration: Duration::from_millis(50),
                ..Sample::new(Instant::now())
            };
            let _ = track.sample_writer(*ssrc, *pt).write_sample(&sample).await;
        }
        while let Ok(e) = events.try_recv() {
            if matches!(e, EngineEvent::Share { sharing: true, .. }) {
                shares += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = decoders();
        assert!(now <= 4, "{now} decoder threads for ten tracks");
        if now == 2 && shares >= 9 {
            two_since.get_or_insert_with(Instant::now);
        } else {
            two_since = None;
        }
    }
    call.hang_up();
    let _ = mallory.pc.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}
