// The EKS hook in JavaScript: guest-hooks/eks (Rust) line for line, built
// with componentize-js. At vpp-running it gives the uplink a networkd file
// of its own, the AMI's stock 80-ec2.network matched by name instead of by
// driver (the dataplane's tap has the uplink's name, not its driver); at
// vpp-done-ok and vpp-errored it undoes that through nethook's journal, or,
// when the journal has nothing, removes the file only if it is still
// exactly what this hook would write.

import { read, write, remove } from 'nethook:hooks/host-fs@0.1.1';
import { daemonReload, restart } from 'nethook:hooks/systemd@0.1.1';
import { lifecycle } from 'nethook:hooks/undo@0.1.1';
import { log } from 'nethook:hooks/log@0.1.1';
// The shim `nethook new --lang js` writes (host/src/scaffold/js, copied
// beside this file by scripts/build-guests.sh): anything the hook throws
// becomes a hook error, not a trap.
import { hook } from './nethook-shim.js';

const STOCK = '/usr/lib/systemd/network/80-ec2.network';
const NETWORKD = 'systemd-networkd.service';


const text = (bytes) => new TextDecoder().decode(bytes);

function matchByName(stock, uplink) {
  let replaced = false;
  const lines = stock.match(/[^\n]*\n|[^\n]+$/g) || [];
  const out = lines
    .map((line) => {
      if (line.trimStart().startsWith('Driver=')) {
        replaced = true;
        return `Name=${uplink}${line.endsWith('\n') ? '\n' : ''}`;
      }
      return line;
    })
    .join('');
  if (!replaced) throw { tag: 'failed', val: `${STOCK} has no Driver= match to replace` };
  return out;
}

export const guest = {
  run: hook((ctx) => {
    const uplink = ctx.uplinks.length > 0 ? ctx.uplinks[0].name : null;
    if (uplink === null) throw { tag: 'invalid-config', val: 'no uplink given' };
    const ours = `/etc/systemd/network/${uplink}.network`;
    if (ctx.point === 'vpp-running') {
      const rewritten = matchByName(text(read(STOCK)), uplink);
      write(ours, new TextEncoder().encode(rewritten), 0o644);
      log('info', 'networkd matches the uplink by name', [['file', ours], ['uplink', uplink]]);
    } else if (ctx.point === 'vpp-done-ok' || ctx.point === 'vpp-errored') {
      const undone = lifecycle();
      if (undone > 0) {
        log('info', 'undone', [['changes', String(undone)]]);
        return;
      }
      let mine = null;
      try {
        mine = matchByName(text(read(STOCK)), uplink);
      } catch (_) {
        mine = null;
      }
      let now = null;
      try {
        now = text(read(ours));
      } catch (_) {
        now = null;
      }
      if (mine === null || now !== mine) {
        log('info', 'nothing to undo', [['file', ours]]);
        return;
      }
      remove(ours);
      log('info', 'removed, recognised by its content', [['file', ours]]);
    } else {
      return;
    }
    daemonReload();
    restart(NETWORKD);
  }),
};
