// Made by `nethook new`: what a JavaScript hook needs beyond its imports.
// Kept as its own module; componentize-js bundles it with hook.js.
// hook(fn) makes anything fn throws a hook error ({ tag: 'failed', val })
// rather than a trap: a capability error as "denied: ...", any other error
// with its message. A hook error fn throws itself passes through.
export function hook(fn) {
  return (...args) => {
    try {
      return fn(...args);
    } catch (e) {
      if (e && (e.tag === 'failed' || e.tag === 'invalid-config')) throw e;
      const p = e && e.payload;
      if (p && typeof p.tag === 'string') {
        throw { tag: 'failed', val: `${p.tag.replace('-', ' ')}: ${p.val}` };
      }
      throw { tag: 'failed', val: `${(e && e.name) || 'Error'}: ${(e && e.message) || String(e)}` };
    }
  };
}

/** A value of the hook's config table. */
export function config(ctx, key, fallback) {
  const found = ctx.config.find(([k]) => k === key);
  return found ? found[1] : fallback;
}
