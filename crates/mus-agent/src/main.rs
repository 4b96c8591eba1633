//! mus-agent: a placeholder until the agent issue lands.
fn main() {
    eprintln!("mus-agent is not implemented yet; write the map with `bpftool` meanwhile");
    std::process::exit(2);
}
