//! Running a child process with a deadline: its own process group (so a
//! timeout kills everything it started) and bounded output capture (so a
//! chatty child never blocks on a full pipe).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Lines kept per stream, and bytes kept per line.
const MAX_LINES: usize = 10_000;
const MAX_LINE: usize = 8 << 10;

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
    // wait for it only as long as the deadline allows, then take what the
    // readers have (they are left to finish, or not, on their own).
    while !(out.done() && err.done()) && started.elapsed() < timeout {
        thread::sleep(Duration::from_millis(5));
    }
    Ok(Finished {
        status,
        stdout: out.take(),
        stderr: err.take(),
    })
}

/// A stream's lines, collected on their own thread.
struct Lines {
    lines: Arc<Mutex<Vec<String>>>,
    thread: thread::JoinHandle<()>,
}

impl Lines {
    fn done(&self) -> bool {
        self.thread.is_finished()
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().expect("lines lock"))
    }
}

/// Read lines as bytes (output need not be UTF-8), bounded in count and
/// length, and keep draining past the bounds so the writer never blocks.
fn collect(stream: impl Read + Send + 'static) -> Lines {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let thread = thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let mut kept = sink.lock().expect("lines lock");
            if kept.len() < MAX_LINES {
                let line = &buf[..buf.len().min(MAX_LINE)];
                kept.push(
                    String::from_utf8_lossy(line)
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                );
            }
        }
    });
    Lines { lines, thread }
}
