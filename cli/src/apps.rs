//! `cube-auth apps …`: create, list, show and update applications.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use shared::domain::app::{App, AppSettings, migration_origin};
use shared::domain::cidp::CidpSettings;
use shared::domain::limits::{Rate, UploadQuota};
use shared::domain::social::{FacebookApp, TwitterApp};
use shared::store::apps::KeptAppError;

use crate::target::Target;

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Create an application, with fresh credentials or with the ones it has elsewhere.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        credentials: KeptCredentials,
        #[command(flatten)]
        settings: SettingsArgs,
        /// Print `{"application_id","auth_key","auth_secret"}` only.
        #[arg(long)]
        json: bool,
    },
    /// Create an application from the credentials file of an app that runs elsewhere:
    /// `{"appId":…,"authKey":…,"authSecret":…}` as `ConnectyCube.init` takes them (or
    /// `application_id`/`auth_key`/`auth_secret`, as `apps show --json` prints them; `-` reads
    /// standard input). The app builds in users' hands keep working unchanged.
    Import {
        file: std::path::PathBuf,
        /// The name (default: the file's `name`, else "imported").
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
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

/// Credentials an application keeps from the service it moves from (all three or none).
#[derive(Debug, Args, Default)]
pub struct KeptCredentials {
    /// Keep this application id (it must be unused here)…
    #[arg(long, value_name = "ID", requires_all = ["auth_key", "auth_secret"])]
    pub application_id: Option<i64>,
    /// …this auth key (unused by any application here)…
    #[arg(long, value_name = "KEY", requires = "application_id")]
    pub auth_key: Option<String>,
    /// …and this auth secret (or `CUBE_AUTH_APP_AUTH_SECRET`, kept out of shell history).
    #[arg(long, value_name = "SECRET", env = "CUBE_AUTH_APP_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<String>,
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
    /// Let `PUT /users/{id}` change login or email without `old_password` (off by default:
    /// a stolen session token could then take the account over through a password reset).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub identity_change_without_password: Option<bool>,
    /// A Firebase project whose ID tokens may sign users in (repeat for several; replaces the
    /// list).
    #[arg(long = "firebase-project", value_name = "PROJECT_ID")]
    pub firebase_projects: Vec<String>,
    /// Forget every allowed Firebase project.
    #[arg(long)]
    pub no_firebase_projects: bool,
    /// Turn the Custom Identity Provider on: the URL it is called at…
    #[arg(long, value_name = "URL", requires_all = ["cidp_request", "cidp_response"])]
    pub cidp_url: Option<String>,
    /// …with GET (parameters in the query) or POST (form body)…
    #[arg(long, value_name = "GET|POST", default_value = "GET")]
    pub cidp_method: String,
    /// …the request parameters, e.g. '{"token":"#{login}"}'…
    #[arg(long, value_name = "JSON")]
    pub cidp_request: Option<String>,
    /// …and where its answer's fields are, e.g. '{"uid":"#{user.id}","login":"#{user.login}"}'.
    #[arg(long, value_name = "JSON")]
    pub cidp_response: Option<String>,
    /// Turn the Custom Identity Provider off.
    #[arg(long, conflicts_with = "cidp_url")]
    pub no_cidp: bool,
    /// Turn Facebook sign-in on: the Facebook app whose user tokens are accepted…
    #[arg(long, value_name = "ID", requires = "facebook_app_secret")]
    pub facebook_app_id: Option<String>,
    /// …and its app secret (stored, never shown). Better given in the environment
    /// (`CUBE_AUTH_FACEBOOK_APP_SECRET`) than on a command line others can list.
    #[arg(long, value_name = "SECRET", env = "CUBE_AUTH_FACEBOOK_APP_SECRET", hide_env_values = true)]
    pub facebook_app_secret: Option<String>,
    /// Turn Facebook sign-in off.
    #[arg(long, conflicts_with = "facebook_app_id")]
    pub no_facebook: bool,
    /// Turn Twitter sign-in on: the Twitter app's consumer key…
    #[arg(long, value_name = "KEY", requires = "twitter_consumer_secret")]
    pub twitter_consumer_key: Option<String>,
    /// …and its consumer secret (stored, never shown; or `CUBE_AUTH_TWITTER_CONSUMER_SECRET`).
    #[arg(long, value_name = "SECRET", env = "CUBE_AUTH_TWITTER_CONSUMER_SECRET", hide_env_values = true)]
    pub twitter_consumer_secret: Option<String>,
    /// Turn Twitter sign-in off.
    #[arg(long, conflicts_with = "twitter_consumer_key")]
    pub no_twitter: bool,
    /// Subject of the password-reset mail ({app} is filled in).
    #[arg(long, value_name = "TEXT")]
    pub reset_subject: Option<String>,
    /// Text of the password-reset mail ({link}, {name} and {app} are filled in).
    #[arg(long, value_name = "TEXT")]
    pub reset_body: Option<String>,
    /// Failed logins allowed from one source IP, as MAX/SECONDS (default 30/300).
    #[arg(long, value_name = "MAX/SECS")]
    pub limit_login_ip: Option<Rate>,
    /// Failed logins allowed on one account from one source IP, as MAX/SECONDS (default
    /// 10/900).
    #[arg(long, value_name = "MAX/SECS")]
    pub limit_login_account_ip: Option<Rate>,
    /// Failed logins allowed on one account from anywhere, as MAX/SECONDS (default 100/3600).
    #[arg(long, value_name = "MAX/SECS")]
    pub limit_login_account: Option<Rate>,
    /// Uploads allowed per user per day, as FILES/BYTES (default 500/10737418240).
    #[arg(long, value_name = "FILES/BYTES")]
    pub upload_quota: Option<UploadQuota>,
    /// Signups and guest sessions allowed from one source IP (default 30/3600).
    #[arg(long, value_name = "MAX/SECS")]
    pub limit_signup_ip: Option<Rate>,
    /// User searches allowed from one source IP (default 1200/60).
    #[arg(long, value_name = "MAX/SECS")]
    pub limit_search_ip: Option<Rate>,
    /// Lock an account after THRESHOLD failed logins, each within SECS of the previous, until
    /// SECS after the last (a password reset unlocks it). Off by default.
    #[arg(long, value_name = "THRESHOLD/SECS", conflicts_with = "no_lockout")]
    pub lockout: Option<Rate>,
    /// Turn the account lockout off.
    #[arg(long)]
    pub no_lockout: bool,
    /// Move users over lazily from the ConnectyCube service at this API origin
    /// (`https://api.connectycube.com`, or your own): a password login of a user unknown
    /// here, or imported without a password, is checked there and the user kept here.
    #[arg(long, value_name = "ORIGIN")]
    pub migrate_from: Option<String>,
    /// End lazy migration.
    #[arg(long, conflicts_with = "migrate_from")]
    pub no_migrate_from: bool,
}

impl SettingsArgs {
    fn apply(&self, settings: &mut AppSettings) -> anyhow::Result<()> {
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
        if let Some(v) = self.identity_change_without_password {
            settings.identity_change_without_password = v;
        }
        if self.no_firebase_projects {
            settings.firebase_projects.clear();
        }
        if !self.firebase_projects.is_empty() {
            settings.firebase_projects = self.firebase_projects.clone();
        }
        if self.no_cidp {
            settings.cidp = None;
        }
        if self.no_facebook {
            settings.facebook = None;
        }
        if let (Some(app_id), Some(app_secret)) = (&self.facebook_app_id, &self.facebook_app_secret) {
            anyhow::ensure!(
                !app_id.trim().is_empty() && !app_secret.trim().is_empty(),
                "the Facebook app id and secret must not be empty"
            );
            settings.facebook =
                Some(FacebookApp { app_id: app_id.trim().into(), app_secret: app_secret.trim().into() });
        }
        if self.no_twitter {
            settings.twitter = None;
        }
        if let (Some(key), Some(secret)) = (&self.twitter_consumer_key, &self.twitter_consumer_secret) {
            anyhow::ensure!(
                !key.trim().is_empty() && !secret.trim().is_empty(),
                "the Twitter consumer key and secret must not be empty"
            );
            settings.twitter =
                Some(TwitterApp { consumer_key: key.trim().into(), consumer_secret: secret.trim().into() });
        }
        if let Some(subject) = &self.reset_subject {
            settings.reset_subject = Some(subject.clone()).filter(|s| !s.is_empty());
        }
        if let Some(body) = &self.reset_body {
            anyhow::ensure!(body.is_empty() || body.contains("{link}"), "the reset mail text must contain {{link}}");
            settings.reset_body = Some(body.clone()).filter(|b| !b.is_empty());
        }
        let limits = &mut settings.limits;
        if let Some(rate) = self.limit_login_ip {
            limits.login_failures_per_ip = rate;
        }
        if let Some(rate) = self.limit_login_account_ip {
            limits.login_failures_per_account_ip = rate;
        }
        if let Some(rate) = self.limit_login_account {
            limits.login_failures_per_account = rate;
        }
        if let Some(quota) = self.upload_quota {
            limits.uploads_per_user = quota;
        }
        if let Some(rate) = self.limit_signup_ip {
            limits.signups_per_ip = rate;
        }
        if let Some(rate) = self.limit_search_ip {
            limits.searches_per_ip = rate;
        }
        if self.no_lockout {
            limits.lockout = None;
        }
        if let Some(rate) = self.lockout {
            limits.lockout = Some(rate);
        }
        if self.no_migrate_from {
            settings.migrate_from = None;
        }
        if let Some(origin) = &self.migrate_from {
            settings.migrate_from = Some(migration_origin(origin).map_err(anyhow::Error::msg)?);
        }
        if let (Some(url), Some(request), Some(response)) = (&self.cidp_url, &self.cidp_request, &self.cidp_response) {
            let cidp = CidpSettings::parse(url, &self.cidp_method, request, response).map_err(anyhow::Error::msg)?;
            settings.cidp = Some(cidp);
        }
        Ok(())
    }
}

/// Runs an `apps` command and returns what to print.
pub async fn run(target: &Target, command: AppsCommand) -> anyhow::Result<String> {
    let deps = target.deps();
    let store = &deps.store;
    let now = deps.clock.now();
    match command {
        AppsCommand::Create { name, credentials: kept, settings: args, json } => {
            let mut settings = AppSettings::default();
            args.apply(&mut settings)?;
            settings.validate().map_err(anyhow::Error::msg)?;
            let app = match (kept.application_id, kept.auth_key, kept.auth_secret) {
                (Some(id), Some(key), Some(secret)) => {
                    let app =
                        App::with_credentials(id, name, &key, &secret, settings, now).map_err(anyhow::Error::msg)?;
                    insert_kept(target, app).await?
                }
                (None, _, _) => store.create_app(&name, settings, now).await?,
                _ => anyhow::bail!("--application-id, --auth-key and --auth-secret go together"),
            };
            Ok(if json { credentials(&app).to_string() } else { describe(&app) })
        }
        AppsCommand::Import { file, name, settings: args, json } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let file_json: Value = serde_json::from_str(&text).context("the credentials file is not JSON")?;
            let field = |names: [&str; 2]| names.iter().find_map(|n| file_json.get(*n)).cloned();
            let id = field(["application_id", "appId"])
                .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())))
                .context("the file has no numeric appId (or application_id)")?;
            let text_field = |names, what| {
                field(names)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .with_context(|| format!("the file has no {what}"))
            };
            let key = text_field(["auth_key", "authKey"], "authKey (or auth_key)")?;
            let secret = text_field(["auth_secret", "authSecret"], "authSecret (or auth_secret)")?;
            let name = name
                .or_else(|| file_json.get("name").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| "imported".into());
            let mut settings = AppSettings::default();
            args.apply(&mut settings)?;
            settings.validate().map_err(anyhow::Error::msg)?;
            let app = App::with_credentials(id, name, &key, &secret, settings, now).map_err(anyhow::Error::msg)?;
            let app = insert_kept(target, app).await?;
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
            args.apply(&mut app.settings)?;
            app.settings.validate().map_err(anyhow::Error::msg)?;
            store.update_app(&app, now).await?;
            Ok(if json { app_json(&app).to_string() } else { describe(&app) })
        }
    }
}

