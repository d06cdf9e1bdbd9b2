//! The lock parser and the judge, on any bytes a `*.lock` file could hold.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use openclaw_lock_sweeper::operator::config::Holders;
use openclaw_lock_sweeper::lockfile::judge::{self, Holder, Rules, Verdict};
use openclaw_lock_sweeper::lockfile::lock;

fuzz_target!(|data: &[u8]| {
    if lock::parse(data) == Err(lock::NotALock::Torn) {
        // Only a prefix of what OpenClaw writes is torn.
        assert!(data.is_empty() || data[0] == b'{');
    }
    if let Ok(lock) = lock::parse(data) {
        // What the signature promises: a positive pid a JS number can hold.
        assert!((1..1 << 53).contains(&lock.pid));
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mtime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (age, _) = judge::age(&lock, mtime, now);
        let min_age = Duration::from_secs(90);
        let rules = Rules {
            holders: &Holders::Pids(vec![1]),
            min_age: Some(min_age),
            grace: judge::GRACE,
            attached: false,
        };
        let verdict = judge::judge(Holder::Signed(&lock), age, &rules);
        if verdict == Verdict::Stale {
            assert!(lock.pid == 1 && age >= min_age);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lock::parse_timestamp(text);
    }
});
