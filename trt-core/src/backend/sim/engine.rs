//! Simulated engines: resident weight memory, weight streaming, and context creation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::context::SimContext;
use super::device::DeviceMemory;
use super::plan::SimPlan;
use super::SimCounters;
use crate::backend::{ContextBackend, ContextOptions, DevicePtr, EngineBackend};
use crate::error::{Error, Result};
use crate::types::EngineInfo;

/// The weight memory resident on the device and the budget it follows.
struct ResidentWeights {
    /// Weight-streaming budget; equal to the streamable size while streaming is off.
    budget: usize,
    address: DevicePtr,
    bytes: usize,
}

/// What an engine and all its contexts share; contexts hold an `Arc` to it, so the engine's
/// state (and its weight memory) outlives every context.
pub(crate) struct EngineShared {
    pub(crate) plan: Arc<SimPlan>,
    pub(crate) memory: Arc<DeviceMemory>,
    pub(crate) counters: Arc<SimCounters>,
    weights: Mutex<ResidentWeights>,
    live_contexts: AtomicUsize,
}

impl EngineShared {
    fn name(&self) -> &str {
        &self.plan.info.name
    }

    fn streamable_bytes(&self) -> usize {
        self.plan.info.streamable_weights_size
    }

    /// True while some weights stream from the host (budget below the streamable size):
    /// `enqueueV3` then synchronizes and cannot be captured.
    pub(crate) fn weight_streaming_active(&self) -> bool {
        self.weights.lock().budget < self.streamable_bytes()
    }

    /// The current budget and streamable size, for messages.
    pub(crate) fn weight_streaming_state(&self) -> (usize, usize) {
        (self.weights.lock().budget, self.streamable_bytes())
    }

    /// Called by a context's `Drop`.
    pub(crate) fn context_dropped(&self) {
        self.live_contexts.fetch_sub(1, Ordering::AcqRel);
    }

    fn resident_bytes_for(&self, budget: usize) -> usize {
        self.plan.info.weights_size - self.streamable_bytes() + budget
    }
}

impl Drop for EngineShared {
    fn drop(&mut self) {
        let address = self.weights.get_mut().address;
        if address != DevicePtr::NULL {
            self.memory.free(address);
        }
    }
}

/// A deserialized simulated engine.
///
/// Weight memory: `weights_bytes - streamable_weights_bytes + budget` bytes stay allocated on
/// the device, where the budget starts at the streamable size (streaming off, all weights
/// resident). The simulation's automatic budget is half the streamable size.
pub struct SimEngine {
    shared: Arc<EngineShared>,
}

impl std::fmt::Debug for SimEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimEngine")
            .field("name", &self.shared.plan.info.name)
            .field("live_contexts", &self.live_contexts())
            .field("resident_weight_bytes", &self.resident_weight_bytes())
            .finish()
    }
}

impl SimEngine {
    pub(crate) fn new(
        plan: SimPlan,
        memory: Arc<DeviceMemory>,
        counters: Arc<SimCounters>,
    ) -> Result<SimEngine> {
        let bytes = plan.info.weights_size;
        let budget = plan.info.streamable_weights_size;
        let address = memory.allocate(bytes)?;
        Ok(SimEngine {
            shared: Arc::new(EngineShared {
                plan: Arc::new(plan),
                memory,
                counters,
                weights: Mutex::new(ResidentWeights {
                    budget,
                    address,
                    bytes,
                }),
                live_contexts: AtomicUsize::new(0),
            }),
        })
    }

    /// Execution contexts of this engine that are still alive.
    pub fn live_contexts(&self) -> usize {
        self.shared.live_contexts.load(Ordering::Acquire)
    }

    /// Bytes of weight memory resident on the device.
    pub fn resident_weight_bytes(&self) -> usize {
        self.shared.weights.lock().bytes
    }
}

impl EngineBackend for SimEngine {
    fn info(&self) -> &EngineInfo {
        &self.shared.plan.info
    }

    fn create_context(&self, options: &ContextOptions) -> Result<Box<dyn ContextBackend>> {
        // Held while the count changes, so a budget change never races a new context.
        let _weights = self.shared.weights.lock();
        let context = SimContext::new(Arc::clone(&self.shared), options)?;
        self.shared.live_contexts.fetch_add(1, Ordering::AcqRel);
        Ok(Box::new(context))
    }

    fn set_weight_streaming_budget(&self, bytes: usize) -> Result<()> {
        let shared = &self.shared;
        let streamable = shared.streamable_bytes();
        if streamable == 0 {
            return Err(Error::WeightStreamingUnsupported {
                engine: shared.name().to_owned(),
            });
        }
        let mut weights = shared.weights.lock();
        let live = shared.live_contexts.load(Ordering::Acquire);
        if live > 0 {
            return Err(Error::EngineInUse {
                engine: shared.name().to_owned(),
                live,
                action: "changing the weight-streaming budget",
            });
        }
        let budget = if bytes > streamable {
            log::warn!(
                "engine `{}`: weight-streaming budget {bytes} exceeds the {streamable} streamable bytes; \
                 clamped to {streamable} (streaming off)",
                shared.name()
            );
            streamable
        } else {
            bytes
        };
        let resident = shared.resident_bytes_for(budget);
        if resident != weights.bytes {
            // Free first: the new size must fit the device without the old one.
            shared.memory.free(weights.address);
            match shared.memory.allocate(resident) {
                Ok(address) => {
                    weights.address = address;
                    weights.bytes = resident;
                }
                Err(error) => {
                    match shared.memory.allocate(weights.bytes) {
                        Ok(address) => weights.address = address,
                        Err(restore) => {
                            log::error!(
                                "engine `{}`: could not restore {} bytes of resident weights: {restore}",
                                shared.name(),
                                weights.bytes
                            );
                            weights.address = DevicePtr::NULL;
                            weights.bytes = 0;
                        }
                    }
                    return Err(error);
                }
            }
        }
        weights.budget = budget;
        Ok(())
    }

    fn weight_streaming_budget(&self) -> Result<usize> {
        Ok(self.shared.weights.lock().budget)
    }

    /// The simulation's rule: half the streamable weights stay resident.
    fn weight_streaming_automatic_budget(&self) -> Result<usize> {
        Ok(self.shared.streamable_bytes() / 2)
    }

    /// The plan's `weight_streaming_scratch_bytes` while streaming is active, else 0.
    fn weight_streaming_scratch_memory_size(&self) -> Result<usize> {
        Ok(if self.shared.weight_streaming_active() {
            self.shared.plan.weight_streaming_scratch_bytes
        } else {
            0
        })
    }

    fn serialize(&self) -> Result<Vec<u8>> {
        Ok(self.shared.plan.bytes.clone())
    }
}
