//! `hyalto inventory collect`: read the inventory straight from a vCenter and record it as a
//! snapshot, once with the address and credentials given, or from saved sources.
//!
//! A collected snapshot is checked and recorded exactly as an imported one is (the import
//! format's validation, the store's refusals), except that an incomplete snapshot is always
//! recorded: what it lists is kept, nothing is retired from it, and the sync skips the
//! source's customers until a complete collection arrives. A collection that fails before
//! anything is read marks a source that has inventory already as incomplete in the same way,
//! so a sync never bills from a vCenter it could not read.
//!
//! The collection itself is `hyalto_app::collect`, which the server's scheduler runs too; this
//! file parses the flags and prints the summaries.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use hyalto_domain::SourceId;
use hyalto_store::Store as _;
use hyalto_vsphere::{OwnershipRules, TlsOptions, VsphereSource};
use secrecy::SecretString;

pub use hyalto_app::collect::{Summary, collect_and_record, collect_saved, vsphere_source};

use super::context::Context;
use super::output::print_json;

/// Collect inventory from a vCenter, once or from saved sources.
///
/// `hyalto inventory collect vsphere --url … --username …` collects once with what is given;
/// `--source NAME` (repeatable) and `--all` collect saved sources (`hyalto inventory sources`).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// Collect this saved source. Repeat for several.
    #[arg(long = "source", value_name = "NAME", conflicts_with = "all")]
    sources: Vec<String>,

    /// Collect every saved source.
    #[arg(long)]
    all: bool,

    /// Collect and show what was read, and record nothing.
    #[arg(long)]
    dry_run: bool,

    /// Print the summaries as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Collect once from the vCenter given on the command line.
    Vsphere(VsphereArgs),
}

/// Collect once from a vCenter.
#[derive(Debug, clap::Args)]
struct VsphereArgs {
    #[command(flatten)]
    connection: VsphereConnection,

    /// The inventory source id to record the snapshot under. Default: vsphere-HOST.
    #[arg(long, value_name = "NAME")]
    source: Option<String>,

    /// Objects asked for per page; vCenter may send fewer.
    #[arg(long, value_name = "N", default_value_t = hyalto_vsphere::DEFAULT_PAGE_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    page_size: u32,

    /// Collect and show what was read, and record nothing.
    #[arg(long)]
    dry_run: bool,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// How to reach and log in to a vCenter, and who owns its VMs; shared by `collect vsphere`
/// and `sources add vsphere`.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("password").required(true).args(["password_env", "password_file"])
))]
pub struct VsphereConnection {
    /// The vCenter's address, such as https://vc.example.com/sdk.
    #[arg(long)]
    pub url: String,

    /// The vCenter user, such as hyalto@vsphere.local (the read-only role at the root is
    /// enough).
    #[arg(long)]
    pub username: String,

    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,

    /// Read the password from the first line of this file.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,

    /// Trust the certificate authorities in this PEM file (a vCenter's own VMCA).
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca_file: Option<PathBuf>,

    /// Accept any certificate. Lab vCenters only: anyone in between could read the password.
    #[arg(long)]
    pub insecure: bool,

    /// The ownership rules (TOML `[[rules]]` tables, docs/vsphere.md). Without rules every VM
    /// is unassigned and billed to nobody.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
}

impl VsphereConnection {
    /// The password, from the variable or the file the user named.
    pub fn password(&self) -> anyhow::Result<SecretString> {
        if let Some(variable) = &self.password_env {
            let value = std::env::var(variable).map_err(|_| {
                anyhow::anyhow!(
                    "the environment variable {variable} named by --password-env is not set (or \
                     not UTF-8); export the vCenter password in it, or use --password-file"
                )
            })?;
            if value.is_empty() {
                bail!(
                    "the environment variable {variable} is empty; put the vCenter password in it"
                );
            }
            return Ok(SecretString::from(value));
        }

        let file = self
            .password_file
            .as_ref()
            .context("give the password with --password-env VAR or --password-file PATH")?;
        let text = std::fs::read_to_string(file).with_context(|| {
            format!(
                "could not read the password file {}; check the path and its permissions",
                file.display()
            )
        })?;
        let password = text.lines().next().unwrap_or_default().to_owned();
        if password.is_empty() {
            bail!(
                "the password file {} is empty; write the vCenter password on its first line",
                file.display()
            );
        }
        Ok(SecretString::from(password))
    }

