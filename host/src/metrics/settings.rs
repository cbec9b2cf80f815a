//! `[metrics]`: where nethook's metrics go, owned by the metrics module and
//! read by the config. Both are opt-in.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `nethook watch` serves `GET /metrics` on this address, e.g.
    /// `"127.0.0.1:9464"`.
    pub listen: Option<SocketAddr>,
    /// Each dataplane point run rewrites this node_exporter textfile (in
    /// its textfile collector's directory, named `*.prom`) with every
    /// point's last run and counts.
    pub textfile: Option<PathBuf>,
}
