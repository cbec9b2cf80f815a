//! Logging to the host; lines are attributed to the hook by nethook.
//!
//! `info!("x = {}", x)` logs a message; `info!("msg"; "key" => value, ...)`
//! adds structured fields.

pub use crate::bindings::nethook::hooks::log::Level;

/// Log `message` with `fields` at `level`.
pub fn log(level: Level, message: &str, fields: &[(&str, String)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    crate::bindings::nethook::hooks::log::log(level, message, &fields);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log {
    ($level:expr, $msg:literal; $($key:literal => $value:expr),+ $(,)?) => {
        $crate::log::log($level, $msg, &[$(($key, ::std::string::ToString::to_string(&$value))),+])
    };
    ($level:expr, $($arg:tt)+) => {
        $crate::log::log($level, &::std::format!($($arg)+), &[])
    };
}

#[macro_export]
macro_rules! trace { ($($t:tt)+) => { $crate::__log!($crate::log::Level::Trace, $($t)+) }; }
#[macro_export]
macro_rules! debug { ($($t:tt)+) => { $crate::__log!($crate::log::Level::Debug, $($t)+) }; }
#[macro_export]
macro_rules! info { ($($t:tt)+) => { $crate::__log!($crate::log::Level::Info, $($t)+) }; }
#[macro_export]
macro_rules! warn { ($($t:tt)+) => { $crate::__log!($crate::log::Level::Warn, $($t)+) }; }
#[macro_export]
macro_rules! error { ($($t:tt)+) => { $crate::__log!($crate::log::Level::Error, $($t)+) }; }
