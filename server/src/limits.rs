//! Bounded cost per pushed change (issue 13, attack 7).
//!
//! Automerge's `Change::try_from` inflates a compressed change chunk without a bound, then
//! walks every op the columns describe — and run-length encoding lets a few bytes describe
//! billions of ops (or of predecessors per op). So the server looks at each pushed chunk
//! itself before automerge sees it, reading only the chunk header and two columns:
//!
//! - the chunk must be an uncompressed change (type 1). Devices send `Change::raw_bytes()`,
//!   which is always the uncompressed chunk (docs/sync-protocol.md), so a compressed chunk
//!   (type 2) or a document chunk (type 0) never comes from an honest device, and refusing
//!   them means the inflated size of a change *is* its size on the wire;
//! - its size is at most [`PushLimits::max_change_bytes`];
//! - its op count (the rows of the `action` column) and its predecessor count (the sum of the
//!   `pred` group column) are at most [`PushLimits::max_change_ops`], counted over the
//!   run-length encoding without expanding it.
//!
//! Per push: at most [`PushLimits::max_push_changes`] changes and
//! [`PushLimits::max_push_ops`] ops; per document: what the push would make it (ops, changes,
//! stored bytes) stays under the `max_document_*` caps. Every refusal is a reason string the
//! push's rejection carries; the other tickets of the request go on.

use automerge::{Automerge, Change, ReadDoc};
use fieldsync_core::protocol;

/// Caps on what one push may cost. The defaults are far above what an honest device sends
/// (a device action is one change of a few dozen ops; a signature's strokes are the largest
/// value, at most 256 KiB) and at least the device's own per-request budget
/// ([`protocol::RequestBudget::DEVICE`]). Together they keep the server's peak memory for any
/// one request under 16 MiB (the `memory` bench suite measures it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushLimits {
    /// Largest sync request body (413 beyond). Default 2 MiB: twice what a device puts in one
    /// request ([`protocol::RequestBudget::DEVICE`]), and the body and its decoded copy are
    /// held together while a request is read.
    pub max_request_bytes: usize,
    /// Largest change chunk (its inflated size: compressed chunks are refused). Default 384 KiB
    /// (a signature's strokes, the largest value, are at most 256 KiB).
    pub max_change_bytes: usize,
    /// Most ops in one change, and most predecessors summed over its ops. Default 10,000.
    pub max_change_ops: u64,
    /// Most changes in one push (one ticket). Default 2,000.
    pub max_push_changes: usize,
    /// Most ops in one push, summed over its changes. Default 10,000 (at most
    /// `max_request_ops`, so that a push within its caps always fits a request).
    pub max_push_ops: u64,
    /// Most bytes of change chunks in one push. Default 768 KiB (at most
    /// `max_request_change_bytes`).
    pub max_push_bytes: usize,
    /// Most ops a ticket document may hold after a push. Default 25,000: a busy ticket holds a
    /// few thousand, and every later request that touches the ticket loads all of them (about
    /// 400 bytes each once loaded).
    pub max_document_ops: u64,
    /// Most changes a ticket document may hold after a push. Default 20,000.
    pub max_document_changes: u64,
    /// Most CBOR data items in one sync request (each change, head, push and field is one):
    /// decoding costs tens of bytes per item however short it is on the wire. Default 100,000.
    pub max_request_items: u64,
    /// Most pushes (tickets) one request may change: each loads and caches a document.
    /// Default 128.
    pub max_request_pushes: usize,
    /// Most ops one request may add over all its pushes: the documents a request writes stay
    /// cached, and judging a change holds its author's frame: about 1 KB per op. Default 10,000.
    pub max_request_ops: u64,
    /// Most bytes of changes one request may add over all its pushes (a document keeps both
    /// the change and its values). Default 768 KiB.
    pub max_request_change_bytes: usize,
}

impl Default for PushLimits {
    fn default() -> Self {
        PushLimits {
            max_request_bytes: 2 * 1024 * 1024,
            max_change_bytes: 384 * 1024,
            max_change_ops: 10_000,
            max_push_changes: 2_000,
            max_push_ops: 10_000,
            max_push_bytes: 768 * 1024,
            max_document_ops: 25_000,
            max_document_changes: 20_000,
            max_request_items: 100_000,
            max_request_pushes: 128,
            max_request_ops: 10_000,
            max_request_change_bytes: 768 * 1024,
        }
    }
}

