//! The sample world: a committed, human-readable spec (`datasets/sample/`) of Docker Hub's
//! `library` namespace at three 2021 capture dates, turned into a *replay capture* (the API
//! responses per date) that the replay Hub serves on loopback.
//!
//! Real: the 168 names, deprecation dates, where each notice points, tag names. Synthetic,
//! and labelled `source = "sample"` everywhere: descriptions, notice wording, stars, pulls,
//! `last_updated`, image contents. A notice shows on a date only from its `deprecated_since`.
//! Digests and sizes are those of the sample images as built (`image`): a tag's platform
//! digests in the Hub capture are the manifest digests a registry serves after
//! `hubaudit sample push`, as on the real Hub.
//!
//! Capture folder layout (also what `replay` serves, so a capture of real responses in the
//! same layout replays too):
//! ```text
//! CAPTURE/capture.toml            source, namespace, dates
//! CAPTURE/DATE/repositories.json  the full repository list (the server pages it)
//! CAPTURE/DATE/detail/NAME.json   one repository's detail
//! CAPTURE/DATE/tags/NAME.json     all tags of a repository (the server pages them)
//! CAPTURE/DATE/images/NAME/TAG.tar  the tag's amd64 image as a docker-save tarball;
//!                                   TAG.note: a note for the scan row
//! CAPTURE/DATE/registry.json        every tag of the date and the digest it points at
//!                                   (`sample push` rebuilds those images and uploads them)
//! CAPTURE/trivy-cache/db/           the synthetic Trivy DB (`--trivy-cache`)
//! ```

pub mod bolt;
pub mod image;
pub mod loopback;
pub mod proxy;
pub mod push;
pub mod registry;
pub mod replay;
pub mod token;
pub mod trivydb;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::dates::parse_date;
use crate::error::{Error, Result};
use crate::io::partition::write_file_atomic;

/// `world.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorldToml {
    /// Row label, `sample`.
    pub source: String,
    /// Namespace served.
    pub namespace: String,
    /// Capture dates.
    pub captures: Vec<NaiveDate>,
    /// Hour (UTC) of each capture.
    pub capture_hour: u32,
}

/// One image of `images.csv`.
#[derive(Debug, Clone)]
pub struct SampleImage {
    pub name: String,
    pub description: String,
    pub date_registered: NaiveDate,
    pub deprecated_since: Option<NaiveDate>,
    pub tags: Vec<String>,
    pub stars: i64,
    /// Per capture date: (pull_count, last_updated); absent before the image exists.
    pub at: BTreeMap<NaiveDate, (i64, String)>,
}

/// The whole spec.
#[derive(Debug, Clone)]
pub struct World {
    pub meta: WorldToml,
    pub images: Vec<SampleImage>,
    /// Notice Markdown by image name.
    pub notices: BTreeMap<String, String>,
    /// Base OS, package revisions and advisories (`scan.toml`).
    pub scan: ScanSpec,
    /// sha256 of the four spec files' texts: what a capture was built from.
    pub fingerprint: String,
}

/// `scan.toml`: how the sample images and the sample vulnerability DB are built.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSpec {
    /// UpdatedAt of the synthetic DB.
    pub db_updated_at: String,
    /// OS and revision of images not listed.
    pub default: ImageOs,
    /// Per image.
    pub images: BTreeMap<String, ImageOs>,
    /// Per Trivy platform bucket (`debian 10`).
    pub os: BTreeMap<String, OsSpec>,
}

/// An image's base OS and package revision.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageOs {
    pub os: String,
    pub rev: u32,
    /// Carried into the scan row (e.g. a stand-in explanation).
    #[serde(default)]
    pub note: Option<String>,
    /// Platforms built (`amd64`, `arm64`); unset: both, as an OCI index.
    #[serde(default)]
    pub platforms: Option<Vec<String>>,
}

/// One OS of the sample.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsSpec {
    /// Release file content (`10.10`, `3.14.1`).
    pub release: String,
    pub packages: Vec<PackageSpec>,
}

/// A source package with its binaries and advisories.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    pub source: String,
    pub binaries: Vec<String>,
    /// Version template with `{rev}`.
    pub version: String,
    /// Advisories fixed in revisions 1..=N.
    pub advisories: u32,
    /// Advisories without a fix.
    #[serde(default)]
    pub unfixed: u32,
}

