//! `hyalto secret status` and `hyalto secret rotate`: the key-encryption key that seals the
//! stored ConnectWise private key.
//!
//! Neither command ever prints a key. `rotate` re-seals every sealed record under a new key in
//! one store transaction; with the key file, the old file stays as `secret.key.old` until the
//! re-seal is committed, so a rotation cut short leaves every record readable and the next
//! `rotate` finishes it before starting its own.

use anyhow::{Context as _, bail};
use hyalto_store::secret::{finish_key_file_rotation, rotate_key_file};
use hyalto_store::{
    KeyEncryptionKey, KeySource, OLD_KEY_FILE_NAME, ResealReport, SECRET_KEY_ENV, SealState,
    SealedSecret, Store as _,
};

use super::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show where the key-encryption key comes from and which stored records it seals (never
    /// the key).
    Status,

    /// Re-seal every sealed record under a new key-encryption key.
    Rotate(RotateArgs),
}

/// Re-seal every sealed record under a new key-encryption key.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The environment variable holding the new key (base64 of 32 bytes, such as the output of
    /// `head -c 32 /dev/urandom | base64`). Without it, a new key file replaces secret.key.
    #[arg(long, value_name = "VAR")]
    pub new_key_env: Option<String>,
}

pub async fn run(context: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Status => status(context).await,
        Command::Rotate(args) => rotate(context, &args).await,
    }
}

async fn status(context: &Context) -> anyhow::Result<()> {
    let store = context.store().await?;
    let key = load_key(context)?;
    let secrets = store
        .sealed_secrets()
        .await
        .context("could not read the sealed records")?;

    println!("Key-encryption key: {}.", key.source());
    if let Some(previous) = key.previous_source() {
        println!(
            "A key rotation was cut short: {previous} is still there and opens what the key in \
             use does not. Run `hyalto secret rotate` to finish it."
        );
    }
    if secrets.is_empty() {
        println!("Sealed records: none (no ConnectWise connection is stored).");
    }
    for secret in &secrets {
        println!("Sealed record: {} {}.", secret.what, describe(secret.state));
    }

    if let Some(blocked) = unreadable(&secrets) {
        bail!(
            "the stored {} cannot be opened with {}: restore the key that sealed it (the {} \
             environment variable or the key file in the data dir), or store it again with \
             `hyalto connectwise configure`",
            blocked.what,
            key.source(),
            SECRET_KEY_ENV
        );
    }
    Ok(())
}

async fn rotate(context: &Context, args: &RotateArgs) -> anyhow::Result<()> {
    let store = context.store().await?;
    let current = load_key(context)?;

    // Every record must open before anything moves, or the rotation would seal what it cannot
    // read and lose it.
    let secrets = store
        .sealed_secrets()
        .await
        .context("could not read the sealed records")?;
    if let Some(blocked) = unreadable(&secrets) {
        bail!(
            "cannot rotate: the stored {} does not open with {}. Restore the key that sealed it \
             first (or store it again with `hyalto connectwise configure`); nothing was changed",
            blocked.what,
            current.source()
        );
    }

    // A rotation cut short is finished first, under the key file it had already put in place.
    if current.previous_source().is_some() {
        let report = reseal(store, &current).await?;
        finish_key_file_rotation(&context.data_dir)
            .context("could not remove the old key file of the unfinished rotation")?;
        println!(
            "Finished a key rotation that was cut short: {} under {}; removed {}.",
            records(&report),
            current.source(),
            OLD_KEY_FILE_NAME
        );
    }

    match &args.new_key_env {
        Some(variable) => rotate_to_variable(context, store, &current, variable).await,
        None => rotate_key_file_in_place(context, store, &current).await,
    }
}

