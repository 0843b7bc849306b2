//! `hyalto connectwise …`: the connection, the cached ConnectWise records, and the mappings
//! from customers and meters to ConnectWise companies, agreements and catalog items.

pub mod browse;
pub mod configure;
pub mod map;
pub mod products;
pub mod refresh;

use configure::ConfigureArgs;
use map::MapArgs;
use products::ProductsCommand;

use super::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check and store the connection to a ConnectWise site, then cache its records.
    Configure(ConfigureArgs),

    /// Read companies, contacts, agreements, agreement types, catalog items and billing cycles
    /// into the cache again.
    Refresh,

    /// List cached companies.
    Companies(browse::CompaniesArgs),

    /// List the cached agreements of one company.
    Agreements(browse::AgreementsArgs),

    /// List the cached agreement types, with the ids `map --type` and `--child-type` take.
    AgreementTypes(browse::AgreementTypesArgs),

    /// Bill a customer under a ConnectWise company and master agreement.
    Map(MapArgs),

    /// Stop managing a customer (what hyalto wrote stays active and billing in ConnectWise).
    Unmap(map::UnmapArgs),

    /// List the customer mappings.
    Mappings(map::MappingsArgs),

    /// Map meters (what is billed) to catalog items.
    #[command(subcommand)]
    Products(ProductsCommand),
}

pub async fn run(context: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Configure(args) => configure::run(context, args).await,
        Command::Refresh => refresh::run(context).await,
        Command::Companies(args) => browse::companies(context, args).await,
        Command::Agreements(args) => browse::agreements(context, args).await,
        Command::AgreementTypes(args) => browse::agreement_types(context, args).await,
        Command::Map(args) => map::map(context, args).await,
        Command::Unmap(args) => map::unmap(context, args).await,
        Command::Mappings(args) => map::mappings(context, args).await,
        Command::Products(command) => products::run(context, command).await,
    }
}
