//! The README as a new user meets it: the commands of "Try it" run as
//! written (taken from README.md, not copied here), the deployment it leads
//! with is the recommended one, the Helm chart's address is the one a
//! release publishes, every link and anchor resolves, no figure can go
//! stale, and the file stays short. The deployment snippets themselves are
//! run by tests/deploy/test_deploy.py; the flag table is checked in cli.rs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn readme() -> String {
    read("README.md")
}

/// The body of the fenced block right after `<!-- snippet:NAME -->`, as
/// tests/deploy/test_deploy.py reads it.
fn snippet(text: &str, name: &str) -> String {
    let marker = format!("<!-- snippet:{name} -->\n");
    let at = text
        .find(&marker)
        .unwrap_or_else(|| panic!("README.md has no snippet:{name}"))
        + marker.len();
    let rest = &text[at..];
    assert!(
        rest.starts_with("```"),
        "snippet:{name}: no fenced block right after the marker"
    );
    let body = &rest[rest.find('\n').unwrap() + 1..];
    let end = body
        .find("```")
        .unwrap_or_else(|| panic!("snippet:{name}: unclosed block"));
    body[..end].to_owned()
}

/// From the heading line `heading` to the next heading of the same level.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let level = heading.split(' ').next().unwrap();
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no `{heading}`"))
        + 1;
    let rest = &text[start..];
    let end = rest
        .match_indices(&format!("\n{level} "))
        .next()
        .map_or(rest.len(), |(i, _)| i + 1);
    &rest[..end]
}

/// The lines outside fenced code blocks and outside the block
/// bench/recovery.sh writes (its figures are its output), with their line
/// numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut generated = false;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if line.starts_with(RECOVERY_BEGIN) || line.starts_with(RECOVERY_END) {
            generated = line.starts_with(RECOVERY_BEGIN);
            continue;
        }
        if !fenced && !generated {
            out.push((n + 1, line));
        }
    }
    out
}

/// Whether `header` is the table header bench/recovery.sh writes for the
/// kill point `kill`: its header template with that point's words.
fn is_scripts_header(header: &str, script: &str, kill: &str) -> bool {
    let Some(what) = header
        .strip_prefix("| restart after a kill ")
        .and_then(|rest| rest.split(" |").next())
    else {
        return false;
    };
    script.contains(&format!("(\"{kill}\", \"{what}\","))
        && script.contains(&header.replace(what, "{what}"))
}

const RECOVERY_BEGIN: &str = "<!-- recovery-table: bash bench/recovery.sh -->";
const RECOVERY_END: &str = "<!-- /recovery-table -->";

/// What bench/recovery.sh wrote between its markers in `text` (of `file`).
fn recovery_block<'a>(text: &'a str, file: &str) -> &'a str {
    text.split_once(RECOVERY_BEGIN)
        .and_then(|(_, rest)| rest.split_once(RECOVERY_END))
        .unwrap_or_else(|| panic!("{file} has the recovery-table markers"))
        .0
}

/// A row of a recovery table, split into its cells, each after the first
/// asserted to be a figure the script printed or `never`.
fn measured_cells(row: &str) -> Vec<&str> {
    let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
    for cell in &cells[1..] {
        let figure = cell
            .strip_suffix(" s")
            .is_some_and(|n| n.parse::<f64>().is_ok());
        assert!(figure || *cell == "never", "measured, not typed: {row}");
    }
    cells
}

/// The recovery table is bench/recovery.sh's output, whole: its header and
/// note as the script writes them, each cell a figure it prints, every
/// restart kind measured with the wrapper.
#[test]
fn the_recovery_table_is_bench_recovery_shs_output() {
    let text = readme();
    let block = recovery_block(&text, "README.md");
    let script = read("bench/recovery.sh");
    let lines: Vec<&str> = block.trim().lines().collect();
    assert!(
        lines.len() == 7,
        "a header, a rule, three restart kinds, a note:\n{block}"
    );
    assert!(
        is_scripts_header(lines[0], &script, "oauth"),
        "the header is the script's, for a kill in an OAuth refresh: {}",
        lines[0]
    );
    assert!(
        lines[6].ends_with("By `bash bench/recovery.sh`."),
        "{}",
        lines[6]
    );
    for row in &lines[2..5] {
        let cells = measured_cells(row);
        assert!(
            script.contains(&format!("\"{}\")", cells[0])),
            "a restart kind of the script: {row}"
        );
        assert!(
            cells[3].ends_with(" s") && cells[4].ends_with(" s"),
            "wrap recovers: {row}"
        );
    }
}

