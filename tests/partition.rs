//! Atomic partition writes: failures and kills leave no partial partition.

use hubaudit::catalog::{self, REPOSITORIES};
use hubaudit::dag::Stage;
use hubaudit::error::Error;
use hubaudit::io::partition::write_partition;
use hubaudit::sample::replay::Knobs;
use hubaudit::stages::extract_hub;

use crate::util::{date, Workdir};

#[test]
fn a_failing_write_keeps_the_previous_partition_and_leaves_no_temp_folder() {
    let w = Workdir::new();
    let hub = w.replay(Knobs::default());
    extract_hub::run(&w.extract_options(&hub.url_for(date("2021-08-24")), "2021-08-24")).unwrap();
    let file = catalog::partition_file(&w.datasets(), &REPOSITORIES, date("2021-08-24"));
    let before = std::fs::read(&file).unwrap();
    let err = write_partition(
        &w.datasets(),
        Stage::ExtractHub,
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

#[test]
fn a_stage_writing_a_dataset_it_does_not_list_as_an_output_is_refused_before_any_write() {
    let w = Workdir::new();
    let called = std::cell::Cell::new(false);
    let err = write_partition(
        &w.datasets(),
        Stage::ExtractHub,
        &catalog::IMAGES,
        date("2021-08-24"),
        "test",
        |_| {
            called.set(true);
            Ok(0)
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err}");
    assert_eq!(err.exit_code(), 5);
    let text = err.to_string();
    assert!(
        text.contains("marts.images") && text.contains("stage extract-hub"),
        "{text}"
    );
    assert!(!called.get(), "the data file was written");
    assert!(
        !w.datasets().exists(),
        "something was written under the root"
    );
}
