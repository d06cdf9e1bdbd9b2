//! openclaw-lock-sweeper's modules, grouped as a sweep runs through them.
//! The binary (`main.rs`) only wires them together; the library exists so the
//! fuzz targets and benchmarks can reach the parser and the judge.
//!
//! - `operator`: what the operator gives and sees: the command line, the
//!   resolved configuration, the log, the report, the watch's Prometheus
//!   metrics, the exit codes.
//! - `sweep`: one pass over the state dir, which drives the rest:
//!   - `gateway`: the kernel's verdict, whether a gateway may be running;
//!   - `lockfile`: the lock files: walk, judge, remove;
//!   - `database`: the lock rows of OpenClaw's SQLite databases;
//!   - `profiles`: which auth profiles need a re-login, after the sweep.
//! - `mode`: how it runs: once, beside the gateway (watch), in front of it
//!   (exec), or installing itself.
//!
//! Imports run one way, down this list's layers: `operator`'s report and log
//! import nothing that fills them (`tests/layout.rs` holds it).

pub mod database;
pub mod error;
pub mod gateway;
pub mod lockfile;
pub mod mode;
pub mod operator;
pub mod profiles;
pub mod sweep;
