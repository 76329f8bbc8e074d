//! The CUDA-graph LRU cache: one captured graph per (input shapes, dtypes, device).
//!
//! A [`GraphCache`] is moved into exactly one session (it is not `Clone`, so attaching it to a
//! second session is a use-after-move compile error). A [`GraphCacheHandle`] taken from it
//! manages the cache from any thread while the session runs: the session holds the cache lock
//! from lookup to insert, so miss → capture → insert is atomic, and it pins the entry it
//! replays (an `Arc`), so a purge from another thread never frees a graph in use; that
//! entry's memory is released when the run's borrowed outputs are dropped.
//!
//! The lock is held while a graph is captured, which calls into TensorRT and so into its
//! logger: a `log` sink must not call back into the same cache's handle.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lru::LruCache;
use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::backend::{ContextBackend, DeviceBackend, GraphBackend};
use crate::error::{Error, Result};
use crate::tensor::DeviceBuffer;
use crate::types::{DataType, DeviceId, Shape};

/// The environment variable inference_models reads to turn on CUDA graphs for TensorRT.
pub const AUTO_CUDA_GRAPHS_ENV: &str = "ENABLE_AUTO_CUDA_GRAPHS_FOR_TRT_BACKEND";

/// What identifies one captured graph: the device and every input's shape and data type, in
/// engine input order. Built on the stack for lookups (no heap for up to four inputs).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GraphKey {
    device: DeviceId,
    inputs: SmallVec<[(Shape, DataType); 4]>,
}

impl GraphKey {
    /// A key for `inputs` (shape and dtype per engine input, in engine order) on `device`.
    ///
    /// ```
    /// use trt_core::{DataType, DeviceId, GraphKey, Shape};
    /// let key = GraphKey::new(DeviceId(0), &[(Shape::new(&[4, 16]).unwrap(), DataType::F32)]);
    /// assert_eq!(key.to_string(), "device 0: f32[4, 16]");
    /// ```
    pub fn new(device: DeviceId, inputs: &[(Shape, DataType)]) -> GraphKey {
        GraphKey {
            device,
            inputs: inputs.iter().copied().collect(),
        }
    }

    pub(crate) fn from_parts(
        device: DeviceId,
        inputs: impl Iterator<Item = (Shape, DataType)>,
    ) -> GraphKey {
        GraphKey {
            device,
            inputs: inputs.collect(),
        }
    }

    /// The device.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// Shape and dtype of each input, in engine order.
    pub fn inputs(&self) -> &[(Shape, DataType)] {
        &self.inputs
    }

    /// The leading dimension of the first input (the batch size of most models).
    pub fn batch(&self) -> Option<i64> {
        self.inputs
            .first()
            .and_then(|(shape, _)| shape.dims().first().copied())
    }
}

impl fmt::Display for GraphKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.device)?;
        for (index, (shape, dtype)) in self.inputs.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{dtype}{shape}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for GraphKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GraphKey({self})")
    }
}

/// What a session does when a shape cannot be captured into a graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CaptureFailurePolicy {
    /// Return [`Error::CaptureFailed`] (the session stays usable).
    Error,
    /// Log a warning, return the eager result, and run that key eagerly from then on.
    #[default]
    FallbackToEager,
}

/// Counters of one cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheMetrics {
    /// Runs served by replaying a cached graph.
    pub hits: u64,
    /// Runs whose key was not cached.
    pub misses: u64,
    /// Graphs captured.
    pub captures: u64,
    /// Captures that failed.
    pub capture_failures: u64,
    /// Entries evicted to respect the capacity (by count or bytes).
    pub evictions: u64,
    /// Entries removed by `remove`, `purge` or `clear`.
    pub removals: u64,
    /// Runs that skipped the cache (per-call bypass, disabled cache, uncapturable key).
    pub bypasses: u64,
    /// Time spent capturing (warm-up, capture, instantiation).
    pub capture_time: Duration,
}

