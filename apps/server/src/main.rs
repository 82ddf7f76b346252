//! `latch`: the Latch server and its admin commands (`latch --help` lists
//! them). This crate only wires: settings in, adapters built, the API served.

#![forbid(unsafe_code)]

mod app;
mod cli;
mod settings;

use anyhow::Context;
use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use latch_core::service::CreateUser;

use crate::app::App;
use crate::cli::{Cli, Command, CreateUserArgs, UserCommand};
use crate::settings::{Log, LogFormat, RawSettings, Settings};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // Bad arguments print clap's message and exit with its status (2).
    let cli = Cli::parse();
    if let Err(err) = run(cli).await {
        eprintln!("latch: {err:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let raw = RawSettings::load(cli.config.as_deref())?;
    let settings = Settings::try_from(&raw)?;
    init_logging(&settings.log)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Keys => {
            let app = App::open(settings).await?;
            println!("LATCH_PUBLISHABLE_KEY={}", app.publishable_key());
            println!("LATCH_SECRET_KEY={}", app.secret_key);
            Ok(())
        }
        Command::Migrate => {
            println!("{}", app::migrate(&settings.storage).await?);
            Ok(())
        }
        Command::Config => {
            let text = toml::to_string(&raw.redacted()).context("printing the configuration")?;
            print!("{text}");
            Ok(())
        }
        Command::Routes => {
            print!("{}", latch_api::routes::listing());
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => create_user(settings, args).await,
    }
}

fn init_logging(log: &Log) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&log.level)
        .with_context(|| format!("log.level: {:?} is not a valid filter", log.level))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let addr = settings.server.addr;
    let grace = settings.server.shutdown_grace;
    let app = App::open(settings).await?;
    let state = app.api_state().await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("server.addr: cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, environment = %app.settings.instance.environment.as_str(), "latch listening");
    // One line on stdout that scripts and tests wait for.
    println!("latch listening on http://{local}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(latch_api::serve(listener, state, async {
        let _ = stop_rx.await;
    }));
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
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

async fn create_user(settings: Settings, args: CreateUserArgs) -> anyhow::Result<()> {
    let params = CreateUser {
        email_addresses: args.email,
        phone_numbers: args.phone,
        username: args.username,
        password: args.password,
        first_name: args.first_name,
        last_name: args.last_name,
        ..CreateUser::default()
    };
    let app = App::open(settings).await?;
    let user = app
        .services()?
        .users
        .create_user(params)
        .await
        .map_err(|e| anyhow::anyhow!("{}", latch_api::error::ApiError::from(e).long_message))?;
    println!("{}", user.id);
    Ok(())
}
