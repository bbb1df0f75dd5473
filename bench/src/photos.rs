//! Photos suite: a 12 MP camera-like JPEG → 1600 px JPEG + 320 px thumbnail through
//! `fieldsync_core::media::process_photo`, beside the naive `image` crate pipeline
//! (load → resize_exact Lanczos3 → encode q80, and the thumbnail from that), in the same run.
//!
//! The timings run in a child process pinned to one CPU with `taskset -c 0` when it is there
//! (the budget is "one core"; jpeg-decoder hands colour components to worker threads, which
//! pinning keeps honest). Peak extra memory is measured in a fresh child per pipeline: VmHWM
//! after one run minus VmHWM once the input is in memory (reset via /proc/self/clear_refs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fieldsync_core::media::{PhotoOptions, PhotoSource, ProcessedPhoto, process_photo};
use image::ImageEncoder;
use serde_json::json;

use crate::round;

const WIDTH: u16 = 4000;
const HEIGHT: u16 = 3000;
const RUNS: usize = 10;

/// The parent: make the input, time both pipelines in a pinned child, measure memory in
/// two more children, print the figures and the JSON line.
pub fn photos_suite() -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("camera.jpg");
    let input = camera_like_jpeg(WIDTH, HEIGHT);
    std::fs::write(&path, &input).expect("write input");
    println!(
        "input: {WIDTH}×{HEIGHT} JPEG q92 4:2:0, {:.2} MB (gradients, shapes and sensor-like noise)",
        input.len() as f64 / 1e6
    );

    let pinned = taskset_available();
    let timing = child(pinned, &["__photos_time", path.to_str().expect("utf-8 path")]);
    let timing: serde_json::Value = serde_json::from_str(timing.trim()).expect("child JSON");
    let ours_mem = child(pinned, &["__photos_mem", "ours", path.to_str().expect("path")]);
    let naive_mem = child(pinned, &["__photos_mem", "naive", path.to_str().expect("path")]);
    let mb = |kb: &str| kb.trim().parse::<f64>().map(|kb| kb / 1024.0).ok();

    let ours_ms = timing["ours_ms"].as_f64().unwrap_or(f64::NAN);
    let naive_ms = timing["naive_ms"].as_f64().unwrap_or(f64::NAN);
    let ratio = naive_ms / ours_ms;
    println!(
        "one core{}: median of {RUNS} runs after a warm-up",
        if pinned { " (taskset -c 0)" } else { " (NOT pinned: taskset missing)" }
    );
    println!(
        "  fieldsync media   {ours_ms:>8.1} ms  (cpu {:.1} ms/run)  → {} B + thumbnail {} B",
        num(&timing["ours_cpu_ms"]),
        timing["output_bytes"],
        timing["thumbnail_bytes"]
    );
    println!(
        "  fieldsync media, EXIF orientation 6 + GPS (rotated, stripped): {:.1} ms",
        num(&timing["ours_rotated_ms"])
    );
    println!(
        "  naive image crate {naive_ms:>8.1} ms  (cpu {:.1} ms/run)  → {} B + thumbnail {} B",
        num(&timing["naive_cpu_ms"]),
        timing["naive_output_bytes"],
        timing["naive_thumbnail_bytes"]
    );
    println!("  ratio naive / ours: {ratio:.2}×   (budget: ours ≤ 120 ms)");
    match (mb(&ours_mem), mb(&naive_mem)) {
        (Some(ours), Some(naive)) => {
            println!("peak extra memory (VmHWM delta, one run): ours {ours:.1} MB, naive {naive:.1} MB")
        }
        _ => println!("peak extra memory: not measured (no /proc here)"),
    }

    json!({
        "suite": "photos",
        "megapixels": 12,
        "ms": round(ours_ms),
        "peak_extra_mb": mb(&ours_mem).map(round),
        "out_bytes": timing["output_bytes"],
        "naive_out_bytes": timing["naive_output_bytes"],
        "ours_ms": round(ours_ms),
        "ours_rotated_ms": timing["ours_rotated_ms"].as_f64().map(round),
        "naive_ms": round(naive_ms),
        "ratio": round(ratio),
        "output_bytes": timing["output_bytes"],
        "thumbnail_bytes": timing["thumbnail_bytes"],
        "ours_peak_extra_mb": mb(&ours_mem).map(round),
        "naive_peak_extra_mb": mb(&naive_mem).map(round),
        "pinned_one_cpu": pinned,
    })
}

