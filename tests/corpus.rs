//! Replays the fuzz corpus (fuzz/corpus/lock, minimized from a libFuzzer run
//! seeded with OpenClaw's real lock files) and any crash the fuzzer saved
//! (fuzz/artifacts/lock) through the parser and the judge, so `cargo test`
//! keeps every input the fuzzer found interesting as a regression test.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use openclaw_lock_sweeper::lockfile::judge::{self, Holder, Rules, Verdict};
use openclaw_lock_sweeper::lockfile::lock;
use openclaw_lock_sweeper::operator::config::Holders;

#[test]
fn fuzz_corpus_and_crashes_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = 0;
    let mut locks = 0;
    for dir in ["corpus/lock", "artifacts/lock"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            inputs += 1;
            if lock::parse(&data) == Err(lock::NotALock::Torn) {
                // Only a prefix of what OpenClaw writes is torn.
                assert!(data.is_empty() || data[0] == b'{');
            }
            if let Ok(l) = lock::parse(&data) {
                locks += 1;
                assert!((1..1 << 53).contains(&l.pid));
                let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
                let (age, _) = judge::age(&l, UNIX_EPOCH, now);
                let min_age = Duration::from_secs(90);
                let rules = Rules {
                    holders: &Holders::Pids(vec![1]),
                    min_age: Some(min_age),
                    grace: judge::GRACE,
                    attached: false,
                };
                if judge::judge(Holder::Signed(&l), age, &rules) == Verdict::Stale {
                    assert!(l.pid == 1 && age >= min_age);
                }
            }
            if let Ok(text) = std::str::from_utf8(&data) {
                let _ = lock::parse_timestamp(text);
            }
        }
    }
    assert!(
        inputs > 1000,
        "the committed corpus is there ({inputs} inputs)"
    );
    assert!(locks > 0, "some inputs are locks");
}
