//! Atomic partition writes: failures and kills leave no partial partition.

use hubaudit::catalog::{self, REPOSITORIES};
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
