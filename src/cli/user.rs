//! `hyalto user …`: the people and tools that may use `hyalto serve`.
//!
//! Passwords are hashed with argon2 before they are stored; API tokens are printed once and
//! only their SHA-256 is stored. Neither is ever printed again or logged.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use chrono::Utc;
use hyalto_server::auth::{check_new_password, hash_password, new_token, token_hash};
use hyalto_store::{NewApiToken, NewUser, Store as _};

use super::context::Context;
use super::output::Table;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a user who can log in to `hyalto serve`.
    Add(AddArgs),

    /// List the users.
    List,

    /// Manage API tokens for the REST API.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Add a user. Without --password-env or --password-file the password is asked twice on the
/// terminal.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// What the user logs in with (unique whatever the case).
    pub username: String,

    /// Let the user change the ConnectWise connection.
    #[arg(long)]
    pub admin: bool,

    /// The environment variable holding the password.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,

    /// A file holding the password (a trailing newline is ignored).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print it once.
    Create(TokenCreateArgs),
}

/// Create an API token for a user.
#[derive(Debug, clap::Args)]
pub struct TokenCreateArgs {
    /// The user the token acts as.
    pub username: String,

    /// A name that tells the token apart from the user's others, such as "monitoring".
    #[arg(long)]
    pub name: String,
}

pub async fn run(context: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Add(args) => add(context, args).await,
        Command::List => list(context).await,
        Command::Token(TokenCommand::Create(args)) => create_token(context, args).await,
    }
}

async fn add(context: &Context, args: AddArgs) -> anyhow::Result<()> {
    let username = args.username.trim().to_owned();
    if username.is_empty() || username.chars().any(char::is_whitespace) {
        bail!(
            "the username {:?} is empty or has spaces; choose one without",
            args.username
        );
    }
    let store = context.store().await?;
    if store.user_credentials(&username).await?.is_some() {
        bail!("a user named {username:?} exists already (names ignore case); choose another name");
    }

    let password = read_password(&args)?;
    check_new_password(&password).map_err(anyhow::Error::msg)?;
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .context("the password hashing task failed")?
        .map_err(|error| anyhow::anyhow!("could not hash the password: {error}"))?;

    let user = store
        .create_user(&NewUser {
            username,
            password_hash,
            is_admin: args.admin,
            created_at: Utc::now(),
        })
        .await
        .context("could not add the user")?;
    println!(
        "Added {} {}. They can log in to `hyalto serve` now.",
        if user.is_admin { "admin" } else { "user" },
        user.username
    );
    Ok(())
}

/// The password from the variable, the file, or the terminal (asked twice, not echoed).
fn read_password(args: &AddArgs) -> anyhow::Result<String> {
    if let Some(variable) = &args.password_env {
        return std::env::var(variable).map_err(|_| {
            anyhow::anyhow!(
                "the environment variable {variable} named by --password-env is not set (or not \
                 UTF-8): export it with the password, or pass --password-file PATH"
            )
        });
    }
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "could not read the password file {}; check the path and its permissions",
                path.display()
            )
        })?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_owned());
    }

    if !std::io::stdin().is_terminal() {
        bail!(
            "no password given: pass --password-env VAR or --password-file PATH, or run the \
             command in a terminal to type it"
        );
    }
    let first = rpassword::prompt_password(format!("Password for {}: ", args.username))
        .context("could not read the password from the terminal")?;
    let second = rpassword::prompt_password("The same password again: ")
        .context("could not read the password from the terminal")?;
    if first != second {
        bail!("the two passwords differ; run the command again");
    }
    Ok(first)
}

async fn list(context: &Context) -> anyhow::Result<()> {
    let store = context.store().await?;
    let users = store
        .list_users()
        .await
        .context("could not read the users")?;
    if users.is_empty() {
        println!("No user yet; add the first admin with `hyalto user add USERNAME --admin`.");
        return Ok(());
    }

    let mut table = Table::new(["USERNAME", "ROLE", "ADDED", "API TOKENS"]);
    for user in &users {
        let tokens = store
            .api_tokens_of(user.id)
            .await
            .context("could not read the API tokens")?;
        let names: Vec<&str> = tokens.iter().map(|token| token.name.as_str()).collect();
        table.row([
            user.username.clone(),
            if user.is_admin { "admin" } else { "user" }.to_owned(),
            user.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            names.join(", "),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

async fn create_token(context: &Context, args: TokenCreateArgs) -> anyhow::Result<()> {
    let store = context.store().await?;
    let Some(credentials) = store.user_credentials(&args.username).await? else {
        bail!(
            "no user is named {:?}: list them with `hyalto user list`, or add one with `hyalto \
             user add`",
            args.username
        );
    };

    let token = new_token();
    store
        .create_api_token(&NewApiToken {
            user: credentials.user.id,
            name: args.name.clone(),
            token_hash: token_hash(&token),
            created_at: Utc::now(),
        })
        .await
        .context("could not store the API token")?;

    eprintln!(
        "Created API token {:?} for {}. It is shown once, now; hyalto keeps only its hash. Send \
         it as `Authorization: Bearer TOKEN`.",
        args.name.trim(),
        credentials.user.username
    );
    println!("{token}");
    Ok(())
}
