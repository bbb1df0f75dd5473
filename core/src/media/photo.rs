//! The photo pipeline: sniff → header → limits → decode (scaled in the DCT domain for JPEG)
//! → resize → orient → encode, plus a thumbnail from the result.
//!
//! Nothing from the input but its pixels reaches the output: EXIF (GPS above all), XMP,
//! ICC profiles and comments are never copied, because the encoder only ever sees pixels.

use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::U8x3;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use serde::{Deserialize, Serialize};

use super::{MediaError, sha256_hex};

/// Where the photo comes from.
#[derive(Debug, Clone, Copy)]
pub enum PhotoSource<'a> {
    /// A file on disk (read whole, after its size is checked against `max_bytes`).
    Path(&'a Path),
    /// The encoded file already in memory.
    Bytes(&'a [u8]),
}

/// How a photo is processed. Every field has a default, so `{}` in JSON is a valid value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhotoOptions {
    /// Refuse images whose header claims more pixels than this (decompression bombs).
    pub max_pixels: u64,
    /// Refuse inputs larger than this many bytes.
    pub max_bytes: u64,
    /// Long edge of the processed photo in pixels; smaller photos are never upscaled.
    pub long_edge: u32,
    /// Long edge of the thumbnail in pixels.
    pub thumbnail_edge: u32,
    /// JPEG quality (1..=100) of the processed photo.
    pub quality: u8,
    /// JPEG quality (1..=100) of the thumbnail.
    pub thumbnail_quality: u8,
}

impl Default for PhotoOptions {
    fn default() -> Self {
        Self {
            max_pixels: 50_000_000,
            max_bytes: 40 * 1024 * 1024,
            long_edge: 1600,
            thumbnail_edge: 320,
            quality: 80,
            thumbnail_quality: 80,
        }
    }
}

impl PhotoOptions {
    fn validate(&self) -> Result<(), MediaError> {
        let bad = |what: &str| Err(MediaError::InvalidOptions(what.to_owned()));
        if self.long_edge == 0 || self.thumbnail_edge == 0 {
            return bad("long_edge and thumbnail_edge must be at least 1 px");
        }
        if self.long_edge > u32::from(u16::MAX) || self.thumbnail_edge > u32::from(u16::MAX) {
            return bad("long_edge and thumbnail_edge must be at most 65535 px (a JPEG limit)");
        }
        if !(1..=100).contains(&self.quality) || !(1..=100).contains(&self.thumbnail_quality) {
            return bad("JPEG quality must be within 1..=100");
        }
        Ok(())
    }
}

/// A processed photo: an upright, metadata-free JPEG and its thumbnail, content-addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedPhoto {
    /// The JPEG (baseline, 4:2:0, JFIF header only).
    pub jpeg: Vec<u8>,
    /// Its width in pixels, after orientation.
    pub width: u32,
    /// Its height in pixels, after orientation.
    pub height: u32,
    /// Lower-case hex SHA-256 of `jpeg`: the photo's key in the ticket document.
    pub sha256: String,
    /// The thumbnail JPEG.
    pub thumbnail: Vec<u8>,
    /// The thumbnail's width in pixels.
    pub thumbnail_width: u32,
    /// The thumbnail's height in pixels.
    pub thumbnail_height: u32,
    /// Lower-case hex SHA-256 of `thumbnail`.
    pub thumbnail_sha256: String,
}

/// Turns a camera JPEG or a PNG into an upright, metadata-free JPEG scaled to
/// `options.long_edge` plus a thumbnail. Deterministic: the same input and options always
/// give the same bytes.
pub fn process_photo(source: PhotoSource<'_>, options: &PhotoOptions) -> Result<ProcessedPhoto, MediaError> {
    options.validate()?;
    let owned;
    let bytes = match source {
        PhotoSource::Bytes(bytes) => bytes,
        PhotoSource::Path(path) => {
            owned = read_bounded(path, options.max_bytes)?;
            &owned[..]
        }
    };
    // The decoders are fuzzed, but a panic in one of them must still come back as an error
    // and never take the app down.
    catch_unwind(AssertUnwindSafe(|| process_bytes(bytes, options)))
        .unwrap_or_else(|_| Err(MediaError::Corrupt("the decoder failed on this image".to_owned())))
}

fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, MediaError> {
    let io = |e: std::io::Error| MediaError::Io(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > max_bytes {
        return Err(MediaError::TooLarge { what: "input bytes", limit: max_bytes, found: len });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // `take` guards against a file that grows while it is read.
    file.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(MediaError::TooLarge { what: "input bytes", limit: max_bytes, found: bytes.len() as u64 });
    }
    Ok(bytes)
}

fn process_bytes(bytes: &[u8], options: &PhotoOptions) -> Result<ProcessedPhoto, MediaError> {
    if bytes.len() as u64 > options.max_bytes {
        return Err(MediaError::TooLarge { what: "input bytes", limit: options.max_bytes, found: bytes.len() as u64 });
    }
    let format = sniff(bytes)?;
    let header = match format {
        Format::Jpeg => jpeg_header(bytes)?,
        Format::Png => png_header(bytes)?,
    };
    if header.width == 0 || header.height == 0 {
        return Err(MediaError::Corrupt(format!("the header claims {}×{} pixels", header.width, header.height)));
    }
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels > options.max_pixels {
        return Err(MediaError::TooLarge { what: "pixels", limit: options.max_pixels, found: pixels });
    }
    let orientation = header.exif.map_or(1, exif_orientation);

    // Sizes are computed in the stored (unrotated) frame; rotation keeps the long edge.
    let (target_w, target_h) = fit(header.width, header.height, options.long_edge);
    let decoded = match format {
        Format::Jpeg => decode_jpeg(bytes, target_w, target_h, options.max_pixels)?,
        Format::Png => decode_png(bytes, options.max_pixels)?,
    };
    let resized = resize(decoded, target_w, target_h)?;
    let upright = orient(resized, orientation);
    let jpeg = encode_jpeg(&upright, options.quality)?;

    let (thumb_w, thumb_h) = fit(upright.width, upright.height, options.thumbnail_edge);
    let thumb = resize_ref(&upright, thumb_w, thumb_h)?;
    let thumbnail = encode_jpeg(&thumb, options.thumbnail_quality)?;

    Ok(ProcessedPhoto {
        sha256: sha256_hex(&jpeg),
        jpeg,
        width: upright.width,
        height: upright.height,
        thumbnail_sha256: sha256_hex(&thumbnail),
        thumbnail,
        thumbnail_width: thumb.width,
        thumbnail_height: thumb.height,
    })
}

// ---------------------------------------------------------------------------------------
// Sniffing and headers: a few hundred bytes read, nothing allocated in proportion to the
// claimed size.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Recognises the format from its magic number.
fn sniff(bytes: &[u8]) -> Result<Format, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Corrupt("the input is empty".to_owned()));
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        return Ok(Format::Png);
    }
    Err(MediaError::UnsupportedFormat { format: name_unsupported(bytes) })
}

fn name_unsupported(bytes: &[u8]) -> &'static str {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        // ISO base media file: the major brand, then the compatible brands.
        let brand = &bytes[8..12];
        let box_len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let compatible = bytes.get(16..box_len.min(bytes.len())).unwrap_or(&[]);
        let has = |b: &[u8; 4]| brand == b || compatible.chunks_exact(4).any(|c| c == b);
        return if has(b"avif") || has(b"avis") {
            "AVIF"
        } else if [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"].iter().any(|b| has(b))
            || brand == b"mif1"
            || brand == b"msf1"
        {
            "HEIC"
        } else {
            "ISO media (not an image)"
        };
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return "WebP";
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return "GIF";
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return "TIFF";
    }
    if bytes.starts_with(b"BM") {
        return "BMP";
    }
    if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0CJXL ") {
        return "JPEG XL";
    }
    if bytes.starts_with(b"%PDF") {
        return "PDF";
    }
    "unknown"
}

