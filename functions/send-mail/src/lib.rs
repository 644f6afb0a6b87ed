//! Sends queued mail: the table's stream (keys only, filtered to new `OUTBOX` items) invokes
//! this function, which sends each password-reset mail. A record that fails is reported back
//! for a retry (partial batch response); the others are not sent twice.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use shared::Deps;
use shared::mail::Mailer;
use shared::store::resets::OUTBOX_PK;

pub const FUNCTION: &str = "send-mail";

pub async fn handle(deps: &Deps, mailer: &Mailer, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        if record.event_name != "INSERT" || key(record, "pk") != Some(OUTBOX_PK) {
            continue;
        }
        let Some(sk) = key(record, "sk") else { continue };
        if let Err(error) = shared::service::reset::deliver_reset(deps, mailer, sk).await {
            tracing::error!(error = %error, "sending queued mail failed; the stream will retry it");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// A string key attribute (`pk`, `sk`) of the changed item: the stream carries keys only, so
/// no profile data or address ever travels in it.
fn key<'a>(record: &'a EventRecord, name: &str) -> Option<&'a str> {
    match record.change.keys.get(name)? {
        serde_dynamo::AttributeValue::S(value) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::mail::{Delivery, MailConfig};
    use testkit::fixtures;

    fn mail_files(dir: &std::path::Path) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        files.sort();
        files
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_queued_reset_from_the_stream_is_mailed_once_and_replaces_the_old_token() {
        let env = testkit::Env::dynoxide().await;
        fixtures::seed(&env.deps).await;
        let dir =
            std::env::temp_dir().join(format!("cube-auth-mail-{}", shared::crypto::random::random_upper_hex::<6>()));
        let mailer = Mailer::new(&MailConfig {
            from: "Chatty <no-reply@example.com>".into(),
            public_base_url: "https://api.example.com".into(),
            delivery: Delivery::Files(dir.clone()),
        })
        .unwrap();
        let event: Event = serde_json::from_value(fixtures::event_json("send-mail-outbox")).unwrap();
        let response = handle(&env.deps, &mailer, event).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        let mails = mail_files(&dir);
        assert_eq!(mails.len(), 1, "the INSERT is mailed, the REMOVE ignored");
        assert!(mails[0].contains(&format!("To: {}", fixtures::USER_EMAIL)), "{}", mails[0]);
        assert!(mails[0].contains("https://api.example.com/password-reset?token="), "{}", mails[0]);
        let now = env.deps.clock.now();
        let old = shared::crypto::random::token_hash(fixtures::RESET_TOKEN);
        assert!(env.deps.store.reset_token(&old, now).await.unwrap().is_none(), "the earlier token stopped working");

        // A redelivered record finds nothing left to send.
        let again: Event = serde_json::from_value(fixtures::event_json("send-mail-outbox")).unwrap();
        assert!(handle(&env.deps, &mailer, again).await.batch_item_failures.is_empty());
        assert_eq!(mail_files(&dir).len(), 1);
        std::fs::remove_dir_all(dir).ok();
    }
}
