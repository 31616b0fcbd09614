//! Atomic partition writes: failures and kills leave no partial partition.

use std::process::{Command, Stdio};
use std::time::Duration;

use hubaudit::catalog::{self, REPOSITORIES, TAGS};
use hubaudit::error::Error;
use hubaudit::io::partition::{write_partition, MANIFEST};
use hubaudit::sample::replay::{Fault, Knobs};
use hubaudit::stages::extract_hub;
use hubaudit::tables;

use crate::util::{date, write_config, Workdir};

#[test]
fn a_failing_write_keeps_the_previous_partition_and_leaves_no_temp_folder() {
    let w = Workdir::new();
    let hub = w.replay(Knobs::default());
    extract_hub::run(&w.extract_options(&hub.url_for(date("2021-08-24")), "2021-08-24")).unwrap();
    let file = catalog::partition_file(&w.datasets(), &REPOSITORIES, date("2021-08-24"));
    let before = std::fs::read(&file).unwrap();
    let err = write_partition(
        &w.datasets(),
        &REPOSITORIES,
        date("2021-08-24"),
        "test",
        |path| {
            std::fs::write(path, b"PAR1 half a file").unwrap();
            Err(Error::data("test", "disk full"))
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("disk full"));
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let leftovers = std::fs::read_dir(catalog::staging_area(&w.datasets()))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0);
}

/// Kills the binary at several moments of a slowed-down run and checks, after each kill,
/// that every visible partition is complete: it has a manifest and its file reads with the
/// manifest's row count.
#[test]
fn a_run_killed_at_any_moment_leaves_no_partial_partition() {
    let w = Workdir::new();
    write_config(&w, "");
    // Every response is slowed so the crawl takes about 1.5 s; the kills land in the crawl,
    // between the partition writes and after them.
    let hub = w.replay(Knobs {
        always: Some(Fault::Slow(Duration::from_millis(15))),
        ..Knobs::default()
    });
    let url = hub.url_for(date("2021-08-24"));
    for kill_after_ms in [50u64, 300, 700, 1100, 1400, 1600, 1800, 2200] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hubaudit"))
            .args([
                "extract-hub",
                "--full",
                "--snapshot",
                "2021-08-24",
                "--hub-url",
                &url,
            ])
            .arg("--datasets")
            .arg(w.datasets())
            .current_dir(w.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        let _ = child.kill();
        let _ = child.wait();
        for ds in [&REPOSITORIES, &TAGS, &catalog::HUB_RAW] {
            let dir = catalog::dataset_dir(&w.datasets(), ds);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let p = entry.path();
                assert!(
                    p.join(MANIFEST).exists(),
                    "partial partition {} after a kill at {kill_after_ms} ms",
                    p.display()
                );
                let manifest: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(p.join(MANIFEST)).unwrap())
                        .unwrap();
                let rows = manifest["rows"].as_u64().unwrap() as usize;
                if ds.id == REPOSITORIES.id {
                    assert_eq!(
                        tables::read_repositories(&w.datasets(), date("2021-08-24"))
                            .unwrap()
                            .len(),
                        rows
                    );
                }
                if ds.id == TAGS.id {
                    assert_eq!(
                        tables::read_tags(&w.datasets(), date("2021-08-24"))
                            .unwrap()
                            .len(),
                        rows
                    );
                }
            }
        }
    }
}