/// The Automerge binary chunk magic bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk type of a document (a saved snapshot).
pub(crate) const CHUNK_DOCUMENT: u8 = 0;
/// Chunk type of an uncompressed change.
pub(crate) const CHUNK_CHANGE: u8 = 1;
/// Chunk type of a deflated change.
const CHUNK_COMPRESSED_CHANGE: u8 = 2;
/// Column spec of a change's `action` column: id 4, type 2 (unsigned integer, RLE).
const ACTION_COLUMN: u64 = (4 << 4) | 2;
/// Column spec of a change's `pred` group column: id 7, type 0 (group counts, RLE).
const PRED_GROUP_COLUMN: u64 = 7 << 4;
/// The deflate bit of a column spec.
const DEFLATE_BIT: u64 = 0b1000;

/// Why a pushed change chunk is refused before automerge parses it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeRefusal {
    /// Not a well-formed uncompressed change chunk.
    #[error("does not parse: {0}")]
    Malformed(String),
    /// Well-formed, but above a cap of [`PushLimits`].
    #[error("{0}")]
    AboveLimit(String),
    /// Well-formed, but holding operations no ticket is made of ([`TICKET_ACTIONS`]).
    #[error("{0}")]
    Unsupported(String),
}

/// The operations a ticket is made of, by their code in a change's `action` column: make a
/// map (0), put a value (1), make a list (2), delete (3). fieldsync writes no text, counter
/// increment, table or mark (4–7), and Automerge's handling of those is where forged changes
/// panicked it or left documents it could not read back: a mark on a list's element made every
/// read of that list panic (`op_numbers::forged`), on the server and on every device it reached.
pub const TICKET_ACTIONS: [u64; 4] = [0, 1, 2, 3];

fn malformed(why: impl Into<String>) -> ChangeRefusal {
    ChangeRefusal::Malformed(why.into())
}

/// What a change chunk costs, read without expanding it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeCost {
    /// Bytes of the chunk.
    pub bytes: usize,
    /// Ops it holds.
    pub ops: u64,
    /// Predecessor references over all its ops.
    pub preds: u64,
}

/// Reads a change chunk's header and op counts, refusing anything above `limits` or not an
/// uncompressed change. Never allocates in proportion to what the chunk claims.
pub fn change_cost(bytes: &[u8], limits: &PushLimits) -> Result<ChangeCost, ChangeRefusal> {
    if bytes.len() > limits.max_change_bytes {
        return Err(ChangeRefusal::AboveLimit(format!(
            "a change of {} bytes is above the limit of {}",
            bytes.len(),
            limits.max_change_bytes
        )));
    }
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != MAGIC {
        return Err(malformed("not an Automerge chunk"));
    }
    r.take(4)?; // checksum: automerge verifies it
    match r.byte()? {
        CHUNK_CHANGE => {}
        CHUNK_COMPRESSED_CHANGE => {
            return Err(ChangeRefusal::AboveLimit(
                "compressed change chunks are not accepted (their inflated size is unbounded): send Change::raw_bytes()"
                    .into(),
            ));
        }
        other => return Err(malformed(format!("chunk type {other} is not a change"))),
    }
    let length = r.uleb()?;
    if usize::try_from(length).ok() != Some(r.remaining()) {
        return Err(malformed("the chunk's length does not match its bytes"));
    }
    let deps = r.uleb()?;
    for _ in 0..deps {
        r.take(32)?;
    }
    r.length_prefixed()?; // actor
    r.uleb()?; // seq
    r.uleb()?; // start op
    r.sleb()?; // time
    r.length_prefixed()?; // message
    let other_actors = r.uleb()?;
    for _ in 0..other_actors {
        r.length_prefixed()?;
    }
    let columns = r.uleb()?;
    let mut specs = Vec::new();
    for _ in 0..columns {
        let spec = r.uleb()?;
        let len = r.uleb()?;
        if spec & DEFLATE_BIT != 0 {
            return Err(malformed("deflated columns are not accepted in a change"));
        }
        specs.push((spec, usize::try_from(len).map_err(|_| malformed("a column is longer than the chunk"))?));
    }
    let mut cost = ChangeCost { bytes: bytes.len(), ..ChangeCost::default() };
    for (spec, len) in specs {
        let data = r.take(len)?;
        match spec {
            ACTION_COLUMN => {
                let mut foreign = None;
                cost.ops = rle_rows_and_sum(data, limits.max_change_ops, |action| {
                    if !TICKET_ACTIONS.contains(&action) {
                        foreign.get_or_insert(action);
                    }
                })?
                .0;
                if let Some(action) = foreign {
                    return Err(ChangeRefusal::Unsupported(format!(
                        "a change with operations of kind {action} (text, counter, table or mark), which no ticket holds"
                    )));
                }
            }
            PRED_GROUP_COLUMN => cost.preds = rle_rows_and_sum(data, limits.max_change_ops, |_| {})?.1,
            _ => {}
        }
    }
    if cost.ops > limits.max_change_ops || cost.preds > limits.max_change_ops {
        return Err(ChangeRefusal::AboveLimit(format!(
            "a change of {} ops and {} predecessors is above the limit of {}",
            cost.ops, cost.preds, limits.max_change_ops
        )));
    }
    Ok(cost)
}

