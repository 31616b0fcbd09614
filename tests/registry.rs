//! The registry client against a real `docker-registry` (distribution 2.8) on loopback, in
//! each auth mode it supports: htpasswd (basic auth), bearer tokens from the sample token
//! service (Docker Hub's flow), and behind the fault proxy answering Docker Hub's 429.
//! Each test starts its own servers.

use std::io::{Read, Write};
use std::time::Duration;

use hubaudit::io::registry::{media_type, sha256_digest, Credentials, Registry, RegistryError};
use hubaudit::sample::proxy::{FaultProxy, ProxyFault, ProxyRule};
use hubaudit::sample::registry::{
    sample_credentials, RegistryAuth, RegistryServer, TokenAuth, SAMPLE_USERNAME,
};
use hubaudit::sample::token::{TokenConfig, TokenServer};
use serde_json::json;

/// A one-layer image: config blob, gzip layer blob, OCI manifest.
struct Image {
    config: Vec<u8>,
    layer: Vec<u8>,
    manifest: Vec<u8>,
}

fn image(seed: &str) -> Image {
    let mut tar = tar::Builder::new(Vec::new());
    let content = format!("hubaudit registry test {seed}\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "etc/hubaudit-test", content.as_bytes())
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let layer = gz.finish().unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"seed": seed}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&tar)]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": media_type::OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": media_type::OCI_LAYER_GZIP, "digest": sha256_digest(&layer), "size": layer.len()}],
    }))
    .unwrap();
    Image {
        config,
        layer,
        manifest,
    }
}

/// Pushes both blobs and the manifest under `tag`; returns the manifest digest.
fn push(r: &Registry, repo: &str, tag: &str, img: &Image) -> String {
    for blob in [&img.config, &img.layer] {
        r.push_blob(repo, &sha256_digest(blob), blob).unwrap();
    }
    r.put_manifest(repo, tag, media_type::OCI_MANIFEST, &img.manifest)
        .unwrap()
}

fn wrong_password() -> Option<Credentials> {
    Some(Credentials {
        username: SAMPLE_USERNAME.into(),
        password: "not-the-password".into(),
    })
}

fn expect_unauthorized(result: Result<(), RegistryError>, host: &str) -> String {
    match result {
        Err(e @ RegistryError::Unauthorized { .. }) => {
            let text = e.to_string();
            assert!(text.contains(host), "{text}");
            text
        }
        other => panic!("expected Unauthorized from {host}, got {other:?}"),
    }
}

#[test]
fn htpasswd_credentials_are_checked_up_front() {
    let server = RegistryServer::start(RegistryAuth::Htpasswd).unwrap();
    let host = server.host();
    server.client().unwrap().check_access("sample/app").unwrap();

    let wrong = Registry::new(&host, wrong_password()).unwrap();
    let text = expect_unauthorized(wrong.check_access("sample/app"), &host);
    assert!(
        text.contains("UNAUTHORIZED: authentication required"),
        "{text}"
    );
    // the CLI's exit code for a registry that refuses us
    let e: hubaudit::Error = wrong.check_access("sample/app").unwrap_err().into();
    assert_eq!(e.exit_code(), hubaudit::error::exit::UPSTREAM);

    let anonymous = Registry::new(&host, None).unwrap();
    expect_unauthorized(anonymous.check_access("sample/app"), &host);
    assert!(matches!(
        anonymous.head_manifest("sample/app", "latest"),
        Err(RegistryError::Unauthorized { .. })
    ));
}

