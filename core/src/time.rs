//! Time: every timestamp in fieldsync is UTC milliseconds since the Unix epoch.

/// UTC milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current time in UTC milliseconds.
pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Formats UTC milliseconds as RFC 3339 (for people and logs), or the raw number when out of range.
pub fn to_rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}