impl ScanSpec {
    /// The OS and revision of `name`.
    pub fn image(&self, name: &str) -> &ImageOs {
        self.images.get(name).unwrap_or(&self.default)
    }

    /// The synthetic advisory DB. Ids are `SAMPLE-2021-NNNN`, numbered in spec order.
    pub fn advisory_db(&self) -> trivydb::AdvisoryDb {
        use trivydb::{status, Advisory, AdvisoryDb, DataSource, Vulnerability};
        const SEVERITY: [u8; 8] = [2, 3, 1, 4, 2, 3, 2, 1];
        const NAMES: [&str; 5] = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
        let mut db = AdvisoryDb::default();
        let mut n = 0;
        for (platform, os) in &self.os {
            let family = platform
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            db.data_sources.insert(
                platform.clone(),
                DataSource {
                    id: family.clone(),
                    name: format!("hubaudit sample advisories for {platform}"),
                    url: "https://example.invalid/hubaudit-sample".into(),
                },
            );
            for pkg in &os.packages {
                let bucket = db
                    .platforms
                    .entry(platform.clone())
                    .or_default()
                    .entry(pkg.source.clone())
                    .or_default();
                for k in 1..=(pkg.advisories + pkg.unfixed) {
                    n += 1;
                    let id = format!("SAMPLE-2021-{n:04}");
                    let sev = SEVERITY[(n as usize) % SEVERITY.len()];
                    let advisory = if k <= pkg.advisories {
                        Advisory {
                            fixed_version: Some(pkg.version.replace("{rev}", &k.to_string())),
                            status: None,
                            severity: Some(sev),
                            ..Advisory::default()
                        }
                    } else {
                        Advisory {
                            fixed_version: None,
                            status: Some(status::AFFECTED),
                            severity: Some(sev),
                            ..Advisory::default()
                        }
                    };
                    bucket.insert(id.clone(), advisory);
                    db.vulnerabilities.insert(id.clone(), Vulnerability {
                        title: format!("{id}: synthetic flaw in {} (sample data)", pkg.source),
                        description: "Synthetic advisory of hubaudit's sample world; not a real vulnerability.".into(),
                        severity: NAMES[sev as usize].into(),
                    });
                }
            }
        }
        db
    }

    /// The OS spec of `name`.
    fn os_of(&self, name: &str) -> Result<(&ImageOs, &OsSpec)> {
        let img = self.image(name);
        let os = self.os.get(&img.os).ok_or_else(|| {
            Error::data(
                "scan.toml",
                format!("image {name}: unknown os {:?}", img.os),
            )
        })?;
        Ok((img, os))
    }

    /// The platforms `name` is built for (`amd64` and `arm64` unless the spec says otherwise).
    pub fn platforms(&self, name: &str) -> Result<Vec<image::Platform>> {
        let img = self.image(name);
        let names: Vec<&str> = match &img.platforms {
            Some(p) => p.iter().map(String::as_str).collect(),
            None => vec!["amd64", "arm64"],
        };
        names
            .iter()
            .map(|a| {
                image::Platform::parse(a).ok_or_else(|| {
                    Error::data(
                        "scan.toml",
                        format!("image {name}: unknown platform {a:?}; use amd64 or arm64"),
                    )
                })
            })
            .collect()
    }

    /// The base layer of an OS release on a platform: the release file and the package
    /// database at revision 0. Every image of that release shares it, as official images
    /// share their `debian:buster` layer.
    pub fn base_layer(&self, os_key: &str, platform: image::Platform) -> Result<image::Layer> {
        let os = self
            .os
            .get(os_key)
            .ok_or_else(|| Error::data("scan.toml", format!("unknown os {os_key:?}")))?;
        let fs = package_files(os_key, Some(&os.release), platform, &packages(os, 0));
        image::Layer::build(
            &fs,
            &format!("sample base layer {os_key} {}", platform.architecture),
        )
    }

