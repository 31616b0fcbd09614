//! The Hub API v2 response shapes we read. Every field is optional or defaulted: the Hub has
//! changed its payloads over the years and a missing field must not fail a crawl.

use serde::Deserialize;

/// A page of a paged endpoint: `{count, next, previous, results}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    /// Total items the server claims.
    #[serde(default)]
    pub count: Option<i64>,
    /// Absolute URL of the next page, or null on the last page.
    #[serde(default)]
    pub next: Option<String>,
    /// The items.
    pub results: Vec<T>,
}

/// An item of the repository list.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RepoItem {
    /// Repository name without namespace, e.g. `nginx`.
    pub name: String,
    /// Namespace, e.g. `library`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Short description.
    #[serde(default)]
    pub description: Option<String>,
    /// Stars.
    #[serde(default)]
    pub star_count: Option<i64>,
    /// Pulls (approximate; capped at 2^31-1 until 2021-01).
    #[serde(default)]
    pub pull_count: Option<i64>,
    /// Last push to any tag (may be null).
    #[serde(default)]
    pub last_updated: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub date_registered: Option<String>,
    /// `active`, `inactive`, …
    #[serde(default)]
    pub status_description: Option<String>,
}

/// The detail of one repository (adds the README).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RepoDetail {
    /// Repository name.
    pub name: String,
    /// Markdown README, where deprecation notices live.
    #[serde(default)]
    pub full_description: Option<String>,
    /// Short description.
    #[serde(default)]
    pub description: Option<String>,
}

/// A tag of a repository.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Tag {
    /// Tag name, e.g. `latest`.
    pub name: String,
    /// Sum of the platform images' sizes.
    #[serde(default)]
    pub full_size: Option<i64>,
    /// Last push of the tag.
    #[serde(default)]
    pub last_updated: Option<String>,
    /// `active` / `inactive`.
    #[serde(default)]
    pub tag_status: Option<String>,
    /// One entry per platform.
    #[serde(default)]
    pub images: Vec<TagImage>,
}

/// A platform image of a tag.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TagImage {
    /// e.g. `amd64`.
    #[serde(default)]
    pub architecture: Option<String>,
    /// e.g. `linux`.
    #[serde(default)]
    pub os: Option<String>,
    /// e.g. `v8`.
    #[serde(default)]
    pub variant: Option<String>,
    /// Manifest digest, `sha256:…`.
    #[serde(default)]
    pub digest: Option<String>,
    /// Compressed size in bytes.
    #[serde(default)]
    pub size: Option<i64>,
    /// Last pull of this image.
    #[serde(default)]
    pub last_pulled: Option<String>,
    /// Last push of this image.
    #[serde(default)]
    pub last_pushed: Option<String>,
}
