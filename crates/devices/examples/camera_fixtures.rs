//! Writes the camera fixtures in `tests/fixtures/camera/`: one frame of the stamped test pattern (160x120,
//! counter 1234) as a camera delivers it in YUYV, NV12 and MJPEG (YCbCr 4:2:2, quality 85).
//! `cargo run -p tincan-devices --example camera_fixtures`

#[path = "../tests/common/frames.rs"]
mod frames;

use std::time::Duration;

use tincan_media::synthetic::TestPattern;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/camera");
    std::fs::create_dir_all(&dir)?;
    let frame = TestPattern::new(160, 120, 30, false).expect("a valid size").render(1234, 0, Duration::ZERO);
    std::fs::write(dir.join("pattern-160x120.yuyv"), frames::i420_to_yuyv(&frame))?;
    std::fs::write(dir.join("pattern-160x120.nv12"), frames::i420_to_nv12(&frame))?;
    std::fs::write(dir.join("pattern-160x120.mjpg"), frames::i420_to_jpeg(&frame, 85))?;
    println!("wrote {}", dir.display());
    Ok(())
}
