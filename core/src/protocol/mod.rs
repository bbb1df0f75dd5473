//! The sync wire format, shared by devices and the server. Pure: no I/O.
//!
//! One endpoint, `POST /v1/sync`, carries a [`SyncRequest`] and answers a [`SyncResponse`],
//! each in a versioned binary envelope: the 4 bytes `FSYN`, one byte for the message kind,
//! two bytes (big-endian) for the protocol version, then the message as CBOR. Document data
//! is Automerge's own change encoding, untouched.
//!
//! The exchange (docs/sync-protocol.md has a worked example):
//! - The device sends the server change cursor it has fully applied, and for every ticket
//!   with local changes the server has not acknowledged, those changes and its heads.
//! - The server merges what it may accept, then answers with the changes each of the
//!   device's tickets lacks (computed from the heads the device is known to have), an
//!   acknowledgement (the server's heads) for each pushed ticket, the tickets to evict, the
//!   pushes it refused with a reason (and whether it stored them), and the new cursor.
//! - A device that applied the answer sends that cursor next time, which tells the server what
//!   the device now has. One round trip moves changes both ways; a lost answer is simply asked
//!   for again with the old cursor, and a replayed request changes nothing.

mod bounded;

use serde::{Deserialize, Serialize};
use serde_bytes::{ByteArray, ByteBuf};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// The envelope's first four bytes.
pub const MAGIC: &[u8; 4] = b"FSYN";
/// The media type of an envelope on HTTP.
pub const CONTENT_TYPE: &str = "application/vnd.fieldsync.sync";

const KIND_REQUEST: u8 = 1;
const KIND_RESPONSE: u8 = 2;
const HEADER_LEN: usize = 7;

/// How much one sync request of a device carries at most, so that no request needs a server
/// to hold more than a few MiB (issue 13: bounded cost per request). Pushes past the budget
/// wait for the next round of the same sync; a push larger than the whole budget goes alone.
/// The server's own caps (`fieldsync_server::limits::PushLimits`) are at least these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestBudget {
    /// Most tickets pushed in one request.
    pub pushes: usize,
    /// Most ops over all pushed changes.
    pub ops: u64,
    /// Most bytes over all pushed changes.
    pub change_bytes: usize,
}

impl RequestBudget {
    /// What a device puts in one request: 64 tickets, 8,000 ops, 768 KiB of changes.
    pub const DEVICE: RequestBudget = RequestBudget { pushes: 64, ops: 8_000, change_bytes: 768 * 1024 };

    /// Whether a push of `ops` and `bytes` still fits after `used` (pushes, ops, bytes) were
    /// taken; the first push of a request always fits.
    pub fn fits(&self, used: (usize, u64, usize), ops: u64, bytes: usize) -> bool {
        let (pushes, used_ops, used_bytes) = used;
        pushes == 0
            || (pushes < self.pushes
                && used_ops.saturating_add(ops) <= self.ops
                && used_bytes.saturating_add(bytes) <= self.change_bytes)
    }
}

/// An Automerge change hash.
pub type Hash = ByteArray<32>;

/// What a device sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The server cursor of the last response the device applied in full (0 at first).
    pub cursor: u64,
    /// Local changes the server has not acknowledged, per ticket.
    pub pushes: Vec<Push>,
}

/// A device's unacknowledged changes to one ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    /// The ticket.
    pub ticket_id: String,
    /// Automerge change chunks, each as `Change::raw_bytes`, in causal order.
    pub changes: Vec<ByteBuf>,
    /// The device's heads for the ticket once these changes are applied.
    pub heads: Vec<Hash>,
}

/// What the server answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The cursor to send next time, once this response is applied in full.
    pub cursor: u64,
    /// Per ticket: what the device lacks, and the server's heads (an acknowledgement when
    /// `data` is empty).
    pub updates: Vec<Update>,
    /// Pushes the server refused, with the reason; the ticket shows as rejected on the device.
    pub rejections: Vec<Rejection>,
    /// Tickets the device should no longer hold (reassigned away, finished and retained long
    /// enough). Sent after their final update.
    pub evictions: Vec<String>,
    /// More updates wait on the server (a size budget cut this response): sync again.
    pub more: bool,
}

/// Server data for one ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The ticket.
    pub ticket_id: String,
    /// Automerge change chunks or one whole saved document (the fallback when the server
    /// cannot tell what the device has); to be merged with `load_incremental`.
    pub data: Vec<ByteBuf>,
    /// The server's heads for the ticket.
    pub heads: Vec<Hash>,
}