#[test]
fn push_head_get_index_and_delete_round_trip() {
    let server = RegistryServer::start(RegistryAuth::Htpasswd).unwrap();
    let r = server.client().unwrap();
    let repo = "sample/app";
    let (one, two) = (image("one"), image("two"));
    assert!(!r.has_blob(repo, &sha256_digest(&one.layer)).unwrap());
    let d1 = push(&r, repo, "1.0", &one);
    assert_eq!(d1, sha256_digest(&one.manifest));
    assert!(r.has_blob(repo, &sha256_digest(&one.layer)).unwrap());
    // a blob already there is skipped, not uploaded again
    r.push_blob(repo, &sha256_digest(&one.layer), &one.layer)
        .unwrap();

    let by_tag = r.head_manifest(repo, "1.0").unwrap().unwrap();
    assert_eq!(by_tag.digest, d1);
    assert_eq!(by_tag.media_type, media_type::OCI_MANIFEST);
    assert_eq!(by_tag.size, one.manifest.len() as u64);
    assert_eq!(r.head_manifest(repo, &d1).unwrap(), Some(by_tag.clone()));
    let (bytes, got) = r.get_manifest(repo, "1.0").unwrap();
    assert_eq!(bytes, one.manifest);
    assert_eq!(got, by_tag);
    assert_eq!(r.get_manifest(repo, &d1).unwrap().0, one.manifest);
    assert_eq!(r.head_manifest(repo, "missing").unwrap(), None);
    assert!(matches!(
        r.get_manifest(repo, "missing"),
        Err(RegistryError::NotFound { what, .. }) if what == "manifest sample/app:missing"
    ));

    // a two-platform index over two manifests
    let d2 = push(&r, repo, "2.0", &two);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [
            {"mediaType": media_type::OCI_MANIFEST, "digest": d1, "size": one.manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": media_type::OCI_MANIFEST, "digest": d2, "size": two.manifest.len(), "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }))
    .unwrap();
    let di = r
        .put_manifest(repo, "multi", media_type::OCI_INDEX, &index)
        .unwrap();
    let head = r.head_manifest(repo, "multi").unwrap().unwrap();
    assert_eq!(head.digest, di);
    assert_eq!(head.media_type, media_type::OCI_INDEX);
    assert_eq!(r.get_manifest(repo, "multi").unwrap().0, index);

    r.delete_manifest(repo, &d2).unwrap();
    assert_eq!(r.head_manifest(repo, &d2).unwrap(), None);
    // distribution deletes the tags pointing at a deleted manifest
    assert_eq!(r.head_manifest(repo, "2.0").unwrap(), None);
    assert!(r.head_manifest(repo, "1.0").unwrap().is_some());
    assert!(matches!(
        r.delete_manifest(repo, &d2),
        Err(RegistryError::NotFound { .. })
    ));
    assert!(server
        .data_dir()
        .join("docker/registry/v2/repositories/sample/app")
        .is_dir());
}

#[test]
fn one_client_serves_several_threads() {
    let server = RegistryServer::start(RegistryAuth::Htpasswd).unwrap();
    let r = server.client().unwrap();
    let digest = push(&r, "sample/shared", "t", &image("shared"));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..5)
                        .map(|_| {
                            r.head_manifest("sample/shared", "t")
                                .unwrap()
                                .unwrap()
                                .digest
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap().iter().all(|d| *d == digest));
        }
    });
}

fn token_config() -> TokenConfig {
    let c = sample_credentials();
    TokenConfig {
        username: c.username,
        password: c.password,
        issuer: "hubaudit-sample-issuer".into(),
        service: "hubaudit-sample-registry".into(),
    }
}

#[test]
fn bearer_token_auth_round_trip() {
    let tokens = TokenServer::start(token_config()).unwrap();
    let server = RegistryServer::start(RegistryAuth::Token(TokenAuth::from(&tokens))).unwrap();
    let host = server.host();
    let r = server.client().unwrap();
    let repo = "sample/token";
    r.check_access(repo).unwrap();
    let img = image("token");
    let digest = push(&r, repo, "v1", &img);
    assert_eq!(r.head_manifest(repo, "v1").unwrap().unwrap().digest, digest);
    assert_eq!(r.get_manifest(repo, &digest).unwrap().0, img.manifest);
    // distribution 2.8 asks for the action `delete` on DELETE (2.7 wanted `*`)
    r.delete_manifest(repo, &digest).unwrap();
    assert_eq!(r.head_manifest(repo, &digest).unwrap(), None);

    let log = tokens.requests();
    let scopes: Vec<&str> = log
        .iter()
        .flat_map(|t| t.scopes.iter().map(String::as_str))
        .collect();
    // one token per scope: pull (check, head, get), pull+push (the whole push), delete
    assert_eq!(
        scopes,
        [
            "repository:sample/token:pull",
            "repository:sample/token:pull,push",
            "repository:sample/token:delete",
        ],
        "{log:?}"
    );
    assert!(log.iter().all(|t| t.status == 200
        && t.username.as_deref() == Some(SAMPLE_USERNAME)
        && t.service.as_deref() == Some("hubaudit-sample-registry")));

    let wrong = Registry::new(&host, wrong_password()).unwrap();
    let text = expect_unauthorized(wrong.check_access(repo), &host);
    assert!(text.contains("incorrect username or password"), "{text}");
    assert!(text.contains(&tokens.url()), "{text}");
    expect_unauthorized(
        Registry::new(&host, None).unwrap().check_access(repo),
        &host,
    );
    assert_eq!(tokens.requests().last().unwrap().status, 401);
}

