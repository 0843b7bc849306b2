//! `hyalto sync`: plan and apply the billing of mapped customers to ConnectWise, and
//! `hyalto sync history`.

mod history;

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hyalto_domain::CustomerId;
use hyalto_store::{HolderProcess, Store as _, SyncLease};
use hyalto_sync::{Progress, RunReport, SyncConfig, SyncEngine, SyncError, SyncOptions};

use super::context::Context;
use super::output::print_json;

/// Bring ConnectWise agreements in line with the inventory.
///
/// Without a subcommand it syncs: each mapped customer's services become child agreements under
/// its master agreement, each metered resource an addition. `--dry-run` shows the plan and
/// writes nothing to ConnectWise.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Subcommand>,

    /// Show what would be written, and write nothing to ConnectWise.
    #[arg(long)]
    dry_run: bool,

    /// Only this customer.
    #[arg(long, value_name = "ID")]
    customer: Option<String>,

    /// Print the plan and the outcome as JSON.
    #[arg(long)]
    json: bool,

    /// Apply the held cancellations of this customer (more than the configured share of its
    /// services vanished at once). Repeat for several customers.
    #[arg(long, value_name = "CUSTOMER")]
    confirm_removals: Vec<String>,

    /// Take over additions hyalto did not write for the same product on its child agreements,
    /// instead of only reporting them.
    #[arg(long)]
    adopt_unowned: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Subcommand {
    /// Show the latest sync runs.
    History {
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,

        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The choices of one sync, as the demo also uses them.
#[derive(Clone, Debug, Default)]
pub struct SyncChoices {
    /// Write nothing.
    pub dry_run: bool,
    /// Only this customer.
    pub customer: Option<CustomerId>,
    /// Customers whose held removals are confirmed.
    pub confirm_removals: Vec<CustomerId>,
    /// Take over foreign additions.
    pub adopt_unowned: bool,
}

pub async fn run(context: &Context, args: Args) -> anyhow::Result<()> {
    if let Some(Subcommand::History { limit, json }) = args.command {
        return history::run(context, limit, json).await;
    }

    let parse = |text: &str, flag: &str| {
        CustomerId::new(text)
            .map_err(|error| anyhow::anyhow!("{flag} {text:?} is not an id: {error}"))
    };
    let choices = SyncChoices {
        dry_run: args.dry_run,
        customer: args
            .customer
            .as_deref()
            .map(|text| parse(text, "--customer"))
            .transpose()?,
        confirm_removals: args
            .confirm_removals
            .iter()
            .map(|text| parse(text, "--confirm-removals"))
            .collect::<anyhow::Result<_>>()?,
        adopt_unowned: args.adopt_unowned,
    };

    let report = sync(context, &choices, !args.json).await?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", report.plan);
        println!();
        print_summary(&report);
    }
    if !report.failed_customers.is_empty() || report.writes_stopped.is_some() {
        anyhow::bail!(
            "the sync did not finish for every customer (see above); fix what the messages say \
             and run `hyalto sync` again: it picks up where this run stopped"
        );
    }
    Ok(())
}

/// The engine's configuration from hyalto's.
pub fn sync_config(context: &Context) -> SyncConfig {
    let config = &context.config;
    SyncConfig {
        rules: config.rules,
        billing_tz: config.billing_tz,
        removal_hold_share: config.removal_hold_share,
        concurrency: config.concurrency,
        agreement_name_template: config.agreement_name_template.clone(),
    }
}

/// Runs one sync (or dry run) and returns its report; progress goes to standard error when
/// `show_progress` is set and standard error is a terminal.
pub async fn sync(
    context: &Context,
    choices: &SyncChoices,
    show_progress: bool,
) -> anyhow::Result<RunReport> {
    let store = context.store().await?.clone();
    let client = context.client().await?;
    let engine = SyncEngine::new(store, client, sync_config(context));

    let options = SyncOptions {
        dry_run: choices.dry_run,
        customer: choices.customer.clone(),
        confirm_removals: choices.confirm_removals.clone(),
        adopt_unowned: choices.adopt_unowned,
        now: Utc::now(),
    };
    let live = show_progress && std::io::stderr().is_terminal();
    let progress = move |event: Progress| {
        if !live {
            return;
        }
        match event {
            Progress::Started { run_id, customers } => {
                eprintln!("sync run {run_id}: {customers} customer(s)");
            }
            Progress::Operation {
                customer,
                done,
                total,
            } => eprint!("\r  {customer}: {done}/{total} operations"),
            Progress::CustomerFinished {
                customer,
                done,
                total,
                failed,
            } => eprintln!(
                "\r  {customer}: {} ({done}/{total} customers)",
                if failed { "FAILED" } else { "done" }
            ),
        }
    };

    // A sync killed before it gave the lease back (SIGKILL, power loss) would block every sync
    // until its lease expires; when the holder was a process on this host that no longer
    // exists, its lease is freed and the run tried once more.
    // A dry run takes no lease (the engine previews without it), so this only concerns syncs
    // that write.
    let mut freed_once = false;
    loop {
        let holder = match engine.run(&options, &progress).await {
            Ok(report) => return Ok(report),
            Err(SyncError::Busy { holder }) => holder,
            Err(other) => return Err(anyhow::Error::new(other).context("the sync could not run")),
        };

        let store = context.store().await?;
        let lease = store
            .current_sync_lease()
            .await
            .context("could not read the sync lease")?;
        if !freed_once && holder_is_gone(&holder) {
            // Releasing by the dead holder's id is a compare-and-swap: if a live sync took the
            // lease meanwhile, this frees nothing and the retry reports that sync instead.
            let freed = store
                .release_sync_lease(&holder)
                .await
                .context("could not free the sync lease of a process that is gone")?;
            tracing::warn!(
                lease.holder = %holder,
                freed,
                "the sync lease was held by a process of this host that no longer exists"
            );
            if freed {
                eprintln!(
                    "note: the sync lease was held by {holder}, a process of this host that no \
                     longer runs (killed before it finished); it was taken over"
                );
            }
            freed_once = true;
            continue;
        }

        return Err(busy_message(&holder, lease.as_ref(), Utc::now()));
    }
}

/// Whether `holder` names a process of this host that has ended.
///
/// Only Linux's `/proc` is consulted, so no platform call is needed; elsewhere, or for a holder
/// on another host sharing the data dir, the answer is no and the lease runs out by itself.
fn holder_is_gone(holder: &str) -> bool {
    let Some(process) = HolderProcess::parse(holder) else {
        return false;
    };
    if !process.is_on_this_host() || process.pid == std::process::id() {
        return false;
    }

    let proc = Path::new("/proc");
    proc.join("self").exists() && !proc.join(process.pid.to_string()).exists()
}

/// Explains a held lease: who holds it, until when, and what to do if no sync is running.
fn busy_message(holder: &str, lease: Option<&SyncLease>, now: DateTime<Utc>) -> anyhow::Error {
    let Some(lease) = lease.filter(|lease| lease.holder == holder) else {
        return anyhow::anyhow!(
            "another sync ({holder}) was running on this data dir; run `hyalto sync` again"
        );
    };

    let minutes = (lease.expires_at - now).num_minutes().max(0) + 1;
    let started = lease.acquired_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let expires = lease.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    anyhow::anyhow!(
        "another sync ({holder}, started {started}) holds the sync lease of this data dir until \
         {expires} (about {minutes} min from now); wait for it to finish, then run `hyalto sync` \
         again. If no hyalto sync is running (for example one was killed), the lease can be \
         taken over after {expires}: run `hyalto sync` again then"
    )
}

/// The planned operations by name (`create_addition` …), in first-seen order.
pub fn planned_operations(report: &RunReport) -> Vec<(&'static str, usize)> {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for operation in report.plan.customers.iter().flat_map(|c| &c.operations) {
        match counts
            .iter_mut()
            .find(|(name, _)| *name == operation.name())
        {
            Some((_, count)) => *count += 1,
            None => counts.push((operation.name(), 1)),
        }
    }
    counts
}

