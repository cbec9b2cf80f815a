//! EKS (Amazon Linux 2023): while the dataplane owns the uplink, systemd-networkd
//! must match it by name, not by driver. At vpp-running, copy the stock
//! `80-ec2.network` to `/etc/systemd/network/<uplink>.network` with its
//! `Driver=` match replaced by `Name=<uplink>`, then daemon-reload and restart
//! systemd-networkd. At vpp-done-ok and vpp-errored, nethook's journal undoes
//! exactly that: whatever was at that path before (an admin's own file, byte
//! for byte, or nothing) comes back, unless it was edited since, and
//! networkd is reloaded and restarted again. Replaces the EKS root shell
//! script, which deleted the file whatever had been there.

use nethook_sdk::{host_fs, info, systemd, undo, Context, Hook, HookError, HookPoint};

const STOCK: &str = "/usr/lib/systemd/network/80-ec2.network";
const NETWORKD: &str = "systemd-networkd.service";

struct Eks;

impl Hook for Eks {
    fn run(ctx: Context) -> Result<(), HookError> {
        let uplink = ctx
            .first_uplink()
            .ok_or_else(|| HookError::InvalidConfig("no uplink given".into()))?
            .name
            .clone();
        let ours = format!("/etc/systemd/network/{uplink}.network");
        match ctx.point {
            HookPoint::VppRunning => {
                let stock = host_fs::read(STOCK)?;
                let stock = String::from_utf8(stock)
                    .map_err(|_| HookError::Failed(format!("{STOCK} is not UTF-8")))?;
                let rewritten = match_by_name(&stock, &uplink)?;
                host_fs::write(&ours, rewritten.as_bytes(), Some(0o644))?;
                info!("networkd matches the uplink by name"; "file" => ours, "uplink" => uplink);
            }
            HookPoint::VppDoneOk | HookPoint::VppErrored => {
                let undone = undo::lifecycle()?;
                if undone > 0 {
                    info!("undone"; "changes" => undone);
                    return Ok(());
                }
                // No journal of it (its state dir was lost): our own file,
                // recognised by content, is removed.
                let stock = host_fs::read(STOCK)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                let mine = stock.and_then(|s| match_by_name(&s, &uplink).ok());
                let now = host_fs::read(&ours).ok();
                if mine.is_none() || now.as_deref() != mine.as_ref().map(|m| m.as_bytes()) {
                    info!("nothing to undo"; "file" => ours);
                    return Ok(());
                }
                host_fs::remove(&ours)?;
                info!("removed, recognised by its content"; "file" => ours);
            }
            _ => return Ok(()),
        }
        systemd::daemon_reload()?;
        systemd::restart(NETWORKD)?;
        Ok(())
    }
}

/// The stock file with each `Driver=` line replaced by `Name=<uplink>`.
fn match_by_name(stock: &str, uplink: &str) -> Result<String, HookError> {
    let mut replaced = false;
    let mut out = String::with_capacity(stock.len() + uplink.len());
    for line in stock.split_inclusive('\n') {
        if line.trim_start().starts_with("Driver=") {
            let eol = if line.ends_with('\n') { "\n" } else { "" };
            out.push_str(&format!("Name={uplink}{eol}"));
            replaced = true;
        } else {
            out.push_str(line);
        }
    }
    if !replaced {
        return Err(HookError::Failed(format!(
            "{STOCK} has no Driver= match to replace"
        )));
    }
    Ok(out)
}

nethook_sdk::export_hook!(Eks);
