//! `infini`: a git-like command line over an encrypted, versioned key/value store.

mod cmd;

fn main() -> std::process::ExitCode {
    cmd::main()
}
