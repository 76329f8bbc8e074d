//! `ILogger` implemented in Rust.
//!
//! TensorRT reports errors through its logger, not through return values, so the logger is
//! what turns "returned null" into a useful error: it keeps the recent messages, numbered, and
//! a failed call quotes the errors logged since it started ([`Logger::mark`],
//! [`Logger::errors_since`]). Messages are also forwarded to the `log` crate under the target
//! `tensorrt` (internal error and error -> `error`, warning -> `warn`, info -> `info`,
//! verbose -> `trace`).
//!
//! The object is a `#[repr(C)]` struct whose first word points at a static vtable in one of the
//! two layouts ([`LoggerLayout`]). TensorRT keeps the pointer for the life of the process, so
//! loggers are leaked, one per loaded library. The callbacks are thread-safe and never unwind.

use super::abi::StaticVtable;
use std::collections::VecDeque;
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::ThreadId;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::abi::InterfaceInfo;
use super::slots::LoggerLayout;

/// Messages kept for error quoting and inspection (oldest dropped first).
const KEPT_MESSAGES: usize = 256;

/// `nvinfer1::ILogger::Severity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `kINTERNAL_ERROR` (0).
    InternalError,
    /// `kERROR` (1).
    Error,
    /// `kWARNING` (2).
    Warning,
    /// `kINFO` (3).
    Info,
    /// `kVERBOSE` (4).
    Verbose,
}

impl Severity {
    /// From the wire value; values outside the enum are clamped (TensorRT never sends them, and
    /// a callback must not fail).
    pub fn from_raw(value: i32) -> Severity {
        match value {
            i32::MIN..=0 => Severity::InternalError,
            1 => Severity::Error,
            2 => Severity::Warning,
            3 => Severity::Info,
            _ => Severity::Verbose,
        }
    }

    /// The `log` crate level messages of this severity are forwarded at.
    pub fn log_level(self) -> log::Level {
        match self {
            Severity::InternalError | Severity::Error => log::Level::Error,
            Severity::Warning => log::Level::Warn,
            Severity::Info => log::Level::Info,
            Severity::Verbose => log::Level::Trace,
        }
    }

    /// True for `kINTERNAL_ERROR` and `kERROR`.
    pub fn is_error(self) -> bool {
        self <= Severity::Error
    }
}

/// One message TensorRT logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogMessage {
    /// Position in this logger's stream (starts at 0).
    pub sequence: u64,
    /// Severity.
    pub severity: Severity,
    /// The thread that logged it (a failed call prefers its own thread's messages).
    pub thread: ThreadId,
    /// The text.
    pub text: String,
}

/// A position in the message stream, taken before a call so its errors can be found after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogMark(u64);

#[derive(Default)]
struct MessageLog {
    recent: VecDeque<LogMessage>,
}

/// The Rust `ILogger` handed to TensorRT. Always `'static` (see [`Logger::leak_new`]).
#[repr(C)]
pub struct Logger {
    /// Must stay the first field: TensorRT reads the vptr at offset 0.
    vptr: *const c_void,
    layout: LoggerLayout,
    /// Sequence number of the next message: an atomic so that taking a mark, which every
    /// checked FFI call does, takes no lock.
    next_sequence: AtomicU64,
    messages: Mutex<MessageLog>,
}