/// A push the server refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The ticket.
    pub ticket_id: String,
    /// Why, for people ("ticket is assigned to another engineer").
    pub reason: String,
    /// Whether the server stored the pushed changes (and undid their effect with a
    /// compensating change, which the update beside this rejection carries): then the refusal
    /// is final. `false`: nothing of the push was stored, and the device keeps its changes
    /// pending and sends them again. Absent in answers of servers older than this field, which
    /// decode as `false`; the device decides what is pending from the server's heads either
    /// way, so an old server's compensated push still settles.
    #[serde(default)]
    pub stored: bool,
}

impl Rejection {
    /// A push refused with nothing of it stored: the device sends it again.
    pub fn not_stored(ticket_id: impl Into<String>, reason: impl Into<String>) -> Self {
        Rejection { ticket_id: ticket_id.into(), reason: reason.into(), stored: false }
    }

    /// A push stored in the history and undone by a compensating server change: final.
    pub fn compensated(ticket_id: impl Into<String>, reason: impl Into<String>) -> Self {
        Rejection { ticket_id: ticket_id.into(), reason: reason.into(), stored: true }
    }
}

/// An envelope that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a fieldsync envelope at all.
    #[error("not a fieldsync sync message")]
    NotAnEnvelope,
    /// A request where a response was expected, or the other way round.
    #[error("unexpected message kind {0}")]
    WrongKind(u8),
    /// A version this build does not speak.
    #[error("protocol version {found} is not supported (this build speaks {supported})")]
    UnsupportedVersion {
        /// The envelope's version.
        found: u16,
        /// This build's.
        supported: u16,
    },
    /// The CBOR body does not match the message.
    #[error("malformed sync message: {0}")]
    Malformed(String),
    /// The message holds more data items than the receiver accepts (see
    /// [`SyncRequest::decode_bounded`]).
    #[error("the sync message holds more than {max} items")]
    TooManyItems {
        /// The receiver's limit.
        max: u64,
    },
}

fn encode<T: Serialize>(kind: u8, message: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(kind);
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    // Writing CBOR into a Vec cannot fail for these plain types.
    let _ = ciborium::into_writer(message, &mut out);
    out
}

fn decode<T: for<'de> Deserialize<'de>>(kind: u8, bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err(DecodeError::NotAnEnvelope);
    }
    if bytes[4] != kind {
        return Err(DecodeError::WrongKind(bytes[4]));
    }
    let version = u16::from_be_bytes([bytes[5], bytes[6]]);
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version, supported: PROTOCOL_VERSION });
    }
    ciborium::from_reader(&bytes[HEADER_LEN..]).map_err(|e| DecodeError::Malformed(e.to_string()))
}

impl SyncRequest {
    /// The request as an envelope.
    pub fn encode(&self) -> Vec<u8> {
        encode(KIND_REQUEST, self)
    }

    /// Reads a request envelope.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(KIND_REQUEST, bytes)
    }

    /// Reads a request envelope holding at most `max_items` CBOR data items: the items are
    /// counted before anything is decoded, so what decoding allocates stays in proportion to
    /// the body (an item costs tens of bytes in memory however short it is on the wire).
    pub fn decode_bounded(bytes: &[u8], max_items: u64) -> Result<Self, DecodeError> {
        if bytes.len() >= HEADER_LEN && &bytes[..4] == MAGIC {
            bounded::count_items(&bytes[HEADER_LEN..], max_items)?;
        }
        decode(KIND_REQUEST, bytes)
    }
}

impl SyncResponse {
    /// The response as an envelope.
    pub fn encode(&self) -> Vec<u8> {
        encode(KIND_RESPONSE, self)
    }

    /// Reads a response envelope.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(KIND_RESPONSE, bytes)
    }
}

/// Converts Automerge heads to wire hashes.
pub fn to_wire(heads: &[automerge::ChangeHash]) -> Vec<Hash> {
    heads.iter().map(|h| ByteArray::new(h.0)).collect()
}

/// Converts wire hashes to Automerge heads.
pub fn from_wire(heads: &[Hash]) -> Vec<automerge::ChangeHash> {
    heads.iter().map(|h| automerge::ChangeHash(h.into_array())).collect()
}

/// The JSON body of every non-2xx HTTP answer from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// A stable code: `unauthorized`, `forbidden`, `not_found`, `bad_request`,
    /// `payload_too_large`, `conflict`, `internal`.
    pub error: String,
    /// A message for people; never internal details.
    pub message: String,
}

