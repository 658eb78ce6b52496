//! One simulated person in a browser: signs in, pages Next and Prev through
//! INBOX, now and then opens a message, and times every page view.
//!
//! It owns the walk through the pages and the timing of each request, from
//! sending it to having read the whole body. It never parses HTML with a
//! real parser on the timed path (that would bill the client's work to the
//! server on a 2-core machine): it finds the pager and the message links by
//! plain text search. It follows the pager's own links as a person would:
//! Next until the last page, then Previous back to the first, and so on.
//!
//! Invariant: one request of a session is in flight at a time, like a person
//! clicking, so the session lock never makes a request wait.

use std::time::{Duration, Instant};

use crate::app::Browser;
use crate::stats::Samples;

/// Every how many page views the session opens a message instead of paging.
const OPEN_EVERY: u64 = 5;

/// The folder walked through.
const MAILBOX: &str = "INBOX";

/// A signed-in browser walking through INBOX.
pub struct Session {
    pub browser: Browser,
    /// The path of the folder page shown last.
    current: String,
    /// Whether the walk goes towards the last page.
    forward: bool,
    /// The Next link of the folder page shown last.
    next: Option<String>,
    /// The Previous link of the folder page shown last.
    prev: Option<String>,
    /// The message links of the folder page shown last.
    links: Vec<String>,
    /// Page views made so far.
    views: u64,
    /// Nodes the page views go to in turn; empty to stay on the node
    /// signed in on.
    spread: Vec<String>,
}

/// How long signing in took, and the first page after it.
#[derive(Debug, Clone, Copy)]
pub struct SignInTimes {
    /// The POST of the login form, which checks the password with a LOGIN.
    pub sign_in: Duration,
    /// From the redirect after sign-in to the first folder page, every hop.
    pub first_page: Duration,
    /// The node's own working time for the first folder page (its last
    /// hop), from its Server-Timing header.
    pub first_page_server: Option<Duration>,
}

/// The timings of a stretch of page views.
#[derive(Debug, Default)]
pub struct Walked {
    /// Folder pages and messages that answered 200.
    pub views: Samples,
    /// Folder pages only.
    pub folder_pages: Samples,
    /// Messages only.
    pub messages: Samples,
    /// Requests that failed or did not answer 200.
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

impl Walked {
    pub fn merge(&mut self, other: Walked) {
        self.views.extend(other.views);
        self.folder_pages.extend(other.folder_pages);
        self.messages.extend(other.messages);
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
    }
}

/// What a page view was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    FolderPage,
    Message,
}

/// One timed request.
pub struct View {
    pub kind: ViewKind,
    /// From sending the request to the last byte of the answer.
    pub elapsed: Duration,
    /// The node's own working time, from its Server-Timing header.
    pub server: Option<Duration>,
    pub outcome: Result<(), String>,
}

impl Session {
    /// Signs in through the login form, follows the redirects to INBOX and
    /// returns the session showing its first page, with both times.
    pub async fn sign_in(
        base: &str,
        user: &str,
        password: &str,
    ) -> Result<(Session, SignInTimes), String> {
        let browser = Browser::new(base);
        let (_, form) = fetch(&browser, "/login").await?;
        let token = between(&form, "name=\"login_token\" value=\"", "\"")
            .ok_or("the login form has no login_token")?
            .to_owned();

        let started = Instant::now();
        let fields = [
            ("username", user),
            ("password", password),
            ("login_token", &token),
            ("next", ""),
        ];
        let answer = browser
            .client
            .post(format!("{base}/login"))
            .form(&fields)
            .send()
            .await
            .map_err(|e| format!("POST /login failed; {e}"))?;
        let status = answer.status().as_u16();
        let mut location = location(&answer);
        let _ = answer.bytes().await;
        let sign_in = started.elapsed();
        if status != 303 {
            return Err(format!("sign-in of {user} answered {status}, not 303"));
        }

        let started = Instant::now();
        let mut body = String::new();
        let mut current = String::new();
        let mut first_page_server = None;
        for _ in 0..5 {
            let Some(path) = location.take() else { break };
            let hop = fetch_raw(&browser, &path).await?;
            location = hop.location;
            body = hop.body;
            first_page_server = hop.server;
            current = path;
        }
        let first_page = started.elapsed();

        let mut session = Session {
            browser,
            current,
            forward: true,
            next: None,
            prev: None,
            links: Vec::new(),
            views: 0,
            spread: Vec::new(),
        };
        session.read_folder_page(&body)?;
        Ok((
            session,
            SignInTimes {
                sign_in,
                first_page,
                first_page_server,
            },
        ))
    }