    /// The application layer of `name`: the package database at the image's revision (one
    /// more on arm64, so that scanning the wrong platform shows) and a stamp, so that the
    /// digest changes exactly when `last_updated` does.
    pub fn app_layer(
        &self,
        name: &str,
        stamp: &str,
        platform: image::Platform,
    ) -> Result<image::Layer> {
        let (img, os) = self.os_of(name)?;
        let rev = img.rev + u32::from(platform != image::Platform::AMD64);
        let mut fs = package_files(&img.os, None, platform, &packages(os, rev));
        fs.insert(
            "etc/hubaudit-sample".into(),
            format!(
                "SAMPLE image {name} built {stamp} for {}\n",
                platform.architecture
            )
            .into_bytes(),
        );
        image::Layer::build(&fs, &format!("sample application layer of {name}"))
    }
}

/// The packages of `os` at revision `rev`.
fn packages(os: &OsSpec, rev: u32) -> Vec<image::Package> {
    os.packages
        .iter()
        .flat_map(|p| {
            p.binaries.iter().map(move |b| image::Package {
                name: b.clone(),
                source: p.source.clone(),
                version: p.version.replace("{rev}", &rev.to_string()),
            })
        })
        .collect()
}

/// The package database files (and with `release` the release files) of an OS family.
fn package_files(
    os_key: &str,
    release: Option<&str>,
    platform: image::Platform,
    packages: &[image::Package],
) -> image::Rootfs {
    if os_key.starts_with("alpine") {
        image::alpine_files(release, platform, packages)
    } else {
        image::debian_files(release, platform, packages)
    }
}

/// The spec files compiled into the binary.
const EMBEDDED_SPEC: [(&str, &str); 4] = [
    (
        "world.toml",
        include_str!("../../datasets/sample/world.toml"),
    ),
    (
        "images.csv",
        include_str!("../../datasets/sample/images.csv"),
    ),
    (
        "notices.toml",
        include_str!("../../datasets/sample/notices.toml"),
    ),
    ("scan.toml", include_str!("../../datasets/sample/scan.toml")),
];

/// The default capture folder of a dataset root: `DATASETS/sample-capture`.
pub fn default_capture_dir(datasets: &Path) -> PathBuf {
    datasets.join("sample-capture")
}

