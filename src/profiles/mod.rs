//! Which case the operator is in (issue 25): a stale refresh lock, which a
//! sweep cures, or a burned refresh token, which only a re-login cures. Both
//! make OpenClaw fall back from a profile; OpenClaw records which one in each
//! auth profile's failure state (`usageStats[<profile id>]`, 2026.9.x):
//!
//! - the shared store, when `state/openclaw.sqlite`'s `config_machine_state`
//!   row `auth.sharedStore` is `{"location":"state-db"}`: the row
//!   `authProfiles.state` there;
//! - each agent's `agents/<id>/agent/openclaw-agent.sqlite`, table
//!   `auth_profile_state`, row `primary` (agent `main`'s holds the shared
//!   store of installs not yet moved to the state database);
//! - older installs: `agents/<id>/agent/auth-state.json`.
//!
//! A permanent failure (`disabledReason: "auth_permanent"`, which stays on
//! disk after its window ends; or `cooldownReason: "auth_permanent"` with
//! `cooldownClassification: "wham_account_dead"`) needs a re-login; a
//! transient one (`cooldownReason` `auth` or `timeout`) does not.
//!
//! The neighbouring rows hold the tokens in plain text: they are never
//! selected. Only a profile's `provider` is asked of SQLite (`json_extract`),
//! and only when the id does not name it.

pub mod refresh_log;

use std::ffi::CStr;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{FileType, Mode, OFlags};
use serde_json::Value;
use tracing::{debug, warn};

use crate::database::sqlite::{self, Database};
use crate::operator::report::{Profile, State, shown};

/// The state JSON is a few hundred bytes per profile; anything larger than
/// this is not read.
const MAX_STATE_BYTES: i64 = 1 << 20;

/// An agent's auth stores, in `agents/<id>/agent/`: 2026.9's database, older
/// releases' JSON. The walk notes which agents have one (`also_observe`).
pub const STORES: [&str; 2] = ["openclaw-agent.sqlite", "auth-state.json"];

/// What this sweep did that bears on the profiles.
pub struct Sweep<'a> {
    /// Swept paths under `locks/oauth-refresh/`.
    pub refresh_locks: &'a [String],
    /// The agents' auth stores the walk saw (`agents/<id>/agent/<file>`).
    pub stores: &'a [std::path::PathBuf],
    pub dry_run: bool,
}

/// The profiles of the state dir at `root` with a failure recorded, read
/// only, each with what the gateway's log says of it where one is reachable.
/// A source that cannot be read is logged and skipped.
pub fn read(root: BorrowedFd, sweep: &Sweep) -> Vec<Profile> {
    let mut found = recorded(root, sweep);
    refresh_log::attach(root, &mut found);
    found
}

fn recorded(root: BorrowedFd, sweep: &Sweep) -> Vec<Profile> {
    let mut found = Vec::new();
    if let Some(state) = sqlite::open_dir(root, c"state") {
        shared(state.as_fd(), sweep, &mut found);
    }
    let Some(agents) = sqlite::open_dir(root, c"agents") else {
        return found;
    };
    for id in sqlite::agents_with(sweep.stores, &STORES) {
        let Some(dir) = sqlite::open_dir(agents.as_fd(), &id)
            .and_then(|dir| sqlite::open_dir(dir.as_fd(), c"agent"))
        else {
            continue;
        };
        agent_store(dir.as_fd(), &id, sweep, &mut found);
    }
    found
}

