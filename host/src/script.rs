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
use crate::dataplane::ENV_PARENT;
use crate::error::{Error, Result};
use crate::names::IfName;
use crate::point::HookPoint;

pub const HOOK_NAME: &str = crate::names::SCRIPT_HOOK;
pub const SHELL: &str = "/bin/bash";

/// The dataplane's templating of hook values: `__VPP_DATAPLANE_IF__` is
/// the first uplink, `__VPP_DATAPLANE_IF_<i>__` the i-th.
///
/// A name goes into the script's text only if bash reads it as the same
/// word wherever it stands (quoted or not): letters, digits and
/// `_ . - @ + , % : =`. The kernel allows far more in a link name (`;`,
/// `$`, backquotes...), and at an event point the name is whatever the
/// node's users called their link; such a name is refused, never spliced
/// in. Every script gets its names as data anyway: `$1`, and at event
/// points `$NETHOOK_LINK`.
pub fn template(script: &str, uplinks: &[IfName]) -> std::result::Result<String, String> {
    let mut out = script.to_string();
    let mut put = |placeholder: &str, name: &IfName| {
        if !out.contains(placeholder) {
            return Ok(());
        }
        if !shell_inert(name) {
            return Err(format!(
                "the link name {:?} is not put into the script's text for {placeholder}: bash would read characters of it as code; the script has it as $1 (and $NETHOOK_LINK at an event point)",
                name.as_ref() as &str
            ));
        }
        out = out.replace(placeholder, name);
        Ok(())
    };
    if let Some(first) = uplinks.first() {
        put("__VPP_DATAPLANE_IF__", first)?;
    }
    for (i, name) in uplinks.iter().enumerate() {
        put(&format!("__VPP_DATAPLANE_IF_{i}__"), name)?;
    }
    Ok(out)
}

/// Bash reads `name` as one literal word, inside or outside quotes.
fn shell_inert(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '.' | '-' | '@' | '+' | ',' | '%' | ':' | '=')
        })
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
    let fail = |message| Error::HookFailed {
        hook: HOOK_NAME.into(),
        point,
        message,
    };
    let text = template(script, uplinks).map_err(fail)?;
    let mut cmd = Command::new(SHELL);
    cmd.arg("-c")
        .arg(text)
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
            template("a __VPP_DATAPLANE_IF__ b __VPP_DATAPLANE_IF_1__ c __VPP_DATAPLANE_IF_0__ d __VPP_DATAPLANE_IF_2__", &up).unwrap(),
            "a ens5 b ens6 c ens5 d __VPP_DATAPLANE_IF_2__"
        );
        assert_eq!(
            template("__VPP_DATAPLANE_IF__", &[]).unwrap(),
            "__VPP_DATAPLANE_IF__"
        );
    }

    #[test]
    fn a_name_bash_would_read_as_code_is_never_spliced_in() {
        let hostile = [IfName::parse("a;id>pwn").unwrap()];
        assert_eq!(
            template("ip link show __VPP_DATAPLANE_IF__", &hostile).unwrap_err(),
            "the link name \"a;id>pwn\" is not put into the script's text for __VPP_DATAPLANE_IF__: bash would read characters of it as code; the script has it as $1 (and $NETHOOK_LINK at an event point)"
        );
        for bad in [
            "a$(id)", "a`id`", "a'b", "a\"b", "a|b", "a&b", "a*", "a?", "a[b]", "a{b}", "~a",
            "a!b", "a#b", "a\\b",
        ] {
            let name = IfName::parse(bad).unwrap();
            assert!(
                template("x __VPP_DATAPLANE_IF_0__", &[name]).is_err(),
                "{bad}"
            );
        }
        // A script that does not template the name runs with it as data.
        assert_eq!(template("echo \"$1\"", &hostile).unwrap(), "echo \"$1\"");
    }
}
