//! Legacy hook scripts, as the dataplane runs them: `/bin/sh -c SCRIPT
//! <point> <first-uplink>`, here with a timeout and output captured into
//! the log. A script cannot be sandboxed; prefer a WASM hook.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::caps::log::Log;
use crate::error::{Error, Result};
use crate::point::HookPoint;

pub const HOOK_NAME: &str = "script";

pub fn run(
    log: &Log,
    script: &str,
    point: HookPoint,
    uplink: &str,
    timeout: Duration,
) -> Result<()> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .arg(point.name())
        .arg(uplink)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills everything it started.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Other(format!("cannot start /bin/sh for the {point} script: {e}")))?;
    let readers = [
        forward(child.stdout.take().expect("piped"), "stdout"),
        forward(child.stderr.take().expect("piped"), "stderr"),
    ];

    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= timeout => break None,
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(Error::Other(format!("waiting for the {point} script: {e}"))),
        }
    };
    let group = Pid::from_raw(child.id() as i32);
    if status.is_none() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait();
    }
    // Something the script left in the background may still hold its
    // output open; wait for it only as long as the deadline allows.
    while !readers.iter().all(|r| r.is_finished()) {
        if started.elapsed() >= timeout {
            let _ = killpg(group, Signal::SIGKILL);
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    for r in readers {
        for (stream, line) in r.join().unwrap_or_default() {
            log.output(stream, &line);
        }
    }
    let fail = |message| Error::HookFailed {
        hook: HOOK_NAME.into(),
        point,
        message,
    };
    match status {
        None => Err(Error::HookTimedOut {
            hook: HOOK_NAME.into(),
            point,
            timeout,
        }),
        Some(s) if s.success() => Ok(()),
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => Err(fail(format!("script exited with status {code}"))),
            (_, Some(sig)) => Err(fail(format!("script killed by signal {sig}"))),
            _ => Err(fail(format!("script ended with {s}"))),
        },
    }
}

/// Collect a stream's lines (bounded) on a thread, so a chatty script never
/// blocks on a full pipe.
fn forward(
    stream: impl Read + Send + 'static,
    name: &'static str,
) -> thread::JoinHandle<Vec<(&'static str, String)>> {
    thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if lines.len() < 10_000 {
                lines.push((name, line));
            }
        }
        lines
    })
}
