//! The decision: is a signed lock stale?

use std::time::{Duration, SystemTime};

use crate::config::Holders;
use crate::lock::Lock;

/// Where a lock's age came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeSource {
    CreatedAt,
    /// `createdAt` was missing or not a timestamp.
    Mtime,
}

impl AgeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AgeSource::CreatedAt => "createdAt",
            AgeSource::Mtime => "mtime",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Stale,
    /// The holder may be alive: it is not in the holder set.
    OtherHolder,
    /// Held by a dead holder, but younger than `--min-age`.
    TooYoung,
}

/// A lock's age; a timestamp in the future (clock skew) counts as age zero,
/// so it can never look old enough.
pub fn age(lock: &Lock, mtime: SystemTime, now: SystemTime) -> (Duration, AgeSource) {
    let (born, source) = match lock.created_at_time {
        Some(t) => (t, AgeSource::CreatedAt),
        None => (mtime, AgeSource::Mtime),
    };
    (now.duration_since(born).unwrap_or(Duration::ZERO), source)
}

pub fn judge(lock: &Lock, age: Duration, holders: &Holders, min_age: Option<Duration>) -> Verdict {
    if !holders.contains(lock.pid) {
        Verdict::OtherHolder
    } else if min_age.is_some_and(|min| age < min) {
        Verdict::TooYoung
    } else {
        Verdict::Stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    fn lock(pid: u64, created: Option<u64>) -> Lock {
        Lock {
            pid,
            created_at: created.map(|s| s.to_string()),
            created_at_time: created.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            starttime: None,
        }
    }

    fn secs(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn age_prefers_created_at_and_clamps_the_future() {
        assert_eq!(
            age(&lock(1, Some(100)), secs(50), secs(160)),
            (Duration::from_secs(60), AgeSource::CreatedAt)
        );
        assert_eq!(
            age(&lock(1, None), secs(50), secs(160)),
            (Duration::from_secs(110), AgeSource::Mtime)
        );
        assert_eq!(
            age(&lock(1, Some(500)), secs(50), secs(160)).0,
            Duration::ZERO
        );
    }

    #[test]
    fn judge_cases() {
        let pid1 = Holders::Pids(vec![1]);
        let min = Some(Duration::from_secs(90));
        assert_eq!(
            judge(&lock(1, None), Duration::ZERO, &pid1, None),
            Verdict::Stale
        );
        assert_eq!(
            judge(&lock(7, None), Duration::from_secs(999), &pid1, None),
            Verdict::OtherHolder
        );
        assert_eq!(
            judge(&lock(7, None), Duration::ZERO, &Holders::Any, None),
            Verdict::Stale
        );
        assert_eq!(
            judge(&lock(1, None), Duration::from_secs(89), &pid1, min),
            Verdict::TooYoung
        );
        assert_eq!(
            judge(&lock(1, None), Duration::from_secs(90), &pid1, min),
            Verdict::Stale
        );
        // Another holder is reported as such even when also young.
        assert_eq!(
            judge(&lock(7, None), Duration::ZERO, &pid1, min),
            Verdict::OtherHolder
        );
    }

    proptest! {
        /// Stale exactly when the holder is in the set and the lock is old
        /// enough; never for a pid outside the set, never below min-age.
        #[test]
        fn judge_is_exactly_the_rule(
            pid in 1u64..20,
            set in proptest::collection::vec(1u32..20, 1..4),
            any in any::<bool>(),
            age_s in 0u64..1000,
            min_s in proptest::option::of(0u64..1000),
        ) {
            let holders = if any { Holders::Any } else { Holders::Pids(set.clone()) };
            let min = min_s.map(Duration::from_secs);
            let verdict = judge(&lock(pid, None), Duration::from_secs(age_s), &holders, min);
            let in_set = any || set.iter().any(|&p| u64::from(p) == pid);
            let old_enough = min_s.is_none_or(|m| age_s >= m);
            prop_assert_eq!(verdict == Verdict::Stale, in_set && old_enough);
            if !in_set { prop_assert_eq!(verdict, Verdict::OtherHolder); }
        }
    }
}
