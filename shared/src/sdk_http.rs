//! The AWS SDK's HTTP client: hyper's HTTP/1.1 client over rustls (aws-lc), with a
//! connection pool per connect timeout, and the SDK's own classification of transport errors
//! (which are retried, which are timeouts). The SDK's default client would also link an
//! HTTP/2 stack, about 0.6 MiB of every function, that DynamoDB and S3 (HTTP/1.1 services)
//! never use.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Idle pooled connections are closed after this (DynamoDB closes its own after about a minute).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// An SDK HTTP client speaking HTTP/1.1, over TLS that trusts `tls`'s roots (and plain HTTP,
/// for local engines).
pub fn client(tls: rustls::ClientConfig) -> SharedHttpClient {
    SharedHttpClient::new(Http1Client { tls: Arc::new(tls), connectors: Arc::new(Mutex::new(Vec::new())) })
}

/// A rustls configuration on aws-lc trusting exactly `roots`.
pub fn tls_config(roots: rustls::RootCertStore) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What a connector (and its pool) is made for: a connect timeout, on one tokio runtime.
type ConnectorKey = (Option<Duration>, Option<tokio::runtime::Id>);

/// The connectors made so far.
type Connectors = Arc<Mutex<Vec<(ConnectorKey, SharedHttpConnector)>>>;

#[derive(Debug, Clone)]
struct Http1Client {
    tls: Arc<rustls::ClientConfig>,
    /// One connector (one pool) per connect timeout and runtime: the SDK asks for a connector
    /// on every attempt, and connections must outlive the request that opened them. A pooled
    /// connection is driven by a task on the runtime that opened it, so one runtime must not
    /// borrow another's (it dies with it: tests run several "instances" in one process).
    connectors: Connectors,
}

impl HttpClient for Http1Client {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let timeout = settings.connect_timeout();
        let key = (timeout, tokio::runtime::Handle::try_current().ok().map(|runtime| runtime.id()));
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(k, _)| *k == key) {
            return connector.clone();
        }
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(timeout);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https);
        let connector = SharedHttpConnector::new(Connector { client });
        connectors.push((key, connector.clone()));
        connector
    }
}

#[derive(Debug, Clone)]
struct Connector {
    client: Client<hyper_rustls::HttpsConnector<TcpConnector>, SdkBody>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into()))),
        };
        let sent = self.client.request(request);
        HttpConnectorFuture::new(async move {
            let response = sent.await.map_err(classify)?.map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

/// What the SDK's retry strategy needs to know of a transport failure: I/O and closed
/// connections are retried, as is a response cut short; a user error is not.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let connect = error.is_connect();
    let io = find_source::<std::io::Error>(&error).is_some();
    let hyper = find_source::<hyper::Error>(&error)
        .map(|e| (e.is_timeout(), e.is_user(), e.is_closed() || e.is_canceled(), e.is_incomplete_message()));
    let boxed: BoxError = Box::new(error);
    match hyper {
        Some((true, _, _, _)) => ConnectorError::timeout(boxed),
        Some((_, true, _, _)) => ConnectorError::user(boxed),
        Some((_, _, true, _)) => ConnectorError::io(boxed),
        Some((_, _, _, true)) => ConnectorError::other(boxed, Some(ErrorKind::TransientError)),
        _ if connect || io => ConnectorError::io(boxed),
        _ => ConnectorError::other(boxed, None),
    }
}

fn find_source<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_config::{BehaviorVersion, SdkConfig};
    use aws_sdk_dynamodb::config::{Credentials, Region, SharedCredentialsProvider};
    use aws_sdk_dynamodb::types::AttributeValue;
    use http_body_util::{BodyExt, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper_util::rt::TokioIo;

    use super::*;

    /// A DynamoDB stand-in on loopback HTTPS with a certificate made here for `localhost`:
    /// answers every request with an empty GetItem result, and counts the connections and
    /// requests it sees and whether they were signed.
    struct TlsServer {
        port: u16,
        root: rustls::pki_types::CertificateDer<'static>,
        connections: Arc<AtomicUsize>,
        signed_requests: Arc<AtomicUsize>,
    }

    async fn tls_server() -> TlsServer {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let root = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![root.clone()], key)
                .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (connections, signed_requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (seen_connections, seen_signed) = (connections.clone(), signed_requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(tls) = acceptor.accept(stream).await else { continue };
                seen_connections.fetch_add(1, Ordering::SeqCst);
                let signed = seen_signed.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                        let signed = signed.clone();
                        async move {
                            let sigv4 = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "));
                            if sigv4 && req.version() == hyper::Version::HTTP_11 {
                                signed.fetch_add(1, Ordering::SeqCst);
                            }
                            let _ = req.into_body().collect().await;
                            let response = hyper::Response::builder()
                                .header("content-type", "application/x-amz-json-1.0")
                                .body(Full::new(Bytes::from_static(b"{}")))
                                .unwrap();
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
        TlsServer { port, root, connections, signed_requests }
    }

    fn sdk_config(client: SharedHttpClient) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new("id", "secret", None, None, "test")))
            .http_client(client)
            .build()
    }

    async fn get_item(config: &SdkConfig, port: u16) -> Result<(), String> {
        let conf = aws_sdk_dynamodb::config::Builder::from(config).endpoint_url(format!("https://localhost:{port}"));
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(conf.build());
        let answer = dynamodb.get_item().table_name("t").key("pk", AttributeValue::S("k".into())).send().await;
        answer
            .map(|out| assert!(out.item.is_none()))
            .map_err(|e| format!("{:?}", aws_smithy_types::error::display::DisplayErrorContext(e)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signed_requests_go_over_verified_tls_on_one_kept_alive_http1_connection() {
        let server = tls_server().await;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(server.root.clone()).unwrap();
        let config = sdk_config(client(tls_config(roots).unwrap()));
        for _ in 0..3 {
            get_item(&config, server.port).await.expect("a GetItem over HTTPS");
        }
        assert_eq!(server.signed_requests.load(Ordering::SeqCst), 3, "SigV4-signed HTTP/1.1 requests");
        assert_eq!(server.connections.load(Ordering::SeqCst), 1, "the connection is pooled");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_whose_certificate_is_not_trusted_is_refused() {
        let server = tls_server().await;
        let amazon_only = sdk_config(client(tls_config(crate::aws::amazon_roots_for_tests()).unwrap()));
        let error = get_item(&amazon_only, server.port).await.expect_err("an untrusted certificate");
        assert!(error.contains("certificate") || error.contains("Unknown"), "{error}");
        assert_eq!(server.signed_requests.load(Ordering::SeqCst), 0, "nothing was sent");
    }
}
