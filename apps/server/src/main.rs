//! `latch`: the Latch server and its admin commands (`latch --help` lists
//! them). This crate only wires: settings in, adapters built, the API served.

#![forbid(unsafe_code)]

mod app;
mod cli;
mod copy;
mod import;
mod settings;

use std::sync::Arc;

use anyhow::Context;
use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use latch_core::ports::{DeliveryRecord, DeliveryStatus};
use latch_core::service::CreateUser;

use crate::app::App;
use crate::cli::{
    AdminCommand, Cli, Command, CopyArgs, CopyTarget, CreateUserArgs, DeliveriesArgs,
    DeliveryFilter, UserCommand, WebhooksCommand, WebhooksListArgs, WebhooksReplayArgs,
};
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
        Command::Backup(args) => {
            println!("{}", app::backup(&settings.storage, &args.file).await?);
            Ok(())
        }
        Command::Restore(args) => {
            println!("{}", app::restore(&settings.storage, &args.file).await?);
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
        Command::Admin(AdminCommand::Grant(args)) => grant_operator(settings, &args.email).await,
        Command::Admin(AdminCommand::Revoke(args)) => revoke_operator(settings, &args.email).await,
        Command::Deliveries(args) => list_deliveries(settings, args).await,
        Command::Webhooks(WebhooksCommand::List(args)) => list_webhooks(settings, args).await,
        Command::Webhooks(WebhooksCommand::Replay(args)) => replay_webhooks(settings, args).await,
        Command::Copy(args) => copy(&raw, args).await,
        Command::Import(cli::ImportCommand::Clerk(args)) => import::clerk(settings, args).await,
    }
}

/// `latch copy --to postgres`: from `database.path` into `--postgres-url`
/// or `storage.postgres_url`, with the other `storage.postgres_*` settings.
async fn copy(raw: &RawSettings, args: CopyArgs) -> anyhow::Result<()> {
    match args.to {
        CopyTarget::Postgres => {
            let mut storage = raw.storage.clone();
            if let Some(url) = args.postgres_url {
                storage.postgres_url = url;
            }
            let target = crate::settings::storage::parse_postgres(&storage)?;
            let options = copy::Options {
                resume: args.resume,
                dry_run: args.dry_run,
            };
            copy::to_postgres(&raw.database.path, &target, options).await
        }
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
    // Before anything is recorded: what start-up counts is kept.
    let render = match settings.metrics {
        crate::settings::Listener::Off => None,
        _ => Some(
            latch_api::observe::install_prometheus()
                .map_err(|e| anyhow::anyhow!("metrics: {e}"))?,
        ),
    };
    let app = App::open(settings).await?;
    let state = app.api_state().await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("server.addr: cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let scheme = if app.settings.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(addr = %local, scheme, environment = %app.settings.instance.environment.as_str(), "latch listening");
    // One line on stdout that scripts and tests wait for.
    println!("latch listening on {scheme}://{local}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stop_rx.await;
    };
    let (state, metrics) = metrics_listener(&app, state, render).await?;
    let dashboard = dashboard_listener(&app, &state).await?;
    let server = match app.settings.server.tls.clone() {
        Some(tls) => tokio::spawn(latch_api::serve_tls(listener, state, tls, stopped)),
        None => tokio::spawn(latch_api::serve(listener, state, stopped)),
    };
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
    for (server, stop) in dashboard.into_iter().chain(metrics) {
        let _ = stop.send(());
        let _ = tokio::time::timeout(grace, server).await;
    }
    if tokio::time::timeout(grace, server).await.is_err() {
        tracing::warn!("requests still in flight after the grace period were dropped");
    }
    Ok(())
}

/// A stopped listener's task, and what stops it.
type SideListener = (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
);

/// Serves `/metrics` from `render` (none when `[metrics]` is off) beside
/// the API or on a listener of its own; the state the main listener
/// serves.
async fn metrics_listener(
    app: &App,
    state: latch_api::ApiState,
    render: Option<latch_api::observe::MetricsRender>,
) -> anyhow::Result<(latch_api::ApiState, Option<SideListener>)> {
    use crate::settings::Listener;
    let (addr, render) = match (app.settings.metrics, render) {
        (Listener::Main, Some(render)) => (None, render),
        (Listener::Own(addr), Some(render)) => (Some(addr), render),
        _ => return Ok((state, None)),
    };
    // The gauge of sessions active now, read every half minute.
    tokio::spawn(latch_api::jobs::count_active_sessions(
        state.services.sessions.clone(),
        latch_api::jobs::ACTIVE_SESSIONS_INTERVAL,
    ));
    let Some(addr) = addr else {
        return Ok((state.with_metrics(render), None));
    };
    let page = Arc::new(latch_api::observe::MetricsPage(render));
    let side = side_listener("metrics", addr, state.clone().only_pages(page)).await?;
    Ok((state, Some(side)))
}

/// Serves `pages` (a state serving its mounted pages only) on a listener of
/// its own at `addr`, announced as `what`'s.
async fn side_listener(
    what: &str,
    addr: std::net::SocketAddr,
    pages: latch_api::ApiState,
) -> anyhow::Result<SideListener> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("{what}.listen: cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "{what} listening");
    println!("latch {what} listening on http://{local}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(latch_api::serve_pages(listener, pages, async {
        let _ = stop_rx.await;
    }));
    Ok((server, stop_tx))
}

