//! The simulated TensorRT-RTX runtime cache: a set of kernel ids.

use std::any::Any;
use std::collections::BTreeSet;

use parking_lot::Mutex;

use crate::backend::RuntimeCacheBackend;
use crate::error::{Error, Result};

/// The first line of a serialized [`SimRuntimeCache`].
pub const SIM_RUNTIME_CACHE_HEADER: &str = "#trt-sim-runtime-cache v1";

/// A simulated runtime cache (`IRuntimeCache`): the sorted set of kernel ids that contexts
/// created with it have "compiled" (see [`super::SimContext`]).
///
/// Serialized form: the line [`SIM_RUNTIME_CACHE_HEADER`], then one kernel id per line.
/// [`RuntimeCacheBackend::deserialize`] *merges* the ids of the blob into the cache (TensorRT
/// leaves merge-or-replace undocumented; merging is the conservative reading).
#[derive(Debug, Default)]
pub struct SimRuntimeCache {
    kernels: Mutex<BTreeSet<String>>,
}

impl SimRuntimeCache {
    /// An empty cache.
    pub fn new() -> SimRuntimeCache {
        SimRuntimeCache::default()
    }

    /// The kernel ids held, sorted.
    pub fn kernels(&self) -> Vec<String> {
        self.kernels.lock().iter().cloned().collect()
    }

    /// Adds a kernel id (idempotent).
    pub(crate) fn record_kernel(&self, id: String) {
        self.kernels.lock().insert(id);
    }
}

fn not_a_cache(reason: String) -> Error {
    Error::InvalidConfig(format!("not a simulated runtime cache: {reason}"))
}

impl RuntimeCacheBackend for SimRuntimeCache {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn serialize(&self) -> Result<Vec<u8>> {
        let mut text = String::from(SIM_RUNTIME_CACHE_HEADER);
        text.push('\n');
        for id in self.kernels.lock().iter() {
            text.push_str(id);
            text.push('\n');
        }
        Ok(text.into_bytes())
    }

    /// Merges the blob's kernel ids; a blob without the header (or not UTF-8) is refused with
    /// [`Error::InvalidConfig`] and leaves the cache unchanged.
    fn deserialize(&self, blob: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(blob)
            .map_err(|error| not_a_cache(format!("not UTF-8 text ({error})")))?;
        let mut lines = text.lines();
        match lines.next() {
            Some(SIM_RUNTIME_CACHE_HEADER) => {}
            other => {
                let head: String = other.unwrap_or_default().chars().take(32).collect();
                return Err(not_a_cache(format!(
                    "expected the header {SIM_RUNTIME_CACHE_HEADER:?}, found {head:?}"
                )));
            }
        }
        let ids: Vec<&str> = lines.filter(|line| !line.is_empty()).collect();
        self.kernels
            .lock()
            .extend(ids.into_iter().map(str::to_owned));
        Ok(())
    }

    fn reset(&self) -> Result<()> {
        self.kernels.lock().clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_merges() {
        let cache = SimRuntimeCache::new();
        cache.record_kernel("mlp/x=[4, 16]".to_owned());
        cache.record_kernel("mlp/x=[1, 16]".to_owned());
        cache.record_kernel("mlp/x=[4, 16]".to_owned());
        let blob = cache.serialize().unwrap();
        assert_eq!(
            String::from_utf8(blob.clone()).unwrap(),
            "#trt-sim-runtime-cache v1\nmlp/x=[1, 16]\nmlp/x=[4, 16]\n"
        );

        let other = SimRuntimeCache::new();
        other.record_kernel("half/x=[2, 4]".to_owned());
        other.deserialize(&blob).unwrap();
        assert_eq!(
            other.kernels(),
            ["half/x=[2, 4]", "mlp/x=[1, 16]", "mlp/x=[4, 16]"]
        );
        other.reset().unwrap();
        assert!(other.kernels().is_empty());
        other.deserialize(&blob).unwrap();
        assert_eq!(other.kernels(), cache.kernels());
    }

    #[test]
    fn rejects_garbage_and_stays_unchanged() {
        let cache = SimRuntimeCache::new();
        cache.record_kernel("kept".to_owned());
        for garbage in [
            &b""[..],
            b"\xff\xfe\x00",
            b"kernel-without-header\n",
            b"#trt-sim-runtime-cache v2\nx\n",
            b"#trt-sim-plan v1\nname = 1",
        ] {
            assert!(matches!(
                cache.deserialize(garbage),
                Err(Error::InvalidConfig(_))
            ));
        }
        assert_eq!(cache.kernels(), ["kept"]);
        // A header alone is an empty cache.
        cache.deserialize(b"#trt-sim-runtime-cache v1\n").unwrap();
        assert_eq!(cache.kernels(), ["kept"]);
    }
}
