//! Inbound RTCP reaches the application only if an interceptor marks it for delivery; webrtc 0.21's default
//! chain consumes it (after using it). This one, placed after the defaults, delivers what the engine acts
//! on: keyframe requests (PLI/FIR, for the encoder) and sender reports (their RTP-to-wall-clock pairs, for
//! lip sync). Nothing else goes on.
//!
//! webrtc routes a delivered compound packet by the first SSRC its first part names. A sender report names
//! the reception-report blocks' SSRCs first (ours, when the peer also receives from us: browsers send such
//! reports), which would route it to our own sending track. So each sender report is delivered on its own,
//! without its reception blocks (the report interceptors have read those already), and keyframe requests
//! in a message of their own.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

#[derive(Default)]
pub struct RtcpForwarder {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        let Packet::Rtcp(packets) = &msg.message.packet else {
            self.read.push_back(msg);
            return Ok(());
        };
        let deliver = |packets: Vec<Box<dyn rtc::rtcp::Packet>>| {
            let mut message = msg.message.clone();
            message.packet = Packet::Rtcp(packets);
            message.add(Attribute::DeliverToApplication);
            TaggedPacket { now: msg.now, transport: msg.transport, message }
        };
        let keyframe_requests: Vec<Box<dyn rtc::rtcp::Packet>> =
            packets.iter().filter(|p| is_keyframe_request(p.as_ref())).cloned().collect();
        if !keyframe_requests.is_empty() {
            self.read.push_back(deliver(keyframe_requests));
        }
        for report in packets.iter().filter_map(|p| p.as_any().downcast_ref::<SenderReport>()) {
            let alone = SenderReport { reports: Vec::new(), profile_extensions: Default::default(), ..report.clone() };
            self.read.push_back(deliver(vec![Box::new(alone)]));
        }
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for RtcpForwarder {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}
