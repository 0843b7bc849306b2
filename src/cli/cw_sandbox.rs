//! `hyalto cw-sandbox`: serve the ConnectWise sandbox until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use hyalto_cw_sandbox::http::config as defaults;
use hyalto_cw_sandbox::store::Denial;
use hyalto_cw_sandbox::{FaultConfig, SandboxConfig, Seed};

/// Serve a local ConnectWise Manage (REST API 3.0) sandbox.
///
/// It answers `/login/companyinfo/{id}` and the API under `/{codebase}apis/3.0` (and
/// `/v4_6_release/apis/3.0`) like ConnectWise does, with the bundled demo data by default.
/// Control endpoints for faults and statistics live under `/_sandbox/`; see
/// docs/cw-sandbox.md.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address and port to listen on; port 0 picks a free port.
    #[arg(long, default_value_t = defaults::DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Records to start with: `demo` (bundled), `empty`, or the path of a seed file.
    #[arg(long, default_value = "demo", value_parser = parse_seed)]
    seed: Seed,

    /// Login company id that the sandbox accepts.
    #[arg(long, default_value = defaults::DEFAULT_COMPANY_ID)]
    company_id: String,

    /// Public half of the API key that the sandbox accepts.
    #[arg(long, default_value = defaults::DEFAULT_PUBLIC_KEY)]
    public_key: String,

    /// Private half of the API key that the sandbox accepts.
    #[arg(
        long,
        env = "HYALTO_SANDBOX_PRIVATE_KEY",
        default_value = defaults::DEFAULT_PRIVATE_KEY,
        hide_env_values = true
    )]
    private_key: String,

    /// The only `clientId` header value accepted; without it any non-empty value is accepted
    /// (the header itself is always required).
    #[arg(long)]
    client_id: Option<String>,

    /// Codebase reported by /login/companyinfo, with its trailing slash.
    #[arg(long, default_value = defaults::DEFAULT_CODEBASE, value_parser = parse_codebase)]
    codebase: String,

    /// Serve HTTPS with a generated self-signed certificate (its path is printed).
    #[arg(long)]
    tls: bool,

    /// Folder for the generated certificate; a temporary folder by default.
    #[arg(long, requires = "tls")]
    tls_dir: Option<PathBuf>,

    /// SQLite file that keeps the records across restarts; in memory when omitted.
    #[arg(long)]
    state: Option<PathBuf>,

    /// Fixed delay before every API answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,

    /// Random extra delay of up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,

    /// Share (0 to 1) of API requests answered 429 with Retry-After.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    rate_limit_share: f64,

    /// Share (0 to 1) of API requests answered with a 5xx status.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    server_error_share: f64,

    /// Share (0 to 1) of POST and PATCH requests that are saved and then answered by closing
    /// the connection (commit-then-drop).
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    drop_share: f64,

    /// A JSON file with a whole fault configuration (the body of PUT /_sandbox/faults);
    /// the fault flags above are applied on top of it.
    #[arg(long)]
    faults: Option<PathBuf>,

    /// Deny a verb on a route to the API member, as a security role would: "POST
    /// /finance/agreements". Repeat for several.
    #[arg(long = "deny", value_parser = parse_denial)]
    deny: Vec<Denial>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = config_from(args)?;
    let signals = StopSignals::listen()?;

    let sandbox = hyalto_cw_sandbox::start(config)
        .await
        .context("could not start the ConnectWise sandbox")?;
    print_banner(&sandbox);

    signals.wait().await;
    eprintln!("stopping the sandbox");
    sandbox.shutdown().await;
    Ok(())
}

/// The signals that stop the sandbox gracefully: Ctrl-C (SIGINT) and, on Unix, SIGTERM, which
/// service managers and `docker stop` send. They are listened for from creation on, so that a
/// signal sent while the sandbox starts is not lost.
#[cfg(unix)]
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};

        Ok(Self {
            interrupt: signal(SignalKind::interrupt())
                .context("could not listen for Ctrl-C (SIGINT)")?,
            terminate: signal(SignalKind::terminate()).context("could not listen for SIGTERM")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Other platforms have Ctrl-C only.
#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn listen() -> anyhow::Result<Self> {
        Ok(Self)
    }

    async fn wait(self) {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "could not wait for Ctrl-C; stopping now");
        }
    }
}

