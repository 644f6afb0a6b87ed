//! The local HTTP server: hyper on a loopback port, each request converted to an
//! `lambda_http` request and answered by the router, exactly as API Gateway + Lambda would.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use shared::http::MAX_BODY_BYTES;
use shared::http::local_request;
use shared::{ApiError, ApiRequest, Deps};
use tokio::net::TcpListener;

use crate::bare_errors::JsonBareErrors;
use crate::router::dispatch;

/// How long a client may take to send a request's head (or, on a kept-alive connection, the
/// next one), and then its whole body: a connection that trickles or sends nothing is closed,
/// and a body not in within its time is a 408, so that idle sockets cannot use up the
/// open-file limit and hold off everyone else. A minute each, as nginx and AWS's load
/// balancers allow idle connections: clients that pool connections expect that much.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub head: Duration,
    pub body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { head: Duration::from_secs(60), body: Duration::from_secs(60) }
    }
}

/// Accepts connections until `shutdown` resolves, then lets in-flight requests finish (at
/// most five seconds).
pub async fn serve(listener: TcpListener, deps: Deps, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    serve_with(listener, deps, Timeouts::default(), shutdown).await
}

/// [`serve`] with other [`Timeouts`].
pub async fn serve_with(
    listener: TcpListener,
    deps: Deps,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = engines::listen::accept_or_pause(&listener) => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                };
                let deps = deps.clone();
                let service = hyper::service::service_fn(move |req| {
                    let deps = deps.clone();
                    async move { Ok::<_, Infallible>(answer(&deps, req, peer, timeouts.body).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(timeouts.head)
                    .serve_connection(TokioIo::new(JsonBareErrors::new(stream)), service);
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

async fn answer(
    deps: &Deps,
    req: Request<Incoming>,
    peer: SocketAddr,
    body_timeout: Duration,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let headers = shared::http::header_pairs(&parts.headers);
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let request_id = shared::crypto::random::random_upper_hex::<8>();
    let source_ip = Some(peer.ip().to_string());
    let body = match tokio::time::timeout(body_timeout, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::PayloadTooLarge),
        // Broken framing: a chunk size that is no number, a body cut short.
        Ok(Err(_)) => Err(ApiError::BadRequest("Request body could not be read".into())),
        Err(_) => Err(ApiError::RequestTimeout),
    };
    let response = match body {
        Ok(body) => {
            let req =
                local_request(parts.method.as_str(), path_and_query, &headers, body.to_vec(), source_ip, request_id);
            shared::trips::tracked(dispatch(deps, req)).await.0
        }
        Err(error) => {
            let req = local_request(parts.method.as_str(), path_and_query, &headers, Vec::new(), source_ip, request_id);
            ApiRequest::from_http(req).respond(Err(error))
        }
    };
    to_hyper(response)
}

fn to_hyper(response: shared::Response<shared::Body>) -> Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Full::new(Bytes::from(shared::http::body_bytes(body))))
}
