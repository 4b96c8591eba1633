//! The experiment that chose the control law: candidate laws ([`candidates`]) run
//! on a simulated pod next to CPU noise that arrives and leaves ([`plant`]), each
//! scored on the same traces and draws ([`experiment`]). Test-only: run
//! `cargo test -p mus-agent --lib auto::sim -- --nocapture` for the table that
//! `writeups/auto.md` quotes.

mod candidates;
mod experiment;
mod plant;
