//! Legacy hook scripts, run the way the dataplane runs them:
//! `/bin/bash -c SCRIPT <POINT> <first-uplink>`, with `$0` the upper-snake
//! point (`VPP_RUNNING`), the dataplane's templating applied, nethook's
//! whole environment inherited and stdin from /dev/null. Unlike the
//! dataplane, a timeout bounds it and its output goes to the log. A script
//! cannot be sandboxed or planned; prefer a WASM hook.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use crate::caps::log::Log;
use crate::error::{Error, Result};
use crate::names::IfName;
use crate::point::HookPoint;
use crate::select::ENV_PARENT;

pub const HOOK_NAME: &str = "script";
pub const SHELL: &str = "/bin/bash";

/// The dataplane's templating of hook values: `__VPP_DATAPLANE_IF__` is
/// the first uplink, `__VPP_DATAPLANE_IF_<i>__` the i-th.
pub fn template(script: &str, uplinks: &[IfName]) -> String {
    let mut out = script.to_string();
    if let Some(first) = uplinks.first() {
        out = out.replace("__VPP_DATAPLANE_IF__", first);
    }
    for (i, name) in uplinks.iter().enumerate() {
        out = out.replace(&format!("__VPP_DATAPLANE_IF_{i}__"), name);
    }
    out
}

pub fn run(
    log: &Log,
    script: &str,
    point: HookPoint,
    uplinks: &[IfName],
    timeout: Duration,
) -> Result<()> {
    run_with(log, script, point, uplinks, timeout, &[])
}

/// `run`, with variables added to the environment (an event's details).
pub fn run_with(
    log: &Log,
    script: &str,
    point: HookPoint,
    uplinks: &[IfName],
    timeout: Duration,
    env: &[(&str, String)],
) -> Result<()> {
    let first = uplinks.first().map_or("", |u| u.as_ref());
    let mut cmd = Command::new(SHELL);
    cmd.arg("-c")
        .arg(template(script, uplinks))
        .arg(point.dataplane_name())
        .arg(first)
        // A script that runs nethook again must not re-enter it.
        .env(ENV_PARENT, std::process::id().to_string())
        .envs(env.iter().map(|(k, v)| (k, v)));
    let done = crate::proc::run(cmd, timeout)
        .map_err(|e| Error::Other(format!("cannot start {SHELL} for the {point} script: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templating_follows_the_dataplane() {
        let up = [
            IfName::parse("ens5").unwrap(),
            IfName::parse("ens6").unwrap(),
        ];
        assert_eq!(
            template("a __VPP_DATAPLANE_IF__ b __VPP_DATAPLANE_IF_1__ c __VPP_DATAPLANE_IF_0__ d __VPP_DATAPLANE_IF_2__", &up),
            "a ens5 b ens6 c ens5 d __VPP_DATAPLANE_IF_2__"
        );
        assert_eq!(
            template("__VPP_DATAPLANE_IF__", &[]),
            "__VPP_DATAPLANE_IF__"
        );
    }
}
