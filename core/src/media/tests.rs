//! Media tests. Every input is generated here; no binary fixture is committed.

#![allow(clippy::unwrap_used)]

use super::*;

// ---------------------------------------------------------------------------------------
// Input builders.

const RED: [u8; 3] = [220, 30, 30];
const BLUE: [u8; 3] = [30, 30, 220];
const GREY: [u8; 3] = [128, 128, 128];

/// The upright picture: red top-left quadrant, blue bottom-right, grey elsewhere.
fn upright_pixel(x: usize, y: usize, w: usize, h: usize) -> [u8; 3] {
    match (x < w / 2, y < h / 2) {
        (true, true) => RED,
        (false, false) => BLUE,
        _ => GREY,
    }
}

/// The stored pixels for a picture that looks upright (`w`×`h`) once EXIF `orientation` is
/// applied, built from the EXIF spec's own table (where row 0 and column 0 of the stored
/// image belong on screen), not from the code under test.
fn stored_for(orientation: u8, w: usize, h: usize) -> (usize, usize, Vec<u8>) {
    #[derive(Clone, Copy)]
    enum Side {
        Top,
        Bottom,
        Left,
        Right,
    }
    use Side::*;
    let (row0, col0) = match orientation {
        1 => (Top, Left),
        2 => (Top, Right),
        3 => (Bottom, Right),
        4 => (Bottom, Left),
        5 => (Left, Top),
        6 => (Right, Top),
        7 => (Right, Bottom),
        8 => (Left, Bottom),
        _ => unreachable!(),
    };
    let (sw, sh) = if orientation >= 5 { (h, w) } else { (w, h) };
    let mut data = Vec::with_capacity(sw * sh * 3);
    for r in 0..sh {
        for c in 0..sw {
            let (mut x, mut y) = (0, 0);
            match row0 {
                Top => y = r,
                Bottom => y = h - 1 - r,
                Left => x = r,
                Right => x = w - 1 - r,
            }
            match col0 {
                Top => y = c,
                Bottom => y = h - 1 - c,
                Left => x = c,
                Right => x = w - 1 - c,
            }
            data.extend_from_slice(&upright_pixel(x, y, w, h));
        }
    }
    (sw, sh, data)
}

/// The latitude rationals (51/1, 28/1, 4521/100), big-endian, as they sit in the EXIF.
fn latitude_bytes() -> Vec<u8> {
    [(51u32, 1u32), (28, 1), (4521, 100)]
        .iter()
        .flat_map(|(n, d)| n.to_be_bytes().into_iter().chain(d.to_be_bytes()))
        .collect()
}

/// A minimal big-endian EXIF block: IFD0 with Orientation and a GPSInfo pointer, and a GPS
/// IFD with a north latitude.
fn exif_block(orientation: u16) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"MM\0\x2a");
    t.extend_from_slice(&8u32.to_be_bytes());
    // IFD0 at 8: two entries, then the next-IFD offset. Ends at 8 + 2 + 24 + 4 = 38.
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    t.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&0x8825u16.to_be_bytes()); // GPSInfo
    t.extend_from_slice(&4u16.to_be_bytes()); // LONG
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&38u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    // GPS IFD at 38: two entries; the rationals follow at 38 + 2 + 24 + 4 = 68.
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&0x0001u16.to_be_bytes()); // GPSLatitudeRef
    t.extend_from_slice(&2u16.to_be_bytes()); // ASCII
    t.extend_from_slice(&2u32.to_be_bytes());
    t.extend_from_slice(b"N\0\0\0");
    t.extend_from_slice(&0x0002u16.to_be_bytes()); // GPSLatitude
    t.extend_from_slice(&5u16.to_be_bytes()); // RATIONAL
    t.extend_from_slice(&3u32.to_be_bytes());
    t.extend_from_slice(&68u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(t.len(), 68);
    t.extend_from_slice(&latitude_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&t);
    app1
}

const XMP: &[u8] =
    b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><exif:GPSLatitude>51,28.75N</exif:GPSLatitude></x:xmpmeta>";

