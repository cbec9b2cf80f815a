//! Commands on the node (systemctl, nmcli, udevadm): an argv, never a
//! shell, run inside the node's context and bounded in time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::CapError;

/// How commands reach the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecMode {
    /// `chroot <host_root>`, as the dataplane's scripts do.
    Chroot,
    /// `nsenter` into the mount, UTS, IPC, network and PID namespaces of
    /// this process (PID 1 of the node by default).
    Nsenter { pid: u32 },
}

/// The node nethook acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node's root filesystem as nethook sees it.
    pub root: PathBuf,
    pub exec: ExecMode,
    /// Upper bound of any one command.
    pub command_timeout: Duration,
}

impl Node {
    /// The full argv that runs `program args` on the node.
    pub(super) fn argv(&self, program: &str, args: &[&str]) -> Vec<String> {
        let mut argv: Vec<String> = match &self.exec {
            ExecMode::Chroot if self.root == Path::new("/") => Vec::new(),
            ExecMode::Chroot => vec!["chroot".into(), self.root.display().to_string()],
            ExecMode::Nsenter { pid } => [
                "nsenter",
                "-t",
                &pid.to_string(),
                "-m",
                "-u",
                "-i",
                "-n",
                "-p",
                "--",
            ]
            .map(String::from)
            .to_vec(),
        };
        argv.push(program.to_string());
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// Run on the node; stdout on success, `failed` with stderr otherwise.
    pub(super) fn run(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<String, CapError> {
        let argv = self.argv(program, args);
        let shown = argv.join(" ");
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LC_ALL", "C")
            .env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_PAGER", "");
        let timeout = timeout.min(self.command_timeout);
        let done = crate::proc::run(cmd, timeout)
            .map_err(|e| CapError::Failed(format!("cannot run `{shown}`: {e}")))?;
        match done.status {
            None => Err(CapError::Failed(format!(
                "`{shown}` timed out after {}",
                humantime::format_duration(timeout)
            ))),
            Some(s) if s.success() => Ok(done.stdout.join("\n")),
            Some(s) => Err(CapError::Failed(format!(
                "`{shown}` exited with {}: {}",
                s.code()
                    .map_or_else(|| s.to_string(), |c| format!("status {c}")),
                done.stderr.join(" ").trim()
            ))),
        }
    }
}