/// Saves an application with kept credentials, explaining a clash.
async fn insert_kept(target: &Target, app: App) -> anyhow::Result<App> {
    let deps = target.deps();
    match deps.store.insert_kept_app(&app, deps.clock.now()).await {
        Ok(()) => Ok(app),
        Err(KeptAppError::IdTaken) => anyhow::bail!("application {} already exists here", app.id),
        Err(KeptAppError::AuthKeyTaken(owner)) => {
            anyhow::bail!("that auth key is already application {owner}'s: each application needs its own")
        }
        Err(error) => Err(error.into()),
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
            "identity_change_without_password": s.identity_change_without_password,
            "firebase_projects": s.firebase_projects,
            "cidp": s.cidp.as_ref().map(|c| json!({
                "url": c.url,
                "method": c.method.as_str(),
                "request": serde_json::from_str::<Value>(&c.request_json()).unwrap_or(Value::Null),
                "response": serde_json::from_str::<Value>(&c.response_json()).unwrap_or(Value::Null),
            })),
            // The networks' secrets stay in the table: shown, they would end up in shell history
            // and CI logs, and nobody needs to read them back.
            "facebook": s.facebook.as_ref().map(|f| json!({ "app_id": f.app_id })),
            "twitter": s.twitter.as_ref().map(|t| json!({ "consumer_key": t.consumer_key })),
            "reset_subject": s.reset_subject,
            "reset_body": s.reset_body,
            "limits": {
                "login_failures_per_ip": s.limits.login_failures_per_ip.to_string(),
                "login_failures_per_account_ip": s.limits.login_failures_per_account_ip.to_string(),
                "login_failures_per_account": s.limits.login_failures_per_account.to_string(),
                "uploads_per_user": s.limits.uploads_per_user.to_string(),
                "signups_per_ip": s.limits.signups_per_ip.to_string(),
                "searches_per_ip": s.limits.searches_per_ip.to_string(),
                "lockout": s.limits.lockout.map(|r| r.to_string()),
            },
            "migrate_from": s.migrate_from,
        }
    })
}