/// The shared store in the state database, when the state database owns it.
fn shared(dir: BorrowedFd, sweep: &Sweep, found: &mut Vec<Profile>) {
    const NAME: &CStr = c"openclaw.sqlite";
    const PATH: &str = "state/openclaw.sqlite";
    let Some(db) = open(dir, NAME, PATH) else {
        return;
    };
    let read = |key: &str| {
        cell(
            &db,
            "value_json",
            "config_machine_state",
            &format!("state_key = '{key}'"),
        )
    };
    let location = read("auth.sharedStore");
    let owned = location
        .as_deref()
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
        .is_some_and(|v| v.get("location").and_then(Value::as_str) == Some("state-db"));
    if !owned {
        return;
    }
    let Some(state) = read("authProfiles.state") else {
        return;
    };
    let provider = |id: &str| {
        provider_field(
            &db,
            "SELECT json_extract(value_json, ?1) FROM config_machine_state \
             WHERE state_key = 'authProfiles.store'",
            id,
        )
    };
    let profiles = judge(&state, PATH, None, provider, sweep);
    if db.read_still_valid(dir, NAME) {
        found.extend(profiles);
    } else {
        debug!(
            path = PATH,
            "changed while read; the next sweep reads its profiles"
        );
    }
}

/// One agent's own store: its database, or, in installs before it, its
/// `auth-state.json`.
fn agent_store(dir: BorrowedFd, id: &CStr, sweep: &Sweep, found: &mut Vec<Profile>) {
    const NAME: &CStr = c"openclaw-agent.sqlite";
    // Most agents have neither: no names are built for them.
    if !exists(dir, NAME) && !exists(dir, c"auth-state.json") {
        return;
    }
    let agent = shown(std::path::Path::new(std::ffi::OsStr::new(
        &*id.to_string_lossy(),
    )));
    let agent = &*agent;
    let path = format!("agents/{agent}/agent/openclaw-agent.sqlite");
    // Agent `main`'s store is the default one: its command needs no --agent.
    let owner = (agent != "main").then_some(agent);
    if !exists(dir, NAME) {
        let path = format!("agents/{agent}/agent/auth-state.json");
        if let Some(state) = legacy_file(dir, &path) {
            found.extend(judge(&state, &path, owner, |_| None, sweep));
        }
        return;
    }
    let Some(db) = open(dir, NAME, &path) else {
        return;
    };
    let Some(state) = cell(
        &db,
        "state_json",
        "auth_profile_state",
        "state_key = 'primary'",
    ) else {
        return;
    };
    let provider = |id: &str| {
        provider_field(
            &db,
            "SELECT json_extract(store_json, ?1) FROM auth_profile_store \
             WHERE store_key = 'primary'",
            id,
        )
    };
    let profiles = judge(&state, &path, owner, provider, sweep);
    if db.read_still_valid(dir, NAME) {
        found.extend(profiles);
    } else {
        debug!(
            path,
            "changed while read; the next sweep reads its profiles"
        );
    }
}

fn open(dir: BorrowedFd, name: &CStr, path: &str) -> Option<Database> {
    match sqlite::open_read_only(dir, name, path, sqlite::Deadline::start()) {
        Ok(db) => db,
        Err(refused) => {
            warn!(path, reason = %refused, "cannot read this OpenClaw database; its auth profiles' state is not reported");
            None
        }
    }
}

/// The text `column` of the row of `table` that `row` selects, when it is
/// no larger than MAX_STATE_BYTES; `None` when there is none (or no such
/// table: a release without it).
fn cell(db: &Database, column: &str, table: &str, row: &str) -> Option<String> {
    let sql = format!(
        "SELECT CASE WHEN length({column}) <= {MAX_STATE_BYTES} THEN {column} END, \
         length({column}) FROM {table} WHERE {row}"
    );
    let result = db.conn.query_row(&sql, [], |r| {
        Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
    });
    match result {
        Ok((Some(text), _)) => Some(text),
        Ok((None, size)) => {
            warn!(
                path = &*db.path,
                table,
                size,
                max = MAX_STATE_BYTES,
                "auth profile state too large; not read"
            );
            None
        }
        Err(rusqlite::Error::QueryReturnedNoRows) => None,
        Err(e) if e.to_string().starts_with("no such table") => None,
        Err(e) => {
            warn!(path = &*db.path, table, reason = %e, "cannot read the auth profile state");
            None
        }
    }
}

