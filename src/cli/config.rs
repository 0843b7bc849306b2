//! `hyalto config show`: the effective configuration, defaults included.

use super::context::Context;
use crate::config::CONFIG_FILE_NAME;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the effective configuration as a config.toml, each setting marked as coming from
    /// the file or the defaults.
    Show,
}

pub fn run(context: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Show => {
            println!("# data dir: {}", context.data_dir.display());
            match &context.config.file {
                Some(path) => println!("# read from {}", path.display()),
                None => println!(
                    "# no {CONFIG_FILE_NAME} in the data dir: every setting is the default; \
                     write one there to change them"
                ),
            }
            print!("{}", context.config);
            Ok(())
        }
    }
}
