//! `cube-auth`: local mode and administration.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use cube_auth::apps::{self, AppsCommand};
use cube_auth::target::{DEFAULT_DATA_DIR, Target};
use cube_auth::users::UsersCommand;

/// mimalloc: local mode serves every request from one process whose hot path is allocation
/// heavy (the SDK's per-call configuration, JSON on both sides of the engine); glibc's
/// allocator took about a sixth of its CPU under load. The Lambda functions keep the system
/// allocator (one request at a time, smaller binaries).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "cube-auth", version, about = "ConnectyCube-compatible auth and users backend")]
struct Cli {
    /// Local data directory. Without it, `TABLE_NAME` (and `DYNAMODB_ENDPOINT`, AWS
    /// credentials) in the environment select a real DynamoDB table.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Serve every endpoint on one port over embedded engines (local mode).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: String,
    },
    /// Manage applications.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Move users between ConnectyCube services: import an export, export a backup.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage the DynamoDB table.
    #[command(subcommand)]
    Tables(TablesCommand),
    /// The data behind `events/*.json`, for `sam local invoke` and `cargo lambda invoke`.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
}

#[derive(Debug, Subcommand)]
enum FixturesCommand {
    /// Create the table if needed and write the fixtures' application, user, sessions, blob
    /// records and reset token. Use a fresh table per function: its fixtures, run in order,
    /// then get the answers events/expectations.json records.
    Seed,
}

#[derive(Debug, Subcommand)]
enum TablesCommand {
    /// Create the table (and its TTL) exactly as template.yaml declares it; safe to re-run.
    Create,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { addr } => {
            init_logging();
            let dir = cli.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
            cube_auth::serve::run(&addr, &dir).await
        }
        Command::Apps(command) => {
            let target = Target::select(cli.data_dir).await?;
            let result = apps::run(&target, command).await;
            target.close().await;
            println!("{}", result?);
            Ok(())
        }
        Command::Users(command) => {
            let target = Target::select(cli.data_dir).await?;
            let result = cube_auth::users::run(&target, command).await;
            target.close().await;
            let report = result?;
            if !report.is_empty() {
                println!("{report}");
            }
            Ok(())
        }
        Command::Tables(TablesCommand::Create) => {
            let target = Target::select(cli.data_dir).await?;
            let result = target.ensure_table().await;
            let table = target.deps().store.table().to_string();
            target.close().await;
            result?;
            println!("table {table} is ready");
            Ok(())
        }
        Command::Fixtures(FixturesCommand::Seed) => {
            let target = Target::select(cli.data_dir).await?;
            let result = seed_fixtures(&target).await;
            let table = target.deps().store.table().to_string();
            target.close().await;
            result?;
            println!("fixtures written to table {table} (application {})", shared::fixtures::APP_ID);
            Ok(())
        }
    }
}

async fn seed_fixtures(target: &Target) -> anyhow::Result<()> {
    target.ensure_table().await?;
    let deps = target.deps();
    if deps.store.get_app(shared::fixtures::APP_ID).await?.is_some() {
        anyhow::bail!(
            "application {} is already in this table: fixtures change what they touch, so seed a fresh table",
            shared::fixtures::APP_ID
        );
    }
    shared::fixtures::seed(deps).await
}

/// Human-readable logs for local mode (`RUST_LOG` sets the level; `info` by default, with the
/// embedded engine's own request log kept to errors).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,dynoxide=error".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).compact().try_init();
}
