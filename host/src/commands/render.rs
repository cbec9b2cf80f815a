//! Text shared by the commands' renderings.

/// The `i`-th effect as `plan` and `test` print it.
pub fn effect_row(i: usize, e: &nethook::caps::Effect) -> String {
    format!(
        "  {:>2}  {:<16} {:<18} {}",
        i + 1,
        e.change.capability(),
        e.change.operation(),
        e.change.args()
    )
}