    /// The ownership rules' text, read from `--rules` (empty without it), checked.
    pub fn rules_text(&self) -> anyhow::Result<String> {
        let Some(file) = &self.rules else {
            return Ok(String::new());
        };
        let text = std::fs::read_to_string(file).with_context(|| {
            format!(
                "could not read the rules file {}; check the path and its permissions",
                file.display()
            )
        })?;
        OwnershipRules::from_toml(&text, &file.display().to_string())?;
        Ok(text)
    }

    /// The TLS options given.
    pub fn tls(&self) -> TlsOptions {
        TlsOptions {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
        }
    }
}

pub async fn run(context: &Context, args: Args) -> anyhow::Result<()> {
    if let Some(Command::Vsphere(vsphere)) = args.command {
        return collect_once(context, vsphere).await;
    }

    if args.sources.is_empty() && !args.all {
        bail!(
            "say what to collect: `hyalto inventory collect vsphere --url … --username …` for a \
             vCenter given on the command line, `--source NAME` for a saved source, or `--all` \
             for every saved source (`hyalto inventory sources list` shows them)"
        );
    }
    let store = context.store().await?;
    let names = if args.all {
        let saved = store
            .saved_sources()
            .await
            .context("could not read the saved sources")?;
        if saved.is_empty() {
            bail!(
                "no source is saved; add one with `hyalto inventory sources add vsphere NAME \
                 --url … --username … --password-env VAR`"
            );
        }
        saved.into_iter().map(|source| source.name).collect()
    } else {
        args.sources
            .iter()
            .map(|name| {
                SourceId::new(name.as_str())
                    .map_err(|error| anyhow::anyhow!("--source {name:?} is not a name: {error}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };

    let summaries = collect_saved(store, &names, args.dry_run).await?;
    if args.json {
        print_json(&summaries)?;
    } else {
        for summary in &summaries {
            print_summary(summary, args.dry_run);
        }
    }
    let failed: Vec<&str> = summaries
        .iter()
        .filter(|summary| !summary.collected)
        .map(|summary| summary.source.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "could not collect {} (see above); fix what the messages say and collect again",
            failed.join(", ")
        );
    }
    Ok(())
}

/// `hyalto sync --collect`: collects every saved source, records what was read and prints a
/// summary per source (on standard error when the sync prints JSON, so its output stays one
/// document). Returns the sources that could not be collected; the sync skips their customers.
pub async fn collect_before_sync(context: &Context, json: bool) -> anyhow::Result<Vec<String>> {
    let store = context.store().await?;
    let names: Vec<SourceId> = store
        .saved_sources()
        .await
        .context("could not read the saved sources")?
        .into_iter()
        .map(|source| source.name)
        .collect();
    if names.is_empty() {
        bail!(
            "--collect found no saved source; add one with `hyalto inventory sources add vsphere \
             NAME --url … --username … --password-env VAR`, or sync without --collect"
        );
    }

    let summaries = collect_saved(store, &names, false).await?;
    for summary in &summaries {
        if json {
            match &summary.error {
                Some(error) => eprintln!("source {}: NOT COLLECTED: {error}", summary.source),
                None => eprintln!(
                    "source {}: collected {} VMs{}",
                    summary.source,
                    summary.vms_listed,
                    if summary.complete {
                        ""
                    } else {
                        " (INCOMPLETE)"
                    }
                ),
            }
        } else {
            print_summary(summary, false);
        }
    }
    if !json {
        println!();
    }

    Ok(summaries
        .into_iter()
        .filter(|summary| !summary.collected)
        .map(|summary| summary.source)
        .collect())
}

/// `collect vsphere`: one collection with the settings given.
async fn collect_once(context: &Context, args: VsphereArgs) -> anyhow::Result<()> {
    let connection = &args.connection;
    let source_id = match &args.source {
        Some(name) => SourceId::new(name.as_str())
            .map_err(|error| anyhow::anyhow!("--source {name:?} is not usable: {error}"))?,
        None => default_source_id(&connection.url)?,
    };
    let rules_text = connection.rules_text()?;
    let mut source = VsphereSource::new(
        source_id,
        connection.url.clone(),
        connection.username.clone(),
        connection.password()?,
    );
    source.tls = connection.tls();
    source.rules = OwnershipRules::from_toml(&rules_text, "the rules file")?;
    source.page_size = args.page_size;

    // An address that cannot be used (one holding a password among them) is refused before
    // anything is printed or recorded: a summary would repeat it, and a saved source named by
    // `--source` would be marked incomplete by a collection that never reached vCenter.
    source.sdk_url()?;

    // A dry run does not open the store, so it creates no data dir and needs no key.
    let store = if args.dry_run {
        None
    } else {
        Some(context.store().await?)
    };
    let summary = collect_and_record(store, &source, args.dry_run).await?;
    if args.json {
        print_json(&summary)?;
    } else {
        print_summary(&summary, args.dry_run);
    }
    match &summary.error {
        Some(error) => bail!("{error}"),
        None => Ok(()),
    }
}

/// The source id a one-off collection records under when none is given: `vsphere-` and the
/// vCenter's host name.
fn default_source_id(url: &str) -> anyhow::Result<SourceId> {
    let probe = VsphereSource::new(
        SourceId::new("probe").expect("a constant id is valid"),
        url,
        "",
        SecretString::from(String::new()),
    );
    let sdk = probe.sdk_url()?;
    let host = sdk.host_str().unwrap_or("vcenter");
    SourceId::new(format!("vsphere-{host}")).map_err(|error| {
        anyhow::anyhow!("no source id can be made from {url:?} ({error}); give one with --source")
    })
}

/// Prints one collection's summary.
pub fn print_summary(summary: &Summary, dry_run: bool) {
    if let Some(error) = &summary.error {
        println!(
            "Source {} ({}): NOT COLLECTED: {error}",
            summary.source, summary.url
        );
        if !dry_run {
            println!(
                "  Its customers are skipped by the sync until a collection succeeds; nothing \
                 is cancelled."
            );
        }
        return;
    }

    let taken_at = summary
        .taken_at
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    println!(
        "Source {} ({}), read at {taken_at}: {} VMs in {} page(s); {} billed to {} customer(s), {} \
         unassigned, {} templates skipped.",
        summary.source,
        summary.url,
        summary.vms_listed,
        summary.pages,
        summary.vms_assigned,
        summary.per_customer.len(),
        summary.unassigned.len(),
        summary.templates_skipped.len()
    );
    for (customer, vms) in &summary.per_customer {
        println!("  customer {customer}: {vms} VMs");
    }
    for unassigned in &summary.unassigned {
        println!(
            "  unassigned {} ({}): {}",
            unassigned.name, unassigned.moref, unassigned.reason
        );
    }
    for template in &summary.templates_skipped {
        println!("  template   {template}: not billed");
    }
    for failure in &summary.failures {
        println!("  FAILED     {failure}");
    }
    if !summary.complete {
        println!(
            "  INCOMPLETE: nothing is retired from this collection, and the sync skips this \
             source's customers until a complete one."
        );
    }

    match &summary.changes {
        Some(changes) => {
            println!(
                "  Recorded: services {} new, {} changed, {} gone, {} back, {} unchanged.",
                changes.new.len(),
                changes.changed.len(),
                changes.gone.len(),
                changes.back.len(),
                changes.unchanged
            );
            for (label, services) in [
                ("new", &changes.new),
                ("changed", &changes.changed),
                ("back", &changes.back),
                ("gone", &changes.gone),
            ] {
                for service in services {
                    println!("    {label:<8} {service}");
                }
            }
        }
        None if dry_run => println!("  Dry run: nothing was recorded."),
        None => {}
    }
}
