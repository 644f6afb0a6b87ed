//! Outgoing mail: SMTP (STARTTLS, implicit TLS, or plain on loopback only) through lettre,
//! or `.eml` files in a folder for local mode. Settings come from the environment.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::ConfigError;

/// How the SMTP connection is secured (`SMTP_TLS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); TLS is required.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on the same host (tests, a local MTA).
    None,
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Where mail goes and who it is from.
#[derive(Clone, Debug)]
pub struct MailConfig {
    pub from: String,
    /// The public origin of the API (`https://api.example.com`), for links in mail.
    pub public_base_url: String,
    pub delivery: Delivery,
}

#[derive(Clone, Debug)]
pub enum Delivery {
    Smtp(SmtpConfig),
    /// Local mode: each message is written as an `.eml` file here.
    Files(PathBuf),
}

impl MailConfig {
    /// `MAIL_FROM`, `PUBLIC_BASE_URL`, and either `MAIL_OUTBOX_DIR` (files) or `SMTP_HOST`,
    /// `SMTP_PORT` (587), `SMTP_TLS` (`starttls` | `tls` | `none`), `SMTP_USERNAME`,
    /// `SMTP_PASSWORD`.
    pub fn from_env() -> Result<MailConfig, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let from = var("MAIL_FROM").ok_or(ConfigError::Missing("MAIL_FROM"))?;
        let public_base_url = var("PUBLIC_BASE_URL").ok_or(ConfigError::Missing("PUBLIC_BASE_URL"))?;
        let delivery = match var("MAIL_OUTBOX_DIR") {
            Some(dir) => Delivery::Files(PathBuf::from(dir)),
            None => Delivery::Smtp(SmtpConfig {
                host: var("SMTP_HOST").ok_or(ConfigError::Missing("SMTP_HOST"))?,
                port: match var("SMTP_PORT") {
                    None => 587,
                    Some(p) => p.parse().map_err(|_| ConfigError::Invalid("SMTP_PORT", "a port number"))?,
                },
                security: match var("SMTP_TLS").as_deref().unwrap_or("starttls") {
                    "starttls" => SmtpSecurity::StartTls,
                    "tls" => SmtpSecurity::Tls,
                    "none" => SmtpSecurity::None,
                    _ => return Err(ConfigError::Invalid("SMTP_TLS", "starttls, tls or none")),
                },
                username: var("SMTP_USERNAME"),
                password: var("SMTP_PASSWORD"),
            }),
        };
        Ok(MailConfig { from, public_base_url: public_base_url.trim_end_matches('/').to_string(), delivery })
    }
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    pub public_base_url: String,
}

impl Mailer {
    pub fn new(config: &MailConfig) -> anyhow::Result<Mailer> {
        let from: Mailbox = config.from.parse().map_err(|e| anyhow::anyhow!("MAIL_FROM is not an address: {e}"))?;
        let transport = match &config.delivery {
            Delivery::Files(dir) => {
                std::fs::create_dir_all(dir)?;
                Transport::Files(AsyncFileTransport::new(dir))
            }
            Delivery::Smtp(smtp) => {
                let mut builder = match smtp.security {
                    SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
                    SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
                };
                builder = builder.port(smtp.port).timeout(Some(Duration::from_secs(10)));
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Mailer { transport, from, public_base_url: config.public_base_url.clone() })
    }

    pub async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let to: Mailbox = mail.to.parse().map_err(|e| anyhow::anyhow!("not a deliverable address: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::Files(files) => {
                files.send(message).await?;
            }
        }
        Ok(())
    }
}
