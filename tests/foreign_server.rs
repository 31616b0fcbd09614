//! extract-hub against a server that is not ours: Python's `http.server` serving static files
//! laid out as the legacy Hub API v2 paths (directory indexes), with absolute `next` links.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::{text, write_config, Workdir};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn works_against_a_plain_static_file_server() {
    let w = Workdir::new();
    write_config(&w, "page_size = 2\n");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = w.path().join("static");
    let base = format!("http://127.0.0.1:{port}");
    let write = |rel: &str, v: serde_json::Value| {
        let p = root.join(rel).join("index.html");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, v.to_string()).unwrap();
    };
    let item = |name: &str| {
        json!({"name": name, "namespace": "library", "pull_count": 10, "star_count": 1,
        "last_updated": "2021-08-01T00:00:00Z", "date_registered": "2015-01-01T00:00:00Z", "status_description": "active",
        "description": format!("{name} <b>desc</b>")})
    };
    // page 1 links to page 2 by an absolute URL, as the Hub does
    write(
        "v2/repositories/library",
        json!({"count": 3, "next": format!("{base}/v2/repositories/library/p2/"), "previous": null, "results": [item("alpha"), item("oldthing")]}),
    );
    write(
        "v2/repositories/library/p2",
        json!({"count": 3, "next": null, "previous": null, "results": [item("zeta")]}),
    );
    for name in ["alpha", "oldthing", "zeta"] {
        let readme = if name == "oldthing" {
            "# **DEPRECATION NOTICE**\n\nThis image is deprecated in favor of [the `zeta` image](https://hub.docker.com/_/zeta/).\n\n# Quick reference\n"
        } else {
            "# Quick reference\n"
        };
        write(
            &format!("v2/repositories/library/{name}"),
            json!({"name": name, "full_description": readme}),
        );
        write(
            &format!("v2/repositories/library/{name}/tags"),
            json!({"count": 1, "next": null, "results": [
            {"name": "latest", "full_size": 5, "last_updated": "2021-08-01T00:00:00Z", "tag_status": "active",
             "images": [{"architecture": "amd64", "os": "linux", "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "size": 5}]}]}),
        );
    }
    let server = Killed(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is needed for this test"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "python http.server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = w.cli(&[
        "extract-hub",
        "--snapshot",
        "2021-08-24",
        "--hub-url",
        &base,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 repositories (1 deprecated)"), "{stdout}");
    assert!(
        stdout.contains("source hub"),
        "a foreign server's rows are not labelled sample: {stdout}"
    );
    let out = w.cli(&["join", "--snapshot", "2021-08-24"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = w.cli(&["report", "--date", "2021-08-24"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv =
        std::fs::read_to_string(w.datasets().join("4_report/2021-08-24/deprecated.csv")).unwrap();
    assert!(
        csv.contains("oldthing,,first-seen-in-snapshot")
            || csv.contains("oldthing,2021-08-24,first-seen-in-snapshot"),
        "{csv}"
    );
    assert!(csv.contains(",zeta,"), "{csv}");
    drop(server);
}
