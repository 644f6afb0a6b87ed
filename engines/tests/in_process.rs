//! The in-process transport to the embedded DynamoDB: the production SDK client, unsigned,
//! gets the answers (and the errors, in the shapes the SDK parses) it gets over HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use engines::EmbeddedDynamo;
use shared::store::schema;

const TABLE: &str = "in-process";

/// Counts the requests that pass and those that carry a signature, then hands them on.
#[derive(Debug, Clone)]
struct Watch {
    inner: SharedHttpClient,
    requests: Arc<AtomicUsize>,
    signed: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct WatchConnector {
    inner: SharedHttpConnector,
    requests: Arc<AtomicUsize>,
    signed: Arc<AtomicUsize>,
}

impl HttpClient for Watch {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(WatchConnector {
            inner: self.inner.http_connector(settings, components),
            requests: self.requests.clone(),
            signed: self.signed.clone(),
        })
    }
}

impl HttpConnector for WatchConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if request.headers().get("authorization").is_some() {
            self.signed.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.call(request)
    }
}

fn key(pk: &str) -> std::collections::HashMap<String, AttributeValue> {
    [("pk".to_string(), AttributeValue::S(pk.into())), ("sk".to_string(), AttributeValue::S("item".into()))].into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_reaches_the_engine_in_process_unsigned_with_its_errors_intact() {
    let engine = EmbeddedDynamo::in_memory().await.expect("engine");
    let watch = Watch {
        inner: engine.in_process_client(),
        requests: Arc::new(AtomicUsize::new(0)),
        signed: Arc::new(AtomicUsize::new(0)),
    };
    let sdk = shared::aws::sdk_config_in_process(SharedHttpClient::new(watch.clone()));
    let client = shared::aws::dynamodb_client(&sdk, Some(engine.endpoint()));
    schema::ensure_table(&client, TABLE, schema::Stream::Off).await.expect("table");

    let put = client.put_item().table_name(TABLE).set_item(Some(key("a"))).item("n", AttributeValue::N("7".into()));
    put.clone().send().await.expect("put");
    let got = client.get_item().table_name(TABLE).set_key(Some(key("a"))).send().await.expect("get");
    assert_eq!(got.item().and_then(|i| i.get("n")), Some(&AttributeValue::N("7".into())));

    // A failed condition: the SDK's typed error, as over HTTP.
    let refused = put.condition_expression("attribute_not_exists(pk)").send().await.expect_err("exists");
    assert!(refused.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()), "{refused:?}");

    // A cancelled transaction names the reason per item, which the store's claims read.
    let claim = |pk: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(TABLE)
                    .set_item(Some(key(pk)))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("put"),
            )
            .build()
    };
    let cancelled = client.transact_write_items().transact_items(claim("b")).transact_items(claim("a")).send().await;
    let cancelled = cancelled.expect_err("the second claim is taken");
    let reasons = cancelled
        .as_service_error()
        .and_then(|e| {
            match e {
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                c,
            ) => Some(c.cancellation_reasons().iter().map(|r| r.code().unwrap_or_default().to_string()).collect()),
            _ => None,
        }
        })
        .unwrap_or_else(Vec::new);
    assert_eq!(reasons, ["None", "ConditionalCheckFailed"]);
    let untouched = client.get_item().table_name(TABLE).set_key(Some(key("b"))).send().await.expect("get");
    assert!(untouched.item().is_none(), "nothing of a cancelled transaction is written");

    // A malformed request gets DynamoDB's validation error, not a transport failure.
    let invalid = client.get_item().table_name(TABLE).key("pk", AttributeValue::S("a".into())).send().await;
    let invalid = invalid.expect_err("half a key");
    assert_eq!(invalid.as_service_error().and_then(|e| e.meta().code()), Some("ValidationException"), "{invalid:?}");

    assert!(watch.requests.load(Ordering::SeqCst) >= 7);
    assert_eq!(watch.signed.load(Ordering::SeqCst), 0, "no request is signed");
    engine.stop().await;
}

/// Sends `request` (a whole HTTP/1.1 request) to `endpoint` and returns the response's head.
async fn raw(endpoint: &str, request: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).to_string();
    answer.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase()
}

