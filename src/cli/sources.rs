//! `hyalto inventory sources`: the vCenters hyalto collects from itself, saved with their
//! credentials (the password sealed like the ConnectWise private key) and a collection
//! interval for the server's schedule.

use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::Utc;
use hyalto_domain::SourceId;
use hyalto_store::{SavedSource, SourceKind, Store as _};
use hyalto_vsphere::{OwnershipRules, VsphereSource, collect};
use serde::Serialize;

use super::collect::{VsphereConnection, vsphere_source};
use super::context::Context;
use super::output::{Table, print_json};

/// The interval a source is collected at when `--interval` is not given.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// The shortest interval accepted: a vCenter listing is not free.
const MIN_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Save a source to collect from.
    #[command(subcommand)]
    Add(AddCommand),

    /// List the saved sources (never their passwords).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },

    /// Forget a saved source. The inventory it collected stays.
    Remove {
        /// The source's name.
        name: String,
    },

    /// Log in to a saved source and count its VMs; records nothing.
    Test {
        /// The source's name.
        name: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AddCommand {
    /// Save a vCenter.
    Vsphere(AddVsphereArgs),
}

/// Save a vCenter.
#[derive(Debug, clap::Args)]
pub struct AddVsphereArgs {
    /// The source's name, also the inventory source id its snapshots are recorded under.
    name: String,

    #[command(flatten)]
    connection: VsphereConnection,

    /// How often the server collects it, such as 15m, 1h or 90s.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    interval: Option<Duration>,

    /// Replace a saved source of the same name.
    #[arg(long)]
    replace: bool,
}

pub async fn run(context: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Add(AddCommand::Vsphere(args)) => add_vsphere(context, args).await,
        Command::List { json } => list(context, json).await,
        Command::Remove { name } => remove(context, &name).await,
        Command::Test { name } => test(context, &name).await,
    }
}

fn source_name(name: &str) -> anyhow::Result<SourceId> {
    SourceId::new(name).map_err(|error| anyhow::anyhow!("the name {name:?} is not usable: {error}"))
}

async fn add_vsphere(context: &Context, args: AddVsphereArgs) -> anyhow::Result<()> {
    let name = source_name(&args.name)?;
    let connection = &args.connection;
    let password = connection.password()?;
    let rules = connection.rules_text()?;
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);

    // The address is checked now, so a typo is found when the source is saved rather than at
    // its first scheduled collection.
    let probe = VsphereSource::new(
        name.clone(),
        connection.url.clone(),
        connection.username.clone(),
        password.clone(),
    );
    let sdk = probe.sdk_url()?;

    let store = context.store().await?;
    let now = Utc::now();
    let source = SavedSource {
        name: name.clone(),
        kind: SourceKind::Vsphere,
        url: connection.url.trim().to_owned(),
        username: connection.username.clone(),
        ca_file: connection.ca_file.clone(),
        insecure: connection.insecure,
        rules,
        interval,
        created_at: now,
        updated_at: now,
        last_attempt: None,
    };
    store
        .save_source(&source, &password, args.replace)
        .await
        .map_err(|error| match error {
            hyalto_store::StoreError::InvalidInput { reason, .. } => {
                anyhow::anyhow!("{reason}; pass --replace to replace it, or choose another name")
            }
            other => anyhow::Error::new(other).context("could not save the source"),
        })?;

    let rules_count = OwnershipRules::from_toml(&source.rules, "the rules file")?
        .0
        .len();
    println!(
        "Saved vCenter source {name} ({sdk}, user {}, {} ownership rule(s), collected every {}). \
         Check it with `hyalto inventory sources test {name}`; collect it with `hyalto \
         inventory collect --source {name}`.",
        source.username,
        rules_count,
        describe_interval(interval)
    );
    if connection.insecure {
        println!(
            "Certificate checks are OFF for {name}: use this for a lab vCenter only, or give its \
             CA with --ca-file."
        );
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceView<'a> {
    #[serde(flatten)]
    source: &'a SavedSource,
    rules_count: usize,
}