/// What the header says, before any pixel is decoded.
struct Header<'a> {
    width: u32,
    height: u32,
    /// The EXIF block, starting at its TIFF header.
    exif: Option<&'a [u8]>,
}

fn truncated(what: &str) -> MediaError {
    MediaError::Corrupt(format!("truncated {what}"))
}

/// Walks the JPEG's marker segments up to the frame header (SOFn), collecting the EXIF APP1.
fn jpeg_header(bytes: &[u8]) -> Result<Header<'_>, MediaError> {
    let mut pos = 2; // after SOI
    let mut exif = None;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if bytes.get(pos) != Some(&0xFF) {
            return Err(match bytes.get(pos) {
                None => truncated("JPEG header"),
                Some(_) => MediaError::Corrupt("JPEG header: expected a marker".to_owned()),
            });
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *bytes.get(pos).ok_or_else(|| truncated("JPEG header"))?;
        pos += 1;
        match marker {
            // Standalone markers: no length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8 => continue,
            0xD9 | 0xDA => {
                return Err(MediaError::Corrupt("JPEG has no frame header before its image data".to_owned()));
            }
            _ => {}
        }
        let len_bytes = bytes.get(pos..pos + 2).ok_or_else(|| truncated("JPEG header"))?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(MediaError::Corrupt("JPEG segment with a length under 2".to_owned()));
        }
        let body = bytes.get(pos + 2..pos + len).ok_or_else(|| truncated("JPEG header"))?;
        match marker {
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if body.len() < 6 {
                    return Err(truncated("JPEG frame header"));
                }
                let height = u32::from(u16::from_be_bytes([body[1], body[2]]));
                let width = u32::from(u16::from_be_bytes([body[3], body[4]]));
                return Ok(Header { width, height, exif });
            }
            0xE1 if exif.is_none() && body.starts_with(b"Exif\0\0") => {
                exif = Some(&body[6..]);
            }
            _ => {}
        }
        pos += len;
    }
}

/// Reads the PNG's IHDR, and an eXIf chunk if one comes before the image data.
fn png_header(bytes: &[u8]) -> Result<Header<'_>, MediaError> {
    let mut pos = PNG_SIGNATURE.len();
    let mut size = None;
    let mut exif = None;
    // Once the size is known, a cut later on is the decoder's to report.
    while let Some(head) = bytes.get(pos..pos.saturating_add(8)) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        let Some(data) = bytes.get(pos + 8..(pos + 8).saturating_add(len)) else { break };
        match kind {
            b"IHDR" => {
                if data.len() < 8 {
                    return Err(truncated("PNG IHDR"));
                }
                let width = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                let height = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                size = Some((width, height));
            }
            b"eXIf" => exif = Some(data),
            b"IDAT" | b"IEND" => break,
            _ => {}
        }
        if size.is_none() {
            return Err(MediaError::Corrupt("PNG does not start with IHDR".to_owned()));
        }
        pos = pos.saturating_add(len).saturating_add(12); // length + type, data, CRC
    }
    let (width, height) = size.ok_or_else(|| truncated("PNG header"))?;
    Ok(Header { width, height, exif })
}

/// The EXIF orientation (1..=8); 1 when it is missing or unreadable: a broken EXIF block
/// costs the rotation, never the photo.
fn exif_orientation(tiff: &[u8]) -> u8 {
    let Ok(exif) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return 1;
    };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|field| field.value.get_uint(0))
        .and_then(|value| u8::try_from(value).ok())
        .filter(|value| (1..=8).contains(value))
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------------------
// Pixels.

