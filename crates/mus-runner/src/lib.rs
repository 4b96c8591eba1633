//! mus-runner's command line as a library, so that its man page and shell completions
//! (`cargo xtask man`, `cargo xtask completions`) come from the same clap definition as
//! the binary's parser. Everything else of the runner lives in the binary (main.rs).

pub mod cli;
