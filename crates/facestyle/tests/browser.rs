//! End to end through the web page in headless Chromium (driven over the WebDriver protocol by
//! chromedriver): enroll a person from a file, identify a group photo, verify two photos.
//! Needs Debian's `chromium` and `chromium-driver`; `.ci/run` installs them and sets
//! FACESTYLE_REQUIRE_BROWSER=1 so a missing browser fails instead of skipping.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TOKEN, face_models, photo, start_server};
use facestyle_serve::client::request;
use serde_json::{Value, json};

fn chromedriver() -> Option<&'static str> {
    let found = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        if std::env::var("FACESTYLE_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!(
                "chromedriver not found and FACESTYLE_REQUIRE_BROWSER=1: apt-get install chromium chromium-driver"
            );
        }
        eprintln!("skipping: chromedriver not installed (apt-get install chromium chromium-driver)");
    }
    found
}

/// A WebDriver session on chromedriver, spoken with the small HTTP client.
struct Driver {
    addr: SocketAddr,
    session: String,
    child: Child,
}

impl Driver {
    fn start(bin: &str) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let t = Instant::now();
        while request(addr, "GET", "/status", None, None).is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1400",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]}}}});
        let mut d = Driver { addr, session: String::new(), child };
        let v = d.post("/session", caps);
        d.session = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        d
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let b = ("application/json".to_string(), body.to_string().into_bytes());
        let r = request(self.addr, "POST", path, None, Some(&b)).unwrap();
        let v = r.json();
        assert_eq!(r.status, 200, "{path}: {v}");
        v
    }

    fn get(&self, path: &str) -> Value {
        request(self.addr, "GET", path, None, None).unwrap().json()
    }

    fn find(&self, css: &str) -> String {
        let v = self.post(
            &format!("/session/{}/element", self.session),
            json!({"using": "css selector", "value": css}),
        );
        v["value"].as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.post(&format!("/session/{}/element/{e}/value", self.session), json!({"text": text}));
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.post(&format!("/session/{}/element/{e}/click", self.session), json!({}));
    }

    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.get(&format!("/session/{}/element/{e}/text", self.session))["value"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits until the text of `css` contains `want`; panics with the last text after 60 s.
    fn wait_text(&self, css: &str, want: &str) -> String {
        let t = Instant::now();
        loop {
            let got = self.text(css);
            if got.contains(want) {
                return got;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "{css}: waited for '{want}', have '{got}'");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = request(self.addr, "DELETE", &format!("/session/{}", self.session), None, None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn enroll_identify_verify_through_the_page() {
    let Some(bin) = chromedriver() else { return };
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start_server(&dir.path().join("g.db"));
    let d = Driver::start(bin);
    // The link the server prints: the page takes the token from the fragment.
    d.post(&format!("/session/{}/url", d.session), json!({"url": format!("http://{addr}/#token={TOKEN}")}));
    d.wait_text("#people", "Nobody enrolled yet");

    d.type_into("#enroll-name", "Abdullah Gul");
    d.type_into("#enroll-file", &file("Abdullah_Gul_0001.jpg"));
    d.click("#enroll-go");
    d.wait_text("#enroll-out", "Enrolled Abdullah Gul");
    d.wait_text("#people", "Abdullah Gul (1)");

    d.type_into("#identify-file", &file("Abdullah_Gul_0008.png"));
    d.click("#identify-go");
    let got = d.wait_text("#identify-out", "3 face(s)");
    assert_eq!(got.matches("Abdullah Gul").count(), 1, "{got}");
    assert_eq!(got.matches("unknown").count(), 2, "{got}");

    d.type_into("#verify-a", &file("Abdullah_Gul_0001.jpg"));
    d.type_into("#verify-b", &file("Colin_Powell_0001.jpg"));
    d.click("#verify-go");
    d.wait_text("#verify-out", "Different people");

    // The webcam path: Chromium's fake camera shows a test pattern, so the frame reaches the
    // server and comes back as "no face" (a real camera would enroll the person).
    d.click("#cam-start");
    std::thread::sleep(Duration::from_millis(1500));
    d.click("#cam-snap");
    d.wait_text("#enroll-out", "webcam.png: no face found");

    // A non-image upload shows the server's message, not a crash.
    let bad = dir.path().join("notes.jpg");
    std::fs::write(&bad, b"not a photo").unwrap();
    d.type_into("#identify-file", bad.to_str().unwrap());
    d.click("#identify-go");
    d.wait_text("#identify-out", "notes.jpg");

    drop(d);
    drop(server);
}

/// WebDriver wants canonical paths for file inputs.
fn file(name: &str) -> String {
    std::fs::canonicalize(photo(name)).unwrap().display().to_string()
}
