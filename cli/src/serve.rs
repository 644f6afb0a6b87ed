//! `cube-auth serve`: every function's handler on one loopback port, over an embedded
//! DynamoDB persisted in the data directory.

use std::path::Path;
use std::time::Duration;

use tokio::net::TcpListener;

use shared::mail::{Delivery, MailConfig, Mailer};
use shared::service::reset::deliver_pending;

use crate::apps::credentials;
use crate::local::{DEV_APP_FILE, DataDir};
use crate::server;

/// Serves until Ctrl-C or SIGTERM.
pub async fn run(addr: &str, data_dir: &Path) -> anyhow::Result<()> {
    let mut dir = DataDir::open(data_dir).await?;
    anyhow::ensure!(
        dir.engine.is_some(),
        "{} is already being served by another cube-auth process",
        data_dir.display()
    );
    dir.start_blob_storage().await?;
    dir.start_identity()?;
    let (app, created) = dir.dev_app().await?;
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    dir.write_serve_file(&bound.to_string())?;

    println!("cube-auth serving on http://{bound}");
    println!("data dir: {}", data_dir.display());
    println!(
        "development application ({}, credentials in {}):",
        if created { "created" } else { "existing" },
        data_dir.join(DEV_APP_FILE).display()
    );
    println!("{}", credentials(&app));

    // Mail goes to files; the table's stream (on AWS) is stood in for by a drainer.
    let outbox = data_dir.join("outbox");
    let mailer = Mailer::new(&MailConfig {
        from: std::env::var("MAIL_FROM").unwrap_or_else(|_| "cube-auth <no-reply@localhost>".into()),
        public_base_url: format!("http://{bound}"),
        delivery: Delivery::Files(outbox.clone()),
    })?;
    println!("mail: {}", outbox.display());

    let serving = server::serve(listener, dir.deps.clone(), shutdown_signal());
    let delivering = async {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            match deliver_pending(&dir.deps, &mailer).await {
                Ok(links) => {
                    for link in links {
                        println!("password reset mail written to {}; link: {link}", outbox.display());
                    }
                }
                Err(error) => tracing::warn!(error = %error, "delivering queued mail failed"),
            }
        }
    };
    // DynamoDB's TTL deletes lazily, the embedded engine only when asked. Reads never rely on
    // it (they check `expires_at` themselves); sweeping only keeps the file small.
    let sweeping = async {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Some(engine) = dir.engine.as_ref() {
                engine.sweep_expired();
            }
        }
    };
    tokio::select! {
        result = serving => result?,
        () = sweeping => {}
        () = delivering => {}
    }
    println!("cube-auth stopped");
    dir.remove_serve_file();
    dir.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