fn describe(app: &App) -> String {
    let s = &app.settings;
    format!(
        "application {id} ({name})\n  auth_key     {key}\n  auth_secret  {secret}\n  allow session without user  {auto}\n  require signature           {sig}\n  session ttl                 {ttl} s\n  session max lifetime        {max} s\n  users V1 listing            {v1}\n  identity change w/o password {idchange}\n  firebase projects           {firebase}\n  custom identity provider    {cidp}\n  facebook sign-in            {facebook}\n  twitter sign-in             {twitter}\n  failed logins per IP        {login_ip}\n  failed logins per account+IP {login_account_ip}\n  failed logins per account   {login_account}\n  uploads per user per day    {uploads}\n  signups per IP              {signup_ip}\n  searches per IP             {search_ip}\n  account lockout             {lockout}\n  migrate from                {migrate}",
        id = app.id,
        name = app.name,
        key = app.auth_key,
        secret = app.auth_secret,
        auto = s.allow_session_without_user,
        sig = s.require_signature,
        ttl = s.session_ttl_secs,
        max = s.session_max_lifetime_secs,
        v1 = s.users_v1_listing,
        idchange = s.identity_change_without_password,
        firebase = if s.firebase_projects.is_empty() { "none".to_string() } else { s.firebase_projects.join(", ") },
        cidp = s.cidp.as_ref().map_or_else(|| "off".to_string(), |c| format!("{} {}", c.method.as_str(), c.url)),
        facebook = s.facebook.as_ref().map_or_else(|| "off".to_string(), |f| format!("app {}", f.app_id)),
        twitter = s.twitter.as_ref().map_or_else(|| "off".to_string(), |t| format!("consumer key {}", t.consumer_key)),
        login_ip = s.limits.login_failures_per_ip,
        login_account_ip = s.limits.login_failures_per_account_ip,
        login_account = s.limits.login_failures_per_account,
        uploads = s.limits.uploads_per_user,
        signup_ip = s.limits.signups_per_ip,
        search_ip = s.limits.searches_per_ip,
        lockout = s.limits.lockout.map_or_else(|| "off".to_string(), |r| r.to_string()),
        migrate = s.migrate_from.as_deref().unwrap_or("off"),
    )
}
