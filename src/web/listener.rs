//! Accepting HTTP/1.1 connections and handing their requests to the
//! router, with the limits of the protocol layer set by mailfront rather
//! than left at the library's defaults.
//!
//! It owns the accept loop, each connection's task and graceful shutdown.
//! The protocol layer reads up to [`READ_BUFFER_BYTES`] of request head and
//! [`MAX_HEADER_LINES`] header lines, and gives a client
//! [`HEADER_READ_TIMEOUT`] to send a whole head; the stricter limits that a
//! person can see an explanation for are checked afterwards by
//! [`check_header_limits`], which answers with a page.
//!
//! Known shortcoming: a head beyond the protocol layer's own bounds (more
//! than a mebibyte, or more than a thousand lines, which no browser sends)
//! still gets the library's bare 431 answer, since no request exists yet to
//! answer with a page.

use std::future::Future;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::AppError;

/// Bytes of request head the protocol layer reads before giving up.
pub const READ_BUFFER_BYTES: usize = 1 << 20;

/// Header lines the protocol layer parses before giving up.
pub const MAX_HEADER_LINES: usize = 1000;

/// Time a client has to send a request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Header bytes (names and values) a request may carry and still be served.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Header lines a request may carry and still be served.
pub const MAX_HEADERS: usize = 100;

/// Serves `router` on `listener` until `shutdown` completes, then waits for
/// the requests in progress to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, mostly: wait instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);

        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(READ_BUFFER_BYTES)
            .max_headers(MAX_HEADER_LINES)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }

    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers a request whose headers exceed [`MAX_HEADERS`] lines or
/// [`MAX_HEADER_BYTES`] bytes with a page (most often too many cookies).
pub async fn check_header_limits(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return AppError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}
