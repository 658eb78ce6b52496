//! A headless Chromium driven over the W3C WebDriver protocol, for tests.
//!
//! It owns one `chromedriver` process on a loopback port and one browser
//! session in it, with a fresh profile folder, and speaks WebDriver as JSON
//! over plain HTTP with reqwest: no WebDriver crate, so nothing beyond what
//! the tests call. It never installs anything: when Chromium or chromedriver
//! is missing, [`Chromium::launch`] prints why and returns `None` (or panics
//! when `CI` is set).
//!
//! Invariants: every call has a timeout and every wait is bounded, so a hung
//! browser fails a test instead of hanging it. Dropping the value ends the
//! session (chromedriver then quits the browser) and kills the chromedriver
//! process this value started, by its own handle, nothing else.
//!
//! chromedriver has no option to choose its listening address: without
//! `--allowed-ips` (which would open it to every interface) it listens on
//! `localhost` only, and it is only ever asked on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::support::running_in_ci;

/// The browser the tests drive (Debian's launcher script).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromium-driver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The key under which WebDriver names an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A reference to an element in the current browsing context.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Element {
    fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// One browser session in its own chromedriver.
pub struct Chromium {
    driver: Child,
    driver_port: u16,
    session: String,
    http: reqwest::Client,
}

impl Chromium {
    /// Starts chromedriver and a headless Chromium with a fresh profile in
    /// `profile`, a window of `width` x `height`, and every request for a
    /// host other than loopback sent to the HTTP proxy on 127.0.0.1:
    /// `proxy_port`. Returns `None` (after printing why) when Chromium or
    /// chromedriver is not installed and `CI` is unset.
    pub async fn launch(
        profile: &Path,
        width: u32,
        height: u32,
        proxy_port: u16,
    ) -> Option<Chromium> {
        for program in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(program).exists() {
                let why = format!("{program} is not installed; the browser tests are skipped");
                assert!(!running_in_ci(), "{why} (CI is set, so this fails)");
                let _ = writeln!(std::io::stderr(), "skipped: {why}");
                return None;
            }
        }