fn config_from(args: Args) -> anyhow::Result<SandboxConfig> {
    let mut faults = match &args.faults {
        Some(path) => {
            let text = std::fs::read(path)
                .with_context(|| format!("could not read the fault file {}", path.display()))?;
            FaultConfig::from_json(&text).map_err(|error| {
                anyhow::anyhow!(
                    "{} is not a valid fault configuration: {error} (see docs/cw-sandbox.md)",
                    path.display()
                )
            })?
        }
        None => FaultConfig::default(),
    };
    if args.latency_ms > 0 {
        faults.latency_ms = args.latency_ms;
    }
    if args.jitter_ms > 0 {
        faults.jitter_ms = args.jitter_ms;
    }
    if args.rate_limit_share > 0.0 {
        faults.rate_limit_share = args.rate_limit_share;
    }
    if args.server_error_share > 0.0 {
        faults.server_error_share = args.server_error_share;
    }
    if args.drop_share > 0.0 {
        faults.drop_share = args.drop_share;
    }

    Ok(SandboxConfig {
        listen: args.listen,
        seed: args.seed,
        company_id: args.company_id,
        public_key: args.public_key,
        private_key: args.private_key,
        client_id: args.client_id,
        codebase: args.codebase,
        tls: args.tls,
        tls_dir: args.tls_dir,
        state: args.state,
        faults,
        deny: args.deny,
    })
}

/// Prints where the sandbox listens and the credentials that open it. These are sandbox
/// credentials, chosen on the command line, so printing them is the point.
fn print_banner(sandbox: &hyalto_cw_sandbox::RunningSandbox) {
    let config = sandbox.config();
    println!("ConnectWise sandbox listening on {}", sandbox.site_url());
    println!("  API base:     {}", sandbox.api_base());
    println!("  Company id:   {}", config.company_id);
    println!("  Public key:   {}", config.public_key);
    println!("  Private key:  {}", config.private_key);
    match &config.client_id {
        Some(client_id) => println!("  Client id:    {client_id}"),
        None => println!("  Client id:    any non-empty value"),
    }
    if let Some(cert) = sandbox.cert_path() {
        println!(
            "  Certificate:  {} (self-signed: have your client trust this file)",
            cert.display()
        );
    }
    match &config.state {
        Some(path) if sandbox.resumed_from_state() => {
            println!("  State file:   {}", path.display());
            println!(
                "  Notice:       the state file already held records, so --seed was not applied \
                 (delete the file to start again from the seed)"
            );
        }
        Some(path) => println!("  State file:   {}", path.display()),
        None => println!("  State:        in memory (lost on exit; use --state FILE to keep it)"),
    }
    println!(
        "  Control:      {}/_sandbox/stats, /_sandbox/faults",
        sandbox.site_url()
    );
    println!("Press Ctrl-C (or send SIGTERM) to stop.");
}

fn parse_seed(text: &str) -> Result<Seed, String> {
    match text {
        "demo" => Ok(Seed::Demo),
        "empty" => Ok(Seed::Empty),
        path => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(Seed::File(path))
            } else {
                Err(format!(
                    "expected `demo`, `empty` or the path of a seed file; {} is not a file",
                    path.display()
                ))
            }
        }
    }
}

fn parse_codebase(text: &str) -> Result<String, String> {
    defaults::validate_codebase(text)?;
    Ok(text.to_owned())
}

fn parse_share(text: &str) -> Result<f64, String> {
    let share: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number; give a share from 0 to 1, like 0.05"))?;
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!(
            "{share} is outside 0 to 1; give a share like 0.05 for 5%"
        ))
    }
}

fn parse_denial(text: &str) -> Result<Denial, String> {
    let Some((method, path)) = text.trim().split_once(char::is_whitespace) else {
        return Err(format!(
            "{text:?} should be a verb and a route, like \"POST /finance/agreements\""
        ));
    };
    let path = path.trim();
    if !path.starts_with('/') {
        return Err(format!("the route in {text:?} must start with '/'"));
    }
    Ok(Denial {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_is_a_verb_and_a_route() {
        let denial = parse_denial("post /finance/agreements").unwrap();

        assert_eq!(denial.method, "POST");
        assert_eq!(denial.path, "/finance/agreements");
        assert!(parse_denial("POST").is_err());
        assert!(parse_denial("POST finance").is_err());
    }

    #[test]
    fn a_share_must_lie_between_zero_and_one() {
        assert_eq!(parse_share("0.25").unwrap(), 0.25);
        assert!(parse_share("1.5").is_err());
        assert!(parse_share("-0.1").is_err());
        assert!(parse_share("often").is_err());
    }

    // Before SIGTERM was handled, the signal killed the whole test process, so this test
    // could not pass.
    #[cfg(unix)]
    #[tokio::test]
    async fn sigterm_stops_the_sandbox_as_ctrl_c_does() {
        let signals = StopSignals::listen().unwrap();

        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        let stopped =
            tokio::time::timeout(std::time::Duration::from_secs(10), signals.wait()).await;

        assert!(sent.success());
        assert!(stopped.is_ok(), "SIGTERM did not end the wait");
    }

    #[test]
    fn a_seed_is_demo_empty_or_an_existing_file() {
        assert_eq!(parse_seed("demo").unwrap(), Seed::Demo);
        assert_eq!(parse_seed("empty").unwrap(), Seed::Empty);
        assert!(parse_seed("/no/such/seed.json").is_err());
    }
}
