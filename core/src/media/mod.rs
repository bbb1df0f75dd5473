//! Photos and signatures, pure and without I/O beyond reading the photo file it is handed.
//!
//! - [`process_photo`]: a camera JPEG or a PNG becomes an upright, metadata-free JPEG of at
//!   most 1600 px (long edge) plus a 320 px thumbnail, each with its SHA-256. The format is
//!   sniffed from the bytes and the dimensions read from the header before anything is
//!   decoded, so decompression bombs are refused in bounded memory. The same input always
//!   gives the same bytes, so the same photo added twice is one blob.
//! - [`render_signature`]: the customer's strokes on the pad become an anti-aliased PNG.
//!
//! Every failure is a [`MediaError`]; no input makes these functions panic.

mod photo;
mod signature;

#[cfg(test)]
mod tests;

pub use photo::{PhotoOptions, PhotoSource, ProcessedPhoto, process_photo};
pub use signature::{SignatureBackground, SignatureOptions, StrokePoint, render_signature};

/// Why a photo or a signature could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The input is an image format the pipeline does not take (HEIC, WebP, GIF, TIFF, ...)
    /// or not an image at all. The apps convert HEIC to JPEG with the platform API first.
    #[error("unsupported image format: {format} (only JPEG and PNG are accepted)")]
    UnsupportedFormat {
        /// The format recognised from the file's first bytes, e.g. "HEIC", or "unknown".
        format: &'static str,
    },
    /// The input is over a limit: its size in bytes, its pixel count, or a signature's points.
    #[error("{what} too large: {found} is over the limit of {limit}")]
    TooLarge {
        /// What was measured: "input bytes", "pixels", "signature points".
        what: &'static str,
        /// The limit in force.
        limit: u64,
        /// What the input has (or claims in its header).
        found: u64,
    },
    /// The image is damaged: truncated, garbage inside, impossible dimensions.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// The photo file could not be read.
    #[error("cannot read photo: {0}")]
    Io(String),
    /// The signature's strokes are not usable (NaN, off the pad, nothing drawn).
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// An option is out of range (a zero long edge, a JPEG quality over 100, ...).
    #[error("invalid media option: {0}")]
    InvalidOptions(String),
}

/// Lower-case hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