/// docs/recovery.md's matrix is bench/recovery.sh's output: a table per kill
/// point the script names, each cell a figure it printed or `never`, and the
/// wrapper recovering in every row of every table.
#[test]
fn the_recovery_matrix_is_bench_recovery_shs_output() {
    let text = read("docs/recovery.md");
    let block = recovery_block(&text, "docs/recovery.md");
    let script = read("bench/recovery.sh");
    let headers: Vec<&str> = block
        .lines()
        .filter(|l| l.starts_with("| restart after a kill "))
        .collect();
    assert_eq!(headers.len(), 4, "one table per kill point:\n{block}");
    for (header, kill) in headers.iter().zip(["oauth", "usage", "plugin", "start"]) {
        assert!(
            is_scripts_header(header, &script, kill),
            "the script's table for a kill at {kill}: {header}"
        );
    }
    let rows: Vec<&str> = block
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| restart after"))
        .collect();
    assert_eq!(rows.len(), 12, "three restart kinds per kill point");
    for row in rows {
        let cells = measured_cells(row);
        assert!(cells[3].ends_with(" s"), "wrap recovers: {row}");
    }
    assert!(
        block.trim_end().ends_with("By `bash bench/recovery.sh`."),
        "{block}"
    );
}

fn cargo_version() -> String {
    let toml = read("Cargo.toml");
    let line = toml.lines().find(|l| l.starts_with("version = ")).unwrap();
    line.trim_start_matches("version = ")
        .trim_matches('"')
        .to_owned()
}

/// `owner/name` of the repository the Dockerfile names: the release
/// publishes `ghcr.io/<owner/name>:<version>` and the chart under
/// `oci://ghcr.io/<owner>/charts`.
fn source_repository() -> String {
    let dockerfile = read("Dockerfile");
    let key = "org.opencontainers.image.source=\"https://github.com/";
    let at = dockerfile
        .find(key)
        .expect("the Dockerfile names its source")
        + key.len();
    let rest = &dockerfile[at..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn published_image() -> String {
    format!("ghcr.io/{}:{}", source_repository(), cargo_version())
}

/// A temp dir laid out as a clone, as far as "Try it" needs one: the demo
/// script, and the test's own build where `cargo build --release` puts its
/// binary (the one step the test does not run: the build is `BIN`).
fn clone_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tests/demo-state.sh");
    write(&script, read("tests/demo-state.sh").as_bytes());
    let release = dir.path().join("target/release");
    fs::create_dir_all(&release).unwrap();
    symlink(BIN, release.join("openclaw-lock-sweeper")).unwrap();
    dir
}

/// `bash -euo pipefail -c BLOCK` in `dir`, with a clean environment.
fn bash(dir: &Path, block: &str, path: &str, vars: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", block])
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .envs(vars.iter().copied());
    run_cmd(cmd)
}

const DEMO: &str = "target/demo";

/// What the README says the sample dir holds after a sweep: the 3 pid-1
/// locks gone, the lock of pid 4242, the foreign file and the user's files
/// kept.
fn assert_swept(demo: &Path, run: &Run) {
    let pid1 = [
        format!("locks/oauth-refresh/sha256-{}.lock", "a".repeat(64)),
        format!(
            "locks/provider-auth-persistence/sha256-{}.lock",
            "b".repeat(64)
        ),
        "agents/main/agent/auth-profiles.json.lock".to_owned(),
    ];
    for gone in &pid1 {
        assert!(
            !demo.join(gone).exists(),
            "{gone} is still there:\n{}",
            run.stderr
        );
    }
    for kept in [
        "agents/work/agent/auth-profiles.json.lock",
        "locks/oauth-refresh/notes.lock",
        "agents/main/agent/auth-profiles.json",
        "agents/main/sessions/s1.jsonl",
    ] {
        assert!(demo.join(kept).exists(), "{kept} is gone:\n{}", run.stderr);
    }
}

/// Each claim the README makes about the dry run and the sweep that follows,
/// found in the README and in the run's log: the dry run's part (up to its
/// summary) and the sweep's.
fn assert_claims(stderr: &str) {
    let text = readme();
    // As a reader sees it: a line break inside a quote is a space.
    let claims = section(&text, "## Try it")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let (dry, real) = stderr
        .split_once("dry run finished: nothing was removed")
        .unwrap_or_else(|| panic!("no dry-run summary:\n{stderr}"));
    let dry_claims = [
        "would remove stale lock (dry run)",
        "kept: held by a pid outside the holder set",
        "kept: not an OpenClaw lock",
        "liveness=\"unknown\"",
    ];
    for claim in dry_claims {
        assert!(claims.contains(claim), "\"Try it\" no longer says {claim}");
        assert!(
            dry.contains(claim),
            "the dry run does not say {claim}:\n{dry}"
        );
    }
    assert_eq!(
        dry.matches("would remove stale lock (dry run)").count(),
        3,
        "{dry}"
    );
    assert!(
        !dry.contains("removed stale lock"),
        "a dry run removes nothing:\n{dry}"
    );
    assert!(dry.contains("pid=4242"), "{dry}");
    for claim in [
        "dry run finished: nothing was removed",
        "`would_sweep=3`",
        "removed stale lock",
        "sweep finished",
        "`swept=3`",
        "`swept=0`",
    ] {
        assert!(claims.contains(claim), "\"Try it\" no longer says {claim}");
    }
    let summary = real.lines().next().unwrap_or_default();
    assert!(summary.contains(" would_sweep=3 "), "{summary}");
    assert_eq!(real.matches("removed stale lock").count(), 3, "{real}");
    let last = real
        .lines()
        .rfind(|l| l.contains("sweep finished"))
        .unwrap();
    assert!(last.contains(" swept=3 "), "{last}");
}

#[test]
fn try_it_has_one_block_per_step_and_each_is_tested() {
    let text = readme();
    let try_it = section(&text, "## Try it");
    let lines: Vec<&str> = try_it.lines().collect();
    let mut names = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("```sh") {
            let marker = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
            let name = marker
                .and_then(|m| m.strip_prefix("<!-- snippet:"))
                .and_then(|m| m.strip_suffix(" -->"))
                .unwrap_or_else(|| {
                    panic!("a ```sh block of \"Try it\" without a snippet marker: line {i}")
                });
            names.push(name);
        }
    }
    assert_eq!(names, ["try-build", "try-cargo", "try-container"]);
    let toml = read("Cargo.toml");
    let rust = toml
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        try_it.contains(&format!("Rust {rust} or later")),
        "\"Try it\" names the crate's rust-version, {rust}"
    );
    assert_eq!(snippet(&text, "try-build"), "cargo build --release\n");
}

