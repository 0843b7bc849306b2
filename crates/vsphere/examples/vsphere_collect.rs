//! Collects once from a vCenter and prints what was found: a way to try the collector, and to
//! measure its time and memory, before the `hyalto` command line offers it.
//!
//! ```text
//! VSPHERE_PASSWORD=… cargo run --release -p hyalto-vsphere --example vsphere_collect -- \
//!     https://vc.example.com/sdk USER [--insecure] [--page-size N]
//! ```

use std::time::Instant;

use hyalto_domain::SourceId;
use hyalto_vsphere::{VsphereSource, collect};
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `RUST_LOG=hyalto_vsphere=debug` shows every call with its duration.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    let mut args = std::env::args().skip(1);
    let usage = "usage: vsphere_collect URL USER [--insecure] [--page-size N] \
                 (the password comes from VSPHERE_PASSWORD)";
    let url = args.next().ok_or(usage)?;
    let user = args.next().ok_or(usage)?;
    let password = std::env::var("VSPHERE_PASSWORD")
        .map_err(|_| "set VSPHERE_PASSWORD to the vCenter user's password")?;
    let mut source = VsphereSource::new(
        SourceId::new("vcenter")?,
        url,
        user,
        SecretString::from(password),
    );
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--insecure" => source.tls.insecure = true,
            "--page-size" => source.page_size = args.next().ok_or(usage)?.parse()?,
            _ => return Err(usage.into()),
        }
    }

    let started = Instant::now();
    let collection = collect(&source).await?;
    let elapsed = started.elapsed();

    let report = &collection.report;
    println!(
        "{} VMs listed in {} pages in {:.2} s ({} billed, {} unassigned, {} templates, {} \
         session renewals)",
        report.vms_listed,
        report.pages,
        elapsed.as_secs_f64(),
        report.vms_assigned,
        report.unassigned.len(),
        report.templates_skipped.len(),
        report.session_renewals
    );
    for failure in &report.failures {
        println!("failure: {failure}");
    }
    println!(
        "snapshot complete: {}",
        collection.snapshot.completeness.is_complete()
    );
    Ok(())
}
