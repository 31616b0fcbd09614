//! Damaged partitions are named, never read: a data file changed, truncated or replaced after
//! its manifest was written, a manifest that lies or is missing. The stage that reads it exits
//! 3 naming the partition and the stage to re-run; `hubaudit verify` names it too. And a
//! closed stdout pipe ends the program quietly with the shell's SIGPIPE status.

use std::process::{Command, Stdio};

use hubaudit::catalog::{self, MANIFEST, REPOSITORIES};
use hubaudit::sample::replay::Knobs;

use crate::util::{date, text, write_config, Workdir};

const DAY: &str = "2021-08-24";

type Damage = (&'static str, fn(&std::path::Path, &std::path::Path));

/// Ways to damage a partition (data file, manifest), and what each is.
fn damages() -> Vec<Damage> {
    vec![
        ("one byte of the data file changed", |data, _| {
            let mut b = std::fs::read(data).unwrap();
            let mid = b.len() / 2;
            b[mid] ^= 0x55;
            std::fs::write(data, b).unwrap();
        }),
        ("the data file truncated", |data, _| {
            let b = std::fs::read(data).unwrap();
            std::fs::write(data, &b[..b.len() / 3]).unwrap();
        }),
        ("bytes appended to the data file", |data, _| {
            let mut b = std::fs::read(data).unwrap();
            b.extend_from_slice(b"trailing garbage");
            std::fs::write(data, b).unwrap();
        }),
        (
            "the data file replaced by garbage, the manifest rewritten to match it",
            |data, manifest| {
                let garbage = b"PAR1 this is not a Parquet file PAR1".to_vec();
                std::fs::write(data, &garbage).unwrap();
                let mut m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
                m["bytes"] = garbage.len().into();
                m["sha256"] = hubaudit::io::partition::sha256_file(data).unwrap().into();
                std::fs::write(manifest, m.to_string()).unwrap();
            },
        ),
        (
            "a manifest whose checksum is not the file's",
            |_, manifest| {
                let mut m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
                m["sha256"] = "0".repeat(64).into();
                std::fs::write(manifest, m.to_string()).unwrap();
            },
        ),
        ("a manifest that is not JSON", |_, manifest| {
            std::fs::write(manifest, b"{\"dataset\": ").unwrap();
        }),
    ]
}

#[test]
fn a_damaged_partition_is_named_and_never_read() {
    let w = Workdir::new();
    write_config(&w, "");
    let hub = w.replay(Knobs::default());
    let extract = w.cli(&[
        "extract-hub",
        "--snapshot",
        DAY,
        "--hub-url",
        &hub.url_for(date(DAY)),
    ]);
    assert!(extract.status.success(), "{}", text(&extract));
    let part = catalog::partition_dir(&w.datasets(), &REPOSITORIES, date(DAY));
    let (data, manifest) = (part.join(REPOSITORIES.file), part.join(MANIFEST));
    let (good_data, good_manifest) = (
        std::fs::read(&data).unwrap(),
        std::fs::read(&manifest).unwrap(),
    );
    let kinds = damages();
    for (what, damage) in &kinds {
        damage(&data, &manifest);
        for args in [&["join", "--snapshot", DAY][..], &["verify"][..]] {
            let out = w.cli(args);
            let err = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                out.status.code(),
                Some(3),
                "{what}, {args:?}: {}",
                text(&out)
            );
            assert!(
                err.contains("2_staged/repositories") && err.contains(DAY),
                "{what}, {args:?}: the partition is named: {err}"
            );
            assert!(!err.contains("panicked"), "{what}: {err}");
        }
        std::fs::write(&data, &good_data).unwrap();
        std::fs::write(&manifest, &good_manifest).unwrap();
        assert!(
            w.cli(&["join", "--snapshot", DAY]).status.success(),
            "restored"
        );
    }
    // no manifest: the partition is not there at all
    std::fs::remove_file(&manifest).unwrap();
    let out = w.cli(&["join", "--snapshot", DAY]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let verify = w.cli(&["verify"]);
    assert_eq!(verify.status.code(), Some(3), "{}", text(&verify));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("incomplete"),
        "{}",
        text(&verify)
    );
    hubaudit::reliability::record(
        "integrity",
        "a partition damaged after it was written: a changed byte, truncation, appended bytes, garbage with a matching manifest, a wrong checksum, a manifest that is not JSON, no manifest",
        kinds.len() as u64 + 1,
        "the reading stage (join) and `hubaudit verify` each exited 3 naming the partition, every time; no damaged file was read",
    );
}

#[test]
fn a_closed_output_pipe_ends_the_program_quietly() {
    let w = Workdir::new();
    write_config(&w, "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubaudit"))
        .args(["snapshots"])
        .current_dir(w.path())
        .env("HUBAUDIT_DATASETS", w.datasets())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the first line, as `| head -0`
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", text(&out));
    assert!(out.stderr.is_empty(), "quietly: {}", text(&out));
    hubaudit::reliability::record(
        "CLI manners",
        "standard output closed by its reader (`hubaudit snapshots | head`)",
        1,
        "exit 141, the status a shell reports for a program stopped by SIGPIPE, and nothing on stderr",
    );
}
