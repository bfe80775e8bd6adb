//! VP8 through libvpx (Debian's libvpx-dev, raw bindings from `env-libvpx-sys`). Thin bindings of our own:
//! the `vpx-encode` crate hides the realtime speed setting and forced keyframes, which a call needs.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_uint, c_ulong};
use std::ptr;
use std::time::Duration;

use vpx_sys::*;

use super::motion::MotionWatch;
use super::{Content, EncodedVideo, EncoderSettings, VideoCodec, VideoDecoder, VideoEncoder};
use crate::{MediaError, Result, VideoFrame};

/// 90 kHz: the RTP video clock, so frame timestamps map one to one.
const TIMEBASE: i32 = 90_000;
/// Realtime speed: libvpx's `-6` is what WebRTC uses on x86 (fixed speed 6).
const CPU_USED: c_int = -6;
/// A screen share encodes fastest: in screen-content mode the slower searches bought nothing for text. In
/// `tincan-share-bench` (1920x1080 text, release, 3 runs each) -16 against -6: capture → decoded p50 45–48 ms
/// (52–56), sender CPU 27–32 % of a core (32–40), luma PSNR 37.4–38.3 dB (36.5–37.4).
const SCREEN_CPU_USED: c_int = -16;

fn error(codec_err: vpx_codec_err_t, ctx: &mut vpx_codec_ctx_t) -> String {
    // SAFETY: libvpx returns static or context-owned NUL-terminated strings.
    unsafe {
        let what = CStr::from_ptr(vpx_codec_err_to_string(codec_err)).to_string_lossy().into_owned();
        let detail = vpx_codec_error_detail(ctx);
        if detail.is_null() { what } else { format!("{what}: {}", CStr::from_ptr(detail).to_string_lossy()) }
    }
}

/// A libvpx context owned by one Rust value.
struct Context(Box<vpx_codec_ctx_t>);

// SAFETY: the context is only used through `&mut self` of its owner; libvpx contexts may move between threads.
unsafe impl Send for Context {}

impl Context {
    fn zeroed() -> Self {
        // SAFETY: an all-zero vpx_codec_ctx_t is the documented "not initialised" state.
        Context(Box::new(unsafe { MaybeUninit::zeroed().assume_init() }))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: destroying an initialised (or zeroed: returns an error) context once.
        unsafe { vpx_codec_destroy(&mut *self.0) };
    }
}

pub struct Vp8Encoder {
    ctx: Context,
    cfg: vpx_codec_enc_cfg_t,
    settings: EncoderSettings,
    /// A share: whether its frames come as motion.
    watch: MotionWatch,
}

/// A share's quantizer ceiling for text: fine strokes stay legible (the rate control drops frames first).
const SCREEN_MAX_Q: u32 = 52;
/// ... and for motion (frames come at about 30 a second): coarser pictures before fewer of them.
/// `screen_share`'s motion test (a 640x360 video on a 1280x720 share for 5 s while the bandwidth estimate
/// climbs from 1.0 to 1.7 Mbit/s): 24–25 fps arrived, against 19–22 with the text ceiling.
const SCREEN_MOTION_MAX_Q: u32 = 63;