/// Checks every chunk of a push against `limits` and parses them; the reason of the first
/// refusal otherwise.
pub(crate) fn parse_push(chunks: &[impl AsRef<[u8]>], limits: &PushLimits) -> Result<Vec<Change>, String> {
    if chunks.len() > limits.max_push_changes {
        return Err(format!("{} changes in one push is above the limit of {}", chunks.len(), limits.max_push_changes));
    }
    let (mut ops, mut bytes) = (0u64, 0usize);
    for (n, chunk) in chunks.iter().enumerate() {
        let cost = change_cost(chunk.as_ref(), limits).map_err(|e| match e {
            ChangeRefusal::Malformed(why) => format!("change {n} does not parse: {why}"),
            ChangeRefusal::AboveLimit(why) | ChangeRefusal::Unsupported(why) => format!("change {n}: {why}"),
        })?;
        ops = ops.saturating_add(cost.ops);
        bytes = bytes.saturating_add(cost.bytes);
    }
    if ops > limits.max_push_ops {
        return Err(format!("{ops} ops in one push is above the limit of {}", limits.max_push_ops));
    }
    if bytes > limits.max_push_bytes {
        return Err(format!("{bytes} bytes of changes in one push is above the limit of {}", limits.max_push_bytes));
    }
    let mut changes = Vec::with_capacity(chunks.len());
    for (n, chunk) in chunks.iter().enumerate() {
        changes.push(Change::try_from(chunk.as_ref()).map_err(|e| format!("change {n} does not parse: {e}"))?);
    }
    Ok(changes)
}

/// Which pushes of a request go over the request's budget (pushes, ops, change bytes), in
/// request order: `Some(reason)` for each push refused. A push's changes are counted as sent
/// (before replays are filtered out), so an honest device whose pending changes pass the
/// budget gets the rest through on its next sync.
pub(crate) fn over_request_budget(pushes: &[protocol::Push], limits: &PushLimits) -> Vec<Option<String>> {
    let (mut ops, mut bytes) = (0u64, 0usize);
    pushes
        .iter()
        .enumerate()
        .map(|(n, push)| {
            if n >= limits.max_request_pushes {
                return Some(format!(
                    "more than {} tickets in one request: sent again with the next sync",
                    limits.max_request_pushes
                ));
            }
            // A chunk that does not pass is refused by its push anyway: counted as nothing here.
            let costs = push.changes.iter().filter_map(|c| change_cost(c, limits).ok());
            let (push_ops, push_bytes) = costs.fold((0u64, 0usize), |(o, b), c| (o.saturating_add(c.ops), b + c.bytes));
            if ops.saturating_add(push_ops) > limits.max_request_ops
                || bytes.saturating_add(push_bytes) > limits.max_request_change_bytes
            {
                return Some(format!(
                    "this request's changes are above the limit of {} ops or {} bytes: sent again with the next sync",
                    limits.max_request_ops, limits.max_request_change_bytes
                ));
            }
            ops = ops.saturating_add(push_ops);
            bytes = bytes.saturating_add(push_bytes);
            None
        })
        .collect()
}

/// Whether applying `new` to `base` keeps the document within the caps.
pub(crate) fn check_document(base: &Automerge, new: &[Change], limits: &PushLimits) -> Result<(), String> {
    let stats = base.stats();
    let ops = stats.num_ops.saturating_add(new.iter().map(|c| c.len() as u64).sum());
    let changes = stats.num_changes.saturating_add(new.len() as u64);
    if ops > limits.max_document_ops {
        return Err(format!("the ticket would hold {ops} ops, above the limit of {}", limits.max_document_ops));
    }
    if changes > limits.max_document_changes {
        return Err(format!(
            "the ticket would hold {changes} changes, above the limit of {}",
            limits.max_document_changes
        ));
    }
    Ok(())
}