/// An 8-bit RGB image, rows packed.
#[derive(Debug)]
pub(super) struct Rgb {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) data: Vec<u8>,
}

/// The size that fits `long_edge` on the longer side, keeping the aspect; never larger.
fn fit(width: u32, height: u32, long_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_edge {
        return (width, height);
    }
    let scale = |side: u32| {
        let scaled = (u64::from(side) * u64::from(long_edge) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled).unwrap_or(long_edge).max(1)
    };
    (scale(width), scale(height))
}

fn decode_jpeg(bytes: &[u8], target_w: u32, target_h: u32, max_pixels: u64) -> Result<Rgb, MediaError> {
    use jpeg_decoder::PixelFormat;
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(usize::try_from(max_pixels.saturating_mul(4)).unwrap_or(usize::MAX));
    // Decode straight at 1/2, 1/4 or 1/8 scale (in the DCT domain) when the target allows:
    // a 12 MP photo for a 1600 px target is decoded at 2000×1500, a quarter of the work.
    let request = |side: u32| u16::try_from(side).unwrap_or(u16::MAX);
    decoder.scale(request(target_w), request(target_h)).map_err(jpeg_error)?;
    let pixels = decoder.decode().map_err(jpeg_error)?;
    let info = decoder.info().ok_or_else(|| MediaError::Corrupt("JPEG without a frame".to_owned()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let count = width as usize * height as usize;
    let data = match info.pixel_format {
        PixelFormat::RGB24 => pixels,
        PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        // Adobe CMYK JPEGs store inverted CMYK: ink = 255 - value.
        PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let k = u32::from(p[3]);
                [p[0], p[1], p[2]].map(|c| ((u32::from(c) * k + 127) / 255) as u8)
            })
            .collect(),
        PixelFormat::L16 => {
            return Err(MediaError::UnsupportedFormat { format: "16-bit lossless JPEG" });
        }
    };
    if data.len() < count * 3 {
        return Err(MediaError::Corrupt("JPEG decoded to fewer pixels than its size".to_owned()));
    }
    Ok(Rgb { width, height, data })
}

fn jpeg_error(error: jpeg_decoder::Error) -> MediaError {
    match error {
        jpeg_decoder::Error::Unsupported(feature) => {
            let format = match feature {
                jpeg_decoder::UnsupportedFeature::ArithmeticEntropyCoding => "arithmetic-coded JPEG",
                jpeg_decoder::UnsupportedFeature::Hierarchical => "hierarchical JPEG",
                _ => "JPEG variant",
            };
            MediaError::UnsupportedFormat { format }
        }
        jpeg_decoder::Error::Io(e) => MediaError::Corrupt(format!("JPEG: {e}")),
        other => MediaError::Corrupt(format!("JPEG: {other}")),
    }
}

fn decode_png(bytes: &[u8], max_pixels: u64) -> Result<Rgb, MediaError> {
    use png::ColorType;
    let limit = usize::try_from(max_pixels.saturating_mul(8)).unwrap_or(usize::MAX);
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: limit });
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let png_error = |e: png::DecodingError| match e {
        png::DecodingError::LimitsExceeded => {
            MediaError::TooLarge { what: "decoded bytes", limit: limit as u64, found: limit as u64 + 1 }
        }
        other => MediaError::Corrupt(format!("PNG: {other}")),
    };
    let mut reader = decoder.read_info().map_err(png_error)?;
    let size = reader.output_buffer_size().ok_or_else(|| MediaError::Corrupt("PNG: size overflows".to_owned()))?;
    let mut buffer = vec![0; size];
    let frame = reader.next_frame(&mut buffer).map_err(png_error)?;
    buffer.truncate(frame.buffer_size());
    let (width, height) = (frame.width, frame.height);
    // Transparent pixels are composited over white, as a viewer would show them.
    let over_white = |c: u8, a: u8| ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8;
    let data = match frame.color_type {
        ColorType::Rgb => buffer,
        ColorType::Rgba => buffer
            .chunks_exact(4)
            .flat_map(|p| [over_white(p[0], p[3]), over_white(p[1], p[3]), over_white(p[2], p[3])])
            .collect(),
        ColorType::Grayscale => buffer.iter().flat_map(|&l| [l, l, l]).collect(),
        ColorType::GrayscaleAlpha => buffer.chunks_exact(2).flat_map(|p| [over_white(p[0], p[1]); 3]).collect(),
        ColorType::Indexed => {
            return Err(MediaError::Corrupt("PNG palette was not expanded".to_owned()));
        }
    };
    if data.len() < width as usize * height as usize * 3 {
        return Err(MediaError::Corrupt("PNG decoded to fewer pixels than its size".to_owned()));
    }
    Ok(Rgb { width, height, data })
}

