//! The `vpclab` binary: a thin entry over [`vpclab::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = vpclab::cli::Cli::parse();
    if cli.dies_on_broken_pipe() {
        // `vpclab describe … | head`: end quietly when the reader goes away.
        let _ = vpclab::host::signals::die_on_broken_pipe();
    }
    match vpclab::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vpclab: internal error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
