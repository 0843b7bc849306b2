//! `hyalto bench vsphere`: hyalto's vCenter collector against govmomi's own client, on the
//! same simulator in the same run.
//!
//! The vCenter simulator launcher (`tools/vcsim`) is started with N VMs and server-side pages
//! of 500; an ownership rule gives every VM to one customer. Then, one after the other, two
//! listings of the same properties are timed: `hyalto inventory collect vsphere --dry-run`
//! (hyalto's collector, validation included, nothing recorded) and `vcsim-list` (a short
//! govmomi program from `tools/vcsim/list`). Each runs as the only child of a fresh `hyalto
//! bench vsphere --measure` process, which reads the child's peak resident memory from
//! `getrusage(RUSAGE_CHILDREN)` once it has been waited for, so both are measured the same way
//! and neither is charged the other's memory.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// The credentials the simulator is started with; it is a local throwaway.
const USERNAME: &str = "bench@vsphere.local";
const PASSWORD_VAR: &str = "HYALTO_BENCH_VSPHERE_PASSWORD";
const PASSWORD: &str = "bench-password";

/// Compare hyalto's vCenter collector with govmomi's client on the simulator.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Virtual machines in the simulated vCenter.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    vms: u32,

    /// Objects per page, asked for by both clients and served by the simulator.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    page_size: u32,

    /// The simulator launcher. Default: $HYALTO_VCSIM, else target/vcsim/vcsim (built by
    /// tools/vcsim/build.sh).
    #[arg(long, value_name = "PATH")]
    launcher: Option<PathBuf>,

    /// The govmomi listing program. Default: vcsim-list next to the launcher.
    #[arg(long, value_name = "PATH")]
    lister: Option<PathBuf>,

    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,

    /// Run the command after `--` as a measured child and print its figures as JSON (used by
    /// the benchmark itself).
    #[arg(long, hide = true)]
    measure: bool,

    /// The measured command.
    #[arg(last = true, hide = true)]
    command: Vec<String>,
}

/// What one measured child took.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Measured {
    wall_ms: u64,
    peak_rss_kib: u64,
    success: bool,
    stdout: String,
    stderr: String,
}

/// The figures of one client.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Figures {
    client: &'static str,
    wall_ms: u64,
    peak_rss_mib: f64,
    vms: u64,
}

/// The whole run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    vms: u32,
    page_size: u32,
    simulator_start_ms: u64,
    hyalto: Figures,
    govmomi: Figures,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.measure {
        let measured = tokio::task::spawn_blocking(move || measure(&args.command))
            .await
            .context("the measured child could not be waited for")??;
        println!("{}", serde_json::to_string(&measured)?);
        return Ok(());
    }

    let launcher = match &args.launcher {
        Some(path) => path.clone(),
        None => std::env::var_os("HYALTO_VCSIM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/vcsim/vcsim")),
    };
    let lister = args.lister.clone().unwrap_or_else(|| {
        launcher
            .parent()
            .unwrap_or(Path::new("."))
            .join("vcsim-list")
    });
    for (path, what) in [
        (&launcher, "simulator launcher"),
        (&lister, "govmomi listing program"),
    ] {
        if !path.is_file() {
            bail!(
                "the {what} {} is missing; build it with tools/vcsim/build.sh (Debian's \
                 golang-go and golang-github-vmware-govmomi-dev), or point --launcher and \
                 --lister at it",
                path.display()
            );
        }
    }

    let json = args.json;
    let report = tokio::task::spawn_blocking(move || bench(&args, &launcher, &lister))
        .await
        .context("the benchmark stopped")??;
    print_report(&report, json)
}

fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        return super::output::print_json(report);
    }
    println!(
        "vCenter simulator with {} VMs (pages of {}), started in {:.1} s.",
        report.vms,
        report.page_size,
        report.simulator_start_ms as f64 / 1000.0
    );
    println!(
        "{:<34} {:>10} {:>14} {:>8}",
        "client", "wall time", "peak memory", "VMs"
    );
    for figures in [&report.hyalto, &report.govmomi] {
        println!(
            "{:<34} {:>8.2} s {:>10.1} MiB {:>8}",
            figures.client,
            figures.wall_ms as f64 / 1000.0,
            figures.peak_rss_mib,
            figures.vms
        );
    }
    Ok(())
}