/// Lanczos3 resize (in place of the source when the size already fits).
fn resize(source: Rgb, width: u32, height: u32) -> Result<Rgb, MediaError> {
    if source.width == width && source.height == height {
        return Ok(source);
    }
    resize_ref(&source, width, height)
}

fn resize_ref(source: &Rgb, width: u32, height: u32) -> Result<Rgb, MediaError> {
    let internal = |e: &dyn std::fmt::Display| MediaError::Corrupt(format!("resize: {e}"));
    if source.width == width && source.height == height {
        return Ok(Rgb { width, height, data: source.data.clone() });
    }
    // Typed to RGB8: the untyped `Resizer::resize` compiles every pixel type for every CPU
    // extension in, 3.2 MB of the shipped library (docs/adr/0009).
    let src =
        TypedImageRef::<U8x3>::from_buffer(source.width, source.height, &source.data).map_err(|e| internal(&e))?;
    let mut data = vec![0u8; width as usize * height as usize * 3];
    let mut dst = TypedImage::<U8x3>::from_buffer(width, height, &mut data).map_err(|e| internal(&e))?;
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize_typed(&src, &mut dst, &options).map_err(|e| internal(&e))?;
    drop(dst);
    Ok(Rgb { width, height, data })
}

/// Applies the EXIF orientation so the pixels are upright (1 = already upright).
pub(super) fn orient(image: Rgb, orientation: u8) -> Rgb {
    if !(2..=8).contains(&orientation) {
        return image;
    }
    let (w, h) = (image.width as usize, image.height as usize);
    let swaps = orientation >= 5;
    let (out_w, out_h) = if swaps { (h, w) } else { (w, h) };
    let mut data = vec![0; w * h * 3];
    for oy in 0..out_h {
        for ox in 0..out_w {
            // Which source pixel lands at (ox, oy).
            let (ix, iy) = match orientation {
                2 => (w - 1 - ox, oy),
                3 => (w - 1 - ox, h - 1 - oy),
                4 => (ox, h - 1 - oy),
                5 => (oy, ox),
                6 => (oy, h - 1 - ox),
                7 => (w - 1 - oy, h - 1 - ox),
                _ => (w - 1 - oy, ox), // 8
            };
            let from = (iy * w + ix) * 3;
            let to = (oy * out_w + ox) * 3;
            data[to..to + 3].copy_from_slice(&image.data[from..from + 3]);
        }
    }
    Rgb { width: out_w as u32, height: out_h as u32, data }
}

/// Baseline JPEG, 4:2:0, JFIF header and nothing else.
fn encode_jpeg(image: &Rgb, quality: u8) -> Result<Vec<u8>, MediaError> {
    let (Ok(width), Ok(height)) = (u16::try_from(image.width), u16::try_from(image.height)) else {
        return Err(MediaError::InvalidOptions("output over 65535 px".to_owned()));
    };
    let mut out = Vec::with_capacity(image.data.len() / 8);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    encoder
        .encode(&image.data, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| MediaError::Corrupt(format!("JPEG encoder: {e}")))?;
    Ok(out)
}