    /// Sends each page view from now on to the next of `bases` in turn (the
    /// session's cookie is valid on all of them), as a proxy without sticky
    /// sessions would.
    pub fn spread_over(&mut self, bases: Vec<String>) {
        self.spread = bases;
    }

    /// Points the browser at the next node of the spread, if any.
    fn turn_to_next_node(&mut self) {
        if !self.spread.is_empty() {
            let next = self.spread[self.views as usize % self.spread.len()].clone();
            self.browser.base = next;
        }
    }

    /// Walks until `deadline` or `max_views` page views, whichever is first.
    pub async fn walk_until(&mut self, deadline: Instant, max_views: u64) -> Walked {
        let mut walked = Walked::default();
        let mut made = 0;
        while Instant::now() < deadline && made < max_views {
            made += 1;
            let view = self.step().await;
            record(&mut walked, view);
        }
        walked
    }

    /// Makes `count` page views.
    pub async fn walk(&mut self, count: u64) -> Walked {
        let mut walked = Walked::default();
        for _ in 0..count {
            let view = self.step().await;
            record(&mut walked, view);
        }
        walked
    }

    /// The next page view of the walk: a message every few views, else the
    /// next folder page in the walk's direction.
    pub async fn step(&mut self) -> View {
        self.views += 1;
        self.turn_to_next_node();
        if self.views % OPEN_EVERY == 0 && !self.links.is_empty() {
            let link = self.links[(self.views / OPEN_EVERY) as usize % self.links.len()].clone();
            return self.open(&link).await;
        }

        if self.forward && self.next.is_none() {
            self.forward = false;
        } else if !self.forward && self.prev.is_none() {
            self.forward = true;
        }
        let link = match self.forward {
            true => self.next.clone(),
            false => self.prev.clone(),
        };
        self.folder_page(&link.unwrap_or_else(|| self.current.clone()))
            .await
    }

    /// Follows the Next link of the folder page shown last, or shows that
    /// page again when it has none.
    pub async fn click_next(&mut self) -> View {
        let link = self.next.clone().unwrap_or_else(|| self.current.clone());
        self.folder_page(&link).await
    }

    /// Follows the Previous link, or shows the same page again.
    pub async fn click_prev(&mut self) -> View {
        let link = self.prev.clone().unwrap_or_else(|| self.current.clone());
        self.folder_page(&link).await
    }

    /// Shows the folder page shown last again, as a browser's Back does
    /// for a page that may not be stored.
    pub async fn go_back(&mut self) -> View {
        let link = self.current.clone();
        self.folder_page(&link).await
    }

    /// Shows the folder page at `path`.
    pub async fn folder_page(&mut self, path: &str) -> View {
        let started = Instant::now();
        let result = fetch_timed(&self.browser, path).await;
        let elapsed = started.elapsed();
        let server = result.as_ref().ok().and_then(|answer| answer.server);

        let outcome = result.and_then(|Answer { status, body, .. }| match status {
            200 => {
                self.current = path.to_owned();
                self.read_folder_page(&body)
            }
            other => Err(format!("GET {path} answered {other}")),
        });
        View {
            kind: ViewKind::FolderPage,
            elapsed,
            server,
            outcome,
        }
    }

    /// Opens the message at `link` (a path from a folder page).
    pub async fn open(&mut self, link: &str) -> View {
        let started = Instant::now();
        let result = fetch_timed(&self.browser, link).await;
        let elapsed = started.elapsed();
        let server = result.as_ref().ok().and_then(|answer| answer.server);

        let outcome = result.and_then(|Answer { status, .. }| match status {
            200 => Ok(()),
            other => Err(format!("GET {link} answered {other}")),
        });
        View {
            kind: ViewKind::Message,
            elapsed,
            server,
            outcome,
        }
    }

    /// The message links of the folder page shown last.
    pub fn links(&self) -> &[String] {
        &self.links
    }

