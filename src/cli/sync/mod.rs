//! `hyalto sync`: plan and apply the billing of mapped customers to ConnectWise, and
//! `hyalto sync history`.

mod history;

use chrono::{DateTime, SecondsFormat, Utc};
use hyalto_app::sync::RunError;
use hyalto_domain::CustomerId;
use hyalto_store::SyncLease;
use hyalto_sync::{ChangeGuard, Progress, RunReport, SyncConfig, SyncEngine, SyncOptions};
use std::io::IsTerminal;

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

    /// Write the held implausible quantity changes of this customer (a jump of more than the
    /// configured factor and units, or a running service's CPU or RAM dropping to zero), for
    /// this run only. Repeat for several customers.
    #[arg(long, value_name = "CUSTOMER")]
    confirm_changes: Vec<String>,

    /// Take over additions hyalto did not write for the same product on its child agreements,
    /// instead of only reporting them.
    #[arg(long)]
    adopt_unowned: bool,

    /// Adopt the child agreements another hyalto installation (data dir) wrote, found by their
    /// ownership keys, and rewrite them as this installation's. Stop that installation first.
    /// Repeat for several installations.
    #[arg(long, value_name = "INSTALLATION_ID")]
    take_over: Vec<String>,

    /// Collect every saved inventory source first (`hyalto inventory sources`). A source that
    /// cannot be collected has its customers skipped, never cancelled.
    #[arg(long)]
    collect: bool,
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
    /// Customers whose held implausible changes are confirmed.
    pub confirm_changes: Vec<CustomerId>,
    /// Take over foreign additions.
    pub adopt_unowned: bool,
    /// Installations whose records are taken over.
    pub take_over: Vec<String>,
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
        confirm_changes: args
            .confirm_changes
            .iter()
            .map(|text| parse(text, "--confirm-changes"))
            .collect::<anyhow::Result<_>>()?,
        adopt_unowned: args.adopt_unowned,
        take_over: args.take_over,
    };

    let uncollected = if args.collect {
        super::collect::collect_before_sync(context, args.json).await?
    } else {
        Vec::new()
    };

    let report = sync(context, &choices, !args.json).await?;
    if args.json {
        print_json(&report)?;
    } else {
        // A real run's header says the unheld changes were written; a dry run's says they
        // are only planned.
        if report.dry_run {
            print!("{}", report.plan);
        } else {
            print!("{}", report.plan.of_run());
        }
        println!();
        print_summary(&report);
    }
    if !report.failed_customers.is_empty() || report.writes_stopped.is_some() {
        anyhow::bail!(
            "the sync did not finish for every customer (see above); fix what the messages say \
             and run `hyalto sync` again: it picks up where this run stopped"
        );
    }
    if !uncollected.is_empty() {
        anyhow::bail!(
            "could not collect {}, so its customers were skipped (see above); fix what the \
             messages say and run `hyalto sync --collect` again",
            uncollected.join(", ")
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
        change_guard: ChangeGuard {
            factor: config.change_hold_factor,
            min_units: config.change_hold_min_units,
        },
        ceilings: config.ceilings,
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
        confirm_changes: choices.confirm_changes.clone(),
        adopt_unowned: choices.adopt_unowned,
        take_over: choices.take_over.clone(),
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

    // A lease left by a killed process of this host is taken over once (see hyalto-app).
    match hyalto_app::sync::run(&engine, &options, &progress).await {
        Ok(ran) => {
            if let Some(holder) = ran.freed_stale_lease {
                eprintln!(
                    "note: the sync lease was held by {holder}, a process of this host that no \
                     longer runs (killed before it finished); it was taken over"
                );
            }
            Ok(ran.report)
        }
        Err(RunError::Busy { holder, lease }) => {
            Err(busy_message(&holder, lease.as_ref(), Utc::now()))
        }
        Err(RunError::Sync(error)) => {
            Err(anyhow::Error::new(error).context("the sync could not run"))
        }
        Err(RunError::Store(error)) => {
            Err(anyhow::Error::new(error).context("could not read or free the sync lease"))
        }
    }
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
    hyalto_app::sync::planned_operations(report)
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
        println!("{}", report.counts_sentence());
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
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }
}
