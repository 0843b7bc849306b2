//! What every data command shares: the data dir, its configuration, the store and a
//! ConnectWise client built from the stored connection.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hyalto_connectwise::{Client, ConnectionSettings, SiteUrl};
use hyalto_store::{SqliteStore, Store, StoreError, StoredConnection};
use tokio::sync::OnceCell;

use crate::config::{self, Config};

/// The data dir of one command run, with the store opened on first use.
pub struct Context {
    /// The folder holding the database, the key file and `config.toml`.
    pub data_dir: PathBuf,
    /// The effective configuration.
    pub config: Config,
    store: OnceCell<SqliteStore>,
}

impl Context {
    /// Chooses the data dir (the flag or `HYALTO_DATA_DIR`, else the default) and reads its
    /// configuration.
    pub fn new(data_dir: Option<PathBuf>) -> anyhow::Result<Context> {
        let data_dir = match data_dir {
            Some(dir) => dir,
            None => config::default_data_dir()?,
        };
        let config = Config::load(&data_dir)?;
        Ok(Context {
            data_dir,
            config,
            store: OnceCell::new(),
        })
    }

    /// The store, opened (and created on first use) in the data dir.
    pub async fn store(&self) -> anyhow::Result<&SqliteStore> {
        self.store
            .get_or_try_init(|| async {
                SqliteStore::open(&self.data_dir)
                    .await
                    .map_err(|error| explain_open_error(&self.data_dir, error))
            })
            .await
    }

    /// The stored ConnectWise connection.
    pub async fn connection(&self) -> anyhow::Result<StoredConnection> {
        let store = self.store().await?;
        let connection = store
            .load_connection()
            .await
            .context("could not read the stored ConnectWise connection")?;
        connection.with_context(|| {
            format!(
                "no ConnectWise connection is configured in {}: run `hyalto connectwise \
                 configure --url URL --company-id ID --public-key KEY --private-key-env VAR` \
                 first",
                self.data_dir.display()
            )
        })
    }

    /// A client connected with the stored settings.
    pub async fn client(&self) -> anyhow::Result<Client> {
        let connection = self.connection().await?;
        let settings = settings_from(&connection)?;
        Client::connect(settings).await.with_context(|| {
            format!(
                "could not reach ConnectWise at {}; check the network, or run `hyalto \
                 connectwise configure` again if the site moved",
                connection.site_url
            )
        })
    }
}

/// A store that did not open, with the advice that fits the cause: a key-encryption key
/// problem already says what to do with the key, and only a failure to create or open the
/// database is about the folder.
fn explain_open_error(data_dir: &Path, error: StoreError) -> anyhow::Error {
    let dir = data_dir.display();
    let advice = match &error {
        StoreError::Secret(_) => format!("could not open hyalto's store in {dir}"),
        StoreError::Migrate(_) => format!(
            "could not bring hyalto's database in {dir} up to date; if a newer hyalto has used \
             this data dir, run that version"
        ),
        _ => format!(
            "could not open hyalto's store in {dir}; check that the folder can be written, or \
             choose another with --data-dir"
        ),
    };
    anyhow::Error::new(error).context(advice)
}

/// Client settings from a stored connection.
pub fn settings_from(connection: &StoredConnection) -> anyhow::Result<ConnectionSettings> {
    let site = SiteUrl::parse(&connection.site_url).with_context(|| {
        format!(
            "the stored site address {:?} is not usable; run `hyalto connectwise configure` again",
            connection.site_url
        )
    })?;
    let settings = hyalto_app::connection::settings_for(site, connection);
    Ok(settings)
}