/// A JPEG of the given RGB pixels, with the given APP1 segments.
fn jpeg(w: usize, h: usize, rgb: &[u8], quality: u8, app1: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    for segment in app1 {
        encoder.add_app_segment(1, segment).unwrap();
    }
    encoder.encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// A photographic-ish pattern: gradients plus a little deterministic noise.
fn noisy(w: usize, h: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let n = (state % 24) as usize;
            data.push(((x * 255 / w + n) % 256) as u8);
            data.push(((y * 255 / h + n) % 256) as u8);
            data.push((((x + y) * 127 / (w + h) + n) % 256) as u8);
        }
    }
    data
}

/// The decoded RGB pixels of a JPEG.
fn decode(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let pixels = decoder.decode().unwrap();
    let info = decoder.info().unwrap();
    assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
    (usize::from(info.width), usize::from(info.height), pixels)
}

fn pixel(image: &(usize, usize, Vec<u8>), x: usize, y: usize) -> [u8; 3] {
    let i = (y * image.0 + x) * 3;
    [image.2[i], image.2[i + 1], image.2[i + 2]]
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(&a, b)| a.abs_diff(b) <= 24)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn process(bytes: &[u8]) -> Result<ProcessedPhoto, MediaError> {
    process_photo(PhotoSource::Bytes(bytes), &PhotoOptions::default())
}

