//! What the operator gives and sees: the command line (`cli`), the settings
//! the sweep reads (`config`), the log (`log`), the summary and JSON report
//! (`report`), the watch's Prometheus metrics (`metrics`), and the exit codes
//! (`exit_code`).

pub mod cli;
pub mod config;
pub mod exit_code;
pub mod log;
pub mod metrics;
pub mod report;