async fn list(context: &Context, json: bool) -> anyhow::Result<()> {
    let store = context.store().await?;
    let sources = store
        .saved_sources()
        .await
        .context("could not read the saved sources")?;

    if json {
        let views: Vec<SourceView<'_>> = sources
            .iter()
            .map(|source| SourceView {
                source,
                rules_count: count_rules(source),
            })
            .collect();
        return print_json(&views);
    }
    if sources.is_empty() {
        println!(
            "No source is saved; add one with `hyalto inventory sources add vsphere NAME --url \
             … --username … --password-env VAR`."
        );
        return Ok(());
    }

    let mut table = Table::new([
        "NAME", "KIND", "URL", "USER", "TLS", "RULES", "EVERY", "LAST",
    ]);
    for source in &sources {
        let tls = if source.insecure {
            "INSECURE".to_owned()
        } else if let Some(ca) = &source.ca_file {
            format!("CA {}", ca.display())
        } else {
            "system CAs".to_owned()
        };
        let last = match &source.last_attempt {
            None => "never collected".to_owned(),
            Some(attempt) => {
                let at = attempt
                    .at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                match &attempt.error {
                    None => format!("{at} ok"),
                    Some(_) => format!("{at} FAILED"),
                }
            }
        };
        table.row([
            source.name.to_string(),
            source.kind.to_string(),
            source.url.clone(),
            source.username.clone(),
            tls,
            count_rules(source).to_string(),
            describe_interval(source.interval),
            last,
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

fn count_rules(source: &SavedSource) -> usize {
    OwnershipRules::from_toml(&source.rules, "the saved rules")
        .map(|rules| rules.0.len())
        .unwrap_or(0)
}

async fn remove(context: &Context, name: &str) -> anyhow::Result<()> {
    let name = source_name(name)?;
    let store = context.store().await?;
    let removed = store
        .remove_saved_source(&name)
        .await
        .context("could not remove the source")?;
    if !removed {
        bail!(
            "no source named {name} is saved; `hyalto inventory sources list` shows the saved ones"
        );
    }
    println!("Removed source {name}. The inventory it collected stays; it is no longer collected.");
    Ok(())
}

async fn test(context: &Context, name: &str) -> anyhow::Result<()> {
    let name = source_name(name)?;
    let store = context.store().await?;
    let saved = store
        .saved_source(&name)
        .await
        .context("could not read the saved sources")?
        .with_context(|| {
            format!("no source named {name} is saved; `hyalto inventory sources list` shows them")
        })?;
    let source = vsphere_source(store, &saved).await?;

    let collection = collect(&source)
        .await
        .with_context(|| format!("source {name} failed the test"))?;

    let report = &collection.report;
    let templates = report.templates_skipped.len();
    println!(
        "Source {name}: logged in to {} (API {}) and read {} VMs ({} billable: {} assigned, {} \
         unassigned; {templates} templates){}. Nothing was recorded.",
        saved.url,
        report.api_version,
        report.vms_listed,
        report.vms_listed.saturating_sub(templates),
        report.vms_assigned,
        report.unassigned.len(),
        if collection.snapshot.completeness.is_complete() {
            String::new()
        } else {
            format!("; INCOMPLETE: {}", report.failures.join("; "))
        }
    );
    if saved.insecure {
        println!("Certificate checks are off for this source.");
    }
    Ok(())
}

/// Reads an interval such as `15m`, `1h`, `90s`, `1h30m` or `2d`.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not an interval; write it like 15m, 1h, 90s or 1h30m");
    let mut total = 0u64;
    let mut number = String::new();

    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        let value: u64 = number.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(invalid)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(invalid());
    }

    let interval = Duration::from_secs(total);
    if interval < MIN_INTERVAL {
        return Err(format!(
            "{text:?} is shorter than a minute; collect at most once a minute"
        ));
    }
    Ok(interval)
}

/// Writes an interval the way `--interval` reads it.
fn describe_interval(interval: Duration) -> String {
    let secs = interval.as_secs();
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut text = String::new();
    for (value, unit) in [(days, 'd'), (hours, 'h'), (minutes, 'm'), (seconds, 's')] {
        if value > 0 {
            text.push_str(&format!("{value}{unit}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_in_seconds_minutes_hours_and_days_and_print_back() {
        for (text, secs) in [
            ("15m", 900),
            ("1h", 3600),
            ("90s", 90),
            ("1h30m", 5400),
            ("2d", 172_800),
        ] {
            let interval = parse_interval(text).unwrap();
            assert_eq!(interval.as_secs(), secs, "{text}");
            assert_eq!(
                parse_interval(&describe_interval(interval)).unwrap(),
                interval
            );
        }
    }

    #[test]
    fn an_unreadable_or_too_short_interval_is_refused_saying_how_to_write_it() {
        for text in ["", "15", "m", "15x", "0m", "-5m"] {
            let error = parse_interval(text).unwrap_err();
            assert!(error.contains("15m"), "{text}: {error}");
        }
        assert!(parse_interval("30s").unwrap_err().contains("a minute"));
    }
}