fn num(value: &serde_json::Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

fn taskset_available() -> bool {
    Command::new("taskset").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Runs this binary with `args` (pinned to CPU 0 when `pinned`) and returns its stdout.
fn child(pinned: bool, args: &[&str]) -> String {
    let exe = std::env::current_exe().expect("exe");
    let mut command = if pinned {
        let mut command = Command::new("taskset");
        command.args(["-c", "0"]).arg(exe);
        command
    } else {
        Command::new(exe)
    };
    let output = command.args(args).output().expect("spawn child");
    assert!(output.status.success(), "child {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Child: time both pipelines on the file at `path`, print one JSON object.
pub fn time_child(path: &Path) {
    let input = std::fs::read(path).expect("read input");
    let options = PhotoOptions::default();
    let ours = || process_photo(PhotoSource::Bytes(&input), &options).expect("ours");
    let naive = || naive_pipeline(&input);

    let reference: ProcessedPhoto = ours();
    let (naive_jpeg, naive_thumb) = naive();
    let (ours_times, ours_cpu) = timed(|| drop(ours()));
    let (naive_times, naive_cpu) = timed(|| drop(naive()));
    // The same photo as a phone holds it upright: EXIF orientation 6 plus a GPS block.
    let rotated = with_exif_orientation_6(&input);
    let upright = process_photo(PhotoSource::Bytes(&rotated), &options).expect("rotated");
    assert_eq!((upright.width, upright.height), (1200, 1600));
    assert!(!upright.jpeg.windows(6).any(|w| w == b"Exif\0\0"), "EXIF left in the output");
    let (rotated_times, _) = timed(|| drop(process_photo(PhotoSource::Bytes(&rotated), &options).expect("rotated")));
    // Determinism, checked on the real input too.
    assert_eq!(ours().sha256, reference.sha256, "same input, different bytes");
    println!(
        "{}",
        json!({
            "ours_ms": crate::median_ms(ours_times),
            "naive_ms": crate::median_ms(naive_times),
            "ours_rotated_ms": crate::median_ms(rotated_times),
            "ours_cpu_ms": round(ours_cpu),
            "naive_cpu_ms": round(naive_cpu),
            "output_bytes": reference.jpeg.len(),
            "thumbnail_bytes": reference.thumbnail.len(),
            "naive_output_bytes": naive_jpeg.len(),
            "naive_thumbnail_bytes": naive_thumb.len(),
        })
    );
}

/// `jpeg` with an EXIF APP1 segment (orientation 6, a GPS latitude) right after SOI.
fn with_exif_orientation_6(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff: Vec<u8> = b"MM\0\x2a\0\0\0\x08".to_vec();
    let entry = |tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        [&tag.to_be_bytes()[..], &kind.to_be_bytes(), &count.to_be_bytes(), &value].concat()
    };
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend(entry(0x0112, 3, 1, [0, 6, 0, 0])); // Orientation: rotate 90° clockwise
    tiff.extend(entry(0x8825, 4, 1, 38u32.to_be_bytes())); // GPS IFD at 38
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend(entry(0x0002, 5, 3, 56u32.to_be_bytes())); // GPSLatitude at 56
    tiff.extend_from_slice(&0u32.to_be_bytes());
    for (n, d) in [(51u32, 1u32), (28, 1), (4521, 100)] {
        tiff.extend_from_slice(&n.to_be_bytes());
        tiff.extend_from_slice(&d.to_be_bytes());
    }
    let length = u16::try_from(2 + 6 + tiff.len()).expect("small");
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Child: run one pipeline once on the file at `path`; print its peak extra memory in KB.
pub fn memory_child(pipeline: &str, path: &Path) {
    let input = std::fs::read(path).expect("read input");
    // Reset the high-water mark to the current RSS (Linux ≥ 4.0); if that fails the delta is
    // still right as long as nothing before was larger than the input.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = vm_hwm_kb();
    match pipeline {
        "ours" => drop(process_photo(PhotoSource::Bytes(&input), &PhotoOptions::default()).expect("ours")),
        _ => drop(naive_pipeline(&input)),
    }
    let after = vm_hwm_kb();
    match (before, after) {
        (Some(before), Some(after)) => println!("{}", after.saturating_sub(before)),
        _ => println!("unknown"),
    }
}

fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One warm-up, then `RUNS` timed runs; also the process CPU time per run.
fn timed(mut run: impl FnMut()) -> (Vec<Duration>, f64) {
    run();
    let cpu_before = crate::cpu_time();
    let times = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    let cpu = crate::cpu_time().saturating_sub(cpu_before).as_secs_f64() * 1_000.0 / RUNS as f64;
    (times, cpu)
}

/// What one would write first with the `image` crate.
fn naive_pipeline(input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let image = image::load_from_memory(input).expect("naive decode");
    let large = image.resize_exact(1600, 1200, image::imageops::FilterType::Lanczos3);
    let thumb = large.resize_exact(320, 240, image::imageops::FilterType::Lanczos3);
    let encode = |img: &image::DynamicImage| {
        let mut out = Vec::new();
        let rgb = img.to_rgb8();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .write_image(rgb.as_raw(), rgb.width(), rgb.height(), image::ExtendedColorType::Rgb8)
            .expect("naive encode");
        out
    };
    (encode(&large), encode(&thumb))
}

/// A camera-like photo: a sky-to-ground gradient, a few soft shapes, fine texture and
/// sensor noise, encoded at quality 92 with 4:2:0 chroma, so it compresses like a real one.
fn camera_like_jpeg(width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let mut rgb = Vec::with_capacity(w * h * 3);
    let mut state = 0x9E37_79B9_u32;
    let shapes = [
        (0.3, 0.6, 0.12, [200.0, 60.0, 40.0]),
        (0.7, 0.45, 0.2, [40.0, 120.0, 60.0]),
        (0.55, 0.8, 0.08, [230.0, 220.0, 90.0]),
    ];
    for y in 0..h {
        let fy = y as f32 / h as f32;
        for x in 0..w {
            let fx = x as f32 / w as f32;
            let mut c = [90.0 + 120.0 * (1.0 - fy), 130.0 + 80.0 * (1.0 - fy), 200.0 - 120.0 * fy];
            for (cx, cy, r, color) in shapes {
                let d = ((fx - cx) * (fx - cx) * 1.78 + (fy - cy) * (fy - cy)).sqrt();
                let t = (1.0 - (d - r).max(0.0) * 40.0).clamp(0.0, 1.0);
                for k in 0..3 {
                    c[k] = c[k] * (1.0 - t) + color[k] * t;
                }
            }
            let texture = ((x as f32 * 0.21).sin() * (y as f32 * 0.17).cos()) * 6.0;
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            for (k, channel) in c.iter().enumerate() {
                let noise = ((state >> (k * 8)) & 0x0F) as f32 - 7.5;
                rgb.push((channel + texture + noise).clamp(0.0, 255.0) as u8);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 92);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    encoder.encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb).expect("encode input");
    out
}