        let driver_port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER} cannot start: {e}"));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .expect("an HTTP client");
        let mut browser = Chromium {
            driver,
            driver_port,
            session: String::new(),
            http,
        };
        browser.wait_until_ready().await;

        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": browser_args(profile, width, height, proxy_port),
                },
            }}
        });
        let created = browser.call("POST", "/session", capabilities).await;
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {created}"))
            .to_owned();
        Some(browser)
    }

    /// Waits (at most 20 s) until chromedriver answers `/status`.
    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("http://127.0.0.1:{}/status", self.driver_port);
        loop {
            let ready = match self.http.get(&url).send().await {
                Ok(answer) => answer
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok()),
                Err(_) => None,
            };
            if ready.is_some_and(|v| v["value"]["ready"] == json!(true)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver on port {} did not get ready",
                self.driver_port
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends one command to the session and returns its `value`; panics
    /// with WebDriver's error when it fails.
    pub async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body).await
    }

    /// Like [`Chromium::command`], but returns WebDriver's error text.
    pub async fn try_command(
        &self,
        method: &str,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let path = format!("/session/{}{path}", self.session);
        self.try_call(method, &path, body).await
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path} failed: {e}"))
    }

    async fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("http://127.0.0.1:{}{path}", self.driver_port);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        };
        let answer = request.send().await.map_err(|e| e.to_string())?;
        let ok = answer.status().is_success();
        let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
        let reply: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;

        let value = reply.get("value").cloned().unwrap_or(Value::Null);
        if ok {
            return Ok(value);
        }
        let error = value["error"].as_str().unwrap_or("unknown error");
        let message = value["message"].as_str().unwrap_or_default();
        let first_line = message.lines().next().unwrap_or_default();
        Err(format!("{error}: {first_line}"))
    }

    /// Loads `url` and waits for the page to finish loading.
    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url })).await;
    }

    /// The address of the current top-level page.
    pub async fn current_url(&self) -> String {
        let value = self.command("GET", "/url", Value::Null).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Every element matching a CSS selector in the current context.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let body = json!({ "using": "css selector", "value": css });
        let found = self.command("POST", "/elements", body).await;
        found
            .as_array()
            .map(|list| list.iter().filter_map(element_of).collect())
            .unwrap_or_default()
    }

    /// The first element matching a CSS selector, waited for at most
    /// `timeout`; panics when none shows up.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                return element;
            }
            assert!(
                Instant::now() < deadline,
                "no element matches {css:?} after {timeout:?} at {}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The rendered text of an element (what a reader sees of it).
    pub async fn text(&self, element: &Element) -> String {
        let value = self
            .command("GET", &format!("/element/{}/text", element.0), Value::Null)
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Texts of every element matching a CSS selector.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for element in self.find_all(css).await {
            out.push(self.text(&element).await);
        }
        out
    }

    /// Types `text` into a form field.
    pub async fn type_into(&self, element: &Element, text: &str) {
        let path = format!("/element/{}/value", element.0);
        self.command("POST", &path, json!({ "text": text })).await;
    }

    /// Clicks an element as a user would (scrolled into view, on its
    /// centre).
    pub async fn click(&self, element: &Element) {
        let path = format!("/element/{}/click", element.0);
        self.command("POST", &path, json!({})).await;
    }

    /// Like [`Chromium::click`], but returns WebDriver's refusal (an element
    /// that is hidden or covered) instead of panicking.
    pub async fn try_click(&self, element: &Element) -> Result<(), String> {
        let path = format!("/element/{}/click", element.0);
        self.try_command("POST", &path, json!({})).await.map(|_| ())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// current browsing context and returns what it returns. WebDriver runs
    /// it even in a frame whose sandbox forbids the page's own scripts.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        let body = json!({ "script": script, "args": args });
        self.command("POST", "/execute/sync", body).await
    }

    /// Makes a frame element of the current context the context.
    pub async fn enter_frame(&self, frame: &Element) {
        let body = json!({ "id": frame.to_json() });
        self.command("POST", "/frame", body).await;
    }

    /// Goes back to the top-level page.
    pub async fn leave_frames(&self) {
        self.command("POST", "/frame", json!({ "id": null })).await;
    }

    /// Resizes the window; in headless mode the viewport follows.
    pub async fn resize(&self, width: u32, height: u32) {
        let body = json!({ "width": width, "height": height });
        self.command("POST", "/window/rect", body).await;
    }

    /// The handles of all open windows (a popup adds one).
    pub async fn window_count(&self) -> usize {
        let value = self.command("GET", "/window/handles", Value::Null).await;
        value.as_array().map_or(0, Vec::len)
    }

    /// Types `keys` one after the other, as key presses on whatever has the
    /// focus (the page itself when nothing does).
    pub async fn press_keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for key in keys.chars() {
            actions.push(json!({ "type": "keyDown", "value": key.to_string() }));
            actions.push(json!({ "type": "keyUp", "value": key.to_string() }));
        }
        let body = json!({
            "actions": [{ "type": "key", "id": "keyboard", "actions": actions }]
        });
        self.command("POST", "/actions", body).await;
        self.command("DELETE", "/actions", Value::Null).await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let value = self.command("GET", "/screenshot", Value::Null).await;
        let encoded = value.as_str().expect("a base64 screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("the screenshot is valid base64")
    }
}

impl Drop for Chromium {
    /// Ends the session with a plain blocking request (no runtime is needed
    /// in a destructor), then stops the chromedriver this value started.
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = delete_session(self.driver_port, &self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}` over a bare connection with a 20-second bound.
fn delete_session(port: u16, session: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(())
}

/// The browser's command line. The proxy takes every request for another
/// host; Chromium never proxies loopback addresses unless told to with
/// `<-loopback>` in `--proxy-bypass-list`, so the node on 127.0.0.1 is
/// reached directly without any bypass rule.
fn browser_args(profile: &Path, width: u32, height: u32, proxy_port: u16) -> Vec<String> {
    let fixed = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ];
    let mut args: Vec<String> = fixed.iter().map(|a| a.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--window-size={width},{height}"));
    args.push(format!("--proxy-server=http://127.0.0.1:{proxy_port}"));
    args
}

fn element_of(value: &Value) -> Option<Element> {
    value[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned()))
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("a bound address").port()
}
