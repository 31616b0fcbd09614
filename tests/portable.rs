//! The binary as a user installs it (copied out of the checkout, run from another folder)
//! runs the whole sample world and a report; two such runs into different fresh folders give
//! byte-identical reports and equal tables; no table holds a path of the machine.
//!
//! Words: *volatile* columns are those the data dictionary says vary from run to run
//! (wall-clock durations); they are the only ones left out of the comparison.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{compare_tables, files, repo, text, VOLATILE};

/// Copies the built binary into `dir/bin`, as `cargo install` would put it elsewhere.
fn install(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let to = bin.join("hubaudit");
    std::fs::copy(env!("CARGO_BIN_EXE_hubaudit"), &to).unwrap();
    to
}

/// Runs the installed binary in `cwd` with no hubaudit settings in the environment and
/// Trivy on PATH (where an installed Trivy would be).
fn run(bin: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let trivy_dir = crate::util::trivy().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        trivy_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(cwd).env("PATH", path);
    for (k, _) in std::env::vars() {
        if k.starts_with("HUBAUDIT_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

/// `sample run --datasets DS` from `cwd`.
fn sample_run(bin: &Path, cwd: &Path, ds: &Path) -> Output {
    run(
        bin,
        cwd,
        &["sample", "run", "--datasets", ds.to_str().unwrap()],
        &[],
    )
}

/// The report of 2021-08-24 with the study's window, from `cwd`.
fn study_report(bin: &Path, cwd: &Path, ds: &Path) -> Output {
    let args = [
        "report",
        "--date",
        "2021-08-24",
        "--window",
        "2021-07-29..2021-08-10",
    ];
    let mut args = args.to_vec();
    args.extend(["--datasets", ds.to_str().unwrap()]);
    run(bin, cwd, &args, &[])
}

#[test]
fn an_installed_binary_runs_the_sample_world_anywhere_and_two_runs_agree() {
    let t = tempfile::tempdir().unwrap();
    let bin = install(t.path());
    let (cwd_a, cwd_b) = (t.path().join("home-a"), t.path().join("home-b"));
    for d in [&cwd_a, &cwd_b] {
        std::fs::create_dir_all(d).unwrap();
    }
    let (ds_a, ds_b) = (t.path().join("a/datasets"), t.path().join("b/datasets"));

    // the whole sample world from a folder with no checkout, no config, no reference folder
    let out = sample_run(&bin, &cwd_a, &ds_a);
    assert!(out.status.success(), "{}", text(&out));
    assert!(ds_a.join("4_report/2021-08-24/index.html").exists());
    assert!(
        std::fs::read_dir(&cwd_a).unwrap().next().is_none(),
        "nothing is written into the working folder"
    );
    let report = study_report(&bin, &cwd_a, &ds_a);
    assert!(report.status.success(), "{}", text(&report));
    let verify = run(
        &bin,
        &cwd_a,
        &["verify", "--datasets", ds_a.to_str().unwrap()],
        &[],
    );
    assert!(verify.status.success(), "{}", text(&verify));

    // the config is found by $HUBAUDIT_CONFIG; --config wins over it; a missing one is named
    let cfg = t.path().join("elsewhere.toml");
    std::fs::write(
        &cfg,
        format!("datasets = {:?}\n", ds_a.display().to_string()),
    )
    .unwrap();
    let listed = run(
        &bin,
        &cwd_a,
        &["snapshots"],
        &[("HUBAUDIT_CONFIG", cfg.to_str().unwrap())],
    );
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("2021-08-24"),
        "{}",
        text(&listed)
    );
    let missing = run(
        &bin,
        &cwd_a,
        &["snapshots"],
        &[("HUBAUDIT_CONFIG", "/nonexistent/hubaudit.toml")],
    );
    assert_eq!(missing.status.code(), Some(3), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/hubaudit.toml"));
    let wins = run(
        &bin,
        &cwd_a,
        &["--config", cfg.to_str().unwrap(), "snapshots"],
        &[("HUBAUDIT_CONFIG", "/nonexistent/hubaudit.toml")],
    );
    assert!(
        wins.status.success(),
        "--config comes first: {}",
        text(&wins)
    );

    // a second run into another fresh folder, from another working folder
    let out = sample_run(&bin, &cwd_b, &ds_b);
    assert!(out.status.success(), "{}", text(&out));
    let run_b = study_report(&bin, &cwd_b, &ds_b);
    assert!(run_b.status.success());

    let (ra, rb) = (files(&ds_a.join("4_report")), files(&ds_b.join("4_report")));
    assert_eq!(ra.keys().collect::<Vec<_>>(), rb.keys().collect::<Vec<_>>());
    let differing: Vec<&String> = ra.keys().filter(|k| ra[*k] != rb[*k]).collect();
    assert!(differing.is_empty(), "report files differ: {differing:?}");

    let (tables, rows, paths) = compare_tables(&ds_a, &ds_b, &[t.path()], &[]);
    assert_eq!(paths, 0, "no table value holds a local path");
    hubaudit::reliability::record(
        "determinism",
        "hubaudit sample run, installed binary, into two fresh folders",
        (ra.len() + tables) as u64,
        &format!(
            "{} report files byte-identical; {tables} table partitions ({rows} rows) equal except the declared volatile column duration_ms; 0 values holding a local path",
            ra.len()
        ),
    );
    let dictionary = std::fs::read_to_string(repo().join("datasets/README.md")).unwrap();
    for (_, column) in VOLATILE {
        let line = dictionary
            .lines()
            .find(|l| l.starts_with(&format!("| {column} ")))
            .unwrap_or_else(|| panic!("{column} is not in the dictionary"));
        assert!(line.contains("varies run to run"), "{line}");
    }
}
