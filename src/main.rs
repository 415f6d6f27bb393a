//! The `doorway` binary: [`cli`] parses the command line and runs the command.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
