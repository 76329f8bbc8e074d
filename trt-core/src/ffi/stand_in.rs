//! Test hooks of the ABI-exact stand-in library (`stand-in/` in the repository): reading the
//! calls it recorded. Not part of the supported API.

use std::ffi::{c_char, CStr};

use super::loader::TensorRtLibrary;
use crate::error::{Error, Result};

/// `char* standin_take_calls()`: the calls this thread made since the last take, one per line;
/// released with `void standin_free_calls(char*)`.
type TakeCallsFn = unsafe extern "C" fn() -> *mut c_char;
type FreeCallsFn = unsafe extern "C" fn(*mut c_char);

/// Returns and clears the calls the calling thread made into the stand-in library.
/// [`Error::MissingSymbol`] when `library` is not the stand-in.
pub fn take_calls(library: &TensorRtLibrary) -> Result<String> {
    let raw = library.raw_library();
    let missing = |symbol| Error::MissingSymbol {
        library: library.path().to_owned(),
        symbol,
    };
    // SAFETY: the stand-in declares `extern "C" char* standin_take_calls()`.
    let take: TakeCallsFn = unsafe { raw.get::<TakeCallsFn>(b"standin_take_calls\0") }
        .map(|symbol| *symbol)
        .map_err(|_| missing("standin_take_calls"))?;
    // SAFETY: the stand-in declares `extern "C" void standin_free_calls(char*)`.
    let free: FreeCallsFn = unsafe { raw.get::<FreeCallsFn>(b"standin_free_calls\0") }
        .map(|symbol| *symbol)
        .map_err(|_| missing("standin_free_calls"))?;
    // SAFETY: returns a malloc'd NUL-terminated string (or null) that we release with `free`.
    let text = unsafe { take() };
    if text.is_null() {
        return Ok(String::new());
    }
    // SAFETY: non-null NUL-terminated string from the stand-in, copied before it is freed.
    let copied = unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: the pointer came from `standin_take_calls` and is freed once.
    unsafe { free(text) };
    Ok(copied)
}