/// The dashboard's own listener when `dashboard.listen` names one, and
/// the first-run setup token in the log while the instance has no operator.
async fn dashboard_listener(
    app: &App,
    state: &latch_api::ApiState,
) -> anyhow::Result<Option<SideListener>> {
    use crate::settings::Listener;
    let served = match app.settings.dashboard {
        Listener::Off => return Ok(None),
        Listener::Main => None,
        Listener::Own(addr) => Some(addr),
    };
    let setup = state
        .services
        .operators
        .issue_setup_token()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "operators: {}",
                latch_api::error::ApiError::from(e).long_message
            )
        })?;
    if let Some(token) = setup {
        tracing::warn!(
            setup_token = %token,
            "this instance has no operator: open /dashboard/setup and give this one-time setup token, or run `latch admin grant EMAIL`"
        );
    }
    let Some(addr) = served else {
        return Ok(None);
    };
    let pages = state
        .clone()
        .only_pages(latch_dashboard::Dashboard::pages());
    Ok(Some(side_listener("dashboard", addr, pages).await?))
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
        .services()
        .await?
        .users
        .create_user(params)
        .await
        .map_err(|e| anyhow::anyhow!("{}", latch_api::error::ApiError::from(e).long_message))?;
    println!("{}", user.id);
    Ok(())
}

/// `latch admin grant EMAIL`: the user with this address becomes an
/// operator (audited, by Latch itself).
async fn grant_operator(settings: Settings, email: &str) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let services = app.services().await?;
    let (user, granted) = services
        .operators
        .grant_by_email(email)
        .await
        .map_err(|e| anyhow::anyhow!("{}", latch_api::error::ApiError::from(e).long_message))?;
    services.audit.write_queued().await;
    if granted {
        println!("{} is now an operator", user.id);
    } else {
        println!("{} was already an operator", user.id);
    }
    Ok(())
}

/// `latch admin revoke EMAIL`: the user's operator role goes (never the
/// last operator's).
async fn revoke_operator(settings: Settings, email: &str) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let services = app.services().await?;
    let user = services
        .operators
        .revoke_by_email(email)
        .await
        .map_err(|e| match e {
            latch_core::error::Error::NotFound(latch_core::error::Resource::Record) => {
                anyhow::anyhow!("{email} is not an operator")
            }
            other => anyhow::anyhow!("{}", latch_api::error::ApiError::from(other).long_message),
        })?;
    services.audit.write_queued().await;
    println!("{} is no longer an operator", user.id);
    Ok(())
}