// SAFETY: the configuration's only pointers are the unused two-pass buffers (null); the context is Send.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    pub fn new(settings: EncoderSettings) -> Result<Self> {
        let fail = |m: String| MediaError::Encoder { codec: "VP8", message: m };
        // SAFETY: the calls follow libvpx's encoder life cycle: default config, init, controls.
        unsafe {
            let iface = vpx_codec_vp8_cx();
            let mut cfg = MaybeUninit::<vpx_codec_enc_cfg_t>::uninit();
            if vpx_codec_enc_config_default(iface, cfg.as_mut_ptr(), 0) != VPX_CODEC_OK {
                return Err(fail("no default configuration".into()));
            }
            let mut cfg = cfg.assume_init();
            cfg.g_w = settings.width;
            cfg.g_h = settings.height;
            // One thread: libvpx's VP8 worker threads spin-wait, which on a shared 2-core machine ate 90 % of the
            // CPU of a 320x240 call (measured with perf); one core encodes 720p30 in real time.
            cfg.g_threads = 1;
            cfg.g_timebase = vpx_rational { num: 1, den: TIMEBASE };
            cfg.rc_end_usage = vpx_rc_mode::VPX_CBR;
            cfg.rc_target_bitrate = (settings.bitrate_bps / 1000).max(1);
            cfg.g_lag_in_frames = 0;
            cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
            cfg.rc_min_quantizer = 2;
            // A screen's text must stay legible: a lower ceiling, and frames dropped rather than smeared
            // (WebRTC's screenshare settings for VP8).
            cfg.rc_max_quantizer = if settings.content == Content::Screen { SCREEN_MAX_Q } else { 56 };
            cfg.rc_undershoot_pct = 100;
            cfg.rc_overshoot_pct = 15;
            cfg.rc_buf_initial_sz = 500;
            cfg.rc_buf_optimal_sz = 600;
            cfg.rc_buf_sz = 1000;
            cfg.rc_dropframe_thresh = if settings.content == Content::Screen { 30 } else { 0 };
            cfg.kf_mode = vpx_kf_mode::VPX_KF_AUTO;
            cfg.kf_max_dist = 3000;
            let mut ctx = Context::zeroed();
            let rc = vpx_codec_enc_init_ver(&mut *ctx.0, iface, &cfg, 0, VPX_ENCODER_ABI_VERSION as c_int);
            if rc != VPX_CODEC_OK {
                return Err(fail(error(rc, &mut ctx.0)));
            }
            let speed = if settings.content == Content::Screen { SCREEN_CPU_USED } else { CPU_USED };
            vpx_codec_control_(&mut *ctx.0, vp8e_enc_control_id::VP8E_SET_CPUUSED as c_int, speed);
            vpx_codec_control_(&mut *ctx.0, vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY as c_int, 0 as c_uint);
            vpx_codec_control_(&mut *ctx.0, vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD as c_int, 1 as c_uint);
            vpx_codec_control_(
                &mut *ctx.0,
                vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT as c_int,
                300 as c_uint,
            );
            if settings.content == Content::Screen {
                // Screen-content mode: palette-like text and still regions; a still screen costs nearly nothing.
                vpx_codec_control_(
                    &mut *ctx.0,
                    vp8e_enc_control_id::VP8E_SET_SCREEN_CONTENT_MODE as c_int,
                    1 as c_uint,
                );
            }
            Ok(Vp8Encoder { ctx, cfg, settings, watch: MotionWatch::new() })
        }
    }
}

impl VideoEncoder for Vp8Encoder {
    fn codec(&self) -> VideoCodec {
        VideoCodec::Vp8
    }

    fn encode(&mut self, frame: &VideoFrame, keyframe: bool) -> Result<Option<EncodedVideo>> {
        if frame.width != self.cfg.g_w || frame.height != self.cfg.g_h {
            // libvpx cannot grow a running encoder: start a new one at the new size.
            let settings = EncoderSettings { width: frame.width, height: frame.height, ..self.settings };
            *self = Vp8Encoder::new(settings)?;
        }
        let fail = |m: String| MediaError::Encoder { codec: "VP8", message: m };
        if self.settings.content == Content::Screen
            && let Some(motion) = self.watch.frame(frame.timestamp)
        {
            self.follow_motion(motion);
        }
        let (w, h) = (frame.width, frame.height);
        let pts = (frame.timestamp.as_micros() as i64 * TIMEBASE as i64) / 1_000_000;
        // How long a frame shows, for the rate control: libvpx takes the rate from the gaps between frames'
        // ends, so a constant duration leaves it the real gaps; it counts alone for the first frame. A share's
        // first is text's (15 a second): its keyframe's quality stays on every block that does not change
        // (static threshold), and at 1/30 s text lost 0.4 dB luma PSNR in screen_share.
        let fps = if self.settings.content == Content::Screen { self.settings.fps.min(15) } else { self.settings.fps };
        let duration = (TIMEBASE as u32 / fps.max(1)) as c_ulong;
        // SAFETY: the image points into `frame`, which outlives the encode call; libvpx only reads it.
        unsafe {
            let mut img = MaybeUninit::<vpx_image_t>::uninit();
            let data = frame.data().as_ptr() as *mut u8;
            if vpx_img_wrap(img.as_mut_ptr(), vpx_img_fmt::VPX_IMG_FMT_I420, w, h, 1, data).is_null() {
                return Err(fail("cannot wrap the frame".into()));
            }
            let mut img = img.assume_init();
            img.planes[0] = frame.y().as_ptr() as *mut u8;
            img.planes[1] = frame.u().as_ptr() as *mut u8;
            img.planes[2] = frame.v().as_ptr() as *mut u8;
            img.stride[0] = w as c_int;
            img.stride[1] = (w / 2) as c_int;
            img.stride[2] = (w / 2) as c_int;
            let flags = if keyframe { VPX_EFLAG_FORCE_KF as vpx_enc_frame_flags_t } else { 0 };
            let rc = vpx_codec_encode(&mut *self.ctx.0, &img, pts, duration, flags, VPX_DL_REALTIME as c_ulong);
            if rc != VPX_CODEC_OK {
                return Err(fail(error(rc, &mut self.ctx.0)));
            }
            let mut out: Option<EncodedVideo> = None;
            let mut iter: vpx_codec_iter_t = ptr::null();
            loop {
                let pkt = vpx_codec_get_cx_data(&mut *self.ctx.0, &mut iter);
                if pkt.is_null() {
                    break;
                }
                if (*pkt).kind != vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    continue;
                }
                let f = (*pkt).data.frame;
                let bytes = std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize);
                let key = f.flags & VPX_FRAME_IS_KEY != 0;
                match &mut out {
                    Some(o) => {
                        o.data.extend_from_slice(bytes);
                        o.keyframe |= key;
                    }
                    None => {
                        out = Some(EncodedVideo { data: bytes.to_vec(), keyframe: key, timestamp: frame.timestamp })
                    }
                }
            }
            Ok(out)
        }
    }

    fn set_bitrate(&mut self, bps: u32) -> Result<()> {
        let kbps = (bps / 1000).clamp(50, 20_000);
        if kbps == self.cfg.rc_target_bitrate {
            return Ok(());
        }
        self.cfg.rc_target_bitrate = kbps;
        self.settings.bitrate_bps = kbps * 1000;
        self.reconfigure()
    }
}