/// The `provider` field of profile `id` in its store, as SQLite extracts it:
/// the rest of the store (the tokens) never leaves SQLite.
fn provider_field(db: &Database, sql: &str, id: &str) -> Option<String> {
    if id.contains(['"', '\\']) {
        return None;
    }
    let path = format!("$.profiles.\"{id}\".provider");
    db.conn
        .query_row(sql, [path], |r| r.get::<_, Option<String>>(0))
        .ok()
        .flatten()
        .filter(|p| valid_provider(p))
}

/// OpenClaw's provider ids: short, lower-case words with `-`, `_`, `.`.
fn valid_provider(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `auth-state.json`, opened without following a symlink, when it is a
/// regular file no larger than MAX_STATE_BYTES.
fn legacy_file(dir: BorrowedFd, path: &str) -> Option<String> {
    let fd = rustix::fs::openat(
        dir,
        c"auth-state.json",
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile
        || stat.st_size > MAX_STATE_BYTES
    {
        warn!(
            path,
            size = stat.st_size,
            "auth profile state not a regular file of a sane size; not read"
        );
        return None;
    }
    let mut text = String::new();
    let mut file = std::fs::File::from(fd);
    match file
        .by_ref()
        .take(MAX_STATE_BYTES as u64)
        .read_to_string(&mut text)
    {
        Ok(_) => Some(text),
        Err(e) => {
            warn!(path, reason = %e, "cannot read the auth profile state");
            None
        }
    }
}

/// The profiles of one state document (`{"usageStats": {...}}`) that have a
/// failure recorded; those without are logged at debug level.
fn judge(
    state: &str,
    source: &str,
    agent: Option<&str>,
    provider: impl Fn(&str) -> Option<String>,
    sweep: &Sweep,
) -> Vec<Profile> {
    let Ok(state) = serde_json::from_str::<Value>(state) else {
        warn!(
            path = source,
            "auth profile state is not JSON; its profiles are not reported"
        );
        return Vec::new();
    };
    let Some(stats) = state.get("usageStats").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut profiles = Vec::new();
    for (id, entry) in stats {
        let Some((state, reason)) = classify(entry) else {
            debug!(
                profile = &**id,
                source, "auth profile: no auth failure recorded"
            );
            continue;
        };
        let provider = provider(id).or_else(|| {
            id.split_once(':')
                .map(|(p, _)| p.to_owned())
                .filter(|p| valid_provider(p))
        });
        let hint = match state {
            State::Permanent => relogin_hint(provider.as_deref(), id, agent),
            State::Transient => transient_hint(provider.as_deref(), id, sweep),
        };
        profiles.push(Profile {
            id: id.clone(),
            provider,
            state,
            reason: reason.to_owned(),
            at: entry.get("lastFailureAt").and_then(Value::as_i64),
            source: source.to_owned(),
            hint,
            logged: None,
        });
    }
    profiles
}

/// Permanent or transient, and the reason recorded; `None` for no auth
/// failure (none at all, or another kind: rate limits, billing).
fn classify(entry: &Value) -> Option<(State, &'static str)> {
    let field = |name| entry.get(name).and_then(Value::as_str);
    if field("disabledReason") == Some("auth_permanent") {
        return Some((State::Permanent, "auth_permanent"));
    }
    match (field("cooldownReason"), field("cooldownClassification")) {
        (Some("auth_permanent"), Some("wham_account_dead")) => {
            Some((State::Permanent, "wham_account_dead"))
        }
        (Some("auth"), _) => Some((State::Transient, "auth")),
        (Some("timeout"), _) => Some((State::Transient, "timeout")),
        _ => None,
    }
}

/// The hint for a dead token: the re-login command, when every name in it
/// is `shell_safe`. The names come from the volume, which anyone who can
/// write it controls, and the operator who pastes the hint is often root:
/// for any other name no command is printed, only where the names are.
fn relogin_hint(provider: Option<&str>, id: &str, agent: Option<&str>) -> String {
    if !([Some(id), provider, agent].into_iter().flatten()).all(shell_safe) {
        return "re-login with openclaw models auth login for this profile (its id is the \
                profile field, id in the JSON report; its agent is named in source): no command \
                is printed, as a name holds characters a shell would interpret; the sweep \
                cannot fix this"
            .to_owned();
    }
    let mut command = String::from("openclaw models auth login");
    if let Some(provider) = provider {
        command.push_str(&format!(" --provider {provider}"));
    }
    // In quotes, as the README shows it; a safe name holds no quote, so
    // nothing inside needs escaping.
    command.push_str(&format!(" --profile-id '{id}'"));
    if let Some(agent) = agent {
        command.push_str(&format!(" --agent '{agent}'"));
    }
    format!("run `{command}`; the sweep cannot fix this")
}

/// A name a hint may print: one no shell interprets inside single quotes
/// and no log format escapes (a `\` or `"` would be escaped by the log and
/// no longer be what the shell reads). Real ones fit: profile ids like
/// `openai-codex:default` or `anthropic:user@example.com`, agent ids like
/// `main` or `ops-2`, provider ids.
fn shell_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._+-:=/,".contains(&b))
}

fn transient_hint(provider: Option<&str>, id: &str, sweep: &Sweep) -> String {
    let own = provider.map(|p| format!("locks/oauth-refresh/{}", refresh_lock_name(p, id)));
    let removed = if sweep.dry_run {
        "this sweep would remove"
    } else {
        "this sweep removed"
    };
    match own.filter(|own| sweep.refresh_locks.iter().any(|l| l.starts_with(&**own))) {
        Some(lock) => format!(
            "no re-login needed: the stale refresh lock {removed} ({lock}) was the cause; \
             the cooldown ends by itself"
        ),
        None if !sweep.refresh_locks.is_empty() => format!(
            "no re-login needed: a stale refresh lock {removed} was the likely cause; \
             the cooldown ends by itself"
        ),
        None => "no re-login needed: the cooldown ends by itself".to_owned(),
    }
}

/// The file name OpenClaw gives the refresh lock of one profile
/// (`resolveOAuthRefreshLockPath`): `lock-` and two 64-bit FNV-1a-style
/// digests of `JSON.stringify([provider, profileId])`.
pub fn refresh_lock_name(provider: &str, id: &str) -> String {
    const PRIME: u64 = 1_099_511_628_211;
    let key = serde_json::to_string(&[provider, id]).expect("strings serialize");
    let (mut left, mut right) = (14_695_981_039_346_656_037u64, 11_160_318_154_034_397_263u64);
    for &byte in key.as_bytes() {
        left = (left ^ u64::from(byte)).wrapping_mul(PRIME);
        right = (right ^ (u64::from(byte) + 11_400_714_819_323_198_485)).wrapping_mul(PRIME);
    }
    format!("lock-{left:016x}{right:016x}")
}

fn exists(dir: BorrowedFd, name: &CStr) -> bool {
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_no_shell_or_log_would_change_are_printed_in_a_command() {
        for safe in [
            "openai-codex:default",
            "anthropic:a.b+c@example.com",
            "ops-2",
        ] {
            assert!(shell_safe(safe), "{safe}");
        }
        for unsafe_ in [
            "", "a'b", "a\\b", "a\"b", "$(x)", "`x`", "a b", "a;b", "a\nb", "~x", "*",
        ] {
            assert!(!shell_safe(unsafe_), "{unsafe_:?}");
        }
        let hint = relogin_hint(Some("openai-codex"), "openai-codex:x';id #", None);
        assert!(!hint.contains('`') && !hint.contains("x'"), "{hint}");
    }

    #[test]
    fn refresh_lock_names_are_openclaws() {
        // resolveOAuthRefreshLockPath of OpenClaw 2026.9.6, run on Node 26.
        assert_eq!(
            refresh_lock_name("openai-codex", "openai-codex:default"),
            "lock-7b9da1f0ba485a46aaec13e8c09ceb27"
        );
        assert_eq!(
            refresh_lock_name("openai-codex", "openai-codex:dead@example.com"),
            "lock-7f15a5337e56f2607c636e4f0ee89bb8"
        );
    }
}
