//! The server's integration tests, linked into one test binary: each test file used to be a
//! binary of its own, each linking the whole server, which cost minutes of linking and
//! gigabytes of disk in CI.
#![allow(missing_docs)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../fuzz/mod.rs"]
mod fuzz;
#[path = "../fuzz/pushes.rs"]
mod fuzz_pushes;

mod attacks;
mod attacks_forged;
mod attacks_pool;
mod attacks_roles;
mod attacks_ssrf;
mod blob_store;
mod blobs;
mod complaints;
mod console;
mod console_lang;
mod customers;
mod engine;
mod fuzz_regressions;
mod http;
mod manager;
mod pool_groups;
mod postgres;
mod properties;
mod report;
mod reports_index;
mod revisits;
mod route_audit;
mod routing;
mod statistics;
mod storage;
mod sync;
mod tracking;
mod trust;
mod webhooks;
