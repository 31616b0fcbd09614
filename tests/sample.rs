//! The sample world spec against public history (`../shared/data`): the names, deprecation
//! dates and notice targets must be the real ones; only wording and numbers are invented.

use std::collections::{BTreeMap, BTreeSet};

use hubaudit::notice;
use hubaudit::sample::World;

use crate::util::repo;

/// The docs history's rows of `name`, or None when `test` is skipped (no public data).
fn docs(test: &str) -> Option<std::path::PathBuf> {
    hubaudit::public_data::require(test, "docker-library-docs")
}

fn jsonl(dir: &std::path::Path, name: &str) -> Vec<serde_json::Value> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn sample_names_and_deprecation_dates_follow_the_docs_history() {
    let Some(dir) = docs("sample::sample_names_and_deprecation_dates_follow_the_docs_history")
    else {
        return;
    };
    let world = World::load(&repo().join("datasets/sample")).unwrap();
    let mut real: BTreeMap<String, Option<String>> = BTreeMap::new();
    for row in jsonl(&dir, "catalog-2021-08-24.jsonl")
        .into_iter()
        .chain(jsonl(&dir, "removed-before-2021-08-24.jsonl"))
    {
        real.insert(
            row["name"].as_str().unwrap().into(),
            row["deprecated_since"].as_str().map(String::from),
        );
    }
    assert_eq!(real.len(), 168);
    let ours: BTreeSet<&str> = world.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        ours,
        real.keys().map(String::as_str).collect::<BTreeSet<_>>()
    );
    // deprecated after the study, from FACTS.md
    let later: BTreeMap<&str, &str> = [
        ("nuxeo", "2021-09-03"),
        ("kaazing-gateway", "2021-09-01"),
        ("centos", "2022-09-22"),
    ]
    .into();
    for img in &world.images {
        let expected = later
            .get(img.name.as_str())
            .map(|d| d.to_string())
            .or_else(|| real[&img.name].clone());
        assert_eq!(
            img.deprecated_since.map(|d| d.to_string()),
            expected,
            "{}",
            img.name
        );
    }
    // eclipse-temurin appears in the docs only at 2021-08-24: 167 names before, like the study
    for (date, n) in [
        ("2021-07-29", 167),
        ("2021-08-10", 167),
        ("2021-08-24", 168),
    ] {
        let d = crate::util::date(date);
        assert_eq!(
            world
                .images
                .iter()
                .filter(|i| i.at.contains_key(&d))
                .count(),
            n,
            "{date}"
        );
    }
}

#[test]
fn sample_notices_point_where_the_real_notices_point() {
    let Some(dir) = docs("sample::sample_notices_point_where_the_real_notices_point") else {
        return;
    };
    let world = World::load(&repo().join("datasets/sample")).unwrap();
    let rows = jsonl(&dir, "catalog-2021-08-24.jsonl")
        .into_iter()
        .chain(jsonl(&dir, "removed-before-2021-08-24.jsonl"));
    let mut checked = 0;
    for row in rows.filter(|r| r["deprecated"].as_bool() == Some(true)) {
        let name = row["name"].as_str().unwrap();
        let real = notice::parse_notice(row["deprecation_notice"].as_str().unwrap());
        let ours = notice::parse_notice(&world.notices[name]);
        assert_eq!(ours.targets, real.targets, "{name}");
        assert_eq!(ours.alternatives, real.alternatives, "{name}");
        assert_eq!(ours.recommended_link, real.recommended_link, "{name}");
        assert_ne!(
            ours.text, real.text,
            "{name}: the sample notice must be our own words"
        );
        checked += 1;
    }
    assert_eq!(checked, 23);
}

#[test]
fn sample_readme_shows_the_notice_only_from_its_date() {
    let world = World::load(&repo().join("datasets/sample")).unwrap();
    let fsharp = world.images.iter().find(|i| i.name == "fsharp").unwrap();
    assert!(notice::find_notice(&world.readme(fsharp, crate::util::date("2021-07-29"))).is_none());
    let n = notice::find_notice(&world.readme(fsharp, crate::util::date("2021-08-10"))).unwrap();
    assert_eq!(n.targets, vec!["microsoft-dotnet-sdk"]);
    assert!(world
        .readme(fsharp, crate::util::date("2021-08-10"))
        .contains("SAMPLE DATA"));
}