/// Prints what a run did (or, for a dry run, would do), then skipped and failed customers.
pub fn print_summary(report: &RunReport) {
    if report.dry_run {
        let planned: Vec<String> = planned_operations(report)
            .into_iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect();
        println!(
            "Dry run {}: nothing was written. Planned: {}; {} ConnectWise write(s). Run without \
             --dry-run to apply.",
            report.run_id,
            if planned.is_empty() {
                "nothing".to_owned()
            } else {
                planned.join(", ")
            },
            report.plan.write_count()
        );
    } else {
        println!(
            "Sync run {}: child agreements {} created, {} ended; additions {} created, {} \
             updated, {} cancelled; {} adopted; {} finding(s) reported; {} write(s) failed.",
            report.run_id,
            report.created_agreements,
            report.ended,
            report.created_additions,
            report.updated,
            report.cancelled,
            report.adopted,
            report.reported,
            report.writes_failed,
        );
    }
    for (customer, reason) in &report.skipped_customers {
        println!("  skipped {customer}: {reason}");
    }
    for (customer, status) in &report.held_customers {
        println!("  {customer}: {status}");
    }
    for (customer, error) in &report.failed_customers {
        println!("  FAILED {customer}: {error}");
    }
    if let Some(reason) = &report.writes_stopped {
        println!("  writes stopped: {reason}");
    }
}