/// Splits concatenated Automerge chunks (a stored document: its snapshot and the change chunks
/// after it) into each chunk's type and bytes, reading only their headers.
pub(crate) fn split_chunks(bytes: &[u8]) -> Result<Vec<(u8, &[u8])>, ChangeRefusal> {
    let mut r = Reader { bytes, at: 0 };
    let mut chunks = Vec::new();
    while r.remaining() > 0 {
        let start = r.at;
        if r.take(4)? != MAGIC {
            return Err(malformed("not an Automerge chunk"));
        }
        r.take(4)?; // checksum: automerge verifies it
        let kind = r.byte()?;
        let length = r.uleb()?;
        r.take(usize::try_from(length).map_err(|_| malformed("a chunk is longer than the bytes"))?)?;
        chunks.push((kind, &bytes[start..r.at]));
    }
    Ok(chunks)
}

/// Rows of an unsigned RLE column and the sum of its values, stopping with an error as soon as
/// either passes `cap`: a run of 2^60 rows costs one step, not 2^60. `each` sees every value
/// (once per run).
fn rle_rows_and_sum(data: &[u8], cap: u64, mut each: impl FnMut(u64)) -> Result<(u64, u64), ChangeRefusal> {
    let mut r = Reader { bytes: data, at: 0 };
    let (mut rows, mut sum) = (0u64, 0u64);
    let over = || ChangeRefusal::AboveLimit(format!("a change describes more than {cap} ops or predecessors"));
    while r.remaining() > 0 {
        let count = r.sleb()?;
        if count > 0 {
            let n = count.unsigned_abs();
            let value = r.uleb()?;
            each(value);
            rows = rows.saturating_add(n);
            sum = sum.saturating_add(n.saturating_mul(value));
        } else if count < 0 {
            for _ in 0..count.unsigned_abs() {
                let value = r.uleb()?;
                each(value);
                rows = rows.saturating_add(1);
                sum = sum.saturating_add(value);
                if rows > cap || sum > cap {
                    return Err(over());
                }
            }
        } else {
            rows = rows.saturating_add(r.uleb()?);
        }
        if rows > cap || sum > cap {
            return Err(over());
        }
    }
    Ok((rows, sum))
}