fn no_metadata(bytes: &[u8]) {
    assert!(!contains(bytes, b"Exif\0\0"), "EXIF header in output");
    assert!(!contains(bytes, &latitude_bytes()), "GPS latitude in output");
    assert!(!contains(bytes, b"GPS"), "GPS text in output");
    assert!(!contains(bytes, b"http://ns.adobe.com/xap"), "XMP in output");
    assert!(!contains(bytes, b"ICC_PROFILE"), "ICC profile in output");
    // Only SOI + JFIF APP0 ahead of the tables: no other APPn segment.
    assert_eq!(&bytes[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
    assert_eq!(&bytes[6..11], b"JFIF\0");
    let after_app0 = 4 + usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
    assert_ne!(bytes[after_app0 + 1] & 0xF0, 0xE0, "a second APPn segment");
}

// ---------------------------------------------------------------------------------------
// Photos.

#[test]
fn every_exif_orientation_comes_out_upright_and_without_metadata() {
    let (w, h) = (64, 48);
    let exif_blocks: Vec<Vec<u8>> = (1..=8).map(exif_block).collect();
    for orientation in 1..=8u8 {
        let (sw, sh, stored) = stored_for(orientation, w, h);
        let exif = &exif_blocks[usize::from(orientation) - 1];
        let input = jpeg(sw, sh, &stored, 95, &[exif, XMP]);
        assert!(contains(&input, &latitude_bytes()));
        let photo = process(&input).unwrap();
        assert_eq!((photo.width, photo.height), (64, 48), "orientation {orientation}");
        for bytes in [&photo.jpeg, &photo.thumbnail] {
            no_metadata(bytes);
        }
        let out = decode(&photo.jpeg);
        assert_eq!((out.0, out.1), (w, h));
        let at = |x, y| pixel(&out, x, y);
        assert!(close(at(w / 4, h / 4), RED), "orientation {orientation}: {:?}", at(w / 4, h / 4));
        assert!(close(at(3 * w / 4, 3 * h / 4), BLUE), "orientation {orientation}");
        assert!(close(at(3 * w / 4, h / 4), GREY), "orientation {orientation}");
        assert!(close(at(w / 4, 3 * h / 4), GREY), "orientation {orientation}");
    }
}

#[test]
fn large_photo_is_downscaled_to_1600_and_320() {
    let (w, h) = (4000, 3000);
    let input = jpeg(w, h, &noisy(w, h), 85, &[&exif_block(1)]);
    let photo = process(&input).unwrap();
    assert_eq!((photo.width, photo.height), (1600, 1200));
    assert_eq!((photo.thumbnail_width, photo.thumbnail_height), (320, 240));
    assert_eq!(decode(&photo.jpeg).0, 1600);
    let thumb = decode(&photo.thumbnail);
    assert_eq!((thumb.0, thumb.1), (320, 240));
    no_metadata(&photo.jpeg);
}

#[test]
fn rotated_large_photo_is_downscaled_and_upright() {
    // Stored landscape 2400×1800 with orientation 6: a portrait 1800×2400 photo.
    let (sw, sh, stored) = stored_for(6, 1800, 2400);
    assert_eq!((sw, sh), (2400, 1800));
    let input = jpeg(sw, sh, &stored, 90, &[&exif_block(6)]);
    let photo = process(&input).unwrap();
    assert_eq!((photo.width, photo.height), (1200, 1600));
    assert_eq!((photo.thumbnail_width, photo.thumbnail_height), (240, 320));
    let out = decode(&photo.jpeg);
    assert!(close(pixel(&out, 300, 400), RED));
    assert!(close(pixel(&out, 900, 1200), BLUE));
    let thumb = decode(&photo.thumbnail);
    assert!(close(pixel(&thumb, 60, 80), RED));
}

#[test]
fn small_photo_is_not_upscaled() {
    let input = jpeg(800, 600, &noisy(800, 600), 90, &[]);
    let photo = process(&input).unwrap();
    assert_eq!((photo.width, photo.height), (800, 600));
    assert_eq!((photo.thumbnail_width, photo.thumbnail_height), (320, 240));
    let tiny = jpeg(20, 10, &noisy(20, 10), 90, &[]);
    let photo = process(&tiny).unwrap();
    assert_eq!((photo.width, photo.height), (20, 10));
    assert_eq!((photo.thumbnail_width, photo.thumbnail_height), (20, 10));
}

#[test]
fn custom_edges_and_quality_apply() {
    let input = jpeg(1000, 500, &noisy(1000, 500), 90, &[]);
    let options = PhotoOptions { long_edge: 500, thumbnail_edge: 100, quality: 60, ..Default::default() };
    let photo = process_photo(PhotoSource::Bytes(&input), &options).unwrap();
    assert_eq!((photo.width, photo.height, photo.thumbnail_width, photo.thumbnail_height), (500, 250, 100, 50));
    let better = PhotoOptions { quality: 95, ..options };
    let larger = process_photo(PhotoSource::Bytes(&input), &better).unwrap();
    assert!(larger.jpeg.len() > photo.jpeg.len());
}

#[test]
fn same_input_gives_identical_bytes_and_hashes() {
    let input = jpeg(1200, 900, &noisy(1200, 900), 90, &[&exif_block(3)]);
    let a = process(&input).unwrap();
    let b = process(&input).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.sha256.len(), 64);
    assert!(a.sha256.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(a.sha256, sha256_hex(&a.jpeg));
    assert_eq!(a.thumbnail_sha256, sha256_hex(&a.thumbnail));
    assert_ne!(a.sha256, a.thumbnail_sha256);
}

#[test]
fn png_input_works_and_transparency_becomes_white() {
    let (w, h) = (40u32, 30u32);
    let mut rgba = Vec::new();
    for y in 0..h as usize {
        for x in 0..w as usize {
            let [r, g, b] = upright_pixel(x, y, w as usize, h as usize);
            // The bottom-left quadrant is fully transparent.
            let a = if x < w as usize / 2 && y >= h as usize / 2 { 0 } else { 255 };
            rgba.extend_from_slice(&[r, g, b, a]);
        }
    }
    let mut input = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut input, w, h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&rgba).unwrap();
    }
    let photo = process(&input).unwrap();
    assert_eq!((photo.width, photo.height), (40, 30));
    no_metadata(&photo.jpeg);
    let out = decode(&photo.jpeg);
    assert!(close(pixel(&out, 10, 7), RED));
    assert!(close(pixel(&out, 30, 22), BLUE));
    assert!(close(pixel(&out, 10, 22), [255, 255, 255]));
}

