//! Orchestration (`hubaudit::orchestrate`): the run plan runs every stage of a snapshot in the
//! DAG's order against the replay Hub and the real Trivy, reports each stage as it finishes
//! and writes exactly the outputs the DAG lists; the first stage that fails stops the run.
//! (Backfill and its joins: `tests/backfill.rs`.)

use hubaudit::catalog;
use hubaudit::dag::{self, Node, Plan};
use hubaudit::orchestrate::{self, Event, Settings};
use hubaudit::sample::replay::{Fault, Knobs};
use hubaudit::stages::scan;

use crate::util::{date, scan_options, Workdir};

/// Settings for the sample capture's `day` served at `hub_url`: its archives, the sample DB.
fn settings(w: &Workdir, hub_url: &str, day: &str) -> Settings {
    Settings {
        datasets: w.datasets(),
        reference: None,
        threshold: 50,
        tolerance_days: 2,
        crawl: Some(w.extract_options(hub_url, day)),
        scan: Some(scan::Options {
            images_from: scan::ImageSource::Archive(
                w.path().join("capture").join(day).join("images"),
            ),
            ..scan_options(w, day)
        }),
        timetravel: Some(hubaudit::stages::timetravel::Options {
            datasets: w.datasets(),
            date: date(day),
            inputs: hubaudit::stages::timetravel::Inputs::Facts(None),
            trivy: crate::util::trivy(),
            timeout: std::time::Duration::from_secs(120),
            export_facts: None,
            skip_other_dates: true,
        }),
    }
}

/// What `event` says, in a word: `snapshot DATE` or the stage's name.
fn word(event: Event) -> String {
    match event {
        Event::Snapshot(d) => format!("snapshot {d}"),
        Event::Done(done) => done.stage().name().to_string(),
        other => panic!("the run plan reported {other:?}"),
    }
}

#[test]
fn the_run_plan_runs_every_stage_in_dag_order_and_writes_what_the_dag_lists() {
    let w = Workdir::new();
    let hub = w.replay(Knobs::default());
    let day = "2021-08-24";
    let mut seen = Vec::new();
    let code = orchestrate::run(
        &settings(&w, &hub.url_for(date(day)), day),
        date(day),
        &mut |e| seen.push(word(e)),
    )
    .unwrap();
    assert_eq!(code, 0);
    assert_eq!(
        seen,
        [
            "snapshot 2021-08-24",
            "extract-hub",
            "pull-counts",
            "timetravel",
            "scan",
            "join",
            "report"
        ]
    );

    let root = w.datasets();
    let plan = dag::plan(Plan::Run).unwrap();
    let written: Vec<Node> = plan
        .iter()
        .flat_map(|s| s.spec().writes.iter().copied())
        .collect();
    for ds in catalog::ALL {
        let dates = catalog::snapshots(&root, ds).unwrap();
        if written.contains(&Node::Dataset(ds)) {
            assert_eq!(dates, [date(day)], "{}: the run plan writes it", ds.id);
        } else {
            assert!(
                dates.is_empty(),
                "{}: no stage of the run plan writes it",
                ds.id
            );
        }
    }
    assert!(catalog::report_dir(&root, date(day))
        .join("index.html")
        .exists());
    assert!(catalog::trivy_db_store(&root)
        .read_dir()
        .unwrap()
        .next()
        .is_some());
}

#[test]
fn the_first_failing_stage_stops_the_run_and_later_stages_do_not_run() {
    let w = Workdir::new();
    let hub = w.replay(Knobs {
        always: Some(Fault::Status(500)),
        ..Knobs::default()
    });
    let day = "2021-08-24";
    let mut seen = Vec::new();
    let err = orchestrate::run(
        &settings(&w, &hub.url_for(date(day)), day),
        date(day),
        &mut |e| seen.push(word(e)),
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert_eq!(seen, ["snapshot 2021-08-24"]);
    assert!(!w.datasets().join("2_staged").exists());
}