/// A cursor over untrusted bytes: every read is checked, nothing panics.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ChangeRefusal> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| malformed("the chunk is cut short"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, ChangeRefusal> {
        Ok(self.take(1)?[0])
    }

    fn length_prefixed(&mut self) -> Result<&'a [u8], ChangeRefusal> {
        let n = self.uleb()?;
        self.take(usize::try_from(n).map_err(|_| malformed("a length is larger than the chunk"))?)
    }

    /// Unsigned LEB128, at most 64 bits.
    fn uleb(&mut self) -> Result<u64, ChangeRefusal> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(malformed("a number does not fit 64 bits"));
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("a number does not fit 64 bits"))
    }

    /// Signed LEB128, at most 64 bits.
    fn sleb(&mut self) -> Result<i64, ChangeRefusal> {
        let mut value = 0i64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= i64::from(b & 0x7f).wrapping_shl(shift);
            if b & 0x80 == 0 {
                if shift + 7 < 64 && b & 0x40 != 0 {
                    value |= -1i64 << (shift + 7);
                }
                return Ok(value);
            }
        }
        Err(malformed("a number does not fit 64 bits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    fn change_with(n: usize) -> Vec<u8> {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        for i in 0..n {
            tx.put(automerge::ROOT, format!("k{i}"), i as i64).expect("put");
        }
        tx.commit();
        doc.get_changes(&[]).first().map(|c| c.raw_bytes().to_vec()).unwrap_or_default()
    }

    /// The first change of a document `write` writes on.
    fn change_of(write: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) -> Vec<u8> {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        write(&mut tx);
        tx.commit();
        doc.get_changes(&[]).first().map(|c| c.raw_bytes().to_vec()).unwrap_or_default()
    }

    #[test]
    fn only_the_operations_tickets_are_made_of_are_taken() {
        let ticket_like = change_of(|tx| {
            let list = tx.put_object(automerge::ROOT, "notes", automerge::ObjType::List).expect("list");
            let note = tx.insert_object(&list, 0, automerge::ObjType::Map).expect("map");
            tx.put(&note, "text", "gasket").expect("put");
            tx.delete(&list, 0).expect("delete");
        });
        assert!(change_cost(&ticket_like, &PushLimits::default()).is_ok());
        let text = change_of(|tx| {
            let text = tx.put_object(automerge::ROOT, "summary", automerge::ObjType::Text).expect("text");
            tx.splice_text(&text, 0, 0, "hello").expect("splice");
        });
        let counter = change_of(|tx| {
            tx.put(automerge::ROOT, "visits", automerge::ScalarValue::counter(1)).expect("counter");
            tx.increment(automerge::ROOT, "visits", 1).expect("increment");
        });
        let table = change_of(|tx| {
            tx.put_object(automerge::ROOT, "rows", automerge::ObjType::Table).expect("table");
        });
        let mark = change_of(|tx| {
            let text = tx.put_object(automerge::ROOT, "summary", automerge::ObjType::Text).expect("text");
            tx.splice_text(&text, 0, 0, "hello").expect("splice");
            let mark = automerge::marks::Mark::new("bold".into(), true, 0, 2);
            tx.mark(&text, mark, automerge::marks::ExpandMark::None).expect("mark");
        });
        for (what, bytes) in [("text", text), ("counter", counter), ("table", table), ("mark", mark)] {
            match change_cost(&bytes, &PushLimits::default()) {
                Err(ChangeRefusal::Unsupported(why)) => assert!(why.contains("no ticket holds"), "{what}: {why}"),
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_honest_change_is_counted_exactly() {
        let bytes = change_with(37);
        let cost = change_cost(&bytes, &PushLimits::default()).expect("accepted");
        assert_eq!((cost.ops, cost.preds, cost.bytes), (37, 0, bytes.len()));
        let limits = PushLimits { max_change_ops: 36, ..PushLimits::default() };
        assert!(change_cost(&bytes, &limits).is_err(), "one op above the cap");
    }

    #[test]
    fn compressed_and_cut_chunks_are_refused_without_panicking() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "note", "x".repeat(4096)).expect("put");
        tx.commit();
        let mut change = doc.get_changes(&[])[0].clone();
        let compressed = change.bytes().to_vec();
        assert_eq!(compressed[8], CHUNK_COMPRESSED_CHANGE, "automerge compresses a large change");
        let refused = change_cost(&compressed, &PushLimits::default()).expect_err("refused");
        assert!(refused.to_string().contains("compressed"), "{refused}");
        let raw = change.raw_bytes().to_vec();
        for cut in 0..raw.len() {
            assert!(change_cost(&raw[..cut], &PushLimits::default()).is_err(), "cut at {cut}");
        }
        assert!(change_cost(&raw, &PushLimits::default()).is_ok());
    }

    fn uleb(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn sleb(mut v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    #[test]
    fn leb128_reads_every_width() {
        for v in [0i64, 1, -1, 63, 64, -64, -65, 1 << 40, i64::MIN, i64::MAX] {
            assert_eq!(Reader { bytes: &sleb(v), at: 0 }.sleb(), Ok(v), "{v}");
        }
        for v in [0u64, 127, 128, u64::MAX] {
            assert_eq!(Reader { bytes: &uleb(v), at: 0 }.uleb(), Ok(v), "{v}");
        }
    }

    /// A change chunk whose only column is `spec` with `data` (the checksum is not checked
    /// here: automerge checks it after these counts).
    fn chunk_with_column(spec: u64, data: &[u8]) -> Vec<u8> {
        let mut body = uleb(0); // no deps
        body.extend(uleb(16));
        body.extend([7u8; 16]); // actor
        body.extend([uleb(1), uleb(1), sleb(0), uleb(0), uleb(0)].concat()); // seq, start op, time, message, others
        body.extend([uleb(1), uleb(spec), uleb(data.len() as u64)].concat());
        body.extend(data);
        let mut chunk = MAGIC.to_vec();
        chunk.extend([0u8; 4]);
        chunk.push(CHUNK_CHANGE);
        chunk.extend(uleb(body.len() as u64));
        chunk.extend(body);
        chunk
    }

    #[test]
    fn a_run_of_a_trillion_ops_or_predecessors_is_refused_from_a_few_bytes() {
        let mut run = sleb(1 << 40);
        run.extend(uleb(1));
        for spec in [ACTION_COLUMN, PRED_GROUP_COLUMN] {
            let bomb = chunk_with_column(spec, &run);
            assert!(bomb.len() < 64);
            let refused = change_cost(&bomb, &PushLimits::default()).expect_err("refused");
            assert!(refused.to_string().contains("more than 10000"), "{refused}");
        }
        let deflated = chunk_with_column(ACTION_COLUMN | DEFLATE_BIT, &run);
        let refused = change_cost(&deflated, &PushLimits::default()).expect_err("refused");
        assert!(refused.to_string().contains("deflated"), "{refused}");
        let fine = chunk_with_column(ACTION_COLUMN, &[sleb(3), uleb(1)].concat());
        assert_eq!(change_cost(&fine, &PushLimits::default()).map(|c| c.ops), Ok(3));
    }

    #[test]
    fn a_request_past_its_budget_refuses_the_later_pushes_only() {
        let push = |n: usize| protocol::Push {
            ticket_id: format!("t{n}"),
            changes: vec![change_with(40).into()],
            heads: vec![],
        };
        let limits = PushLimits { max_request_ops: 100, max_request_pushes: 4, ..PushLimits::default() };
        let verdicts = over_request_budget(&(0..5).map(push).collect::<Vec<_>>(), &limits);
        let refused: Vec<bool> = verdicts.iter().map(Option::is_some).collect();
        assert_eq!(refused, [false, false, true, true, true], "80 ops fit, 120 do not; at most 4 pushes");
        assert!(verdicts[4].as_deref().is_some_and(|r| r.contains("more than 4 tickets")));
    }

    #[test]
    fn the_server_takes_whatever_a_device_puts_in_one_request() {
        let (server, device) = (PushLimits::default(), protocol::RequestBudget::DEVICE);
        assert!(server.max_request_pushes >= device.pushes);
        assert!(server.max_request_ops >= device.ops);
        assert!(server.max_request_change_bytes >= device.change_bytes);
        // A push within its caps fits a request, and a request of change bytes fits the body.
        assert!(server.max_push_ops <= server.max_request_ops);
        assert!(server.max_push_bytes <= server.max_request_change_bytes);
        assert!(server.max_request_change_bytes * 2 <= server.max_request_bytes);
        // The largest honest value (a signature's strokes) fits one change.
        assert!(fieldsync_core::workflow::values::MAX_STROKES_BYTES * 3 / 2 <= server.max_change_bytes);
    }

    #[test]
    fn stored_bytes_split_into_their_chunks() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "a", 1).expect("put");
        tx.commit();
        let snapshot = doc.save();
        let before = doc.get_heads();
        for n in 0..2 {
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, "b", n).expect("put");
            tx.commit();
        }
        let mut bytes = snapshot.clone();
        let changes: Vec<Vec<u8>> = doc.get_changes(&before).iter().map(|c| c.raw_bytes().to_vec()).collect();
        bytes.extend(changes.concat());
        let chunks = split_chunks(&bytes).expect("split");
        let kinds: Vec<u8> = chunks.iter().map(|c| c.0).collect();
        assert_eq!(kinds, [CHUNK_DOCUMENT, CHUNK_CHANGE, CHUNK_CHANGE]);
        assert_eq!((chunks[0].1, chunks[1].1, chunks[2].1), (&snapshot[..], &changes[0][..], &changes[1][..]));
        assert!(split_chunks(&bytes[..bytes.len() - 1]).is_err(), "cut short");
        assert_eq!(split_chunks(&[]).map(|c| c.len()), Ok(0));
    }

    #[test]
    fn a_long_run_is_counted_in_one_step() {
        let mut run = sleb(1 << 60);
        run.extend(uleb(1));
        assert!(rle_rows_and_sum(&run, 1_000, |_| {}).is_err());
        let mut nulls = sleb(0);
        nulls.extend(uleb(u64::MAX));
        assert!(rle_rows_and_sum(&nulls, 1_000, |_| {}).is_err());
        let mut literal = sleb(-3);
        literal.extend([uleb(1), uleb(2), uleb(3)].concat());
        assert_eq!(rle_rows_and_sum(&literal, 1_000, |_| {}), Ok((3, 6)));
    }
}
