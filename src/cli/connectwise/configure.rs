//! `hyalto connectwise configure`: check a connection, store it, and fill the cache.
//!
//! Every step that can fail answers with what to change on the command line: the site address
//! (`--url`), the login company (`--company-id`), the keys, the client id, the certificate
//! trust (`--ca-file`, `--insecure`) or the API member's security role. The rights a sync
//! writes with are checked without writing (`write_check`). Nothing is stored unless every
//! check and the first cache pull succeeded.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use hyalto_app::connection::{ConnectionInput, Field, check};
use hyalto_app::permissions::Right;
use hyalto_app::write_check::{WriteRightsProblem, probe_write_rights, verdict};
use hyalto_connectwise::{Client, DEFAULT_API_VERSION, Error, SiteUrl};
use hyalto_store::Store;
use secrecy::SecretString;

use super::refresh::{pull_with_progress, store_records};
use crate::cli::context::Context;

/// The environment variable read when `--client-id` is not given.
pub const CLIENT_ID_ENV: &str = "HYALTO_CW_CLIENT_ID";

/// Check and store the connection to a ConnectWise Manage site.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("private_key").required(true).args(["private_key_env", "private_key_file"])
))]
pub struct ConfigureArgs {
    /// The site address you open ConnectWise at, such as na.myconnectwise.net or
    /// https://cw.example.com.
    #[arg(long)]
    pub url: String,

    /// The login company id (what you type into "Company" on the ConnectWise login screen).
    #[arg(long)]
    pub company_id: String,

    /// The public half of the API member's key.
    #[arg(long)]
    pub public_key: String,

    /// The environment variable holding the private half of the key (keeps it out of the
    /// shell history).
    #[arg(long, value_name = "VAR")]
    pub private_key_env: Option<String>,

    /// A file holding the private half of the key (surrounding whitespace is ignored).
    #[arg(long, value_name = "PATH")]
    pub private_key_file: Option<PathBuf>,

    /// The integration's client id from developer.connectwise.com.
    #[arg(long, env = CLIENT_ID_ENV, hide_env_values = true)]
    pub client_id: Option<String>,

    /// A PEM file with the certificate authority of an on-premise server.
    #[arg(long, value_name = "F", conflicts_with = "insecure")]
    pub ca_file: Option<PathBuf>,

    /// Accept any server certificate. Only for lab servers: anyone in the middle could read the
    /// keys.
    #[arg(long)]
    pub insecure: bool,

    /// The API model version pinned in every request.
    #[arg(long, default_value = DEFAULT_API_VERSION)]
    pub api_version: String,

    /// Do not check the rights to create and change agreements and additions, for an API
    /// member that only previews syncs with `hyalto sync --dry-run`.
    #[arg(long)]
    pub skip_write_check: bool,
}

pub async fn run(context: &Context, args: ConfigureArgs) -> anyhow::Result<()> {
    let private_key = read_private_key(&args)?;
    configure(context, &args, private_key).await
}

/// Checks the connection `args` describe with `private_key`, and stores it with a fresh
/// cache when every check passed. The steps are `hyalto_app`'s; this names the flags to change.
pub async fn configure(
    context: &Context,
    args: &ConfigureArgs,
    private_key: SecretString,
) -> anyhow::Result<()> {
    // Check the settings before any network call.
    let Some(client_id) = args.client_id.clone().filter(|id| !id.trim().is_empty()) else {
        bail!(
            "no client id given: ConnectWise requires the clientId of a registered integration \
             on every call; register hyalto at developer.connectwise.com (ClientID page) and pass \
             --client-id ID (or set {CLIENT_ID_ENV})"
        );
    };
    if let Err(error) = SiteUrl::parse(&args.url) {
        bail!(
            "--url {:?} is not a site address ({error}); give the address you open ConnectWise \
             at, such as na.myconnectwise.net or https://cw.example.com",
            args.url
        );
    }
    let input = ConnectionInput {
        url: args.url.clone(),
        company_id: args.company_id.clone(),
        public_key: args.public_key.clone(),
        private_key,
        client_id,
        ca_file: args.ca_file.clone(),
        insecure: args.insecure,
        api_version: Some(args.api_version.clone()),
    };
    let valid = input.validate().map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|error| format!("{}: {}", flag(error.field), error.message))
            .collect();
        anyhow::anyhow!(
            "the connection settings are not complete:\n{}",
            lines.join("\n")
        )
    })?;

    // Discover the site and prove the keys.
    eprintln!("Checking the connection to {} …", args.url);
    let connected = check(&valid)
        .await
        .map_err(|rejected| anyhow::anyhow!(explain(&rejected.source, args)))?;
    let client = connected.client;

    // Check the rights a sync writes with; a missing one stops here with nothing stored.
    if args.skip_write_check {
        eprintln!(
            "Not checking the rights to write agreements and additions (--skip-write-check)."
        );
    } else {
        check_write_rights(&client).await?;
    }

    // Read what hyalto needs; a missing read permission stops here with nothing stored.
    eprintln!("Reading ConnectWise records:");
    let pulled = pull_with_progress(&client).await?;

    let store = context.store().await?;
    store
        .save_connection(valid.stored())
        .await
        .context("could not store the connection settings")?;
    let total = store_records(store, &pulled).await?;

    println!(
        "Connected to ConnectWise {} at {} as company {}.",
        connected
            .version
            .as_deref()
            .unwrap_or("(version not reported)"),
        client.base_url(),
        args.company_id.trim()
    );
    println!(
        "Stored the connection in {} (private key encrypted) and cached {total} records.",
        context.data_dir.display()
    );
    Ok(())
}

