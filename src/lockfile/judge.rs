//! The decision: is a candidate stale?
//!
//! A signed lock names its holder: it is stale when that holder is one that
//! cannot be alive (the holder set) and it is older than `--min-age`. A torn
//! lock, a reclaim guard directory and a legacy directory lock name nobody:
//! only their age tells, and they are stale once older than a grace period
//! (or `--min-age`, when longer). While a live gateway holds the state dir
//! (the kernel says so), nothing is stale.

use std::time::{Duration, SystemTime};

use crate::lockfile::lock::Lock;
use crate::operator::config::Holders;

/// How long an unnamed leftover must have been left alone. OpenClaw writes a
/// lock's payload right after creating the file, and holds a reclaim guard
/// only for the few calls of a reclaim: ten seconds is ages for either,
/// and short enough that a restarted gateway's first refresh finds the path
/// free.
pub const GRACE: Duration = Duration::from_secs(10);

/// What a candidate says about its holder.
#[derive(Debug, Clone, Copy)]
pub enum Holder<'a> {
    Signed(&'a Lock),
    /// A torn lock or an empty directory lock: nobody is named.
    Unnamed,
}

/// The rules of one walk.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub holders: &'a Holders,
    pub min_age: Option<Duration>,
    /// The age an unnamed leftover needs at least.
    pub grace: Duration,
    /// A live gateway holds the state dir: keep everything.
    pub attached: bool,
}

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
    /// Younger than this (`--min-age`, or the grace of an unnamed leftover).
    TooYoung(Duration),
    /// A live gateway holds the state dir.
    LiveGateway,
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

pub fn judge(holder: Holder, age: Duration, rules: &Rules) -> Verdict {
    let min_age = match holder {
        _ if rules.attached => return Verdict::LiveGateway,
        Holder::Signed(lock) if !rules.holders.contains(lock.pid) => return Verdict::OtherHolder,
        Holder::Signed(_) => rules.min_age.unwrap_or(Duration::ZERO),
        Holder::Unnamed => rules.min_age.map_or(rules.grace, |m| m.max(rules.grace)),
    };
    if age < min_age {
        Verdict::TooYoung(min_age)
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

    fn rules(holders: &Holders, min_age: Option<u64>) -> Rules<'_> {
        Rules {
            holders,
            min_age: min_age.map(Duration::from_secs),
            grace: GRACE,
            attached: false,
        }
    }

    fn signed(pid: u64, age: u64, rules: &Rules) -> Verdict {
        judge(
            Holder::Signed(&lock(pid, None)),
            Duration::from_secs(age),
            rules,
        )
    }

    #[test]
    fn judge_cases() {
        let pid1 = Holders::Pids(vec![1]);
        let min = Duration::from_secs(90);
        assert_eq!(signed(1, 0, &rules(&pid1, None)), Verdict::Stale);
        assert_eq!(signed(7, 999, &rules(&pid1, None)), Verdict::OtherHolder);
        assert_eq!(signed(7, 0, &rules(&Holders::Any, None)), Verdict::Stale);
        assert_eq!(
            signed(1, 89, &rules(&pid1, Some(90))),
            Verdict::TooYoung(min)
        );
        assert_eq!(signed(1, 90, &rules(&pid1, Some(90))), Verdict::Stale);
        // Another holder is reported as such even when also young.
        assert_eq!(signed(7, 0, &rules(&pid1, Some(90))), Verdict::OtherHolder);
    }

    #[test]
    fn unnamed_leftovers_wait_for_the_grace_or_min_age() {
        let pid1 = Holders::Pids(vec![1]);
        let unnamed = |age, r: &Rules| judge(Holder::Unnamed, Duration::from_secs(age), r);
        // Whatever the holder set: nobody is named.
        for holders in [&pid1, &Holders::Pids(vec![7]), &Holders::Any] {
            assert_eq!(unnamed(9, &rules(holders, None)), Verdict::TooYoung(GRACE));
            assert_eq!(unnamed(10, &rules(holders, None)), Verdict::Stale);
        }
        assert_eq!(
            unnamed(10, &rules(&pid1, Some(5))),
            Verdict::Stale,
            "the grace is a floor"
        );
        assert_eq!(
            unnamed(179, &rules(&pid1, Some(180))),
            Verdict::TooYoung(Duration::from_secs(180))
        );
        let no_grace = Rules {
            grace: Duration::ZERO,
            ..rules(&pid1, None)
        };
        assert_eq!(unnamed(0, &no_grace), Verdict::Stale);
    }

    #[test]
    fn nothing_is_stale_beside_a_live_gateway() {
        let attached = Rules {
            attached: true,
            ..rules(&Holders::Any, None)
        };
        assert_eq!(signed(1, 99_999, &attached), Verdict::LiveGateway);
        assert_eq!(
            judge(Holder::Unnamed, Duration::from_secs(99_999), &attached),
            Verdict::LiveGateway
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
            let verdict = signed(pid, age_s, &rules(&holders, min_s));
            let in_set = any || set.iter().any(|&p| u64::from(p) == pid);
            let old_enough = min_s.is_none_or(|m| age_s >= m);
            prop_assert_eq!(verdict == Verdict::Stale, in_set && old_enough);
            if !in_set { prop_assert_eq!(verdict, Verdict::OtherHolder); }
        }
    }
}