/// Starts the simulator, runs both clients against it one after the other, and stops it.
fn bench(args: &Args, launcher: &Path, lister: &Path) -> anyhow::Result<Report> {
    let started = Instant::now();
    let simulator = Simulator::start(launcher, args.vms, args.page_size)?;
    let simulator_start_ms = millis(started.elapsed());
    let hyalto_binary = std::env::current_exe().context("cannot find the hyalto binary")?;
    let data_dir = tempfile::tempdir().context("could not create a temporary data dir")?;
    let page_size = args.page_size.to_string();

    // Every VM is given to one customer, as in a vCenter whose VMs are all billed: the rules
    // are applied and each VM becomes a service of the snapshot.
    let rules = data_dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\nfolder = \"/DC0/vm\"\ncustomer = \"bench\"\n",
    )
    .context("could not write the benchmark's ownership rules")?;

    // hyalto's collector: a dry run collects and validates the snapshot and records nothing.
    let mut hyalto = measured_command(&hyalto_binary);
    hyalto
        .args([
            "--",
            &hyalto_binary.to_string_lossy(),
            "inventory",
            "collect",
            "vsphere",
            "--url",
            &simulator.url,
            "--username",
            USERNAME,
            "--password-env",
            PASSWORD_VAR,
            "--rules",
            &rules.to_string_lossy(),
            "--page-size",
            &page_size,
            "--dry-run",
            "--json",
        ])
        .env("HYALTO_DATA_DIR", data_dir.path());
    let hyalto = run_measured(hyalto, "hyalto's collector")?;
    let summary: serde_json::Value = serde_json::from_str(&hyalto.stdout)
        .with_context(|| format!("hyalto's collector printed no summary: {}", hyalto.stdout))?;
    let hyalto_vms = summary["vmsListed"].as_u64().unwrap_or(0);

    // govmomi's client, listing the same properties.
    let mut govmomi = measured_command(&hyalto_binary);
    govmomi.args([
        "--",
        &lister.to_string_lossy(),
        "-url",
        &simulator.url,
        "-username",
        USERNAME,
        "-password-env",
        PASSWORD_VAR,
        "-page-size",
        &page_size,
    ]);
    let govmomi = run_measured(govmomi, "govmomi's listing")?;
    let govmomi_vms = govmomi
        .stdout
        .split_whitespace()
        .find_map(|field| field.strip_prefix("vms="))
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);

    drop(simulator);
    if hyalto_vms != u64::from(args.vms) || govmomi_vms != u64::from(args.vms) {
        bail!(
            "the clients did not list every VM (hyalto {hyalto_vms}, govmomi {govmomi_vms}, of \
             {}); the figures would not compare like with like",
            args.vms
        );
    }

    let figures = |client, measured: &Measured, vms| Figures {
        client,
        wall_ms: measured.wall_ms,
        peak_rss_mib: measured.peak_rss_kib as f64 / 1024.0,
        vms,
    };
    Ok(Report {
        vms: args.vms,
        page_size: args.page_size,
        simulator_start_ms,
        hyalto: figures("hyalto inventory collect vsphere", &hyalto, hyalto_vms),
        govmomi: figures("govmomi (tools/vcsim/list)", &govmomi, govmomi_vms),
    })
}

/// `hyalto bench vsphere --measure`, the fresh process that measures one child.
fn measured_command(hyalto: &Path) -> Command {
    let mut command = Command::new(hyalto);
    command
        .args(["bench", "vsphere", "--measure"])
        .env(PASSWORD_VAR, PASSWORD)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run_measured(mut command: Command, what: &str) -> anyhow::Result<Measured> {
    let output = command
        .output()
        .with_context(|| format!("could not start the measurement of {what}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let measured: Measured = serde_json::from_str(text.trim()).with_context(|| {
        format!(
            "the measurement of {what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    if !measured.success {
        bail!("{what} failed: {}{}", measured.stderr, measured.stdout);
    }
    Ok(measured)
}

/// Runs `command` as this process's only child and measures its wall time and peak memory.
fn measure(command: &[String]) -> anyhow::Result<Measured> {
    let (program, args) = command
        .split_first()
        .context("give the command to measure after --")?;

    let started = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {program}"))?;
    let wall = started.elapsed();

    // The child has been waited for, and it is the only one this process ever had, so the
    // children's peak is its peak. Linux reports it in KiB.
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .context("getrusage failed")?;
    Ok(Measured {
        wall_ms: millis(wall),
        peak_rss_kib: u64::try_from(usage.max_rss()).unwrap_or(0),
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The running simulator; dropping it stops it (its standard input closes).
struct Simulator {
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
}

impl Simulator {
    fn start(launcher: &Path, vms: u32, page_size: u32) -> anyhow::Result<Simulator> {
        let mut child = Command::new(launcher)
            .args([
                "-vm",
                &vms.to_string(),
                "-page-size",
                &page_size.to_string(),
                "-username",
                USERNAME,
                "-password",
                PASSWORD,
                "-watch-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start {}", launcher.display()))?;

        let mut line = String::new();
        let stdout = child.stdout.take().context("the launcher's output")?;
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("could not read the launcher's address")?;
        if line.trim().is_empty() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            bail!("the simulator did not start: {stderr}");
        }

        // The launcher logs to standard error; it must not fill the pipe.
        if let Some(mut pipe) = child.stderr.take() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            });
        }
        Ok(Simulator {
            stdin: child.stdin.take(),
            child,
            url: line.trim().to_owned(),
        })
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