    /// Signs out through the form of the page layout.
    pub async fn sign_out(self) -> Result<(), String> {
        let (_, page) = fetch(&self.browser, &format!("/mail/{MAILBOX}")).await?;
        let csrf =
            between(&page, "name=\"csrf\" value=\"", "\"").ok_or("the page has no csrf field")?;
        let url = format!("{}/logout", self.browser.base);
        let answer = self
            .browser
            .client
            .post(&url)
            .form(&[("csrf", csrf)])
            .send()
            .await
            .map_err(|e| format!("POST /logout failed; {e}"))?;
        match answer.status().as_u16() {
            303 => Ok(()),
            other => Err(format!("POST /logout answered {other}")),
        }
    }

    fn read_folder_page(&mut self, body: &str) -> Result<(), String> {
        if !body.contains("class=\"pager\"") {
            return Err("the page shown after sign-in is not a folder page".to_owned());
        }
        self.next = link_with_rel(body, "next");
        self.prev = link_with_rel(body, "prev");
        self.links = body
            .split("<td class=\"subject\"><a href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(unescape)
            .collect();
        Ok(())
    }
}

fn record(walked: &mut Walked, view: View) {
    match view.outcome {
        Ok(()) => {
            walked.views.push(view.elapsed);
            match view.kind {
                ViewKind::FolderPage => walked.folder_pages.push(view.elapsed),
                ViewKind::Message => walked.messages.push(view.elapsed),
            }
        }
        Err(error) => {
            walked.errors += 1;
            walked.first_error.get_or_insert(error);
        }
    }
}

/// GETs `path` and reads the whole body.
async fn fetch(browser: &Browser, path: &str) -> Result<(u16, String), String> {
    let answer = fetch_timed(browser, path).await?;
    Ok((answer.status, answer.body))
}

/// A page as the bench reads it.
struct Answer {
    status: u16,
    body: String,
    /// The node's own working time, from its Server-Timing header.
    server: Option<Duration>,
}

async fn fetch_timed(browser: &Browser, path: &str) -> Result<Answer, String> {
    let url = format!("{}{path}", browser.base);
    let response = browser
        .client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {path} failed; {e}"))?;
    let status = response.status().as_u16();
    let server = server_timing(&response);
    let body = response
        .text()
        .await
        .map_err(|e| format!("reading {path} failed; {e}"))?;
    Ok(Answer {
        status,
        body,
        server,
    })
}

/// The `app;dur=<ms>` of a Server-Timing header.
fn server_timing(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get("server-timing")?.to_str().ok()?;
    let ms: f64 = value.strip_prefix("app;dur=")?.parse().ok()?;
    Some(Duration::from_secs_f64(ms / 1000.0))
}

/// One hop of following redirects.
struct Hop {
    /// Where the answer redirects to, if it does.
    location: Option<String>,
    body: String,
    /// The node's own working time, from its Server-Timing header.
    server: Option<Duration>,
}

/// GETs `path`; gives the redirect target when it redirects, else the body
/// of a 200.
async fn fetch_raw(browser: &Browser, path: &str) -> Result<Hop, String> {
    let url = format!("{}{path}", browser.base);
    let response = browser
        .client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {path} failed; {e}"))?;
    let status = response.status().as_u16();
    let next = location(&response);
    let server = server_timing(&response);
    let body = response
        .text()
        .await
        .map_err(|e| format!("reading {path} failed; {e}"))?;
    match (status, next) {
        (301..=308, Some(next)) => Ok(Hop {
            location: Some(next),
            body,
            server,
        }),
        (200, _) => Ok(Hop {
            location: None,
            body,
            server,
        }),
        (other, _) => Err(format!("GET {path} answered {other}")),
    }
}

fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The target of the first `<a href="..." rel="{rel}">` of a page.
fn link_with_rel(body: &str, rel: &str) -> Option<String> {
    let rel = format!(" rel=\"{rel}\"");
    body.split("<a href=\"").skip(1).find_map(|piece| {
        let (href, rest) = piece.split_once('"')?;
        rest.starts_with(&rel).then(|| unescape(href))
    })
}

/// The text between the first `start` and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let (_, rest) = text.split_once(start)?;
    rest.split(end).next()
}

/// Undoes the escaping the templates apply to an attribute value.
fn unescape(value: &str) -> String {
    value
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&#47;", "/")
}