#[test]
fn try_it_from_source_runs_as_written() {
    let text = readme();
    let block = snippet(&text, "try-cargo");
    assert!(
        block.contains("target/release/openclaw-lock-sweeper"),
        "the binary `cargo build --release` builds"
    );
    let clone = clone_dir();
    let run = bash(clone.path(), &block, "/usr/bin:/bin", &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let demo = clone.path().join(DEMO);
    assert_swept(&demo, &run);
    assert_claims(&run.stderr);
    // "a second run finds nothing": the block's last command, again.
    let again = bash(
        clone.path(),
        block.lines().last().unwrap(),
        "/usr/bin:/bin",
        &[],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let last = again
        .stderr
        .lines()
        .rfind(|l| l.contains("sweep finished"))
        .unwrap();
    assert!(last.contains(" swept=0 "), "{last}");
}

/// No registry is reachable here: a stand-in `docker` checks what the real
/// one would need (the image a release publishes, the caller's uid, an
/// absolute mount source that exists by then) and runs the test's binary
/// with the mount's target mapped back to its source.
const DOCKER: &str = r#"#!/bin/bash
set -euo pipefail
fail() { echo "stand-in docker: $*" >&2; exit 90; }
[ "${1:-}" = run ] || fail "only run"
shift
src= dst= user= image=
while [ $# -gt 0 ]; do
    case $1 in
        --rm | --read-only) shift ;;
        --user) user=$2; shift 2 ;;
        --network | --cap-drop) shift 2 ;;
        -v) src=${2%%:*}; dst=${2#*:}; dst=${dst%%:*}; shift 2 ;;
        -*) fail "unknown option $1" ;;
        *) image=$1; shift; break ;;
    esac