#[test]
fn grey_png_and_grey_jpeg_work() {
    let mut input = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut input, 16, 16);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Sixteen);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[0x80; 16 * 16 * 2]).unwrap();
    }
    let photo = process(&input).unwrap();
    assert!(close(pixel(&decode(&photo.jpeg), 8, 8), [128, 128, 128]));

    let mut grey = Vec::new();
    jpeg_encoder::Encoder::new(&mut grey, 90).encode(&[200; 32 * 24], 32, 24, jpeg_encoder::ColorType::Luma).unwrap();
    let photo = process(&grey).unwrap();
    assert_eq!((photo.width, photo.height), (32, 24));
    assert!(close(pixel(&decode(&photo.jpeg), 8, 8), [200, 200, 200]));
}

#[test]
fn jpeg_bomb_is_refused_from_its_header() {
    // SOI, SOF0 claiming 60,000 × 60,000 × 3, EOI: 23 bytes that would decode to 10 GB.
    let mut bomb = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8];
    bomb.extend_from_slice(&60_000u16.to_be_bytes());
    bomb.extend_from_slice(&60_000u16.to_be_bytes());
    bomb.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    bomb.extend_from_slice(&[0xFF, 0xD9]);
    let error = process(&bomb).unwrap_err();
    assert_eq!(error, MediaError::TooLarge { what: "pixels", limit: 50_000_000, found: 3_600_000_000 });
    assert!(error.to_string().contains("pixels too large"), "{error}");
}

#[test]
fn png_bomb_is_refused_from_its_header() {
    let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut bomb, b"IHDR", &ihdr);
    png_chunk(&mut bomb, b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    png_chunk(&mut bomb, b"IEND", &[]);
    assert_eq!(
        process(&bomb).unwrap_err(),
        MediaError::TooLarge { what: "pixels", limit: 50_000_000, found: 3_600_000_000 }
    );
    // A width of 2^31 - 1 by 1 is refused the same way.
    let mut wide = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
    ihdr.extend_from_slice(&1u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut wide, b"IHDR", &ihdr);
    assert!(matches!(process(&wide), Err(MediaError::TooLarge { what: "pixels", .. })));
}

#[test]
fn input_over_max_bytes_is_refused() {
    let input = jpeg(64, 64, &noisy(64, 64), 90, &[]);
    let options = PhotoOptions { max_bytes: 100, ..Default::default() };
    let error = process_photo(PhotoSource::Bytes(&input), &options).unwrap_err();
    assert!(matches!(error, MediaError::TooLarge { what: "input bytes", limit: 100, .. }), "{error}");
}

#[test]
fn truncated_and_damaged_jpegs_are_corrupt() {
    let input = jpeg(256, 192, &noisy(256, 192), 90, &[]);
    let truncated = &input[..input.len() / 2];
    let error = process(truncated).unwrap_err();
    assert!(matches!(error, MediaError::Corrupt(_)), "{error}");
    assert!(error.to_string().starts_with("corrupt image"), "{error}");
    // Cut inside the header.
    assert!(matches!(process(&input[..40]), Err(MediaError::Corrupt(_))));
    assert!(matches!(process(&input[..3]), Err(MediaError::Corrupt(_))));
}

#[test]
fn zero_dimensions_are_corrupt() {
    let mut zero = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0, 0, 0, 64, 1, 1, 0x11, 0];
    zero.extend_from_slice(&[0xFF, 0xD9]);
    assert!(matches!(process(&zero), Err(MediaError::Corrupt(_))));
}

#[test]
fn no_input_makes_it_panic() {
    let input = jpeg(96, 64, &noisy(96, 64), 90, &[&exif_block(6), XMP]);
    // Every truncation on a coarse grid, and bytes flipped across the file.
    for cut in (0..input.len()).step_by(7) {
        let _ = process(&input[..cut]);
    }
    let mut state = 7u32;
    for _ in 0..200 {
        let mut damaged = input.clone();
        for _ in 0..4 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let at = (state as usize >> 8) % damaged.len();
            damaged[at] ^= (state >> 3) as u8 | 1;
        }
        let _ = process(&damaged);
    }
    for garbage in
        [&b""[..], b"\xFF", b"\xFF\xD8", b"\xFF\xD8\xFF", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"]
    {
        assert!(process(garbage).is_err());
    }
}

