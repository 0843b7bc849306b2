//! `hyalto demo`: the whole flow against a sandbox started in this process.
//!
//! It needs no network and no set-up: a ConnectWise sandbox with the bundled demo records is
//! started on a free local port, a temporary data dir is used unless `--data-dir` names one,
//! and the bundled inventory (demo/day1.json, demo/day2.json) is compiled into the binary.
//! The snapshots' `takenAt` are moved to yesterday and now, so dates read as they would in a
//! real first week.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::{Duration, Utc};
use hyalto_cw_sandbox::{RunningSandbox, SandboxConfig};
use hyalto_domain::parse_snapshot;
use secrecy::SecretString;

use super::connectwise::configure::{ConfigureArgs, configure};
use super::connectwise::map::{MapArgs, map};
use super::connectwise::products::{DefaultsArgs, apply_defaults};
use super::context::Context;
use super::inventory;
use super::sync::{SyncChoices, print_summary, sync};
use hyalto_store::{DATABASE_FILE_NAME, DriftPolicy, QuantityChangeMode};

/// The first day's inventory: four customers, one of them left unmapped.
const DAY1: &str = include_str!("../../demo/day1.json");

/// The second day: a VM resized, a VM deleted, an edge gateway added.
const DAY2: &str = include_str!("../../demo/day2.json");

/// The client id the demo sends; the sandbox accepts any.
const DEMO_CLIENT_ID: &str = "hyalto-demo";

/// Run the whole flow against a built-in ConnectWise sandbox.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the sandbox running at the end and open the web UI on the demo data (a free port,
    /// a demo admin with a printed password), until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
}