// SAFETY: `vptr` points at an immutable static vtable; all mutable state is an atomic or behind
// a mutex.
unsafe impl Send for Logger {}
// SAFETY: as above: shared access only reads the vptr or locks the mutex.
unsafe impl Sync for Logger {}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl Logger {
    /// Creates a logger with the vtable layout the library expects and leaks it: TensorRT
    /// keeps the pointer for the life of the process.
    pub fn leak_new(layout: LoggerLayout) -> &'static Logger {
        let vptr = match layout {
            LoggerLayout::Versioned => {
                (&raw const VERSIONED_VTABLE.0.get_api_language).cast::<c_void>()
            }
            LoggerLayout::Unversioned => (&raw const UNVERSIONED_VTABLE.0.log).cast::<c_void>(),
        };
        Box::leak(Box::new(Logger {
            vptr,
            layout,
            next_sequence: AtomicU64::new(0),
            messages: Mutex::new(MessageLog::default()),
        }))
    }

    /// The vtable layout.
    pub fn layout(&self) -> LoggerLayout {
        self.layout
    }

    /// The `ILogger*` to hand to TensorRT.
    pub fn as_ptr(&'static self) -> *mut c_void {
        (self as *const Logger).cast_mut().cast()
    }

    /// The current end of the message stream.
    pub fn mark(&self) -> LogMark {
        LogMark(self.next_sequence.load(Ordering::Acquire))
    }

    /// Records a message as if TensorRT had logged it (also what the callback does).
    pub fn record(&self, severity: Severity, text: &str) {
        log::log!(target: "tensorrt", severity.log_level(), "{text}");
        if severity == Severity::Verbose {
            return; // verbose output is voluminous and never quoted
        }
        let mut messages = self.messages.lock();
        // Numbered under the lock, so the kept messages stay in sequence order.
        let sequence = self.next_sequence.fetch_add(1, Ordering::AcqRel);
        if messages.recent.len() == KEPT_MESSAGES {
            messages.recent.pop_front();
        }
        messages.recent.push_back(LogMessage {
            sequence,
            severity,
            thread: std::thread::current().id(),
            text: text.to_owned(),
        });
    }

    /// The kept messages logged at or after `mark` (verbose messages are not kept).
    pub fn messages_since(&self, mark: LogMark) -> Vec<LogMessage> {
        self.messages
            .lock()
            .recent
            .iter()
            .filter(|message| message.sequence >= mark.0)
            .cloned()
            .collect()
    }

    /// The error messages logged since `mark`, joined with "; ": this thread's if it logged
    /// any (other threads may be failing at the same time), else every thread's.
    pub fn errors_since(&self, mark: LogMark) -> Option<String> {
        let errors: Vec<LogMessage> = self
            .messages_since(mark)
            .into_iter()
            .filter(|message| message.severity.is_error())
            .collect();
        let this_thread = std::thread::current().id();
        let own: Vec<&LogMessage> = errors.iter().filter(|m| m.thread == this_thread).collect();
        let chosen: Vec<&LogMessage> = if own.is_empty() {
            errors.iter().collect()
        } else {
            own
        };
        if chosen.is_empty() {
            return None;
        }
        Some(
            chosen
                .iter()
                .map(|m| m.text.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The error messages this thread logged since `mark`, joined with "; " (for methods that
    /// return nothing, whose only failure signal is the log).
    pub fn errors_of_this_thread_since(&self, mark: LogMark) -> Option<String> {
        let this_thread = std::thread::current().id();
        let texts: Vec<String> = self
            .messages_since(mark)
            .into_iter()
            .filter(|message| message.severity.is_error() && message.thread == this_thread)
            .map(|message| message.text)
            .collect();
        (!texts.is_empty()).then(|| texts.join("; "))
    }

    /// The error message for a failed call: what TensorRT logged since `mark`, or `fallback`.
    pub fn failure_message(&self, mark: LogMark, fallback: impl FnOnce() -> String) -> String {
        self.errors_since(mark).unwrap_or_else(fallback)
    }
}

/// The `log(severity, message)` callback of both layouts.
unsafe extern "C" fn log_callback(this: *mut Logger, severity: i32, message: *const c_char) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if this.is_null() {
            return;
        }
        let text = if message.is_null() {
            String::from("(null message)")
        } else {
            // SAFETY: TensorRT passes a NUL-terminated string valid for the call.
            unsafe { CStr::from_ptr(message) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: `this` is the leaked `Logger` TensorRT was given; it lives forever.
        unsafe { &*this }.record(Severity::from_raw(severity), &text);
    }));
}

/// `IVersionedInterface::getAPILanguage`: `APILanguage::kCPP` (0).
unsafe extern "C" fn get_api_language(_this: *const Logger) -> i32 {
    0
}

/// `IVersionedInterface::getInterfaceInfo`: `{"ILogger", 1, 0}` as the headers declare.
unsafe extern "C" fn get_interface_info(_this: *const Logger) -> InterfaceInfo {
    InterfaceInfo {
        kind: c"ILogger".as_ptr(),
        major: 1,
        minor: 0,
    }
}

/// Destructors: TensorRT never owns the logger; they do nothing.
unsafe extern "C" fn destructor(_this: *mut Logger) {}

/// Vtable of the TensorRT 11 / RTX 1.5+ `ILogger`, with its two header words.
#[repr(C)]
struct VersionedVtable {
    offset_to_top: isize,
    type_info: *const c_void,
    get_api_language: unsafe extern "C" fn(*const Logger) -> i32,
    get_interface_info: unsafe extern "C" fn(*const Logger) -> InterfaceInfo,
    destructor_complete: unsafe extern "C" fn(*mut Logger),
    destructor_deleting: unsafe extern "C" fn(*mut Logger),
    log: unsafe extern "C" fn(*mut Logger, i32, *const c_char),
}

/// Vtable of the TensorRT 10 / RTX 1.3-1.4 `ILogger`.
#[repr(C)]
struct UnversionedVtable {
    offset_to_top: isize,
    type_info: *const c_void,
    log: unsafe extern "C" fn(*mut Logger, i32, *const c_char),
    destructor_complete: unsafe extern "C" fn(*mut Logger),
    destructor_deleting: unsafe extern "C" fn(*mut Logger),
}

static VERSIONED_VTABLE: StaticVtable<VersionedVtable> = StaticVtable(VersionedVtable {
    offset_to_top: 0,
    type_info: std::ptr::null(),
    get_api_language,
    get_interface_info,
    destructor_complete: destructor,
    destructor_deleting: destructor,
    log: log_callback,
});

static UNVERSIONED_VTABLE: StaticVtable<UnversionedVtable> = StaticVtable(UnversionedVtable {
    offset_to_top: 0,
    type_info: std::ptr::null(),
    log: log_callback,
    destructor_complete: destructor,
    destructor_deleting: destructor,
});

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls slot `slot` of the logger's vtable the way C++ would.
    fn call_log_slot(logger: &'static Logger, slot: usize, severity: i32, text: &CStr) {
        // SAFETY: the vptr points at a static vtable whose entry `slot` is `log_callback`
        // (checked by the caller's choice of slot for the layout).
        unsafe {
            let vtable =
                logger.vptr as *const unsafe extern "C" fn(*mut Logger, i32, *const c_char);
            (*vtable.add(slot))(logger.as_ptr().cast(), severity, text.as_ptr());
        }
    }

    #[test]
    fn both_layouts_put_log_where_the_headers_say() {
        let versioned = Logger::leak_new(LoggerLayout::Versioned);
        call_log_slot(versioned, 4, 1, c"engine broke");
        let unversioned = Logger::leak_new(LoggerLayout::Unversioned);
        call_log_slot(unversioned, 0, 2, c"careful");
        assert_eq!(versioned.messages_since(LogMark(0))[0].text, "engine broke");
        assert_eq!(
            versioned.messages_since(LogMark(0))[0].severity,
            Severity::Error
        );
        assert_eq!(
            unversioned.messages_since(LogMark(0))[0].severity,
            Severity::Warning
        );
    }

    #[test]
    fn errors_since_quotes_only_new_errors_of_this_thread_first() {
        let logger = Logger::leak_new(LoggerLayout::Versioned);
        logger.record(Severity::Error, "old");
        let mark = logger.mark();
        assert_eq!(logger.errors_since(mark), None);
        std::thread::scope(|scope| {
            scope.spawn(|| logger.record(Severity::Error, "other thread"));
        });
        assert_eq!(logger.errors_since(mark).as_deref(), Some("other thread"));
        logger.record(Severity::Warning, "a warning");
        logger.record(Severity::InternalError, "mine");
        assert_eq!(logger.errors_since(mark).as_deref(), Some("mine"));
        for index in 0..KEPT_MESSAGES + 3 {
            logger.record(Severity::Info, &format!("info {index}"));
        }
        assert_eq!(logger.messages_since(LogMark(0)).len(), KEPT_MESSAGES);
    }

    #[test]
    fn severities_map_to_log_levels_and_clamp() {
        assert_eq!(Severity::from_raw(0).log_level(), log::Level::Error);
        assert_eq!(Severity::from_raw(2).log_level(), log::Level::Warn);
        assert_eq!(Severity::from_raw(3).log_level(), log::Level::Info);
        assert_eq!(Severity::from_raw(4).log_level(), log::Level::Trace);
        assert_eq!(Severity::from_raw(-7), Severity::InternalError);
        assert_eq!(Severity::from_raw(99), Severity::Verbose);
    }
}