done
[ "$image" = "$EXPECTED_IMAGE" ] || fail "image $image, not $EXPECTED_IMAGE"
[ "$user" = "$(id -u):$(id -g)" ] || fail "--user $user, not the caller's"
case $src in /*) ;; *) fail "mount source $src is not absolute" ;; esac
[ -d "$src" ] || fail "mount source $src does not exist (yet)"
args=()
for a in "$@"; do
    case $a in "$dst" | "$dst"/*) a=$src${a#"$dst"} ;; esac
    args+=("$a")
done
exec "$SWEEPER" "${args[@]}"
"#;

#[test]
fn try_it_with_the_image_runs_as_written() {
    let text = readme();
    let block = snippet(&text, "try-container");
    let syntax = run_cmd({
        let mut c = Command::new("bash");
        c.args(["-n", "-c", &block]);
        c
    });
    assert_eq!(syntax.code, 0, "{}", syntax.stderr);
    let make = block
        .find("tests/demo-state.sh")
        .expect("makes the demo dir");
    let mount = block.find("docker run").expect("runs the image");
    assert!(make < mount, "the demo dir is made before it is mounted");
    assert!(block.contains(&published_image()), "the published image");

    let clone = clone_dir();
    let bin = clone.path().join("stand-in");
    write(bin.join("docker"), DOCKER.as_bytes());
    fs::set_permissions(bin.join("docker"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let image = published_image();
    let vars = [("EXPECTED_IMAGE", &*image), ("SWEEPER", BIN)];
    let run = bash(clone.path(), &block, &path, &vars);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_swept(&clone.path().join(DEMO), &run);
    assert_claims(&run.stderr);
}

/// The dry run's JSON report, as the README describes it.
#[test]
fn a_dry_runs_report_says_would() {
    let text = readme();
    let logs = section(&text, "### Logs and the JSON report");
    for field in [
        "`would_sweep`",
        "`would_remove`",
        "`would_remove_paths`",
        "`swept`",
        "`removed`",
        "`swept_paths`",
    ] {
        assert!(
            logs.contains(field),
            "the report's {field} is not described"
        );
    }
    let clone = clone_dir();
    let made = bash(
        clone.path(),
        &format!("sh tests/demo-state.sh {DEMO}"),
        "/usr/bin:/bin",
        &[],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let demo = clone.path().join(DEMO);
    let run = sweep(&demo, &["--dry-run", "--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["would_sweep"], 3, "{json}");
    assert_eq!(json["would_remove"]["lock"], 3, "{json}");
    assert_eq!(json["would_remove_paths"].as_array().unwrap().len(), 3);
    assert_eq!(json["swept"], 0);
    assert!(
        json["removed"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == 0),
        "{json}"
    );
    assert_eq!(json["swept_paths"], serde_json::json!([]));
}

#[test]
fn the_deployment_it_leads_with_is_wrap() {
    let text = readme();
    let add = section(&text, "## Add it to your deployment");
    let first_mode = add
        .lines()
        .find(|l| l.starts_with("| ") && !l.starts_with("| mode "))
        .unwrap();
    assert!(
        first_mode.contains("`wrap`") && first_mode.contains("the one to pick"),
        "the mode table starts with the recommended one: {first_mode}"
    );
    // The overlay lists components of this repository, the wrap one first.
    let overlay = snippet(&text, "kustomization");
    let components: Vec<&str> = overlay
        .split("components:\n")
        .nth(1)
        .expect("the overlay lists a component")
        .lines()
        .map_while(|l| l.strip_prefix("  - "))
        .collect();
    assert_eq!(components, ["lock-sweeper-wrap"], "{overlay}");
    for name in ["lock-sweeper-wrap", "lock-sweeper", "lock-sweeper-watch"] {
        let k = read(&format!("deploy/kubernetes/{name}/kustomization.yaml"));
        assert!(k.contains("kind: Component"), "{name} is a component");
        assert!(
            add.contains(&format!("`deploy/kubernetes/{name}`")),
            "{name} is named"
        );
    }
    assert!(
        read("deploy/kubernetes/lock-sweeper-wrap/install.yaml").contains("--install"),
        "the wrap component installs the binary for the wrapper"
    );
}

#[test]
fn helm_can_be_installed_from_the_readme() {
    let text = readme();
    let chart_yaml = read("deploy/helm/openclaw-lock-sweeper/Chart.yaml");
    let chart: BTreeMap<&str, String> = chart_yaml
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| ["name", "version"].contains(k))
        .map(|(k, v)| (k, v.trim_matches('"').to_owned()))
        .collect();
    let version = cargo_version();
    assert_eq!(
        chart["version"], version,
        "the release packages the chart as the crate's version"
    );
    let owner = source_repository()
        .split('/')
        .next()
        .unwrap()
        .to_lowercase();
    let release = read(".github/workflows/release.yml");
    assert!(
        release.contains("\"oci://ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/charts\""),
        "the release pushes the chart to oci://ghcr.io/<owner>/charts"
    );
    assert!(
        release.contains("helm package deploy/helm/openclaw-lock-sweeper --version \"$VERSION\"")
    );
    let repository = format!("oci://ghcr.io/{owner}/charts");

    let install = snippet(&text, "helm-install");
    let syntax = run_cmd({
        let mut c = Command::new("bash");
        c.args(["-n", "-c", &install]);
        c
    });
    assert_eq!(syntax.code, 0, "{}", syntax.stderr);
    let words: Vec<&str> = install.split_whitespace().collect();
    assert_eq!(words[..3], ["helm", "upgrade", "--install"], "{install}");
    assert!(
        words.contains(&&*format!("{repository}/{}", chart["name"])),
        "{install}"
    );
    let v = words
        .iter()
        .position(|w| *w == "--version")
        .expect("a pinned version");
    assert_eq!(words[v + 1], version);

    let dependency = snippet(&text, "helm-dependency");
    assert!(dependency.starts_with("dependencies:\n"), "{dependency}");
    let fields: BTreeMap<&str, &str> = dependency
        .lines()
        .skip(1)
        .filter_map(|l| l.trim_start_matches([' ', '-']).split_once(": "))
        .collect();
    assert_eq!(fields["name"], chart["name"]);
    assert_eq!(fields["version"], version);
    assert_eq!(fields["repository"], repository);
}

#[test]
fn modes_are_named_as_the_chart_accepts_them() {
    let schema: serde_json::Value = serde_json::from_str(&read(
        "deploy/helm/openclaw-lock-sweeper/values.schema.json",
    ))
    .unwrap();
    let accepted: BTreeSet<&str> =
        schema["properties"]["lockSweeper"]["properties"]["mode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
    let text = readme();
    let mut named = BTreeSet::new();
    for line in text.lines() {
        for (key, end) in [
            ("mode: ", ""),
            ("lockSweeper.mode=", ""),
            ("`lockSweeper.mode` `", "`"),
        ] {
            // A YAML key `mode:`, not `network_mode:`.
            let yaml = key == "mode: ";
            if yaml && !line.trim_start().starts_with(key) {
                continue;
            }
            for (at, _) in line.match_indices(key) {
                let rest = &line[at + key.len()..];
                let value: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                assert!(
                    end.is_empty() || rest[value.len()..].starts_with(end),
                    "{line}"
                );
                named.insert(value);
            }
        }
    }
    assert!(named.contains("wrap"), "the README names the chart's mode");
    for value in &named {
        assert!(
            accepted.contains(&**value),
            "mode {value:?}: the chart accepts only {accepted:?}"
        );
    }
    for (n, line) in prose(&text) {
        assert!(
            !line.to_lowercase().contains("wrapper mode"),
            "line {n}: the mode is `wrap`, as the chart, the components and the community snippets name it: {line}"
        );
    }
}

#[test]
fn the_test_command_is_the_one_ci_runs() {
    let text = readme();
    let command = snippet(&text, "test-command");
    assert_eq!(command, "bash tests/run.sh\n");
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == command.trim()),
        ".ci/run does not call the README's test command {command:?}"
    );
    assert!(read("docs/development.md").contains(command.trim()));
    assert!(
        text.contains("Development: see [docs/development.md](docs/development.md)"),
        "the README points to the development guide"
    );
}

#[test]
fn the_readme_is_under_20_kb() {
    let size = fs::metadata(root().join("README.md")).unwrap().len();
    assert!(
        size < 20_000,
        "README.md is {size} bytes: what is for developers goes to docs/development.md"
    );
}

/// Figures in the README: none measured (sizes and timings are the bench's:
/// docs/performance.md and bench/ have them, written by the bench), and
/// each duration or size it states is one of the sweeper's constants,
/// checked against src/, or OpenClaw's, checked against docs/locks.md.
#[test]
fn no_figure_in_the_readme_can_go_stale() {
    enum Source {
        Const(&'static str, &'static str),
        Doc(&'static str, &'static str),
    }
    use Source::*;
    let checked: BTreeMap<&str, Source> = BTreeMap::from([
        ("10 s", Const("GRACE", "Duration::from_secs(10)")),
        ("15 s", Const("START_WINDOW", "Duration::from_secs(15)")),
        (
            "3 minutes",
            Const("WATCH_DEFAULT_MIN_AGE", "Duration::from_secs(180)"),
        ),
        ("4 KiB", Const("MAX_LOCK_BYTES", "4096")),
        ("5 min", Const("BREAKER_WINDOW_MS", "300_000")),
        ("300 s", Doc("docs/locks.md", "300 s expiry")),
    ]);
    const MEASURED: [&str; 11] = [
        "MB", "KB", "kB", "MiB", "GB", "GiB", "ms", "µs", "us", "bytes", "%",
    ];
    const STATED: [&str; 7] = ["s", "min", "minute", "minutes", "hour", "hours", "KiB"];

    let text = readme();
    let mut wrong = Vec::new();
    let mut found = BTreeSet::new();
    for (n, line) in prose(&text) {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let starts = chars[i].is_ascii_digit()
                && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.'));
            if !starts {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || ".,–".contains(chars[j])) {
                j += 1;
            }
            let number: String = chars[i..j].iter().collect();
            let spaced = chars.get(j) == Some(&' ');
            let k = j + usize::from(spaced);
            let mut e = k;
            while e < chars.len() && (chars[e].is_alphabetic() || chars[e] == '%') {
                e += 1;
            }
            let unit: String = chars[k..e].iter().collect();
            if MEASURED.contains(&&*unit) {
                wrong.push(format!(
                    "line {n}: {number} {unit} (measured: link bench/ or docs/performance.md)"
                ));
            } else if spaced && STATED.contains(&&*unit) {
                let figure = format!("{number} {unit}");
                if checked.contains_key(&*figure) {
                    found.insert(figure);
                } else {
                    wrong.push(format!("line {n}: {figure} (no source checks it)"));
                }
            }
            i = j.max(i + 1);
        }
    }
    assert!(
        wrong.is_empty(),
        "figures in README.md:\n{}",
        wrong.join("\n")
    );

    let src = rust_sources(&root().join("src"));
    for figure in found {
        match checked[&*figure] {
            Const(name, value) => {
                let decl = src
                    .iter()
                    .find_map(|s| s.find(&format!("const {name}:")).map(|at| &s[at..]))
                    .unwrap_or_else(|| panic!("{figure}: no const {name} in src/"));
                let decl = &decl[..decl.find(';').unwrap()];
                assert!(decl.contains(value), "the README's {figure} is not {decl}");
            }
            Doc(file, quote) => {
                assert!(
                    read(file).contains(quote),
                    "the README's {figure}: {file} no longer says {quote:?}"
                );
            }
        }
    }
}

fn rust_sources(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as hyphens; a repeated one gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug: String = line[hashes..]
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// Every `[text](target)` outside code blocks.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in prose(text) {
        for (at, _) in line.match_indices("](") {
            let rest = &line[at + 2..];
            if let Some(end) = rest.find(')') {
                out.push((n, rest[..end].to_owned()));
            }
        }
    }
    out
}

#[test]
fn every_link_and_anchor_of_the_readme_and_docs_resolves() {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        for (n, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !resolved.exists() {
                broken.push(format!("{name}:{n}: {target}: no such file"));
                continue;
            }
            if anchor.is_empty() {
                continue;
            }
            let ok = resolved.extension().is_some_and(|e| e == "md")
                && anchors(&fs::read_to_string(&resolved).unwrap()).contains(anchor);
            if !ok {
                broken.push(format!("{name}:{n}: {target}: no heading #{anchor}"));
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} links found: is the parser broken?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Files that name a README section in quotes (`the README's "A fixed
/// hostname"`) name one that exists.
#[test]
fn sections_named_elsewhere_exist_in_the_readme() {
    let headings = anchors(&readme());
    let mut files = vec![
        "docs/safety.md".to_owned(),
        "docs/locks.md".to_owned(),
        "docs/performance.md".to_owned(),
        "docs/development.md".to_owned(),
    ];
    for dir in [
        "deploy/compose",
        "deploy/community",
        "deploy/helm/openclaw-lock-sweeper",
    ] {
        for entry in fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path.strip_prefix(root()).unwrap().display().to_string());
            }
        }
    }
    let mut named = 0;
    for file in files {
        for line in read(&file).lines().filter(|l| l.contains("README")) {
            let after = &line[line.find("README").unwrap()..];
            for quoted in after.split('"').skip(1).step_by(2) {
                let slug = anchors(&format!("# {quoted}\n")).pop_first().unwrap();
                assert!(
                    headings.contains(&slug),
                    "{file} names the README's \"{quoted}\", which has no such section"
                );
                named += 1;
            }
        }
    }
    assert!(
        named > 0,
        "\"A fixed hostname\" is named from deploy/ and docs/"
    );
}
