//! OpenClaw's SQLite databases: the one way they are opened (`sqlite`), and
//! the lock rows judged and, under proof, removed there (`rows`).

pub mod rows;
pub mod sqlite;
