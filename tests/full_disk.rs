//! A dataset folder on a small tmpfs that fills up: every stage, re-run for a snapshot it
//! wrote before, exits 5 saying the disk is full, and the partitions written before are intact
//! and unchanged. Mounting needs root (CI runs as root); elsewhere the test says it is skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hubaudit::sample::replay::Knobs;

use crate::util::{date, files, text, trivy, Workdir};

const DAY: &str = "2021-08-24";
const TEST: &str = "full_disk::every_stage_on_a_full_disk_exits_5_and_keeps_what_it_wrote_before";

/// A tmpfs mounted for the test, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn small(at: &Path) -> Result<Mount, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "hubaudit-full-disk"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Mount(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The stages of one date, as a user runs them.
fn stages(w: &Workdir, hub: &str) -> Vec<(&'static str, Vec<String>)> {
    let images = w.path().join("capture").join(DAY).join("images");
    let cache = w.path().join("capture/trivy-cache");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        (
            "extract-hub",
            s(&["extract-hub", "--snapshot", DAY, "--hub-url", hub]),
        ),
        (
            "scan",
            s(&[
                "scan",
                "--snapshot",
                DAY,
                "--archive-dir",
                images.to_str().unwrap(),
                "--trivy-cache",
                cache.to_str().unwrap(),
                "--trivy",
                trivy().to_str().unwrap(),
                "--image",
                "nginx",
                "--image",
                "redis",
                "--image",
                "centos",
            ]),
        ),
        (
            "pull-counts",
            s(&["pull-counts", "--snapshot", DAY, "--hub-url", hub]),
        ),
        ("join", s(&["join", "--snapshot", DAY])),
        ("report", s(&["report", "--date", DAY])),
    ]
}

fn run(w: &Workdir, datasets: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hubaudit"))
        .args(args)
        .current_dir(w.path())
        .env("HUBAUDIT_DATASETS", datasets)
        .env_remove("HUBAUDIT_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn every_stage_on_a_full_disk_exits_5_and_keeps_what_it_wrote_before() {
    let w = Workdir::new();
    let mount = match Mount::small(&w.path().join("small")) {
        Ok(m) => m,
        Err(why) => {
            hubaudit::public_data::skip(
                TEST,
                &format!("mounting a small tmpfs needs root (CAP_SYS_ADMIN), which CI has: {why}"),
            );
            return;
        }
    };
    let datasets = mount.0.join("datasets");
    let replay = w.replay(Knobs::default());
    let hub = replay.url_for(date(DAY));
    let stages = stages(&w, &hub);
    for (name, args) in &stages {
        let out = run(&w, &datasets, args);
        assert!(
            out.status.success(),
            "{name} on an empty disk: {}",
            text(&out)
        );
    }
    let before = files(&datasets);
    assert!(hubaudit::verify::run(&datasets).unwrap().intact());

    // fill the file system up to the last byte
    let mut fill = std::fs::File::create(mount.0.join("fill")).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while fill.write_all(&chunk).is_ok() {}
    let mut byte = [0u8; 1];
    while fill.write_all(&byte[..]).is_ok() {
        byte[0] = byte[0].wrapping_add(1);
    }
    drop(fill);

    let mut failed = Vec::new();
    for (name, args) in &stages {
        let out = run(&w, &datasets, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(5),
            "{name} on a full disk: {}",
            text(&out)
        );
        assert!(
            err.contains("No space left on device") && err.contains("the disk is full"),
            "{name}: {err}"
        );
        assert!(
            err.contains(datasets.to_str().unwrap()),
            "{name} names where: {err}"
        );
        failed.push(*name);
    }
    let after = files(&datasets);
    let unchanged = before
        .iter()
        .filter(|(path, bytes)| after.get(*path) == Some(bytes))
        .count();
    assert_eq!(
        unchanged,
        before.len(),
        "every file written before is intact and unchanged"
    );
    let kept: Vec<&String> = after
        .keys()
        .filter(|p| !before.contains_key(*p) && !p.starts_with(".tmp"))
        .collect();
    assert!(kept.is_empty(), "no half-written file is visible: {kept:?}");
    let v = hubaudit::verify::run(&datasets).unwrap();
    assert!(v.intact(), "{:?}", v.damaged);
    hubaudit::reliability::record(
        "full disk",
        "every stage re-run for its snapshot on a full 8 MB tmpfs",
        stages.len() as u64,
        &format!(
            "{} stages ({}) each exited 5 with \"No space left on device\", the path and what to do; all {} files written before stayed byte-identical and every partition verified intact",
            failed.len(),
            failed.join(", "),
            before.len()
        ),
    );
}