impl World {
    /// Loads and checks a spec folder.
    pub fn load(dir: &Path) -> Result<World> {
        World::from_files(
            |name| {
                let p = dir.join(name);
                std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))
            },
            |name| dir.join(name).display().to_string(),
        )
    }

    /// The spec compiled into the binary (`datasets/sample/` of its checkout), so an installed
    /// `hubaudit` runs the sample world from any folder.
    pub fn embedded() -> Result<World> {
        World::from_files(
            |name| {
                EMBEDDED_SPEC
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, text)| text.to_string())
                    .ok_or_else(|| Error::data("embedded sample spec", format!("no {name}")))
            },
            |name| format!("embedded sample spec {name}"),
        )
    }

    /// `load` from a folder, else the embedded spec.
    pub fn load_or_embedded(dir: Option<&Path>) -> Result<World> {
        match dir {
            Some(d) => World::load(d),
            None => World::embedded(),
        }
    }

    /// Parses and checks the four spec files; `read` gives a file's text, `ctx` names it.
    fn from_files(
        read: impl Fn(&str) -> Result<String>,
        ctx: impl Fn(&str) -> String,
    ) -> Result<World> {
        let fingerprint = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for name in ["world.toml", "images.csv", "notices.toml", "scan.toml"] {
                h.update(name.as_bytes());
                h.update(read(name)?.as_bytes());
            }
            format!("{:x}", h.finalize())
        };
        let meta: WorldToml = toml::from_str(&read("world.toml")?)
            .map_err(|e| Error::data(ctx("world.toml"), e.message()))?;
        #[derive(Deserialize)]
        struct NoticeEntry {
            text: String,
        }
        let notices: BTreeMap<String, NoticeEntry> = toml::from_str(&read("notices.toml")?)
            .map_err(|e| Error::data(ctx("notices.toml"), e.message()))?;
        let notices: BTreeMap<String, String> = notices
            .into_iter()
            .map(|(k, v)| (k, v.text.trim().to_string()))
            .collect();
        let scan: ScanSpec = toml::from_str(&read("scan.toml")?)
            .map_err(|e| Error::data(ctx("scan.toml"), e.message()))?;
        let images = parse_images(&read("images.csv")?, &meta.captures)
            .map_err(|e| Error::data(ctx("images.csv"), e))?;
        for img in &images {
            if img.deprecated_since.is_some() && !notices.contains_key(&img.name) {
                return Err(Error::data(
                    ctx("notices.toml"),
                    format!("{} has a deprecated_since date but no notice", img.name),
                ));
            }
        }
        for img in &images {
            scan.os_of(&img.name)?;
            scan.platforms(&img.name)?;
        }
        Ok(World {
            meta,
            images,
            notices,
            scan,
            fingerprint,
        })
    }

    /// Builds the capture into `out` unless it was built already from this spec by this very
    /// binary (`CAPTURE/build.stamp`, written last, so a build cut short is redone); returns the
    /// files written (0 when it was up to date). Rebuilding the same capture takes seconds and
    /// `sample run` is run again and again.
    pub fn build_capture_if_changed(&self, out: &Path) -> Result<usize> {
        let stamp_path = out.join("build.stamp");
        let stamp = self.build_stamp();
        if std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
            return Ok(0);
        }
        let files = self.build_capture(out)?;
        write_capture_file(&stamp_path, stamp.as_bytes())?;
        Ok(files)
    }

    /// The spec's fingerprint and the running binary's size and modification time (a rebuilt
    /// binary may build other bytes from the same spec).
    fn build_stamp(&self) -> String {
        let exe = std::env::current_exe()
            .and_then(std::fs::metadata)
            .map(|m| {
                let t = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                format!("{} {t}", m.len())
            })
            .unwrap_or_default();
        format!(
            "spec {}\nhubaudit {} {exe}\n",
            self.fingerprint,
            env!("CARGO_PKG_VERSION")
        )
    }

    /// Writes the replay capture for every date into `out` (replacing files it owns).
    pub fn build_capture(&self, out: &Path) -> Result<usize> {
        let mut files = 0;
        let meta = toml::to_string(&CaptureToml {
            source: self.meta.source.clone(),
            namespace: self.meta.namespace.clone(),
            dates: self.meta.captures.clone(),
            capture_hour: self.meta.capture_hour,
        })
        .expect("capture.toml serialises");
        write_file_atomic(&out.join("capture.toml"), meta.as_bytes())?;
        let updated = crate::dates::parse_timestamp(&self.scan.db_updated_at)
            .ok_or_else(|| Error::data("scan.toml", "db_updated_at is not an RFC 3339 time"))?;
        self.scan
            .advisory_db()
            .write(&out.join("trivy-cache"), updated)?;
        // base layers: one per OS release and platform, shared by every image and date
        let mut bases = BTreeMap::new();
        for date in &self.meta.captures {
            let day = out.join(date.to_string());
            let mut registry = Vec::new();
            let present: Vec<&SampleImage> = self
                .images
                .iter()
                .filter(|i| i.at.contains_key(date))
                .collect();
            let list: Vec<Value> = present.iter().map(|i| self.list_item(i, *date)).collect();
            write_json(&day.join("repositories.json"), &Value::Array(list))?;
            files += 1;
            for img in present {
                let mut detail = self.list_item(img, *date);
                detail["full_description"] = Value::String(self.readme(img, *date));
                write_json(
                    &day.join("detail").join(format!("{}.json", img.name)),
                    &detail,
                )?;
                let mut built = Vec::new();
                for tag in &img.tags {
                    let b = self.build_tag(img, tag, *date, &mut bases)?;
                    b.write_archive(&day, img, tag, self.scan.image(&img.name).note.as_deref())?;
                    registry.push(b.entry.clone());
                    built.push(b);
                    files += 1;
                }
                write_json(
                    &day.join("tags").join(format!("{}.json", img.name)),
                    &self.tags(img, *date, &built),
                )?;
                files += 2;
            }
            write_json(
                &day.join("registry.json"),
                &serde_json::to_value(&registry).expect("entries serialise"),
            )?;
        }
        Ok(files)
    }

    fn list_item(&self, img: &SampleImage, date: NaiveDate) -> Value {
        let (pulls, updated) = &img.at[&date];
        json!({
            "name": img.name,
            "namespace": self.meta.namespace,
            "repository_type": "image",
            "status": 1,
            "status_description": "active",
            "description": img.description,
            "is_private": false,
            "star_count": img.stars,
            "pull_count": pulls,
            "last_updated": updated,
            "date_registered": format!("{}T00:00:00Z", img.date_registered),
            "affiliation": "",
            "media_types": [image::media::INDEX, image::media::MANIFEST],
            "content_types": ["image"],
        })
    }

    /// The sample README (`full_description`), with the notice from its date on.
    pub fn readme(&self, img: &SampleImage, date: NaiveDate) -> String {
        let mut md = String::new();
        if img.deprecated_since.is_some_and(|d| d <= date) {
            md.push_str("# **DEPRECATION NOTICE**\n\n");
            md.push_str(&self.notices[&img.name]);
            md.push_str("\n\n");
        }
        md.push_str(&format!(
            "# Quick reference\n\n> SAMPLE DATA: this README was written for hubaudit's offline sample world; it is not the image's real documentation.\n\n# What is `{}`?\n\n{}\n",
            img.name, img.description
        ));
        md
    }

    /// Builds one tag of `img` at `date` for each of its platforms (in memory; equal inputs
    /// give equal bytes, so `sample push` rebuilds what the capture's digests name).
    pub fn build_tag(
        &self,
        img: &SampleImage,
        tag: &str,
        date: NaiveDate,
        bases: &mut BTreeMap<(String, image::Platform), image::Layer>,
    ) -> Result<BuiltTag> {
        let os_key = self.scan.image(&img.name).os.clone();
        let stamp = format!("{tag} {}", img.at[&date].1);
        let mut images = Vec::new();
        for platform in self.scan.platforms(&img.name)? {
            let key = (os_key.clone(), platform);
            if !bases.contains_key(&key) {
                bases.insert(key.clone(), self.scan.base_layer(&os_key, platform)?);
            }
            let layers = vec![
                bases[&key].clone(),
                self.scan.app_layer(&img.name, &stamp, platform)?,
            ];
            images.push(image::Image::build(platform, layers));
        }
        let index = (images.len() > 1).then(|| image::index(&images.iter().collect::<Vec<_>>()));
        let top = index.clone().unwrap_or_else(|| images[0].manifest.clone());
        Ok(BuiltTag {
            entry: RegistryEntry {
                repository: format!("{}/{}", self.meta.namespace, img.name),
                tag: tag.to_string(),
                digest: top.digest,
                media_type: top.media_type.to_string(),
            },
            images,
            index,
        })
    }

    /// Tags JSON as the Hub answers it: one entry per platform image, whose `digest` is that
    /// platform's manifest digest in the registry (what `docker pull NAME@DIGEST` takes).
    fn tags(&self, img: &SampleImage, date: NaiveDate, built: &[BuiltTag]) -> Value {
        let (_, updated) = &img.at[&date];
        let tags: Vec<Value> = built
            .iter()
            .map(|b| {
                let images: Vec<Value> = b
                    .images
                    .iter()
                    .map(|i| {
                        json!({
                            "architecture": i.platform.architecture,
                            "features": "",
                            "variant": i.platform.variant,
                            "digest": i.manifest.digest,
                            "os": "linux",
                            "os_features": "",
                            "os_version": null,
                            "size": i.size(),
                            "status": "active",
                            "last_pulled": format!("{date}T05:00:00Z"),
                            "last_pushed": updated,
                        })
                    })
                    .collect();
                let full_size: i64 = b.images.iter().map(image::Image::size).sum();
                json!({
                    "name": b.entry.tag,
                    "full_size": full_size,
                    "images": images,
                    "last_updated": updated,
                    "tag_status": "active",
                    "tag_last_pulled": format!("{date}T05:00:00Z"),
                    "tag_last_pushed": updated,
                    "media_type": b.entry.media_type,
                    "v2": true,
                })
            })
            .collect();
        Value::Array(tags)
    }
}