/// A raw `GET target` on the token service: (status, body).
fn raw_get(url: &str, target: &str, basic: Option<&str>) -> (u16, serde_json::Value) {
    let addr = url.trim_start_matches("http://").trim_end_matches("/token");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = basic.map_or(String::new(), |b| format!("Authorization: Basic {b}\r\n"));
    write!(s, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

#[test]
fn the_token_service_refuses_bad_logins_and_other_services() {
    let tokens = TokenServer::start(token_config()).unwrap();
    // base64("hubaudit:sample-secret")
    let good = "aHViYXVkaXQ6c2FtcGxlLXNlY3JldA==";
    let target = "/token?service=hubaudit-sample-registry&scope=repository%3Aa%2Fb%3Apull";
    let (status, body) = raw_get(&tokens.url(), target, Some(good));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["token"], body["access_token"]);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["token"].as_str().unwrap().split('.').count(), 3);

    let (status, body) = raw_get(&tokens.url(), target, None);
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    let (status, body) = raw_get(&tokens.url(), "/token?service=other", Some(good));
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("\"other\""),
        "{body}"
    );
    let log = tokens.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].scopes, ["repository:a/b:pull"]);
    assert_eq!(
        log.iter().map(|t| t.status).collect::<Vec<_>>(),
        [200, 401, 400]
    );
}

#[test]
fn rate_limit_429s_come_back_typed_until_the_proxy_lets_requests_through() {
    let server = RegistryServer::start(RegistryAuth::Htpasswd).unwrap();
    let direct = server.client().unwrap();
    let repo = "library/limited";
    let digest = push(&direct, repo, "latest", &image("limited"));
    let proxy = FaultProxy::start(
        &format!("http://{}", server.host()),
        vec![ProxyRule {
            path_contains: "/manifests/".into(),
            fault: ProxyFault::TooManyRequests {
                retry_after_secs: 1,
            },
            times: Some(2),
        }],
    )
    .unwrap();
    let r = Registry::new(&proxy.host(), server.credentials()).unwrap();
    for _ in 0..2 {
        match r.head_manifest(repo, "latest") {
            Err(RegistryError::TooManyRequests {
                registry,
                retry_after,
                ..
            }) => {
                assert_eq!(registry, proxy.host());
                assert_eq!(retry_after, Some(Duration::from_secs(1)));
            }
            other => panic!("expected 429, got {other:?}"),
        }
    }
    assert_eq!(
        r.head_manifest(repo, "latest").unwrap().unwrap().digest,
        digest
    );
    assert_eq!(proxy.faults_served(), 2);
    // GET has a body: Docker Hub's message reaches the error
    let proxy_get = FaultProxy::start(
        &format!("http://{}", server.host()),
        vec![ProxyRule {
            path_contains: "/manifests/".into(),
            fault: ProxyFault::TooManyRequests {
                retry_after_secs: 7,
            },
            times: None,
        }],
    )
    .unwrap();
    let e = Registry::new(&proxy_get.host(), server.credentials())
        .unwrap()
        .get_manifest(repo, "latest")
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("retry after 7s (TOOMANYREQUESTS: You have reached your pull rate limit"),
        "{e}"
    );

    // everything else is forwarded, uploads included (their Location is rewritten to the proxy)
    let img = image("through-the-proxy");
    for blob in [&img.config, &img.layer] {
        r.push_blob(repo, &sha256_digest(blob), blob).unwrap();
    }
    assert!(direct.has_blob(repo, &sha256_digest(&img.layer)).unwrap());
    let log = proxy.requests();
    assert!(
        log.iter()
            .filter(|l| l.contains("/manifests/latest"))
            .map(String::as_str)
            .eq([
                "HEAD /v2/library/limited/manifests/latest -> 429 (injected)",
                "HEAD /v2/library/limited/manifests/latest -> 429 (injected)",
                "HEAD /v2/library/limited/manifests/latest -> 401",
                "HEAD /v2/library/limited/manifests/latest -> 200",
            ]),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("PUT /v2/library/limited/blobs/uploads/")
                && l.ends_with("-> 201")),
        "{log:#?}"
    );
}

#[test]
fn a_registry_that_is_not_there_is_unreachable() {
    let e = Registry::new("127.0.0.1:1", None)
        .unwrap()
        .check_access("a/b")
        .unwrap_err();
    assert!(
        matches!(&e, RegistryError::Unreachable { registry, .. } if registry == "127.0.0.1:1"),
        "{e:?}"
    );
}
