//! The `hyalto` command: one binary whose subcommands run every part of hyalto.
//!
//! `main` only parses the command line, sets up logging and hands over to [`cli`].

// These two shadow the standard `print!` and `println!` in every module of the binary (a
// `macro_rules!` defined before the modules takes precedence over the prelude's). The standard
// ones panic when standard output is a closed pipe; these stop printing quietly instead. See
// `cli::output::write_stdout`.
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!($($arg)*))
    };
}

macro_rules! println {
    () => {
        $crate::cli::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod cli;
mod config;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(args.verbose);

    // hyalto uses rustls with the ring provider only; installing it once up front means no
    // TLS-using crate has to guess which provider the process wants.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };

    match runtime.block_on(cli::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", cli::output::error_line(&err));
            std::process::ExitCode::FAILURE
        }
    }
}
