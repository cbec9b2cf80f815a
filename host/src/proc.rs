//! Running a child process with a deadline: its own process group (so a
//! timeout kills everything it started) and bounded output capture (so a
//! chatty child never blocks on a full pipe).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Lines kept per stream.
const MAX_LINES: usize = 10_000;

pub struct Finished {
    /// None when the deadline passed and the process group was killed.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

pub fn run(mut cmd: Command, timeout: Duration) -> std::io::Result<Finished> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let out = collect(child.stdout.take().expect("piped"));
    let err = collect(child.stderr.take().expect("piped"));
    let group = Pid::from_raw(child.id() as i32);

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    // Something left in the background may still hold the output open;
    // wait for it only as long as the deadline allows.
    while !(out.is_finished() && err.is_finished()) {
        if started.elapsed() >= timeout {
            let _ = killpg(group, Signal::SIGKILL);
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok(Finished {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn collect(stream: impl Read + Send + 'static) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if lines.len() < MAX_LINES {
                lines.push(line);
            }
        }
        lines
    })
}
