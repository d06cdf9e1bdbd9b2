//! The lock files: find the candidates (`walk`), read one safely (`lock`),
//! decide (`judge`), remove it only if it is still what was judged
//! (`remove`), and all of that for one candidate, counted (`candidate`).

pub mod candidate;
pub mod judge;
pub mod lock;
pub mod remove;
pub mod walk;
