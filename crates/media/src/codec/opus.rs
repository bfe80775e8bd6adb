//! Opus: 20 ms mono frames at 48 kHz, in-band FEC on, loss concealment on the receive side.

use opus::{Application, Bitrate, Channels, Decoder, Encoder};

use crate::frame::{AUDIO_FRAME_SAMPLES, SAMPLE_RATE};
use crate::{AudioFrame, MediaError, Result};

fn enc_err(e: opus::Error) -> MediaError {
    MediaError::Encoder { codec: "Opus", message: e.to_string() }
}

fn dec_err(e: opus::Error) -> MediaError {
    MediaError::Decoder { codec: "Opus", message: e.to_string() }
}

pub struct OpusEncoder {
    encoder: Encoder,
    buf: Vec<u8>,
}

impl OpusEncoder {
    pub fn new(bitrate_bps: u32) -> Result<Self> {
        let mut encoder = Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip).map_err(enc_err)?;
        encoder.set_bitrate(Bitrate::Bits(bitrate_bps as i32)).map_err(enc_err)?;
        encoder.set_inband_fec(true).map_err(enc_err)?;
        // FEC data is only added when the encoder expects loss.
        encoder.set_packet_loss_perc(10).map_err(enc_err)?;
        Ok(OpusEncoder { encoder, buf: vec![0; 4000] })
    }

    pub fn encode(&mut self, frame: &AudioFrame) -> Result<Vec<u8>> {
        let n = self.encoder.encode(&frame.samples, &mut self.buf).map_err(enc_err)?;
        Ok(self.buf[..n].to_vec())
    }

    pub fn set_bitrate(&mut self, bps: u32) -> Result<()> {
        self.encoder.set_bitrate(Bitrate::Bits(bps.clamp(6_000, 510_000) as i32)).map_err(enc_err)
    }
}

pub struct OpusDecoder {
    decoder: Decoder,
    buf: Vec<i16>,
}

impl OpusDecoder {
    pub fn new() -> Result<Self> {
        Ok(OpusDecoder { decoder: Decoder::new(SAMPLE_RATE, Channels::Mono).map_err(dec_err)?, buf: vec![0; 5760] })
    }

    pub fn decode(&mut self, packet: &[u8], timestamp: std::time::Duration) -> Result<AudioFrame> {
        let n = self.decoder.decode(packet, &mut self.buf, false).map_err(dec_err)?;
        Ok(AudioFrame { timestamp, samples: self.buf[..n].to_vec() })
    }

    /// A lost packet: rebuild it from the FEC data in the `next` packet if that has arrived, else conceal.
    pub fn conceal(&mut self, next: Option<&[u8]>, timestamp: std::time::Duration) -> Result<AudioFrame> {
        let out = &mut self.buf[..AUDIO_FRAME_SAMPLES];
        let n = match next {
            Some(next) => self.decoder.decode(next, out, true),
            None => self.decoder.decode(&[], out, false),
        }
        .map_err(dec_err)?;
        Ok(AudioFrame { timestamp, samples: out[..n].to_vec() })
    }
}
