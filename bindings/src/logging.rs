//! The app's logger (issue 14, Deliver 6; docs/adr/0021): a foreign trait the library's log
//! lines go to, through [`fieldsync_core::logging`], which decides what is logged and at which
//! level. The wrappers install java.util.logging (Kotlin) or OSLog / print (Swift) by default.

use std::sync::Arc;

use fieldsync_core::logging as core_logging;

/// How much to log, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// A failure the app should know of.
    Error,
    /// Something went wrong and will be retried, or was refused.
    Warn,
    /// What sync did: attempts, outcomes, rejections, uploads. No personal data at this level
    /// or above: ids, counts, sizes, durations and kinds of failure only.
    Info,
    /// Each round trip.
    Debug,
    /// Everything.
    Trace,
}

/// Receives the library's log lines. Called on the library's threads, in the order they are
/// logged on each thread: hand the line on and return (no call back into the library).
#[uniffi::export(with_foreign)]
pub trait FieldsyncLogger: Send + Sync {
    /// One line: its level, where it comes from (`fieldsync::sync`), and the text.
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// Sends the library's log lines at `level` and above to `logger`, replacing any logger before.
#[uniffi::export]
pub fn set_logger(level: LogLevel, logger: Arc<dyn FieldsyncLogger>) {
    core_logging::set_logger(level.into(), move |level, target, message| {
        logger.log(level.into(), target.to_owned(), message.to_owned())
    });
}

/// Stops sending log lines to the app.
#[uniffi::export]
pub fn clear_logger() {
    core_logging::clear_logger();
}

impl From<LogLevel> for core_logging::LogLevel {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => core_logging::LogLevel::Error,
            LogLevel::Warn => core_logging::LogLevel::Warn,
            LogLevel::Info => core_logging::LogLevel::Info,
            LogLevel::Debug => core_logging::LogLevel::Debug,
            LogLevel::Trace => core_logging::LogLevel::Trace,
        }
    }
}

impl From<core_logging::LogLevel> for LogLevel {
    fn from(level: core_logging::LogLevel) -> Self {
        match level {
            core_logging::LogLevel::Error => LogLevel::Error,
            core_logging::LogLevel::Warn => LogLevel::Warn,
            core_logging::LogLevel::Info => LogLevel::Info,
            core_logging::LogLevel::Debug => LogLevel::Debug,
            core_logging::LogLevel::Trace => LogLevel::Trace,
        }
    }
}
