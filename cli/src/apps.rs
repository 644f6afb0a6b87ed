//! `cube-auth apps …`: create, list, show and update applications.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use shared::domain::app::{App, AppSettings};

use crate::target::Target;

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Create an application with fresh credentials.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
        /// Print `{"application_id","auth_key","auth_secret"}` only.
        #[arg(long)]
        json: bool,
    },
    /// List every application.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one application, with its credentials and settings.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Change an application's name or settings.
    Update {
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        json: bool,
    },
}

/// Settings flags, shared by `create` and `update`. Boolean flags take an optional value:
/// `--require-signature` means true, `--require-signature=false` turns it off.
#[derive(Debug, Args, Default)]
pub struct SettingsArgs {
    /// Create unknown users on `POST /session` (ConnectyCube's "session creation without an
    /// existing user entity"). Off by default.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub allow_session_without_user: Option<bool>,
    /// Refuse unsigned `POST /session` requests. Off by default.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub require_signature: Option<bool>,
    /// Session idle lifetime in seconds (default 7200).
    #[arg(long, value_name = "SECS")]
    pub session_ttl: Option<i64>,
    /// Absolute session lifetime in seconds (default 2592000, 30 days).
    #[arg(long, value_name = "SECS")]
    pub session_max_lifetime: Option<i64>,
    /// Allow the deprecated V1 listing `GET /users` (reads the whole application). Off by
    /// default.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub users_v1_listing: Option<bool>,
}

impl SettingsArgs {
    fn apply(&self, settings: &mut AppSettings) {
        if let Some(v) = self.allow_session_without_user {
            settings.allow_session_without_user = v;
        }
        if let Some(v) = self.require_signature {
            settings.require_signature = v;
        }
        if let Some(v) = self.session_ttl {
            settings.session_ttl_secs = v;
        }
        if let Some(v) = self.session_max_lifetime {
            settings.session_max_lifetime_secs = v;
        }
        if let Some(v) = self.users_v1_listing {
            settings.users_v1_listing = v;
        }
    }
}

/// Runs an `apps` command and returns what to print.
pub async fn run(target: &Target, command: AppsCommand) -> anyhow::Result<String> {
    let deps = target.deps();
    let store = &deps.store;
    let now = deps.clock.now();
    match command {
        AppsCommand::Create { name, settings: args, json } => {
            let mut settings = AppSettings::default();
            args.apply(&mut settings);
            settings.validate().map_err(anyhow::Error::msg)?;
            let app = store.create_app(&name, settings, now).await?;
            Ok(if json { credentials(&app).to_string() } else { describe(&app) })
        }
        AppsCommand::List { json } => {
            let apps = store.list_apps().await?;
            Ok(if json {
                Value::Array(apps.iter().map(app_json).collect()).to_string()
            } else if apps.is_empty() {
                "no applications".to_string()
            } else {
                apps.iter()
                    .map(|a| format!("{:>6}  {:<24}  {}", a.id, a.name, a.auth_key))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AppsCommand::Show { id, json } => {
            let app = store.get_app(id).await?.ok_or_else(|| anyhow::anyhow!("no application {id}"))?;
            Ok(if json { app_json(&app).to_string() } else { describe(&app) })
        }
        AppsCommand::Update { id, name, settings: args, json } => {
            let mut app = store.get_app(id).await?.ok_or_else(|| anyhow::anyhow!("no application {id}"))?;
            if let Some(name) = name {
                app.name = name;
            }
            args.apply(&mut app.settings);
            app.settings.validate().map_err(anyhow::Error::msg)?;
            store.update_app(&app, now).await?;
            Ok(if json { app_json(&app).to_string() } else { describe(&app) })
        }
    }
}

/// The credentials object SDK users paste into `ConnectyCube.init`.
pub fn credentials(app: &App) -> Value {
    json!({ "application_id": app.id, "auth_key": app.auth_key, "auth_secret": app.auth_secret })
}

fn app_json(app: &App) -> Value {
    let s = &app.settings;
    json!({
        "application_id": app.id,
        "name": app.name,
        "auth_key": app.auth_key,
        "auth_secret": app.auth_secret,
        "settings": {
            "allow_session_without_user": s.allow_session_without_user,
            "require_signature": s.require_signature,
            "session_ttl": s.session_ttl_secs,
            "session_max_lifetime": s.session_max_lifetime_secs,
            "users_v1_listing": s.users_v1_listing,
        }
    })
}

fn describe(app: &App) -> String {
    let s = &app.settings;
    format!(
        "application {id} ({name})\n  auth_key     {key}\n  auth_secret  {secret}\n  allow session without user  {auto}\n  require signature           {sig}\n  session ttl                 {ttl} s\n  session max lifetime        {max} s\n  users V1 listing            {v1}",
        id = app.id,
        name = app.name,
        key = app.auth_key,
        secret = app.auth_secret,
        auto = s.allow_session_without_user,
        sig = s.require_signature,
        ttl = s.session_ttl_secs,
        max = s.session_max_lifetime_secs,
        v1 = s.users_v1_listing,
    )
}
