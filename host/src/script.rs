//! Legacy hook scripts, as the dataplane runs them: `/bin/sh -c SCRIPT
//! <point> <first-uplink>`, here with a timeout and output captured into
//! the log. A script cannot be sandboxed or planned; prefer a WASM hook.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

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
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(script).arg(point.name()).arg(uplink);
    let done = crate::proc::run(cmd, timeout)
        .map_err(|e| Error::Other(format!("cannot start /bin/sh for the {point} script: {e}")))?;
    for line in &done.stdout {
        log.output("stdout", line);
    }
    for line in &done.stderr {
        log.output("stderr", line);
    }
    let fail = |message| Error::HookFailed {
        hook: HOOK_NAME.into(),
        point,
        message,
    };
    match done.status {
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