impl Vp8Encoder {
    /// Apply `cfg` to the running encoder.
    fn reconfigure(&mut self) -> Result<()> {
        // SAFETY: reconfiguring an initialised encoder with its own (modified) configuration.
        let rc = unsafe { vpx_codec_enc_config_set(&mut *self.ctx.0, &self.cfg) };
        if rc != VPX_CODEC_OK {
            return Err(MediaError::Encoder { codec: "VP8", message: error(rc, &mut self.ctx.0) });
        }
        Ok(())
    }

    /// A share that turned to motion or back: the quantizer ceiling follows (kept as it was if libvpx refuses).
    fn follow_motion(&mut self, motion: bool) {
        let before = self.cfg.rc_max_quantizer;
        self.cfg.rc_max_quantizer = if motion { SCREEN_MOTION_MAX_Q } else { SCREEN_MAX_Q };
        if let Err(e) = self.reconfigure() {
            self.cfg.rc_max_quantizer = before;
            tracing::warn!("VP8 kept its quantizer ceiling: {e}");
        }
    }

    /// The quantizer ceiling in use (tests).
    pub fn max_quantizer(&self) -> u32 {
        self.cfg.rc_max_quantizer
    }
}

pub struct Vp8Decoder {
    ctx: Context,
}

impl Vp8Decoder {
    pub fn new() -> Result<Self> {
        let mut ctx = Context::zeroed();
        let cfg = vpx_codec_dec_cfg_t { threads: 1, w: 0, h: 0 };
        // SAFETY: initialising a zeroed context with the VP8 decoder interface.
        let rc = unsafe {
            vpx_codec_dec_init_ver(&mut *ctx.0, vpx_codec_vp8_dx(), &cfg, 0, VPX_DECODER_ABI_VERSION as c_int)
        };
        if rc != VPX_CODEC_OK {
            return Err(MediaError::Decoder { codec: "VP8", message: error(rc, &mut ctx.0) });
        }
        Ok(Vp8Decoder { ctx })
    }
}

impl VideoDecoder for Vp8Decoder {
    fn codec(&self) -> VideoCodec {
        VideoCodec::Vp8
    }

    fn decode(&mut self, data: &[u8], timestamp: Duration) -> Result<Option<VideoFrame>> {
        if data.is_empty() {
            return Ok(None);
        }
        // SAFETY: libvpx reads `data` during the call; the image it returns is copied before the next decode.
        unsafe {
            let rc = vpx_codec_decode(&mut *self.ctx.0, data.as_ptr(), data.len() as c_uint, ptr::null_mut(), 0);
            if rc != VPX_CODEC_OK {
                return Err(MediaError::Decoder { codec: "VP8", message: error(rc, &mut self.ctx.0) });
            }
            let mut iter: vpx_codec_iter_t = ptr::null();
            let mut last = None;
            while let Some(img) = vpx_codec_get_frame(&mut *self.ctx.0, &mut iter).as_ref() {
                let (w, h) = (img.d_w as usize, img.d_h as usize);
                if !w.is_multiple_of(2) || !h.is_multiple_of(2) {
                    return Err(MediaError::Decoder { codec: "VP8", message: format!("odd frame size {w}x{h}") });
                }
                let stride = |k: usize| img.stride[k] as usize;
                let plane = |k: usize, rows: usize| std::slice::from_raw_parts(img.planes[k], stride(k) * rows);
                last = Some(VideoFrame::from_planes(
                    w as u32,
                    h as u32,
                    timestamp,
                    plane(0, h),
                    stride(0),
                    plane(1, h / 2),
                    stride(1),
                    plane(2, h / 2),
                    stride(2),
                )?);
            }
            Ok(last)
        }
    }
}