/// Re-seals under the key in `variable`; the user then moves that key into `HYALTO_SECRET_KEY`.
async fn rotate_to_variable(
    context: &Context,
    store: &hyalto_store::SqliteStore,
    current: &KeyEncryptionKey,
    variable: &str,
) -> anyhow::Result<()> {
    let new_key = KeyEncryptionKey::from_variable(variable).with_context(|| {
        format!(
            "--new-key-env {variable}: put the new key in that variable first, such as with \
             `export {variable}=$(head -c 32 /dev/urandom | base64)`"
        )
    })?;
    if new_key.same_key_as(current) {
        bail!(
            "the key in {variable} is the key already in use ({}); give a new one, such as \
             with `export {variable}=$(head -c 32 /dev/urandom | base64)`",
            current.source()
        );
    }

    let report = reseal(store, &new_key).await?;

    println!(
        "Re-sealed {} under the key in {variable}.",
        records(&report)
    );
    println!(
        "From now on hyalto needs that key: set {SECRET_KEY_ENV} to the value of {variable} \
         wherever hyalto runs against {}; the old key no longer opens the stored records.",
        context.data_dir.display()
    );
    if let KeySource::File(path) = current.source() {
        println!(
            "The key file {} is no longer used; delete it once hyalto works with the new \
             {SECRET_KEY_ENV}.",
            path.display()
        );
    }
    Ok(())
}

/// Replaces the key file with a new one and re-seals under it.
async fn rotate_key_file_in_place(
    context: &Context,
    store: &hyalto_store::SqliteStore,
    current: &KeyEncryptionKey,
) -> anyhow::Result<()> {
    if *current.source() == KeySource::Environment {
        bail!(
            "the key in use comes from {SECRET_KEY_ENV}, so there is no key file to replace: \
             put a new key in another variable and pass --new-key-env VAR (such as `export \
             NEW_KEY=$(head -c 32 /dev/urandom | base64)` and --new-key-env NEW_KEY)"
        );
    }

    let new_key = rotate_key_file(&context.data_dir).context(
        "could not put a new key file in place; the stored records are still sealed under the \
         old key",
    )?;
    let report = reseal(store, &new_key).await.with_context(|| {
        format!(
            "the new key file is in place, the old one kept as {OLD_KEY_FILE_NAME}; hyalto \
             still reads everything, and `hyalto secret rotate` finishes the rotation"
        )
    })?;
    finish_key_file_rotation(&context.data_dir).with_context(|| {
        format!(
            "every record is sealed under the new key, but {OLD_KEY_FILE_NAME} could not be \
             removed; delete it by hand"
        )
    })?;

    println!(
        "Put a new key in {} and re-sealed {} under it; the old key file was removed.",
        new_key.source(),
        records(&report)
    );
    Ok(())
}

/// Re-seals every sealed record under `key`, in one transaction.
async fn reseal(
    store: &hyalto_store::SqliteStore,
    key: &KeyEncryptionKey,
) -> anyhow::Result<ResealReport> {
    store
        .reseal_secrets(key)
        .await
        .context("could not re-seal the stored records; they are still sealed as before")
}

/// Loads the key-encryption key in use, with the previous one of an unfinished rotation.
fn load_key(context: &Context) -> anyhow::Result<KeyEncryptionKey> {
    KeyEncryptionKey::load(&context.data_dir).with_context(|| {
        format!(
            "could not load the key-encryption key for {}",
            context.data_dir.display()
        )
    })
}

/// The first sealed record that no key opens.
fn unreadable(secrets: &[SealedSecret]) -> Option<&SealedSecret> {
    secrets
        .iter()
        .find(|secret| matches!(secret.state, SealState::DoesNotOpen | SealState::Damaged))
}

/// A sealed record's state in words.
fn describe(state: SealState) -> &'static str {
    match state {
        SealState::OpensWithCurrentKey => "opens with the key in use",
        SealState::OpensWithPreviousKey => "opens only with the old key of the unfinished rotation",
        SealState::DoesNotOpen => "does NOT open with the key in use",
        SealState::Damaged => "is damaged",
    }
}

/// "1 record (ConnectWise private key)", or "no records" when nothing is sealed.
fn records(report: &ResealReport) -> String {
    let mut names: Vec<&str> = report.resealed.clone();
    names.extend(report.already_sealed.iter().copied());
    match names.len() {
        0 => "no records (nothing is sealed yet)".to_owned(),
        1 => format!("1 record ({})", names[0]),
        count => format!("{count} records ({})", names.join(", ")),
    }
}
