use crate::bindings::nethook::hooks::types::{self, HookPoint, Uplink};

/// What the hook is told when it runs, with lookup helpers.
#[derive(Debug, Clone)]
pub struct Context {
    pub point: HookPoint,
    /// The hook's name in the configuration.
    pub hook: String,
    pub uplinks: Vec<Uplink>,
    /// The hook's `[hooks.<name>.config]` table, in file order.
    pub config: Vec<(String, String)>,
}

impl From<types::Context> for Context {
    fn from(c: types::Context) -> Self {
        Context {
            point: c.point,
            hook: c.hook,
            uplinks: c.uplinks,
            config: c.config,
        }
    }
}

impl Context {
    /// The hook point's name as written in configs, e.g. `vpp-running`.
    pub fn point_name(&self) -> &'static str {
        point_name(self.point)
    }

    /// A value from the hook's config table.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first uplink, which is the one most hooks act on.
    pub fn first_uplink(&self) -> Option<&Uplink> {
        self.uplinks.first()
    }
}

pub(crate) fn point_name(p: HookPoint) -> &'static str {
    match p {
        HookPoint::BeforeIfRead => "before-if-read",
        HookPoint::BeforeVppRun => "before-vpp-run",
        HookPoint::VppRunning => "vpp-running",
        HookPoint::VppDoneOk => "vpp-done-ok",
        HookPoint::VppErrored => "vpp-errored",
    }
}