/// One tag as built: its platform images and what the registry serves under the tag.
#[derive(Debug, Clone)]
pub struct BuiltTag {
    /// The tag as `DATE/registry.json` lists it.
    pub entry: RegistryEntry,
    /// One image per platform (amd64 first).
    pub images: Vec<image::Image>,
    /// The index over them, when there are several.
    pub index: Option<image::Blob>,
}

impl BuiltTag {
    /// Writes the amd64 image as `DAY/images/NAME/TAG.tar` (and the scan note beside it).
    fn write_archive(
        &self,
        day: &Path,
        img: &SampleImage,
        tag: &str,
        note: Option<&str>,
    ) -> Result<()> {
        let path = day
            .join("images")
            .join(&img.name)
            .join(format!("{tag}.tar"));
        let amd64 = &self.images[0];
        debug_assert_eq!(amd64.platform, image::Platform::AMD64);
        write_capture_file(
            &path,
            &image::docker_archive(&format!("{}:{tag}", img.name), amd64)?,
        )?;
        if let Some(note) = note {
            write_capture_file(&path.with_extension("note"), note.as_bytes())?;
        }
        Ok(())
    }
}

/// A tag of the sample registry (`DATE/registry.json`): what `hubaudit sample push` uploads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryEntry {
    /// `library/NAME`.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// Digest of the index (several platforms) or manifest (one) the tag points at.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
}

