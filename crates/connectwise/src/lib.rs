//! A typed client for the ConnectWise Manage (PSA) REST API 3.0, as hyalto uses it.
//!
//! It discovers the API address of a site, authenticates every call, pages through lists,
//! builds `conditions` queries safely, retries what is safe to retry, paces requests per site,
//! and sorts failures into [`Error`] variants that say what to do. Keys never appear in
//! `Debug` output, errors or logs.
//!
//! ```no_run
//! use hyalto_connectwise::conditions::Field;
//! use hyalto_connectwise::{Client, ConnectionSettings, ListQuery, SiteUrl};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = ConnectionSettings::new(
//!     SiteUrl::parse("na.myconnectwise.net")?,
//!     "mycompany",
//!     "public-key",
//!     "private-key".to_owned().into(),
//!     "client-id-guid",
//! );
//! let client = Client::connect(settings).await?;
//! println!("ConnectWise {}", client.system_info().await?.version.unwrap_or_default());
//!
//! let acme = ListQuery::filter(Field::new("identifier").eq("ACME"));
//! for company in client.companies(&acme).await? {
//!     let open = Field::new("company/id")
//!         .eq(company.id)
//!         .and(Field::new("cancelledFlag").eq(false));
//!     let agreements = client.agreements(&ListQuery::filter(open)).await?;
//!     println!("{} has {} open agreements", company.id, agreements.len());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Modules, in reading order: [`site`] (what users type), [`settings`], [`client`] (transport,
//! retries, paging), [`conditions`] and [`query`] (filters), [`models`], [`error`]. The typed
//! endpoint helpers are methods on [`Client`].

#![warn(missing_docs)]

pub mod client;
pub mod conditions;
mod endpoints;
pub mod error;
mod limiter;
pub mod models;
pub mod query;
mod retry;
pub mod settings;
pub mod site;

pub use client::{CallObserver, Client, Page};
pub use conditions::{Conditions, Field, LikePattern};
pub use error::{Error, FieldProblem};
pub use query::ListQuery;
pub use settings::{ConnectionSettings, DEFAULT_API_VERSION, Limits, RetryPolicy};
pub use site::{Scheme, SiteUrl, SiteUrlError};
