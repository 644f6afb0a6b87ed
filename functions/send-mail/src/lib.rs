//! Sends queued mail: the table's stream (keys only, filtered to new `OUTBOX` items) invokes
//! this function, which sends each password-reset mail. A record that fails is reported back
//! for a retry (partial batch response); the others are not sent twice.

use shared::Deps;
use shared::mail::Mailer;
use shared::runtime::{BatchItemFailure, BatchResponse, StreamEvent};
use shared::store::resets::OUTBOX_PK;

pub const FUNCTION: &str = "send-mail";

pub async fn handle(deps: &Deps, mailer: &Mailer, event: StreamEvent) -> BatchResponse {
    let mut response = BatchResponse::default();
    for record in &event.records {
        if record.event_name != "INSERT" || record.key("pk") != Some(OUTBOX_PK) {
            continue;
        }
        let Some(sk) = record.key("sk") else { continue };
        if let Err(error) = shared::service::reset::deliver_reset(deps, mailer, sk).await {
            tracing::error!(error = %error, "sending queued mail failed; the stream will retry it");
            response.failures.push(BatchItemFailure { item_identifier: record.dynamodb.sequence_number.clone() });
        }
    }
    response
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
        let event: StreamEvent = serde_json::from_value(fixtures::event_json("send-mail-outbox")).unwrap();
        let response = handle(&env.deps, &mailer, event).await;
        assert!(response.failures.is_empty(), "{response:?}");
        let mails = mail_files(&dir);
        assert_eq!(mails.len(), 1, "the INSERT is mailed, the REMOVE ignored");
        assert!(mails[0].contains(&format!("To: {}", fixtures::USER_EMAIL)), "{}", mails[0]);
        assert!(mails[0].contains("https://api.example.com/password-reset?token="), "{}", mails[0]);
        let now = env.deps.clock.now();
        let old = shared::crypto::random::token_hash(fixtures::RESET_TOKEN);
        assert!(env.deps.store.reset_token(&old, now).await.unwrap().is_none(), "the earlier token stopped working");

        // A redelivered record finds nothing left to send.
        let again: StreamEvent = serde_json::from_value(fixtures::event_json("send-mail-outbox")).unwrap();
        assert!(handle(&env.deps, &mailer, again).await.failures.is_empty());
        assert_eq!(mail_files(&dir).len(), 1);
        std::fs::remove_dir_all(dir).ok();
    }
}