/// The flag that sets a field.
fn flag(field: Field) -> &'static str {
    match field {
        Field::Url => "--url",
        Field::CompanyId => "--company-id",
        Field::PublicKey => "--public-key",
        Field::PrivateKey => "--private-key-env or --private-key-file",
        Field::ClientId => "--client-id",
        Field::CaFile => "--ca-file",
    }
}

/// Sends the write probes and turns their outcomes into an error or printed warnings.
async fn check_write_rights(client: &Client) -> anyhow::Result<()> {
    eprintln!(
        "Checking the rights to write agreements and additions (with requests ConnectWise \
         cannot save) …"
    );
    let reports = probe_write_rights(client).await;

    let warnings = verdict(&reports).map_err(|problem| match problem {
        WriteRightsProblem::Denied(_) => anyhow::anyhow!(
            "{problem}\nGrant them and run configure again (or pass --skip-write-check for a \
             member that only previews syncs with --dry-run)"
        ),
        WriteRightsProblem::Saved { .. } => anyhow::anyhow!(problem),
    })?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

fn read_private_key(args: &ConfigureArgs) -> anyhow::Result<SecretString> {
    let key = match (&args.private_key_env, &args.private_key_file) {
        (Some(variable), _) => std::env::var(variable).map_err(|_| {
            anyhow::anyhow!(
                "the environment variable {variable} named by --private-key-env is not set (or \
                 not UTF-8): export it with the API member's private key, or pass \
                 --private-key-file PATH"
            )
        })?,
        (None, Some(path)) => std::fs::read_to_string(path).with_context(|| {
            format!(
                "could not read the private key file {} given by --private-key-file; check the \
                 path and its permissions",
                path.display()
            )
        })?,
        (None, None) => {
            bail!("give the private key with --private-key-env VAR or --private-key-file PATH")
        }
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        bail!(
            "the private key is empty: put the private half of the API member's key (System › \
             Members › API Members › API Keys) in the variable or file"
        );
    }
    Ok(SecretString::from(key))
}

/// Turns a failed check into what the user must change.
fn explain(error: &Error, args: &ConfigureArgs) -> String {
    match error {
        Error::Discovery { reason, .. } if reason.contains("does not know this company id") => {
            format!(
                "the ConnectWise site at {} does not know the company id {:?}: check \
                 --company-id, which is what you type into \"Company\" on the ConnectWise login \
                 screen",
                args.url, args.company_id
            )
        }
        Error::Discovery { reason, .. } => format!(
            "could not find ConnectWise at {}: {reason}. Check --url: it is the address you \
             open ConnectWise at (such as na.myconnectwise.net, or your own server's name)",
            args.url
        ),
        Error::Certificate { site, reason } => format!(
            "the TLS certificate of {site} is not trusted ({reason}): pass --ca-file with the \
             PEM certificate of the authority that signed it, or --insecure for a lab server"
        ),
        Error::BadCredentials { message, .. }
            if message
                .as_deref()
                .is_some_and(|text| text.to_ascii_lowercase().contains("clientid")) =>
        {
            format!(
                "ConnectWise refused the client id ({}): pass the client id registered for this \
                 integration at developer.connectwise.com with --client-id",
                message.as_deref().unwrap_or_default()
            )
        }
        Error::BadCredentials { request_id, .. } => format!(
            "ConnectWise refused the API keys for company {:?}{}: check --public-key and the \
             private key (--private-key-env or --private-key-file); both halves must come from \
             one key of an active API member (System › Members › API Members)",
            args.company_id,
            request_id
                .as_deref()
                .map(|id| format!(" [request id {id}]"))
                .unwrap_or_default()
        ),
        Error::PermissionDenied { method, path, .. } => format!(
            "the keys work, but the API member's security role refused {method} {path}: {}, \
             and run configure again",
            Right::for_call(method.as_str(), path)
        ),
        Error::Config { message } => format!("the connection settings cannot work: {message}"),
        Error::PlainHttp { site, plain_site } => format!(
            "the server at {site} answered in plain HTTP, not HTTPS: pass --url {plain_site} if \
             it really serves ConnectWise without TLS (a sandbox does), otherwise check --url"
        ),
        other => other.to_string(),
    }
}