/// Configuration of a graph cache; moved into one session with `.with_cudagraphs(cache)`.
///
/// ```
/// use trt_core::{CaptureFailurePolicy, GraphCache};
/// let cache = GraphCache::new(8)
///     .with_max_device_bytes(256 << 20)
///     .with_capture_failure_policy(CaptureFailurePolicy::Error);
/// let handle = cache.handle(); // keep this to manage the cache from another thread
/// assert_eq!(handle.capacity(), 8);
/// ```
pub struct GraphCache {
    shared: Arc<CacheShared>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct CacheConfig {
    pub(crate) capacity: usize,
    pub(crate) max_device_bytes: Option<usize>,
    pub(crate) failure_policy: CaptureFailurePolicy,
    pub(crate) shared_arena: bool,
    pub(crate) enabled: bool,
}

pub(crate) struct CacheShared {
    /// Configuration and entries under one lock. The configuration lives here, not beside the
    /// `Arc`, so that a handle taken before a `with_*` call sees the same cache.
    pub(crate) state: Mutex<CacheState>,
}

impl GraphCache {
    /// A cache of at most `capacity` graphs (0 is refused when the session is built).
    pub fn new(capacity: usize) -> GraphCache {
        GraphCache::from_config(CacheConfig {
            capacity,
            max_device_bytes: None,
            failure_policy: CaptureFailurePolicy::default(),
            shared_arena: true,
            enabled: true,
        })
    }

    /// Like [`GraphCache::new`], but enabled only when `ENABLE_AUTO_CUDA_GRAPHS_FOR_TRT_BACKEND`
    /// is `true` (case-insensitive); `false` or unset: every run is eager. Any other value
    /// is an error, as in inference_models.
    pub fn from_env(capacity: usize) -> Result<GraphCache> {
        let value = std::env::var(AUTO_CUDA_GRAPHS_ENV).ok();
        let enabled = parse_auto_cuda_graphs(value.as_deref())?;
        Ok(GraphCache::new(capacity).with_enabled(enabled))
    }

    fn from_config(config: CacheConfig) -> GraphCache {
        GraphCache {
            shared: Arc::new(CacheShared {
                state: Mutex::new(CacheState::new(config)),
            }),
        }
    }

    fn map_config(self, change: impl FnOnce(&mut CacheConfig)) -> GraphCache {
        change(&mut self.shared.state.lock().config);
        self
    }

    /// Also bound the device bytes held by cached entries (their I/O buffers, and their
    /// activation memory when the arena is not shared); the least recently used go first.
    /// The session's one shared arena is not counted: it exists with or without entries.
    pub fn with_max_device_bytes(self, bytes: usize) -> GraphCache {
        self.map_config(|config| config.max_device_bytes = Some(bytes))
    }

    /// What to do when a shape cannot be captured.
    pub fn with_capture_failure_policy(self, policy: CaptureFailurePolicy) -> GraphCache {
        self.map_config(|config| config.failure_policy = policy)
    }

    /// Share one activation arena between all graphs of the session (default: true). With
    /// `false` every entry's context owns its activation memory, as in inference_models.
    pub fn with_shared_arena(self, shared: bool) -> GraphCache {
        self.map_config(|config| config.shared_arena = shared)
    }

    /// Turn graph use on or off for the session (off: every run is eager).
    pub fn with_enabled(self, enabled: bool) -> GraphCache {
        self.map_config(|config| config.enabled = enabled)
    }

    /// True when the session will use graphs.
    pub fn is_enabled(&self) -> bool {
        self.shared.state.lock().config.enabled
    }

    /// A handle to manage this cache from any thread.
    pub fn handle(&self) -> GraphCacheHandle {
        GraphCacheHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    pub(crate) fn into_shared(self) -> Arc<CacheShared> {
        self.shared
    }
}

impl fmt::Debug for GraphCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphCache")
            .field("config", &self.shared.state.lock().config)
            .finish()
    }
}

