//! The command line, declared with clap: `latch [--config FILE] [COMMAND]`.
//! A new command is one more variant of [`Command`] and one more arm where
//! `main` matches it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Latch: an authentication server that speaks Clerk's Frontend and Backend
/// APIs.
///
/// Configuration comes from the embedded defaults, then `--config FILE`,
/// then `LATCH_<SECTION>__<KEY>` environment variables (for example
/// LATCH_SERVER__ADDR=0.0.0.0:8080). A bad value stops every command with a
/// message naming its key.
#[derive(Debug, Parser)]
#[command(name = "latch", version)]
pub struct Cli {
    /// A TOML file of settings layered over the embedded defaults
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when none is given
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Frontend and Backend APIs (the default); stops gracefully on
    /// SIGTERM or Ctrl-C
    Serve,
    /// Print the publishable and secret keys to give Clerk's SDKs (the secret
    /// key is generated and stored on first use unless configured)
    Keys,
    /// Apply database migrations (they are also applied at start)
    Migrate,
    /// Copy the SQLite database into a new FILE while Latch serves (one
    /// consistent snapshot), and check the copy
    Backup(BackupArgs),
    /// Replace the SQLite database with the backup FILE (checked first) in
    /// a stopped instance, and check the result
    Restore(BackupArgs),
    /// Print the effective configuration as TOML, every secret redacted
    Config,
    /// Print every HTTP route: method, path, surface, the client channels it
    /// accepts and the rate limit it counts against
    Routes,
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// List the outbox's deliveries (one-time codes): counts, then pending
    /// and dead ones, newest first, with attempts and the last error (never
    /// their content)
    Deliveries(DeliveriesArgs),
    /// Webhook endpoints and their messages
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Operators: the users who may open the dashboard
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Copy every durable row of the SQLite database (`database.path`) into
    /// PostgreSQL, then check each table's row count and digest; sign-ins and
    /// sign-ups in progress and rate-limit counters are not copied. Stop
    /// Latch first, or copy a consistent snapshot of a running instance.
    Copy(CopyArgs),
    /// Import users exported from another service
    #[command(subcommand)]
    Import(ImportCommand),
}

/// `latch copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Where the rows go
    #[arg(long, value_enum, value_name = "STORE")]
    pub to: CopyTarget,
    /// The target database; default storage.postgres_url
    #[arg(long, value_name = "URL")]
    pub postgres_url: Option<String>,
    /// Finish an interrupted copy from this same database into a target
    /// that already holds some of its rows
    #[arg(long, conflicts_with = "dry_run")]
    pub resume: bool,
    /// Print the tables and their row counts, and write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// The stores `latch copy --to` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CopyTarget {
    Postgres,
}

/// `latch import ...`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import the users of a Clerk instance under their Clerk ids, with
    /// their password digests, authenticator apps, addresses and metadata:
    /// the dashboard's CSV export, or a JSON array of Backend API users.
    /// Users already present are skipped, so a second run changes nothing
    Clerk(ImportClerkArgs),
}

/// `latch import clerk`.
#[derive(Debug, Args)]
pub struct ImportClerkArgs {
    /// Print what would be imported and skipped, and why; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The export: CSV (Clerk's dashboard) or JSON (Clerk's CLI or Backend API)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// The file a `backup` writes or a `restore` reads.
#[derive(Debug, Args)]
pub struct BackupArgs {
    pub file: std::path::PathBuf,
}

/// `latch admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make the user with this email address an operator
    Grant(OperatorArgs),
    /// Take the operator role away from the user with this email address
    /// (never from the last operator)
    Revoke(OperatorArgs),
}

/// The user an `admin` command is about.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// The user's email address
    #[arg(value_name = "EMAIL")]
    pub email: String,
}

/// `latch webhooks ...`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List the endpoints (with their signing secrets when --secrets is
    /// given), then each one's recent failed and pending messages
    List(WebhooksListArgs),
    /// Send messages again: one event's (--event), or those of a time range
    /// (--since, optionally --until) that failed or never reached the endpoint
    Replay(WebhooksReplayArgs),
}

/// `latch webhooks list`.
#[derive(Debug, Args)]
pub struct WebhooksListArgs {
    /// Print each endpoint's signing secret
    #[arg(long)]
    pub secrets: bool,
    /// At most this many messages of each endpoint (1 to 500)
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
}

/// `latch webhooks replay`.
#[derive(Debug, Args)]
pub struct WebhooksReplayArgs {
    /// The endpoint's id
    #[arg(long, value_name = "ENDPOINT")]
    pub endpoint: String,
    /// One event's id (msg_...)
    #[arg(long, value_name = "EVENT", conflicts_with_all = ["since", "until"], required_unless_present = "since")]
    pub event: Option<String>,
    /// The range's start, in Unix milliseconds
    #[arg(long, value_name = "MILLIS")]
    pub since: Option<i64>,
    /// The range's end (exclusive), in Unix milliseconds; default now
    #[arg(long, value_name = "MILLIS", requires = "since")]
    pub until: Option<i64>,
}