fn post(host: &str, extra: &str) -> String {
    let body = r#"{"TableName":"in-process","Key":{"pk":{"S":"a"},"sk":{"S":"item"}}}"#;
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.GetItem\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_s_loopback_port_serves_programs_and_refuses_browsers() {
    let dir = std::env::temp_dir().join(format!("cube-auth-guarded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let engine = EmbeddedDynamo::in_file(&dir.join("db.sqlite")).await.expect("engine");
    let endpoint = engine.endpoint().to_string();
    let host = endpoint.trim_start_matches("http://").to_string();

    // Another cube-auth command: the signed SDK client over the port.
    let client = shared::aws::dynamodb_client(&shared::aws::sdk_config_local(), Some(&endpoint));
    schema::ensure_table(&client, TABLE, schema::Stream::Off).await.expect("table over the port");
    client.put_item().table_name(TABLE).set_item(Some(key("a"))).send().await.expect("put over the port");
    assert!(raw(&endpoint, post(&host, "")).await.starts_with("http/1.1 200"), "a program's request is served");

    // A web page: its cross-origin request and its pre-flight, a rebound DNS name, another method.
    let from_page = raw(&endpoint, post(&host, "Origin: https://evil.example\r\n")).await;
    assert!(from_page.starts_with("http/1.1 403"), "{from_page}");
    assert!(!from_page.contains("access-control-allow-origin"), "{from_page}");
    let preflight = format!(
        "OPTIONS / HTTP/1.1\r\nHost: {host}\r\nOrigin: https://evil.example\r\n\
         Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
    );
    let preflight = raw(&endpoint, preflight).await;
    assert!(preflight.starts_with("http/1.1 403") && !preflight.contains("access-control"), "{preflight}");
    let port = host.rsplit(':').next().unwrap_or_default();
    let rebound = raw(&endpoint, post(&format!("evil.example:{port}"), "")).await;
    assert!(rebound.starts_with("http/1.1 403"), "{rebound}");

    engine.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Local mode keeps answers to reads until the next write (engines' read cache). Whatever
/// path a write takes (the in-process client, another command over the port, the TTL sweep)
/// and however many requests run at once, a read never answers older than a write that
/// finished before it began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_reads_never_answer_older_than_a_finished_write() {
    let dir = std::env::temp_dir().join(format!("cube-auth-kept-reads-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let engine = EmbeddedDynamo::in_file(&dir.join("db.sqlite")).await.expect("engine");
    let local = shared::aws::dynamodb_client(
        &shared::aws::sdk_config_in_process(engine.in_process_client()),
        Some(engine.endpoint()),
    );
    let port = shared::aws::dynamodb_client(&shared::aws::sdk_config_local(), Some(engine.endpoint()));
    schema::ensure_table(&local, TABLE, schema::Stream::Off).await.expect("table");
    let read_n = |client: aws_sdk_dynamodb::Client, pk: &'static str| async move {
        let got = client.get_item().table_name(TABLE).set_key(Some(key(pk))).send().await.expect("get");
        got.item().and_then(|i| i.get("n")).and_then(|n| n.as_n().ok()).map(|n| n.parse::<i64>().expect("a number"))
    };
    let put_n = |client: aws_sdk_dynamodb::Client, pk: &'static str, n: i64| async move {
        let item =
            client.put_item().table_name(TABLE).set_item(Some(key(pk))).item("n", AttributeValue::N(n.to_string()));
        item.send().await.expect("put");
    };

    // Read (and so kept), then written by each path in turn: the next read sees the write.
    put_n(local.clone(), "a", 1).await;
    assert_eq!(read_n(local.clone(), "a").await, Some(1));
    assert_eq!(read_n(local.clone(), "a").await, Some(1), "a repeated read");
    put_n(port.clone(), "a", 2).await;
    assert_eq!(read_n(local.clone(), "a").await, Some(2), "a write by another command over the port");
    put_n(local.clone(), "a", 3).await;
    assert_eq!(read_n(port.clone(), "a").await, Some(3), "a read over the port");
    assert_eq!(read_n(local.clone(), "a").await, Some(3));

    // A failed conditional write changes nothing, and the read still answers the same.
    let refused = local
        .put_item()
        .table_name(TABLE)
        .set_item(Some(key("a")))
        .item("n", AttributeValue::N("99".into()))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert!(refused.is_err());
    assert_eq!(read_n(local.clone(), "a").await, Some(3));

    // The TTL sweep deletes a kept item: the next read does not find it.
    local
        .update_time_to_live()
        .table_name(TABLE)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("ttl on");
    let gone = local.put_item().table_name(TABLE).set_item(Some(key("gone"))).item("n", AttributeValue::N("1".into()));
    gone.item("expires_at", AttributeValue::N("1".into())).send().await.expect("put");
    assert_eq!(read_n(local.clone(), "gone").await, Some(1), "expired, not yet swept: still there, as on DynamoDB");
    assert!(engine.sweep_expired() >= 1);
    assert_eq!(read_n(local.clone(), "gone").await, None, "swept");

    // Many writers and readers at once: each writer's read after its own increment sees at
    // least that value, and the last read sees every increment.
    let (writers, rounds) = (8, 40);
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (local, port) = (local.clone(), port.clone());
            tokio::spawn(async move {
                for round in 0..rounds {
                    // Writers alternate between the two paths into the engine.
                    let writer = if (w + round) % 2 == 0 { &local } else { &port };
                    let updated = writer
                        .update_item()
                        .table_name(TABLE)
                        .set_key(Some(key("counter")))
                        .update_expression("ADD n :one")
                        .expression_attribute_values(":one", AttributeValue::N("1".into()))
                        .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                        .send()
                        .await
                        .expect("increment");
                    let written: i64 = updated
                        .attributes()
                        .and_then(|a| a.get("n"))
                        .and_then(|n| n.as_n().ok())
                        .expect("n")
                        .parse()
                        .expect("n");
                    let seen = read_n(local.clone(), "counter").await.expect("the counter");
                    assert!(seen >= written, "read {seen} after writing {written}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    assert_eq!(read_n(local.clone(), "counter").await, Some(writers * rounds));

    engine.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
