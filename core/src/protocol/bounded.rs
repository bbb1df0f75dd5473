//! Counting a CBOR message's data items before decoding it.
//!
//! Decoding allocates per item far more than the item's wire size: an empty byte string is one
//! byte on the wire and a 24-byte `Vec` header in memory, an empty push a few bytes and 72.
//! A 16 MiB body of one-byte items would cost hundreds of MB to decode, so a receiver counts
//! the items first (a walk over the headers, nothing allocated per item) and refuses a message
//! with more than it accepts.

use super::DecodeError;

/// Deepest nesting accepted (the sync messages nest four levels).
const MAX_DEPTH: usize = 32;

/// The number of data items (every scalar, string, array, map, tag and each nested item) in
/// the one CBOR item at the start of `bytes`; an error once it passes `max_items`, or when
/// the bytes are not well-formed CBOR.
pub(crate) fn count_items(bytes: &[u8], max_items: u64) -> Result<u64, DecodeError> {
    let malformed = |why: &str| DecodeError::Malformed(why.to_owned());
    let mut at = 0usize;
    let mut items = 0u64;
    // Items left in each open container (`None`: indefinite, ends at a break byte).
    let mut open: Vec<Option<u64>> = Vec::new();
    loop {
        let b = *bytes.get(at).ok_or_else(|| malformed("the message is cut short"))?;
        at += 1;
        if b == 0xff {
            // A break ends the innermost indefinite container, which then counts as one item done.
            if open.pop() != Some(None) {
                return Err(malformed("a break outside an indefinite container"));
            }
        } else {
            items += 1;
            if items > max_items {
                return Err(DecodeError::TooManyItems { max: max_items });
            }
            let (major, info) = (b >> 5, b & 0x1f);
            let argument = match info {
                0..=23 => Some(u64::from(info)),
                24..=27 => {
                    let width = 1usize << (info - 24);
                    let end = at.checked_add(width).filter(|&e| e <= bytes.len());
                    let raw = bytes.get(at..end.ok_or_else(|| malformed("the message is cut short"))?);
                    let raw = raw.ok_or_else(|| malformed("the message is cut short"))?;
                    at += width;
                    Some(raw.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
                }
                31 => None,
                _ => return Err(malformed("reserved CBOR header")),
            };
            match (major, argument) {
                (0 | 1 | 7, Some(_)) | (6, None) => {
                    if major == 6 {
                        return Err(malformed("an indefinite tag"));
                    }
                }
                (0 | 1 | 7, None) => return Err(malformed("an indefinite scalar")),
                (2 | 3, Some(len)) => {
                    at = usize::try_from(len)
                        .ok()
                        .and_then(|len| at.checked_add(len))
                        .filter(|&end| end <= bytes.len())
                        .ok_or_else(|| malformed("a string runs past the message"))?;
                }
                (2 | 3, None) | (4 | 5, None) => {
                    if open.len() >= MAX_DEPTH {
                        return Err(malformed("nested too deep"));
                    }
                    // An indefinite string is a container of definite strings.
                    open.push(None);
                    continue;
                }
                (4, Some(n)) | (5, Some(n)) | (6, Some(n)) => {
                    let n = match major {
                        4 => n,
                        5 => n.checked_mul(2).ok_or_else(|| malformed("a map too large"))?,
                        _ => 1, // a tag wraps one item
                    };
                    if n > 0 {
                        if open.len() >= MAX_DEPTH {
                            return Err(malformed("nested too deep"));
                        }
                        open.push(Some(n));
                        continue;
                    }
                }
                _ => return Err(malformed("unknown CBOR major type")),
            }
        }
        // One item is complete: count it off its container, closing the containers it fills.
        loop {
            match open.last_mut() {
                None => return Ok(items),
                Some(None) => break,
                Some(Some(left)) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Push, SyncRequest};
    use serde_bytes::ByteBuf;

    fn body(request: &SyncRequest) -> Vec<u8> {
        request.encode()[7..].to_vec()
    }

    #[test]
    fn counts_what_decoding_would_allocate_for() {
        let request = SyncRequest {
            cursor: 3,
            pushes: vec![Push {
                ticket_id: "t".into(),
                changes: vec![ByteBuf::from(vec![1, 2]), ByteBuf::from(vec![])],
                heads: vec![],
            }],
        };
        let n = count_items(&body(&request), u64::MAX).expect("well formed");
        // map(2), "cursor", 3, "pushes", [push], map(3), 3 keys, "t", [changes], 2 byte strings,
        // [] heads.
        assert_eq!(n, 14);
        assert!(matches!(count_items(&body(&request), 13), Err(DecodeError::TooManyItems { max: 13 })));
    }

    #[test]
    fn cut_or_malformed_messages_are_refused_without_panicking() {
        let request = SyncRequest { cursor: 1, pushes: vec![Push { ticket_id: "abc".into(), ..Default::default() }] };
        let bytes = body(&request);
        for cut in 0..bytes.len() {
            assert!(count_items(&bytes[..cut], u64::MAX).is_err(), "cut at {cut}");
        }
        for bad in [&[0xff][..], &[0x1c], &[0x9f, 0x01], &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]] {
            assert!(count_items(bad, u64::MAX).is_err(), "{bad:?}");
        }
        // Indefinite containers and strings close with a break.
        assert_eq!(count_items(&[0x9f, 0x01, 0x5f, 0x41, 0x00, 0xff, 0xff], u64::MAX).expect("ok"), 4);
        let deep = vec![0x81; 100];
        assert!(count_items(&deep, u64::MAX).is_err(), "too deep");
    }
}