/// A customer mapping the demo makes.
struct DemoMapping {
    customer: &'static str,
    company: i64,
    agreement: Option<i64>,
    create: Option<(&'static str, i64)>,
}

/// The demo's mappings: two existing master agreements and one created by hyalto. Globex stays
/// unmapped, so the demo shows what happens to a customer nobody mapped.
const MAPPINGS: [DemoMapping; 3] = [
    DemoMapping {
        customer: "urn:vcloud:org:obrien",
        company: 1,
        agreement: Some(1),
        create: None,
    },
    DemoMapping {
        customer: "urn:vcloud:org:mueller",
        company: 3,
        agreement: Some(3),
        create: None,
    },
    DemoMapping {
        customer: "urn:vcloud:org:odegaard",
        company: 10,
        agreement: None,
        create: Some(("Ødegaard Café & Bakeri – Private Cloud", 1)),
    },
];

pub async fn run(data_dir: Option<PathBuf>, args: Args) -> anyhow::Result<()> {
    // The demo stores its own connection, inventory and mappings, which would replace a real
    // installation's; a data dir that already holds a store is refused before anything starts.
    if let Some(dir) = &data_dir {
        let database = dir.join(DATABASE_FILE_NAME);
        if database.exists() {
            bail!(
                "the data dir {} already holds hyalto's store ({}); the demo would replace its \
                 ConnectWise connection, inventory and mappings. Run the demo without \
                 --data-dir (or HYALTO_DATA_DIR) for a temporary one, or give it a new, empty \
                 directory",
                dir.display(),
                database.display()
            );
        }
    }

    // A sandbox on a free port, and a data dir of our own unless the user chose one.
    let sandbox = hyalto_cw_sandbox::start(SandboxConfig {
        listen: "127.0.0.1:0".parse().expect("a valid socket address"),
        ..SandboxConfig::default()
    })
    .await
    .context("could not start the built-in ConnectWise sandbox")?;
    let (dir, temporary) = match data_dir {
        Some(dir) => (dir, None),
        None => {
            let temporary = tempfile::tempdir().context("could not create a temporary data dir")?;
            (temporary.path().to_owned(), Some(temporary))
        }
    };
    let context = Context::new(Some(dir.clone()))?;

    heading(&format!(
        "hyalto demo: ConnectWise sandbox at {}, data dir {}",
        sandbox.site_url(),
        dir.display()
    ));
    let result = run_steps(&context, &sandbox).await;

    if args.keep_running && result.is_ok() {
        let server = serve_demo(&context).await?;
        print_keep_running(&sandbox, &dir, temporary.is_some());
        println!("  Web UI:      {}", server.0.url());
        println!("  Log in as:   {DEMO_ADMIN} / {}", server.1);
        tokio::signal::ctrl_c()
            .await
            .context("could not wait for Ctrl-C")?;
        server
            .0
            .shutdown()
            .await
            .context("the web UI did not stop cleanly")?;
    }
    sandbox.shutdown().await;
    result
}

/// The demo admin's username.
const DEMO_ADMIN: &str = "demo";

/// Starts the web UI on the demo's data dir on a free loopback port, with a demo admin whose
/// random password is returned for printing. No schedule runs: the demo's syncs are done.
async fn serve_demo(context: &Context) -> anyhow::Result<(hyalto_server::RunningServer, String)> {
    use hyalto_store::Store as _;

    let store = context.store().await?.clone();
    let password = hyalto_server::auth::new_token()[..20].to_owned();
    let hashed = password.clone();
    let password_hash =
        tokio::task::spawn_blocking(move || hyalto_server::auth::hash_password(&hashed))
            .await
            .context("could not hash the demo password")?
            .map_err(|error| anyhow::anyhow!("could not hash the demo password: {error}"))?;
    let existing = store
        .list_users()
        .await
        .context("could not read the users")?;
    if !existing.iter().any(|user| user.username == DEMO_ADMIN) {
        store
            .create_user(&hyalto_store::NewUser {
                username: DEMO_ADMIN.to_owned(),
                password_hash,
                is_admin: true,
                created_at: Utc::now(),
            })
            .await
            .context("could not add the demo admin")?;
    } else {
        anyhow::bail!(
            "the data dir already has a user {DEMO_ADMIN:?}; run the demo on a fresh data dir \
             (leave out --data-dir) to get a printed login"
        );
    }

    let mut config = hyalto_server::ServerConfig::new("127.0.0.1:0".parse().expect("an address"));
    config.sync = super::sync::sync_config(context);
    let server = hyalto_server::start(store, &config, std::future::pending())
        .await
        .context("could not start the web UI")?;
    Ok((server, password))
}

async fn run_steps(context: &Context, sandbox: &RunningSandbox) -> anyhow::Result<()> {
    let now = Utc::now();

    heading("1. Connect to ConnectWise");
    let connection = ConfigureArgs {
        url: sandbox.site_url(),
        company_id: sandbox.config().company_id.clone(),
        public_key: sandbox.config().public_key.clone(),
        private_key_env: None,
        private_key_file: None,
        client_id: Some(DEMO_CLIENT_ID.to_owned()),
        ca_file: None,
        insecure: false,
        api_version: hyalto_connectwise::DEFAULT_API_VERSION.to_owned(),
        skip_write_check: false,
    };
    let private_key = SecretString::from(sandbox.config().private_key.clone());
    configure(context, &connection, private_key).await?;

    heading("2. Import day 1 inventory");
    import(context, DAY1, "demo/day1.json", now - Duration::days(1)).await?;

    heading("3. Map meters to catalog items (creating the missing ones)");
    let defaults = DefaultsArgs {
        create_missing: true,
        ..DefaultsArgs::default()
    };
    apply_defaults(context, &defaults).await?;

    heading("4. Map customers to companies and master agreements (Globex stays unmapped)");
    for mapping in &MAPPINGS {
        map(
            context,
            MapArgs {
                customer: mapping.customer.to_owned(),
                company: mapping.company,
                agreement: mapping.agreement,
                create_agreement: mapping.create.map(|(name, _)| name.to_owned()),
                agreement_type: mapping.create.map(|(_, type_id)| type_id),
                quantity_changes: Some(QuantityChangeMode::InPlace),
                drift: Some(DriftPolicy::Overwrite),
                recreate_deleted: false,
                no_recreate_deleted: true,
                child_type: None,
                no_child_type: true,
            },
        )
        .await?;
    }

    heading("5. First sync");
    let first = sync(context, &SyncChoices::default(), true).await?;
    print!("{}", first.plan);
    print_summary(&first);

    heading(
        "6. Import day 2: obrien-web-01 resized, mueller-app-02 deleted, an edge gateway added",
    );
    import(context, DAY2, "demo/day2.json", now).await?;

    heading("7. Second sync");
    let second = sync(context, &SyncChoices::default(), true).await?;
    print!("{}", second.plan);
    print_summary(&second);

    heading("Summary");
    println!(
        "Child agreements: {} created, {} ended.",
        first.created_agreements + second.created_agreements,
        first.ended + second.ended
    );
    println!(
        "Additions: {} created, {} updated, {} cancelled.",
        first.created_additions + second.created_additions,
        first.updated + second.updated,
        first.cancelled + second.cancelled
    );
    let calls = sandbox.stats(false).by_method;
    let total: u64 = calls.values().sum();
    let listed: Vec<String> = calls
        .iter()
        .map(|(verb, count)| format!("{verb} {count}"))
        .collect();
    println!("ConnectWise calls: {total} ({}).", listed.join(", "));
    println!("Nothing was deleted: gone services are cancelled and ended, never removed.");

    let failed = first.failed_customers.len() + second.failed_customers.len();
    if failed > 0 {
        anyhow::bail!("{failed} customer sync(s) failed in the demo; see the messages above");
    }
    Ok(())
}

/// Imports a bundled snapshot as if it were taken at `taken_at`.
async fn import(
    context: &Context,
    text: &str,
    name: &str,
    taken_at: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let file = Path::new(name);
    let mut snapshot = parse_snapshot(text, file)
        .map_err(|error| anyhow::anyhow!("the bundled inventory is broken: {error}"))?;
    snapshot.taken_at = taken_at;

    let store = context.store().await?;
    let report = inventory::apply(store, &snapshot, file).await?;
    let gone = inventory::gone_names(store, &report).await;
    inventory::print_report(file, &snapshot, &report, &gone);
    Ok(())
}

fn heading(text: &str) {
    println!();
    println!("== {text}");
}

fn print_keep_running(sandbox: &RunningSandbox, dir: &Path, temporary: bool) {
    heading("The sandbox keeps running; press Ctrl-C to stop");
    println!("  Site URL:    {}", sandbox.site_url());
    println!("  Company id:  {}", sandbox.config().company_id);
    // These are the sandbox's own throwaway credentials; showing them is the point.
    println!("  Public key:  {}", sandbox.config().public_key);
    println!("  Private key: {}", sandbox.config().private_key);
    println!("  Statistics:  {}/_sandbox/stats", sandbox.site_url());
    println!(
        "  Try:         hyalto --data-dir {} inventory show",
        dir.display()
    );
    if temporary {
        println!("  The data dir is temporary and is removed when the demo stops.");
    }
}
