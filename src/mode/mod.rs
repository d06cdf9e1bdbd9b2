//! How the sweeper runs besides a single sweep: beside the gateway
//! (`watch`), in front of it, replaced by it (`exec`), or copying itself onto
//! a shared volume (`install`).

pub mod exec;
pub mod install;
pub mod watch;
