//! The lock files: find the candidates (`walk`), read one safely (`lock`),
//! decide (`judge`), and remove it only if it is still what was judged
//! (`remove`).

pub mod judge;
pub mod lock;
pub mod remove;
pub mod walk;
