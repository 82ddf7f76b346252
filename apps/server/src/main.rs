//! `latch`: the Latch server and its admin commands.
//!
//! ```text
//! latch [--config FILE] [serve]            serve the Frontend and Backend APIs
//! latch [--config FILE] keys               print the publishable and secret keys
//! latch [--config FILE] migrate            apply database migrations
//! latch [--config FILE] user create --email E [--phone P] [--username U] [--password PW]
//! ```
//!
//! This crate only wires: settings in, adapters built, the API served.

#![forbid(unsafe_code)]

mod app;
mod settings;

use std::path::PathBuf;

use anyhow::{Context, bail};
use tracing_subscriber::EnvFilter;

use latch_core::service::CreateUser;

use crate::app::App;
use crate::settings::Settings;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: latch [--config FILE] [serve | keys | migrate | user create --email E [--phone P] [--username U] [--password PW]]";

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("latch: {err:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut config_file = None;
    if let Some(i) = args.iter().position(|a| a == "--config") {
        if i + 1 >= args.len() {
            bail!("--config needs a file\n{USAGE}");
        }
        config_file = Some(PathBuf::from(args.remove(i + 1)));
        args.remove(i);
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let settings = Settings::load(config_file.as_deref())?;
    init_logging(&settings)?;
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(settings).await,
        Some("keys") => {
            let app = App::open(settings).await?;
            println!("LATCH_PUBLISHABLE_KEY={}", app.publishable_key()?);
            println!("LATCH_SECRET_KEY={}", app.secret_key);
            Ok(())
        }
        Some("migrate") if settings.storage.durable == "postgres" => {
            // Connecting applies PostgreSQL's migrations.
            app::open_durable(&settings).await?;
            println!("the PostgreSQL database at storage.postgres_url is at the latest schema");
            Ok(())
        }
        Some("migrate") => {
            let path = settings.database.path.clone();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let version =
                tokio::task::spawn_blocking(move || latch_sqlite::migrate(&path)).await??;
            println!(
                "database {} is at schema version {version}",
                settings.database.path.display()
            );
            Ok(())
        }
        Some("user") if args.get(1).map(String::as_str) == Some("create") => {
            create_user(settings, &args[2..]).await
        }
        Some(other) => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

fn init_logging(settings: &Settings) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&settings.log.level)
        .with_context(|| format!("log.level: {:?} is not a valid filter", settings.log.level))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if settings.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let addr = settings.listen_addr()?;
    let grace = std::time::Duration::from_secs(settings.server.shutdown_grace_secs);
    let app = App::open(settings).await?;
    let state = app.api_state().await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("server.addr: cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, environment = %app.settings.instance.environment, "latch listening");
    // One line on stdout that scripts and tests wait for.
    println!("latch listening on http://{local}");
    let latch = state.latch.clone();
    let purge = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            every.tick().await;
            match latch.purge_stale().await {
                Ok((0, 0)) => {}
                Ok((sign_ins, clients)) => {
                    tracing::info!(sign_ins, clients, "stale sign-ins and idle clients removed")
                }
                Err(err) => tracing::warn!(error = %err, "housekeeping failed"),
            }
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(latch_api::serve(listener, state, async {
        let _ = stop_rx.await;
    }));
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
    purge.abort();
    if tokio::time::timeout(grace, server).await.is_err() {
        tracing::warn!("requests still in flight after the grace period were dropped");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn create_user(settings: Settings, args: &[String]) -> anyhow::Result<()> {
    let mut params = CreateUser::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?
            .clone();
        match flag.as_str() {
            "--email" => params.email_addresses.push(value),
            "--phone" => params.phone_numbers.push(value),
            "--username" => params.username = Some(value),
            "--password" => params.password = Some(value),
            "--first-name" => params.first_name = Some(value),
            "--last-name" => params.last_name = Some(value),
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    let app = App::open(settings).await?;
    let user = app
        .latch()?
        .create_user(params)
        .await
        .map_err(|e| anyhow::anyhow!("{}", latch_api::error::ApiError::from(e).long_message))?;
    println!("{}", user.id);
    Ok(())
}