/// `latch deliveries`: which deliveries to list.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Which deliveries: unfinished (pending and dead), pending, dead,
    /// delivered or all
    #[arg(long, value_enum, default_value = "unfinished")]
    pub status: DeliveryFilter,
    /// At most this many of each status listed (1 to 1000)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
}

/// The statuses `latch deliveries --status` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeliveryFilter {
    Unfinished,
    Pending,
    Dead,
    Delivered,
    All,
}

/// `latch user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print its id
    Create(CreateUserArgs),
}

/// The new user's identifiers, password and names.
#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// An email address; repeat for several
    #[arg(long, value_name = "EMAIL")]
    pub email: Vec<String>,
    /// A phone number in E.164 form (+15550001111); repeat for several
    #[arg(long, value_name = "PHONE")]
    pub phone: Vec<String>,
    /// A username
    #[arg(long, value_name = "USERNAME")]
    pub username: Option<String>,
    /// A password (it is hashed; prefer a user's own reset for real accounts)
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// The first name
    #[arg(long, value_name = "NAME")]
    pub first_name: Option<String>,
    /// The last name
    #[arg(long, value_name = "NAME")]
    pub last_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_means_serve_and_config_is_global() {
        let cli = Cli::try_parse_from(["latch"]).ok();
        assert!(matches!(
            cli,
            Some(Cli {
                command: None,
                config: None
            })
        ));
        let cli = Cli::try_parse_from(["latch", "keys", "--config", "a.toml"]).ok();
        assert!(matches!(
            cli,
            Some(Cli { command: Some(Command::Keys), config: Some(ref f) }) if f.as_os_str() == "a.toml"
        ));
    }

    #[test]
    fn user_create_takes_repeated_emails_and_phones() {
        let cli = Cli::try_parse_from([
            "latch",
            "user",
            "create",
            "--email",
            "a@example.com",
            "--email",
            "b@example.com",
            "--phone",
            "+15550001111",
            "--username",
            "ann",
            "--first-name",
            "Ann",
        ])
        .ok();
        let Some(Cli {
            command: Some(Command::User(UserCommand::Create(args))),
            ..
        }) = cli
        else {
            panic!("user create parses");
        };
        assert_eq!(args.email, ["a@example.com", "b@example.com"]);
        assert_eq!(args.phone, ["+15550001111"]);
        assert_eq!(args.username.as_deref(), Some("ann"));
        assert_eq!(args.first_name.as_deref(), Some("Ann"));
        assert_eq!(args.password, None);
    }

    #[test]
    fn deliveries_lists_unfinished_ones_unless_told() {
        let Some(Cli {
            command: Some(Command::Deliveries(args)),
            ..
        }) = Cli::try_parse_from(["latch", "deliveries"]).ok()
        else {
            panic!("deliveries parses");
        };
        assert_eq!((args.status, args.limit), (DeliveryFilter::Unfinished, 100));
        let Some(Cli {
            command: Some(Command::Deliveries(args)),
            ..
        }) = Cli::try_parse_from(["latch", "deliveries", "--status", "dead", "--limit", "5"]).ok()
        else {
            panic!("deliveries --status dead parses");
        };
        assert_eq!((args.status, args.limit), (DeliveryFilter::Dead, 5));
        assert!(Cli::try_parse_from(["latch", "deliveries", "--status", "lost"]).is_err());
        assert!(Cli::try_parse_from(["latch", "deliveries", "--limit", "0"]).is_err());
    }

    #[test]
    fn copy_needs_a_target_and_takes_resume_or_dry_run() {
        let Some(Cli {
            command: Some(Command::Copy(args)),
            ..
        }) = Cli::try_parse_from([
            "latch",
            "copy",
            "--to",
            "postgres",
            "--postgres-url",
            "postgres://db/latch",
            "--resume",
        ])
        .ok()
        else {
            panic!("copy parses");
        };
        assert_eq!(args.to, CopyTarget::Postgres);
        assert_eq!(args.postgres_url.as_deref(), Some("postgres://db/latch"));
        assert!(args.resume && !args.dry_run);
        assert!(Cli::try_parse_from(["latch", "copy"]).is_err());
        assert!(Cli::try_parse_from(["latch", "copy", "--to", "sqlite"]).is_err());
        assert!(
            Cli::try_parse_from(["latch", "copy", "--to", "postgres", "--resume", "--dry-run"])
                .is_err()
        );
    }

    #[test]
    fn unknown_commands_and_options_are_refused() {
        assert!(Cli::try_parse_from(["latch", "frobnicate"]).is_err());
        assert!(Cli::try_parse_from(["latch", "serve", "--port", "1"]).is_err());
        assert!(Cli::try_parse_from(["latch", "user", "create", "--nickname", "x"]).is_err());
    }
}
