//! openclaw-lock-sweeper's modules, in the order a sweep runs through them:
//! resolve the configuration, walk the candidates, judge each, act, report.
//! The binary (`main.rs`) only wires them together; the library exists so the
//! fuzz targets and benchmarks can reach the parser and the judge.

pub mod cli;
pub mod config;
pub mod error;
pub mod exec;
pub mod exit_code;
pub mod gateway;
pub mod install;
pub mod judge;
pub mod lock;
pub mod log;
pub mod profiles;
pub mod refresh_log;
pub mod remove;
pub mod report;
pub mod rows;
pub mod sqlite;
pub mod sweep;
pub mod walk;
pub mod watch;