/// Who a token belongs to: `GET /v1/me`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The user.
    pub user_id: String,
    /// The device the token was issued to.
    pub device_id: String,
    /// The user's role.
    pub role: crate::workflow::Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let request = SyncRequest {
            cursor: 42,
            pushes: vec![Push {
                ticket_id: "t-1".into(),
                changes: vec![ByteBuf::from(vec![1, 2, 3])],
                heads: vec![ByteArray::new([7; 32])],
            }],
        };
        assert_eq!(SyncRequest::decode(&request.encode()), Ok(request));
        let response = SyncResponse {
            cursor: 43,
            updates: vec![Update { ticket_id: "t-1".into(), data: vec![], heads: vec![ByteArray::new([9; 32])] }],
            rejections: vec![Rejection::not_stored("t-2", "not yours"), Rejection::compensated("t-4", "title")],
            evictions: vec!["t-3".into()],
            more: false,
        };
        assert_eq!(SyncResponse::decode(&response.encode()), Ok(response));
    }

    /// The response as a peer that predates `Rejection::stored` writes and reads it.
    mod before_stored {
        use serde::{Deserialize, Serialize};

        #[derive(Debug, Serialize, Deserialize)]
        pub struct Rejection {
            pub ticket_id: String,
            pub reason: String,
        }

        #[derive(Debug, Default, Serialize, Deserialize)]
        pub struct SyncResponse {
            pub cursor: u64,
            pub updates: Vec<super::Update>,
            pub rejections: Vec<Rejection>,
            pub evictions: Vec<String>,
            pub more: bool,
        }
    }

    #[test]
    fn rejections_decode_across_the_stored_field_in_both_directions() {
        let old = before_stored::SyncResponse {
            cursor: 7,
            rejections: vec![before_stored::Rejection { ticket_id: "t-1".into(), reason: "not yours".into() }],
            ..Default::default()
        };
        let bytes = encode(KIND_RESPONSE, &old);
        let decoded = SyncResponse::decode(&bytes).expect("an old server's answer decodes");
        assert_eq!(decoded.rejections, vec![Rejection::not_stored("t-1", "not yours")]);

        let new =
            SyncResponse { cursor: 8, rejections: vec![Rejection::compensated("t-2", "title")], ..Default::default() };
        let old: before_stored::SyncResponse =
            ciborium::from_reader(&new.encode()[HEADER_LEN..]).expect("an old device reads a new answer");
        assert_eq!((old.rejections[0].ticket_id.as_str(), old.rejections[0].reason.as_str()), ("t-2", "title"));
    }

    #[test]
    fn a_no_op_exchange_is_tiny() {
        let request = SyncRequest { cursor: u64::MAX, pushes: vec![] }.encode();
        let response = SyncResponse { cursor: u64::MAX, ..Default::default() }.encode();
        assert!(request.len() + response.len() < 128, "{} + {}", request.len(), response.len());
    }

    #[test]
    fn bad_envelopes_are_typed_errors() {
        let good = SyncRequest::default().encode();
        assert_eq!(SyncRequest::decode(b"FSY"), Err(DecodeError::NotAnEnvelope));
        assert_eq!(SyncRequest::decode(b"HTTP/1.1 200"), Err(DecodeError::NotAnEnvelope));
        assert_eq!(SyncResponse::decode(&good), Err(DecodeError::WrongKind(KIND_REQUEST)));
        let mut future = good.clone();
        future[5..7].copy_from_slice(&9u16.to_be_bytes());
        assert_eq!(SyncRequest::decode(&future), Err(DecodeError::UnsupportedVersion { found: 9, supported: 1 }));
        let truncated = &good[..good.len() - 1];
        assert!(matches!(SyncRequest::decode(truncated), Err(DecodeError::Malformed(_))));
        let mut garbage = good[..HEADER_LEN].to_vec();
        garbage.extend_from_slice(&[0xff; 40]);
        assert!(matches!(SyncRequest::decode(&garbage), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn a_huge_claimed_length_does_not_allocate_or_panic() {
        let mut bytes = SyncRequest::default().encode()[..HEADER_LEN].to_vec();
        // A map with one key "pushes" whose array claims 2^63 entries.
        bytes.extend_from_slice(&[0xa1, 0x66]);
        bytes.extend_from_slice(b"pushes");
        bytes.extend_from_slice(&[0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(SyncRequest::decode(&bytes), Err(DecodeError::Malformed(_))));
    }
}
