//! `cargo run -p xtask -- docs [--new] [PAGE]`: re-run the book's captured commands
//! (`just docs` does this after a release build; `--new`, `just docs-new`, runs only the
//! captures whose block is still empty).
//! `cargo run -p xtask -- figures`: fill the prose figures from the captures, running nothing.
//! `cargo run -p xtask -- check`: list broken links, stale commands and figures no capture backs.

use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = xtask::workspace_root();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["docs", "--new", filter @ ..] => {
            xtask::capture::run(&root, filter.first().copied(), xtask::capture::Which::New)?;
            Ok(ExitCode::SUCCESS)
        }
        ["docs", filter @ ..] => {
            xtask::capture::run(&root, filter.first().copied(), xtask::capture::Which::All)?;
            Ok(ExitCode::SUCCESS)
        }
        ["figures"] => {
            xtask::capture::fill_figures(&root)?;
            Ok(ExitCode::SUCCESS)
        }
        ["check"] => {
            let problems = xtask::check::check(&root);
            for p in &problems {
                println!("{}: {}", p.file, p.what);
            }
            Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        _ => {
            eprintln!("usage: xtask docs [--new] [PAGE] | xtask figures | xtask check");
            Ok(ExitCode::from(2))
        }
    }
}
