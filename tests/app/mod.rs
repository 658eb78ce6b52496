//! Driving a real mailfront node over HTTP in tests: start a node in this
//! process against a Dovecot of the support harness, and a cookie-keeping
//! client that signs in, follows links and submits forms like a browser.

#![allow(dead_code)]

pub mod node_process;

use std::path::PathBuf;
use std::time::Duration;

use mailfront::config::{Settings, SettingsLayer};
use mailfront::server::RunningServer;
use scraper::{Html, Selector};

/// Every sort order of a folder page, as its address names it; the default
/// (newest arrival first) comes first.
pub const SORT_ORDERS: [&str; 10] = [
    "arrival-desc",
    "arrival-asc",
    "date-desc",
    "date-asc",
    "from-asc",
    "from-desc",
    "subject-asc",
    "subject-desc",
    "size-desc",
    "size-asc",
];

use crate::support::Dovecot;

/// A mailfront node serving on 127.0.0.1 with its own data folder.
pub struct Node {
    pub server: RunningServer,
    pub base: String,
    pub data_dir: PathBuf,
}

/// A scratch folder for one test, removed at the start of the next run.
pub fn scratch_dir(name: &str) -> PathBuf {
    let root = std::env::var_os("MAILFRONT_TEST_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::workspace_root().join("target/test-scratch"));
    let dir = root.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder can be created");
    dir
}

/// Settings for a node in front of `dovecot`, over plain IMAP on loopback.
pub fn settings_for(dovecot: &Dovecot, data_dir: &std::path::Path) -> SettingsLayer {
    SettingsLayer {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        imap_server: Some(format!("imap+insecure://127.0.0.1:{}", dovecot.imap_port)),
        data_dir: Some(data_dir.to_owned()),
        ..SettingsLayer::default()
    }
}

/// Logs of the node to stderr when `MAILFRONT_TEST_LOG` names a filter
/// (for example `mailfront=debug`).
fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("MAILFRONT_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

impl Node {
    pub async fn start(layer: SettingsLayer) -> Node {
        init_logging();
        let data_dir = layer.data_dir.clone().expect("tests set a data folder");
        let settings = Settings::resolve(layer).expect("test settings are valid");
        let server = mailfront::server::start(settings)
            .await
            .expect("node starts");
        let base = format!("http://{}", server.address);
        Node {
            server,
            base,
            data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("node stops cleanly");
    }
}

/// A browser-like client: keeps cookies, does not follow redirects by
/// itself (tests look at them), and reads pages with an HTML parser.
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

/// A response read whole.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Page {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn html(&self) -> Html {
        Html::parse_document(&self.text())
    }

    /// Texts of every element matching a CSS selector, whitespace folded.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let selector = Selector::parse(selector).expect("valid selector");
        self.html()
            .select(&selector)
            .map(|e| {
                e.text()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// The value of an attribute on every element matching a selector.
    pub fn attrs(&self, selector: &str, attribute: &str) -> Vec<String> {
        let selector = Selector::parse(selector).expect("valid selector");
        self.html()
            .select(&selector)
            .filter_map(|e| e.value().attr(attribute).map(str::to_owned))
            .collect()
    }

    /// A hidden form field's value.
    pub fn field(&self, name: &str) -> Option<String> {
        self.attrs(&format!("input[name=\"{name}\"]"), "value")
            .into_iter()
            .next()
    }
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client builds");
        Browser {
            client,
            base: base.to_owned(),
            jar,
        }
    }

    /// The cookies the browser would send to this site, as a header value.
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().expect("base is a URL");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("GET answered");
        read(response).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{}", self.base, path))
            .form(form)
            .send()
            .await
            .expect("POST answered");
        read(response).await
    }

    /// Signs in through the form and returns the answer to the POST.
    pub async fn sign_in(&self, user: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let token = form.field("login_token").expect("login form has a token");
        self.post(
            "/login",
            &[
                ("username", user),
                ("password", password),
                ("login_token", &token),
                ("next", ""),
            ],
        )
        .await
    }

    /// Signs in and asserts that it worked.
    pub async fn signed_in(base: &str, user: &str, password: &str) -> Browser {
        let browser = Browser::new(base);
        let answer = browser.sign_in(user, password).await;
        assert_eq!(
            answer.status,
            303,
            "sign-in should redirect; got {}",
            answer.text()
        );
        browser
    }

    /// Follows redirects by hand (at most 5) and returns the final page.
    pub async fn get_following(&self, path: &str) -> Page {
        let mut page = self.get(path).await;
        for _ in 0..5 {
            match (&page.status, &page.location) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => {
                    let location = location
                        .strip_prefix(&self.base)
                        .unwrap_or(location)
                        .to_owned();
                    page = self.get(&location).await;
                }
                _ => break,
            }
        }
        page
    }
}

/// A page from any response: status, Location, headers and body.
pub async fn read(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let location = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await.expect("body read").to_vec();
    Page {
        status,
        location,
        headers,
        body,
    }
}

/// Waits (at most 10 s) until the node at `base` has no background IMAP
/// work running (after a first page it fetches the folder counts on a
/// second connection), as its `/metrics` page tells.
pub async fn background_settled(base: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = Browser::new(base).get("/metrics").await.text();
        let running = metrics
            .lines()
            .find_map(|line| line.strip_prefix("mailfront_background_tasks "))
            .and_then(|value| value.trim().parse::<u64>().ok());
        if running == Some(0) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "background work ends");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One sign-in through the form of the node at `form_base`, posted to the
/// node at `post_base` (the same one, or another sharing its sessions),
/// posing as `client` in `X-Forwarded-For`; returns the answer to the POST
/// and how long it took.
pub async fn sign_in_attempt(
    form_base: &str,
    post_base: &str,
    user: &str,
    password: &str,
    client: &str,
) -> (Page, Duration) {
    let browser = Browser::new(form_base);
    let form = browser.get("/login").await;
    let token = form.field("login_token").expect("the form has a token");

    let started = std::time::Instant::now();
    let response = browser
        .client
        .post(format!("{post_base}/login"))
        .header("x-forwarded-for", client)
        .form(&[
            ("username", user),
            ("password", password),
            ("login_token", token.as_str()),
            ("next", ""),
        ])
        .send()
        .await
        .expect("the sign-in is answered");
    let page = read(response).await;
    (page, started.elapsed())
}

/// Whether a sign-in attempt was refused outright by the login throttle.
pub fn refused_by_throttle(page: &Page) -> bool {
    page.status == 429 && page.text().contains("Too many sign-in attempts.")
}
