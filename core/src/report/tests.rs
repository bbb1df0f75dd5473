//! Tests of the service report.
