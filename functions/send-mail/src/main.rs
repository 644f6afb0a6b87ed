//! Lambda wiring for `send-mail`: configuration, the DynamoDB client and the mailer (SMTP)
//! once per cold start, then serve the table's stream.
#![recursion_limit = "256"]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::init_logging();
    let deps = shared::Deps::from_env().await?;
    let mailer = shared::mail::Mailer::new(&shared::mail::MailConfig::from_env()?)?;
    shared::runtime::run_events(|event| send_mail::handle(&deps, &mailer, event)).await
}
