// {{name}}: a nethook hook, in JavaScript.
//
// nethook calls guest.run(ctx) at each point nethook.toml selects it for;
// the hook reaches the node only through the imports below (nethook:hooks/*),
// each allowed by a grant in nethook.toml. A capability call that fails
// throws an error whose `payload` is { tag: 'denied' | 'invalid' |
// 'not-found' | 'failed', val: message }.

import { listLinks } from 'nethook:hooks/netlink@0.1.1';
import { write } from 'nethook:hooks/host-fs@0.1.1';
import { log } from 'nethook:hooks/log@0.1.1';

// hook(fn) (nethook-shim.js, made by `nethook new`: keep it) makes anything
// fn throws a hook error rather than a trap.
import { config, hook } from './nethook-shim.js';

export const guest = {
  run: hook((ctx) => {
    // Needs grants.netlink = "read".
    const links = listLinks();
    const greeting = config(ctx, 'greeting', 'hello');
    log('info', 'ran', [['greeting', greeting], ['point', ctx.point], ['links', String(links.length)]]);
    // Needs grants.write_paths to cover the path. Undone by a rollback.
    const text = `${greeting} from ${ctx.hook} at ${ctx.point}\n`;
    write('/etc/nethook-{{name}}.last', new TextEncoder().encode(text), 0o644);
  }),
};
