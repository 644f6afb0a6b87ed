//! Local mode's loopback port to its embedded DynamoDB, for the other `cube-auth` commands on
//! the same data dir. dynoxide's own server checks no signature and answers browsers' CORS
//! pre-flights with `*`, so any web page open on the machine could have read and written the
//! local table through it (a page can send requests to loopback ports, and a rebound DNS name
//! can make them same-origin). This listener answers only what an AWS SDK or CLI sends: a POST
//! with no `Origin` header (browsers send one with every cross-origin request and every POST)
//! addressed to a loopback `Host`. Anything else gets a 403 with no CORS headers. What it
//! answers goes through the same dispatch as the in-process client.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::engine::{CONTENT_TYPE, Engine};

/// DynamoDB accepts request bodies up to 16 MB.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Serves `engine` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// (at most five seconds).
pub async fn serve(listener: TcpListener, engine: Engine, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = crate::listen::accept_or_pause(&listener) => {
                let Ok((stream, _)) = accepted else { continue };
                let engine = engine.clone();
                let service = hyper::service::service_fn(move |request| {
                    let engine = engine.clone();
                    async move { Ok::<_, Infallible>(answer(&engine, port, request).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

async fn answer(engine: &Engine, port: u16, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if !from_a_client(&request, port) {
        return respond(StatusCode::FORBIDDEN, "text/plain", "forbidden\n".into());
    }
    let target = request.headers().get("x-amz-target").and_then(|t| t.to_str().ok()).map(str::to_string);
    let Ok(body) = Limited::new(request.into_body(), MAX_BODY_BYTES).collect().await else {
        return respond(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", "request body too large\n".into());
    };
    let (status, json) = engine.answer(target.as_deref(), &body.to_bytes());
    respond(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), CONTENT_TYPE, json)
}

/// A POST from a program, not a browser: no `Origin`, and a `Host` that names this loopback
/// port (a rebound DNS name would name itself).
fn from_a_client(request: &Request<Incoming>, port: u16) -> bool {
    let host = request.headers().get(hyper::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let loopback_host = ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host == format!("{name}:{port}"));
    request.method() == hyper::Method::POST && !request.headers().contains_key(hyper::header::ORIGIN) && loopback_host
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response
}
