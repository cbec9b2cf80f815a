//! Test guest: probes for ambient authority (files, environment, arguments,
//! sockets) and logs what it found; the sandbox must have given it none.
use nethook_sdk::{info, Context, Hook, HookError};

struct Prober;

fn outcome<T, E: std::fmt::Debug>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "allowed".to_string(),
        Err(_) => "refused".to_string(),
    }
}

impl Hook for Prober {
    fn run(_ctx: Context) -> Result<(), HookError> {
        info!("probe";
            "read_dir_root" => outcome(std::fs::read_dir("/")),
            "read_passwd" => outcome(std::fs::read("/etc/passwd")),
            "read_relative" => outcome(std::fs::read("Cargo.toml")),
            "create_file" => outcome(std::fs::write("/tmp/nethook-prober", b"x")),
            "env_vars" => std::env::vars().count(),
            "args" => std::env::args().count(),
            "tcp_connect" => outcome(std::net::TcpStream::connect("127.0.0.1:22")));
        Ok(())
    }
}

nethook_sdk::export_hook!(Prober);