#[test]
fn absurd_exif_is_ignored_not_fatal() {
    let (w, h) = (32, 16);
    let (_, _, stored) = stored_for(1, w, h);
    let mut absurd = exif_block(99);
    // Point the GPS IFD far outside the block.
    let at = 6 + 8 + 2 + 12 + 8;
    absurd[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    let garbage: &[u8] = b"Exif\0\0MM\0\x2a\xFF\xFF\xFF\xFF";
    for exif in [&absurd[..], garbage] {
        let input = jpeg(w, h, &stored, 95, &[exif]);
        let photo = process(&input).unwrap();
        assert_eq!((photo.width, photo.height), (32, 16));
        assert!(close(pixel(&decode(&photo.jpeg), 4, 4), RED));
        no_metadata(&photo.jpeg);
    }
}

#[test]
fn other_formats_are_named() {
    let cases: [(&[u8], &str); 8] = [
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "HEIC"),
        (b"\0\0\0\x18ftypheix\0\0\0\0mif1heix", "HEIC"),
        (b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic", "HEIC"),
        (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf", "AVIF"),
        (b"RIFF\x24\0\0\0WEBPVP8 ", "WebP"),
        (b"GIF89a\x01\0\x01\0", "GIF"),
        (b"II*\0\x08\0\0\0", "TIFF"),
        (b"hello, world", "unknown"),
    ];
    for (bytes, name) in cases {
        let error = process(bytes).unwrap_err();
        assert_eq!(error, MediaError::UnsupportedFormat { format: name });
        assert!(error.to_string().contains(name), "{error}");
    }
    assert!(process(b"").unwrap_err().to_string().contains("empty"));
}

#[test]
fn photos_are_read_from_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.jpg");
    let input = jpeg(64, 48, &noisy(64, 48), 90, &[&exif_block(1)]);
    std::fs::write(&path, &input).unwrap();
    let from_path = process_photo(PhotoSource::Path(&path), &PhotoOptions::default()).unwrap();
    assert_eq!(from_path, process(&input).unwrap());
    let small = PhotoOptions { max_bytes: 10, ..Default::default() };
    assert!(matches!(
        process_photo(PhotoSource::Path(&path), &small),
        Err(MediaError::TooLarge { what: "input bytes", .. })
    ));
    let missing = dir.path().join("missing.jpg");
    let error = process_photo(PhotoSource::Path(&missing), &PhotoOptions::default()).unwrap_err();
    assert!(matches!(error, MediaError::Io(_)), "{error}");
}

#[test]
fn bad_photo_options_are_refused() {
    let input = jpeg(16, 16, &noisy(16, 16), 90, &[]);
    for options in [
        PhotoOptions { long_edge: 0, ..Default::default() },
        PhotoOptions { thumbnail_edge: 0, ..Default::default() },
        PhotoOptions { quality: 0, ..Default::default() },
        PhotoOptions { thumbnail_quality: 101, ..Default::default() },
        PhotoOptions { long_edge: 70_000, ..Default::default() },
    ] {
        assert!(matches!(process_photo(PhotoSource::Bytes(&input), &options), Err(MediaError::InvalidOptions(_))));
    }
}

#[test]
fn photo_options_default_from_empty_json() {
    let options: PhotoOptions = serde_json::from_str("{}").unwrap();
    assert_eq!(options, PhotoOptions::default());
    let options: PhotoOptions = serde_json::from_str(r#"{"long_edge": 1024}"#).unwrap();
    assert_eq!(options.long_edge, 1024);
    assert_eq!(options.quality, 80);
}

// ---------------------------------------------------------------------------------------
// Signatures.

fn point(x: f32, y: f32, t: u32) -> StrokePoint {
    StrokePoint { x, y, t }
}

fn decode_png(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    (info, buffer)
}

fn line() -> Vec<Vec<StrokePoint>> {
    vec![(0..=20).map(|i| point(0.1 + 0.04 * i as f32, 0.5, i * 10)).collect(), vec![point(0.5, 0.2, 300)], vec![]]
}

#[test]
fn signature_renders_ink_along_the_stroke() {
    let png = render_signature(&line(), &SignatureOptions::default()).unwrap();
    let (info, pixels) = decode_png(&png);
    assert_eq!((info.width, info.height), (800, 300));
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let at = |x: u32, y: u32| pixels[(y * 800 + x) as usize];
    // Inset by half a pen: y = 1.5 + 0.5 * 297 = 150.
    for x in (100..=700).step_by(50) {
        assert!(at(x, 150) < 64, "no ink at ({x}, 150): {}", at(x, 150));
    }
    assert!(at(400, 61) < 128, "the dot is missing");
    assert_eq!(at(5, 5), 255);
    assert_eq!(at(400, 250), 255);
    // Anti-aliased: some pixels are between ink and paper.
    assert!(pixels.iter().any(|&p| p > 20 && p < 235));
}

#[test]
fn signature_on_transparent_canvas() {
    let options = SignatureOptions {
        width: 400,
        height: 150,
        background: SignatureBackground::Transparent,
        ..Default::default()
    };
    let (info, pixels) = decode_png(&render_signature(&line(), &options).unwrap());
    assert_eq!((info.width, info.height, info.color_type), (400, 150, png::ColorType::GrayscaleAlpha));
    let alpha = |x: u32, y: u32| pixels[((y * 400 + x) * 2 + 1) as usize];
    assert_eq!(alpha(3, 3), 0);
    assert!(alpha(200, 75) > 200);
}

#[test]
fn signature_is_deterministic() {
    let options = SignatureOptions::default();
    assert_eq!(render_signature(&line(), &options).unwrap(), render_signature(&line(), &options).unwrap());
}

#[test]
fn invalid_strokes_are_refused() {
    let options = SignatureOptions::default();
    let invalid = |strokes: Vec<Vec<StrokePoint>>| {
        let error = render_signature(&strokes, &options).unwrap_err();
        assert!(matches!(error, MediaError::InvalidSignature(_)), "{error}");
        error
    };
    invalid(vec![]);
    invalid(vec![vec![point(0.5, 0.5, 0)], vec![]]);
    invalid(vec![vec![point(0.1, 0.1, 0), point(f32::NAN, 0.2, 1)]]);
    invalid(vec![vec![point(0.1, 0.1, 0), point(0.2, f32::INFINITY, 1)]]);
    let off = invalid(vec![vec![point(0.1, 0.1, 0), point(1.5, 0.2, 1)]]);
    assert!(off.to_string().contains("off the pad"), "{off}");
    invalid(vec![vec![point(-0.5, 0.1, 0), point(0.5, 0.2, 1)]]);
    // Within the tolerance is fine.
    assert!(render_signature(&[vec![point(-0.01, 0.0, 0), point(1.01, 1.0, 1)]], &options).is_ok());
    let many = vec![(0..10_001).map(|i| point(0.5, (i % 100) as f32 / 100.0, i)).collect()];
    assert_eq!(
        render_signature(&many, &options).unwrap_err(),
        MediaError::TooLarge { what: "signature points", limit: 10_000, found: 10_001 }
    );
}

#[test]
fn bad_signature_options_are_refused() {
    for options in [
        SignatureOptions { width: 0, ..Default::default() },
        SignatureOptions { height: 100_000, ..Default::default() },
        SignatureOptions { pen_width: f32::NAN, ..Default::default() },
        SignatureOptions { pen_width: 0.0, ..Default::default() },
    ] {
        assert!(matches!(render_signature(&line(), &options), Err(MediaError::InvalidOptions(_))));
    }
}

#[test]
fn signature_types_round_trip_through_json() {
    let options: SignatureOptions = serde_json::from_str(r#"{"background": "transparent"}"#).unwrap();
    assert_eq!(options.background, SignatureBackground::Transparent);
    assert_eq!(options.width, 800);
    let p: StrokePoint = serde_json::from_str(r#"{"x": 0.25, "y": 0.5, "t": 40}"#).unwrap();
    assert_eq!(p, point(0.25, 0.5, 40));
}
