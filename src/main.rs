//! The `vpclab` binary: a thin entry over [`vpclab::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = vpclab::cli::Cli::parse();
    match vpclab::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vpclab: internal error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
