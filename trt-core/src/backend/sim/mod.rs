//! The host simulation backend: no GPU, no TensorRT, same semantics.
//!
//! - Device memory is real host memory ([`SimDevice`]): a device address is the host address
//!   of a 256-byte aligned allocation, and every access is checked against live allocations,
//!   so a use after free is an [`crate::Error::InvalidDeviceAddress`], never undefined
//!   behaviour.
//! - Streams ([`SimStream`]) run work synchronously unless capturing; a capture records work at
//!   fixed addresses and shapes into a [`SimGraph`], with CUDA's capture rules (host copies,
//!   data-dependent shapes and weight streaming are not capturable).
//! - Engines come from simulated plans (see [`SIM_PLAN_MAGIC`] and the `models/*.simplan`
//!   files): a TOML description of tensors, profiles, memory needs and simple deterministic
//!   operations ([`linear_weight`], [`linear_bias`]) so results can be checked by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::backend::{DeviceBackend, EngineBackend, PlatformBackend, RuntimeCacheBackend};
use crate::error::Result;
use crate::types::{DeviceId, Flavor};

mod compute;
mod context;
mod device;
mod engine;
mod plan;
mod runtime_cache;
mod stream;

pub use compute::{linear_bias, linear_weight};
pub use context::SimContext;
pub use device::{SimDevice, SimDeviceStats};
pub use engine::SimEngine;
pub use plan::SIM_PLAN_MAGIC;
pub use runtime_cache::{SimRuntimeCache, SIM_RUNTIME_CACHE_HEADER};
pub use stream::{SimGraph, SimStream};

/// How to build a simulated platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The device ordinal reported.
    pub device_id: DeviceId,
    /// Device capacity in bytes (default 4 GiB). Allocations are real host memory, so only
    /// what is allocated is used.
    pub memory_bytes: usize,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            device_id: DeviceId(0),
            memory_bytes: 4 << 30,
        }
    }
}

/// Activity counters of a simulated platform, as [`SimPlatform::stats`] reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Execution contexts created.
    pub contexts_created: u64,
    /// Execution contexts alive now.
    pub contexts_live: u64,
    /// Successful `enqueueV3` calls (run, or recorded into a capture).
    pub enqueues: u64,
    /// Captures begun.
    pub captures_begun: u64,
    /// Captures that ended in [`crate::Error::CaptureFailed`].
    pub captures_failed: u64,
    /// Graphs produced by successful captures.
    pub graphs_instantiated: u64,
    /// Successful graph launches (including launches recorded into another capture).
    pub graph_launches: u64,
    /// Host-to-device copies (stream and synchronous).
    pub host_to_device_copies: u64,
    /// Device-to-host copies (stream and synchronous).
    pub device_to_host_copies: u64,
    /// Device-to-device copies queued (run or recorded; replays are not counted).
    pub device_to_device_copies: u64,
    /// Contexts created with TensorRT-RTX's whole-graph capture on (the simulation does not
    /// capture by itself; this records that the setting reached the context).
    pub whole_graph_capture_contexts: u64,
}

/// The live counters behind [`SimStats`], shared by every object of one platform.
#[derive(Debug, Default)]
pub(crate) struct SimCounters {
    pub(crate) contexts_created: AtomicU64,
    pub(crate) contexts_live: AtomicU64,
    pub(crate) enqueues: AtomicU64,
    pub(crate) captures_begun: AtomicU64,
    pub(crate) captures_failed: AtomicU64,
    pub(crate) graphs_instantiated: AtomicU64,
    pub(crate) graph_launches: AtomicU64,
    pub(crate) host_to_device_copies: AtomicU64,
    pub(crate) device_to_host_copies: AtomicU64,
    pub(crate) device_to_device_copies: AtomicU64,
    pub(crate) whole_graph_capture_contexts: AtomicU64,
}

impl SimCounters {
    fn snapshot(&self) -> SimStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SimStats {
            contexts_created: read(&self.contexts_created),
            contexts_live: read(&self.contexts_live),
            enqueues: read(&self.enqueues),
            captures_begun: read(&self.captures_begun),
            captures_failed: read(&self.captures_failed),
            graphs_instantiated: read(&self.graphs_instantiated),
            graph_launches: read(&self.graph_launches),
            host_to_device_copies: read(&self.host_to_device_copies),
            device_to_host_copies: read(&self.device_to_host_copies),
            device_to_device_copies: read(&self.device_to_device_copies),
            whole_graph_capture_contexts: read(&self.whole_graph_capture_contexts),
        }
    }
}

/// The simulated TensorRT runtime on one simulated device.
pub struct SimPlatform {
    device: Arc<SimDevice>,
    /// The same device, as the trait object [`PlatformBackend::device`] hands out.
    device_backend: Arc<dyn DeviceBackend>,
}

impl std::fmt::Debug for SimPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPlatform")
            .field("device", &self.device)
            .field("stats", &self.stats())
            .finish()
    }
}

// Every backend object crosses threads (sessions, graph caches, allocator callbacks).
static_assertions::assert_impl_all!(SimPlatform: Send, Sync);
static_assertions::assert_impl_all!(SimDevice: Send, Sync);
static_assertions::assert_impl_all!(SimStream: Send, Sync);
static_assertions::assert_impl_all!(SimGraph: Send, Sync);
static_assertions::assert_impl_all!(SimEngine: Send, Sync);
static_assertions::assert_impl_all!(SimContext: Send, Sync);
static_assertions::assert_impl_all!(SimRuntimeCache: Send, Sync);

impl SimPlatform {
    /// A platform with a fresh simulated device.
    pub fn new(config: SimConfig) -> Arc<SimPlatform> {
        let device = Arc::new(SimDevice::new(
            config.device_id,
            config.memory_bytes,
            Arc::new(SimCounters::default()),
        ));
        Arc::new(SimPlatform {
            device_backend: Arc::clone(&device) as Arc<dyn DeviceBackend>,
            device,
        })
    }

    /// The simulated device, for its allocation stats.
    pub fn sim_device(&self) -> &Arc<SimDevice> {
        &self.device
    }

    /// Activity counters.
    pub fn stats(&self) -> SimStats {
        self.device.counters().snapshot()
    }
}

impl PlatformBackend for SimPlatform {
    fn device(&self) -> &Arc<dyn DeviceBackend> {
        &self.device_backend
    }

    fn flavor(&self) -> Flavor {
        Flavor::Simulation
    }

    fn library_version(&self) -> u32 {
        0
    }

    /// Parses a simulated plan and allocates its weights on the device.
    fn deserialize_engine(&self, plan: &[u8]) -> Result<Arc<dyn EngineBackend>> {
        let plan = plan::SimPlan::parse(plan)?;
        let engine = SimEngine::new(
            plan,
            Arc::clone(self.device.memory()),
            Arc::clone(self.device.counters()),
        )?;
        Ok(Arc::new(engine))
    }

    fn create_runtime_cache(&self) -> Result<Arc<dyn RuntimeCacheBackend>> {
        Ok(Arc::new(SimRuntimeCache::new()))
    }
}

#[cfg(test)]
mod tests;
