//! The binary: exit codes, messages, help.

use hubaudit::dag;
use hubaudit::sample::replay::{Fault, Knobs};

use crate::util::{text, write_config, Workdir};

#[test]
fn help_explains_stages_and_exit_codes() {
    let w = Workdir::new();
    let out = w.cli(&["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "extract-hub",
        "report",
        "sample",
        "Exit codes",
        "HUBAUDIT_HUB_TOKEN",
    ] {
        assert!(help.contains(word), "{word} missing from --help");
    }
}

#[test]
fn invalid_date_is_bad_input_with_the_expected_format() {
    let w = Workdir::new();
    let out = w.cli(&["report", "--date", "2021-13-01"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
}

#[test]
fn unknown_config_key_is_bad_input_naming_the_key() {
    let w = Workdir::new();
    std::fs::write(w.path().join("hubaudit.toml"), "[hub]\nconcurency = 3\n").unwrap();
    let out = w.cli(&["report", "--date", "2021-08-24"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("concurency"));
}

#[test]
fn report_before_any_snapshot_exits_3_and_lists_dates() {
    let w = Workdir::new();
    write_config(&w, "");
    let hub = w.replay(Knobs::default());
    let url = hub.url_for(crate::util::date("2021-08-24"));
    let ok = w.cli(&["extract-hub", "--snapshot", "2021-08-24", "--hub-url", &url]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("requests:"));
    let joined = w.cli(&["join", "--snapshot", "2021-08-24"]);
    assert_eq!(joined.status.code(), Some(0), "{}", text(&joined));
    let out = w.cli(&["report", "--date", "2020-01-01"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("available dates: 2021-08-24"));
    let ok = w.cli(&["report", "--date", "2021-08-24"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
}

#[test]
fn permanent_hub_failure_exits_2_and_writes_no_partition() {
    let w = Workdir::new();
    write_config(&w, "max_attempts = 2\n");
    let hub = w.replay(Knobs {
        always: Some(Fault::Status(500)),
        ..Knobs::default()
    });
    let url = hub.url_for(crate::util::date("2021-08-24"));
    let out = w.cli(&["extract-hub", "--snapshot", "2021-08-24", "--hub-url", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&url) && err.contains("HTTP 500"), "{err}");
    assert!(!w.datasets().join("2_staged").exists());
    assert!(!w.datasets().join("1_raw").exists());
}

#[test]
fn garbage_answers_exit_2_with_the_reason() {
    let w = Workdir::new();
    write_config(&w, "max_attempts = 2\n");
    let hub = w.replay(Knobs {
        always: Some(Fault::Truncate),
        ..Knobs::default()
    });
    let url = hub.url_for(crate::util::date("2021-08-24"));
    let out = w.cli(&["extract-hub", "--snapshot", "2021-08-24", "--hub-url", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
}

#[test]
fn hubaudit_dag_prints_the_table_and_its_json_is_the_table() {
    let w = Workdir::new();
    let out = w.cli(&["dag"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("run: extract-hub → pull-counts → timetravel → scan → join → report"));
    assert!(table.contains("3_marts/images (earlier)"), "{table}");

    let out = w.cli(&["dag", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        dag::STAGES.iter().map(|s| s.name).collect::<Vec<_>>()
    );
    let scan = &v["stages"][1];
    assert!(scan["reads"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["path"] == "2_staged/tags"));

    let out = w.cli(&["dag", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let help = w.cli(&["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("Print the DAG"));
}