/// Parses `ENABLE_AUTO_CUDA_GRAPHS_FOR_TRT_BACKEND`: `true`/`false` in any case; unset is off.
///
/// ```
/// use trt_core::cache::parse_auto_cuda_graphs;
/// assert_eq!(parse_auto_cuda_graphs(Some("TRUE")).unwrap(), true);
/// assert_eq!(parse_auto_cuda_graphs(None).unwrap(), false);
/// assert!(parse_auto_cuda_graphs(Some("1")).is_err());
/// ```
pub fn parse_auto_cuda_graphs(value: Option<&str>) -> Result<bool> {
    match value {
        None => Ok(false),
        Some(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Some(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        Some(text) => Err(Error::InvalidEnvironment {
            variable: AUTO_CUDA_GRAPHS_ENV,
            value: text.to_owned(),
            expected: "`true` or `false`",
        }),
    }
}

/// Manages a session's graph cache from any thread (`Clone + Send + Sync`).
///
/// Every call takes the cache lock, so it waits for a run in progress to finish.
#[derive(Clone)]
pub struct GraphCacheHandle {
    shared: Arc<CacheShared>,
}

impl GraphCacheHandle {
    pub(crate) fn from_shared(shared: Arc<CacheShared>) -> GraphCacheHandle {
        GraphCacheHandle { shared }
    }

    /// Number of cached graphs.
    pub fn len(&self) -> usize {
        self.shared.state.lock().entries.len()
    }

    /// True when no graph is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Maximum number of entries.
    pub fn capacity(&self) -> usize {
        self.shared.state.lock().config.capacity
    }

    /// Cached keys, least recently used first.
    pub fn keys(&self) -> Vec<GraphKey> {
        let state = self.shared.state.lock();
        state
            .entries
            .iter()
            .rev()
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// True when `key` is cached. Does not change its recency.
    pub fn contains(&self, key: &GraphKey) -> bool {
        self.shared.state.lock().entries.contains(key)
    }

    /// Removes `key`; returns whether it was cached (a missing key is a no-op).
    pub fn remove(&self, key: &GraphKey) -> bool {
        let mut state = self.shared.state.lock();
        let removed = state.take(key);
        let found = removed.is_some();
        state.metrics.removals += u64::from(found);
        state.release(removed);
        found
    }

    /// Removes the `n_oldest` least recently used entries (all with `None`), then returns
    /// their memory to the device once. Returns how many were removed.
    pub fn purge(&self, n_oldest: Option<usize>) -> usize {
        let mut state = self.shared.state.lock();
        let count = n_oldest.unwrap_or(usize::MAX).min(state.entries.len());
        let removed: Vec<_> = (0..count).filter_map(|_| state.pop_oldest()).collect();
        state.metrics.removals += removed.len() as u64;
        state.release(removed);
        count
    }

    /// Removes every entry, and forgets which keys failed to capture.
    pub fn clear(&self) {
        self.purge(None);
        self.shared.state.lock().uncapturable.clear();
    }

    /// Counters.
    pub fn metrics(&self) -> CacheMetrics {
        self.shared.state.lock().metrics
    }

    /// Device bytes held by cached entries.
    pub fn device_bytes(&self) -> usize {
        self.shared.state.lock().bytes
    }
}

impl fmt::Debug for GraphCacheHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("GraphCacheHandle")
            .field("len", &state.entries.len())
            .field("device_bytes", &state.bytes)
            .field("metrics", &state.metrics)
            .finish()
    }
}

/// One captured graph and everything it replays against. Immutable once captured; shared
/// (`Arc`) so that outputs borrowed from it stay valid if another thread evicts it.
pub(crate) struct GraphEntry {
    // Field order is drop order: the graph goes before the context and memory it uses.
    pub(crate) graph: Box<dyn GraphBackend>,
    pub(crate) _context: Box<dyn ContextBackend>,
    /// One buffer per engine input, in engine input order.
    pub(crate) inputs: SmallVec<[DeviceBuffer; 4]>,
    /// One buffer and its captured shape per engine output, in engine output order.
    pub(crate) outputs: SmallVec<[(DeviceBuffer, Shape); 4]>,
    pub(crate) _arena: Option<Arc<DeviceBuffer>>,
    pub(crate) device_bytes: usize,
}

pub(crate) struct CacheState {
    /// Fixed once the cache is attached to its session (the builder consumes the cache).
    pub(crate) config: CacheConfig,
    entries: LruCache<GraphKey, Arc<GraphEntry>>,
    bytes: usize,
    pub(crate) metrics: CacheMetrics,
    /// Keys whose capture failed under [`CaptureFailurePolicy::FallbackToEager`].
    pub(crate) uncapturable: HashSet<GraphKey>,
    device: Option<Arc<dyn DeviceBackend>>,
}

impl CacheState {
    fn new(config: CacheConfig) -> CacheState {
        CacheState {
            config,
            entries: LruCache::unbounded(),
            bytes: 0,
            metrics: CacheMetrics::default(),
            uncapturable: HashSet::new(),
            device: None,
        }
    }

    pub(crate) fn attach(&mut self, device: &Arc<dyn DeviceBackend>) {
        self.device = Some(Arc::clone(device));
    }

    /// Looks `key` up and marks it most recently used.
    pub(crate) fn get(&mut self, key: &GraphKey) -> Option<Arc<GraphEntry>> {
        self.entries.get(key).cloned()
    }

    /// Inserts a new entry, then evicts the least recently used entries while over the count
    /// or byte capacity (never the entry just inserted). Returns the evicted entries, for the
    /// caller to release once.
    pub(crate) fn insert(&mut self, key: GraphKey, entry: Arc<GraphEntry>) -> Vec<Arc<GraphEntry>> {
        let config = self.config;
        self.bytes += entry.device_bytes;
        if let Some(replaced) = self.entries.put(key, entry) {
            self.bytes -= replaced.device_bytes;
        }
        let mut evicted = Vec::new();
        while self.entries.len() > 1
            && (self.entries.len() > config.capacity
                || config.max_device_bytes.is_some_and(|max| self.bytes > max))
        {
            match self.pop_oldest() {
                Some(entry) => evicted.push(entry),
                None => break,
            }
        }
        self.metrics.evictions += evicted.len() as u64;
        evicted
    }

    fn pop_oldest(&mut self) -> Option<Arc<GraphEntry>> {
        let (_, entry) = self.entries.pop_lru()?;
        self.bytes -= entry.device_bytes;
        Some(entry)
    }

    fn take(&mut self, key: &GraphKey) -> Option<Arc<GraphEntry>> {
        let entry = self.entries.pop(key)?;
        self.bytes -= entry.device_bytes;
        Some(entry)
    }

    /// Drops removed entries (freeing their graphs, contexts and buffers unless an output
    /// borrowed from one still pins it), then asks the device once to return cached memory.
    pub(crate) fn release(&self, removed: impl IntoIterator<Item = Arc<GraphEntry>>) {
        let mut any = false;
        for entry in removed {
            drop(entry);
            any = true;
        }
        if let (true, Some(device)) = (any, &self.device) {
            device.trim();
        }
    }

    /// Drops every entry (their contexts are stale after a settings change).
    pub(crate) fn clear_entries(&mut self) {
        let removed: Vec<_> = std::iter::from_fn(|| self.pop_oldest()).collect();
        self.metrics.removals += removed.len() as u64;
        self.release(removed);
    }

    /// Empties the cache when its session goes away: entries hold contexts of the session's
    /// engine, which must not outlive it.
    pub(crate) fn detach(&mut self) {
        let removed: Vec<_> = std::iter::from_fn(|| self.pop_oldest()).collect();
        self.release(removed);
        self.uncapturable.clear();
        self.device = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_cuda_graphs_variable_accepts_only_true_and_false() {
        assert!(parse_auto_cuda_graphs(Some("True")).unwrap());
        assert!(!parse_auto_cuda_graphs(Some("fAlSe")).unwrap());
        assert!(!parse_auto_cuda_graphs(None).unwrap());
        for bad in ["", "1", "yes", "on", "true "] {
            let error = parse_auto_cuda_graphs(Some(bad)).unwrap_err();
            assert!(error.to_string().contains(AUTO_CUDA_GRAPHS_ENV), "{error}");
        }
    }

    #[test]
    fn a_handle_taken_before_configuring_sees_the_same_cache() {
        let cache = GraphCache::new(2);
        let early = cache.handle();
        let cache = cache.with_max_device_bytes(1 << 20).with_enabled(false);
        assert!(!cache.is_enabled());
        assert!(Arc::ptr_eq(&early.shared, &cache.handle().shared));
        assert_eq!(early.capacity(), 2);
    }

    #[test]
    fn keys_compare_by_device_shapes_and_dtypes() {
        let shape = Shape::new(&[2, 4]).unwrap();
        let a = GraphKey::new(DeviceId(0), &[(shape, DataType::F32)]);
        assert_eq!(a, GraphKey::new(DeviceId(0), &[(shape, DataType::F32)]));
        assert_ne!(a, GraphKey::new(DeviceId(1), &[(shape, DataType::F32)]));
        assert_ne!(a, GraphKey::new(DeviceId(0), &[(shape, DataType::F16)]));
        assert_eq!(a.batch(), Some(2));
    }
}