/// `capture.toml` of a capture folder.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureToml {
    /// Row label the replay server declares (`X-Hubaudit-Replay`).
    pub source: String,
    /// Namespace served.
    pub namespace: String,
    /// Dates in the capture.
    pub dates: Vec<NaiveDate>,
    /// Hour (UTC) of each capture, for the `Date` header.
    pub capture_hour: u32,
}

impl CaptureToml {
    /// The capture time of `date`.
    pub fn captured_at(&self, date: NaiveDate) -> chrono::DateTime<Utc> {
        Utc.from_utc_datetime(&date.and_time(
            NaiveTime::from_hms_opt(self.capture_hour.min(23), 0, 0).expect("valid hour"),
        ))
    }
}

/// Capture files are a rebuilt artefact (not data): a plain write is enough, and skipping
/// thousands of fsyncs keeps `just run` and the test fixtures fast.
fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("json serialises");
    text.push('\n');
    write_capture_file(path, text.as_bytes())
}

/// A plain write of a capture file (see [`write_json`]), creating its folder.
fn write_capture_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().expect("capture file has a folder");
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// Parses `images.csv`.
fn parse_images(
    text: &str,
    captures: &[NaiveDate],
) -> std::result::Result<Vec<SampleImage>, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("missing column {name:?}"))
    };
    let (c_name, c_desc, c_reg, c_dep, c_tags, c_stars) = (
        col("name")?,
        col("description")?,
        col("date_registered")?,
        col("deprecated_since")?,
        col("tags")?,
        col("stars")?,
    );
    let per_date: Vec<(NaiveDate, usize, usize)> = captures
        .iter()
        .map(|d| {
            Ok((
                *d,
                col(&format!("pulls_{d}"))?,
                col(&format!("updated_{d}"))?,
            ))
        })
        .collect::<std::result::Result<_, String>>()?;
    let mut images = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let r = record.map_err(|e| e.to_string())?;
        let row = line + 2;
        let bad = |what: &str, e: String| format!("line {row}: {what}: {e}");
        let date =
            |i: usize| parse_date(&headers[i], &r[i]).map_err(|e| bad(&headers[i], e.to_string()));
        let mut at = BTreeMap::new();
        for (d, pc, uc) in &per_date {
            if r[*pc].is_empty() {
                continue;
            }
            let pulls = r[*pc]
                .parse::<i64>()
                .map_err(|e| bad(&headers[*pc], e.to_string()))?;
            at.insert(*d, (pulls, r[*uc].to_string()));
        }
        images.push(SampleImage {
            name: r[c_name].to_string(),
            description: r[c_desc].to_string(),
            date_registered: date(c_reg)?,
            deprecated_since: if r[c_dep].is_empty() {
                None
            } else {
                Some(date(c_dep)?)
            },
            tags: r[c_tags]
                .split(';')
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
            stars: r[c_stars]
                .parse()
                .map_err(|e: std::num::ParseIntError| bad("stars", e.to_string()))?,
            at,
        });
    }
    Ok(images)
}