/// `latch deliveries`: what the outbox holds, for operators; payloads are
/// sealed and never shown.
async fn list_deliveries(settings: Settings, args: DeliveriesArgs) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let deliveries = app.services().await?.deliveries;
    let failed = |e: latch_core::Error| {
        anyhow::anyhow!("{}", latch_api::error::ApiError::from(e).long_message)
    };
    let counts = deliveries.counts().await.map_err(failed)?;
    println!(
        "deliveries: {} pending, {} dead, {} delivered",
        counts.pending, counts.dead, counts.delivered
    );
    let statuses: &[Option<DeliveryStatus>] = match args.status {
        DeliveryFilter::Unfinished => &[Some(DeliveryStatus::Pending), Some(DeliveryStatus::Dead)],
        DeliveryFilter::Pending => &[Some(DeliveryStatus::Pending)],
        DeliveryFilter::Dead => &[Some(DeliveryStatus::Dead)],
        DeliveryFilter::Delivered => &[Some(DeliveryStatus::Delivered)],
        DeliveryFilter::All => &[None],
    };
    let mut listed: Vec<DeliveryRecord> = Vec::new();
    for status in statuses {
        listed.extend(deliveries.list(*status, args.limit).await.map_err(failed)?);
    }
    listed.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    if listed.is_empty() {
        return Ok(());
    }
    println!("id\tkind\tstatus\tattempts\tcreated_at\tnext_or_last_at\tlast_error");
    for d in listed {
        println!(
            "{}\t{}\t{}\t{}/{}\t{}\t{}\t{}",
            d.id,
            d.kind,
            d.status.as_str(),
            d.attempts,
            d.max_attempts,
            rfc3339(d.created_at.0),
            rfc3339(d.due_at.0),
            d.last_error
                .as_deref()
                .unwrap_or("-")
                .replace(['\t', '\n'], " ")
        );
    }
    Ok(())
}

/// A use case's error as the API would word it.
fn failed(e: latch_core::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", latch_api::error::ApiError::from(e).long_message)
}

/// `latch webhooks list`: each endpoint, then its failed and pending messages.
async fn list_webhooks(settings: Settings, args: WebhooksListArgs) -> anyhow::Result<()> {
    use latch_core::model::MessageStatus;
    let app = App::open(settings).await?;
    let webhooks = app.services().await?.webhooks;
    for e in webhooks.list_endpoints().await.map_err(failed)? {
        let types: Vec<&str> = e.event_types.iter().map(|t| t.as_str()).collect();
        println!(
            "{}	{}	{}	{}",
            e.id,
            e.url,
            if types.is_empty() {
                "*".to_owned()
            } else {
                types.join(",")
            },
            match (&e.disabled, &e.disabled_reason) {
                (false, _) => "enabled".to_owned(),
                (true, Some(why)) => format!("disabled: {why}"),
                (true, None) => "disabled".to_owned(),
            }
        );
        if args.secrets {
            println!("  secret	{}", webhooks.secret(&e.id).await.map_err(failed)?);
        }
        for status in [MessageStatus::Failed, MessageStatus::Pending] {
            for m in webhooks
                .messages(Some(&e.id), Some(status), args.limit)
                .await
                .map_err(failed)?
            {
                println!(
                    "  {}	{}	{}	{} attempts	{}	{}",
                    m.event_id,
                    m.event_type,
                    m.status.as_str(),
                    m.attempts,
                    rfc3339(m.created_at.0),
                    m.last_error
                        .as_deref()
                        .unwrap_or("-")
                        .replace(['\t', '\n'], " ")
                );
            }
        }
    }
    Ok(())
}

/// `latch webhooks replay`: one message, or a range, sent again by the
/// running servers' workers.
async fn replay_webhooks(settings: Settings, args: WebhooksReplayArgs) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let webhooks = app.services().await?.webhooks;
    match (args.event, args.since) {
        (Some(event), _) => {
            let m = webhooks
                .replay(&event, &args.endpoint)
                .await
                .map_err(failed)?;
            println!("{}	{}	{}", m.event_id, m.endpoint_id, m.status.as_str());
        }
        (None, Some(since)) => {
            let n = webhooks
                .replay_range(
                    &args.endpoint,
                    latch_core::model::Timestamp(since),
                    args.until.map(latch_core::model::Timestamp),
                )
                .await
                .map_err(failed)?;
            println!("{n} messages pending");
        }
        (None, None) => anyhow::bail!("give --event or --since"),
    }
    Ok(())
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
fn rfc3339(millis: i64) -> String {
    latch_core::model::Timestamp(millis).rfc3339()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_printed_in_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
