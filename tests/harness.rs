//! The runtime-API harness: each built function binary is started the way Lambda starts it
//! and fed its fixtures through a local Runtime API. This proves the `main.rs` wiring
//! (config from the environment, clients, the event conversion) that handler tests bypass.

use std::time::Duration;

use testkit::fixtures::{assert_meets, event_json, expectations, seed};
use testkit::runtime_api::{Outcome, RuntimeApi, binary_dir, spawn_function};
use testkit::{Answer, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_binary_serves_its_fixtures_through_the_runtime_api() {
    for function in cube_auth::router::FUNCTIONS.map(|f| f.name()) {
        let env = Env::dynoxide().await;
        seed(&env.deps).await;
        let cases = expectations(function);
        let api = RuntimeApi::start(cases.iter().map(|c| event_json(&c.event)).collect()).await;
        let mut child = spawn_function(&binary_dir().join(function), &api, &env);
        let outcomes = api.outcomes(cases.len(), Duration::from_secs(60)).await;
        child.kill().await.expect("stop the function process");
        assert_eq!(outcomes.len(), cases.len(), "{function}: {outcomes:?}");
        for (case, (_, outcome)) in cases.iter().zip(outcomes) {
            let Outcome::Response(value) = outcome else { panic!("{function}/{}: {outcome:?}", case.event) };
            let response = Answer::from_lambda(&value);
            assert_eq!(response.header("Access-Control-Allow-Origin"), Some("*"));
            assert_meets(case, response.status, &String::from_utf8_lossy(&response.body));
        }
        println!("{function}: {} fixtures answered by the binary", cases.len());
    }
}

/// `send-mail` is driven by the table's stream: it is fed a stream batch (one new outbox item
/// and one removal) and must answer with no failed records, having written one mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_mail_binary_mails_a_queued_reset_from_a_stream_batch() {
    let env = Env::dynoxide().await;
    seed(&env.deps).await;
    let outbox = env.mail_outbox();
    let api = RuntimeApi::start(vec![event_json("send-mail-outbox")]).await;
    let mut child = spawn_function(&binary_dir().join("send-mail"), &api, &env);
    let outcomes = api.outcomes(1, Duration::from_secs(60)).await;
    child.kill().await.expect("stop the function process");
    let Some((_, Outcome::Response(body))) = outcomes.first() else { panic!("{outcomes:?}") };
    assert_eq!(body, &serde_json::json!({"batchItemFailures": []}));
    let mails: Vec<_> = std::fs::read_dir(&outbox).expect("mail written").collect();
    assert_eq!(mails.len(), 1);
}
