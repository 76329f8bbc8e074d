//! Simulated device memory: real, 256-byte aligned host allocations, addressed by their host
//! address so that a native stand-in library can compute on them through FFI.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};
use parking_lot::Mutex;

use super::stream::SimStream;
use super::SimCounters;
use crate::backend::{BackendKind, DeviceBackend, DevicePtr, MemoryInfo, StreamBackend};
use crate::error::{Error, Result};
use crate::types::DeviceId;

/// CUDA's allocation granularity for `cudaMalloc` alignment, which TensorRT relies on.
pub(crate) const ALLOCATION_ALIGNMENT: usize = 256;

/// The unit of a simulated allocation. Its alignment makes every allocation start on a
/// 256-byte boundary, exactly like `cudaMalloc`.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(256))]
struct Block([u8; ALLOCATION_ALIGNMENT]);

/// One live allocation. The boxed slice never moves once created, so its address is stable
/// for the allocation's whole life.
struct Allocation {
    blocks: Box<[Block]>,
    /// Bytes requested (the accessible length); the blocks may be longer.
    bytes: usize,
}

impl Allocation {
    /// Allocates zeroed blocks for `bytes` (one block for zero bytes, so the address is
    /// unique). `None` when the host itself has no memory for it.
    fn new(bytes: usize) -> Option<Allocation> {
        let count = bytes.div_ceil(ALLOCATION_ALIGNMENT).max(1);
        let mut blocks = Vec::new();
        blocks.try_reserve_exact(count).ok()?;
        blocks.resize(count, Block::zeroed());
        Some(Allocation {
            blocks: blocks.into_boxed_slice(),
            bytes,
        })
    }

    fn address(&self) -> u64 {
        self.blocks.as_ptr().addr() as u64
    }

    fn contents(&self) -> &[u8] {
        &bytemuck::cast_slice::<Block, u8>(&self.blocks)[..self.bytes]
    }

    fn contents_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<Block, u8>(&mut self.blocks)[..self.bytes]
    }
}

/// Allocation counters of a [`SimDevice`], as [`SimDevice::stats`] reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimDeviceStats {
    /// Bytes currently allocated (as requested, not rounded up to blocks).
    pub allocated_bytes: usize,
    /// Highest `allocated_bytes` seen.
    pub peak_bytes: usize,
    /// Allocations not yet freed.
    pub live_allocations: usize,
    /// Successful allocations so far.
    pub total_allocations: u64,
    /// Successful frees so far.
    pub total_frees: u64,
    /// Frees of addresses that were not the start of a live allocation.
    pub invalid_frees: u64,
    /// Calls to [`DeviceBackend::trim`].
    pub trims: u64,
    /// Calls of `make_current` (what safe mode does before each run).
    pub make_current_calls: u64,
}

#[derive(Default)]
struct MemoryState {
    /// Live allocations keyed by start address, so an interior address finds its
    /// allocation with one ordered lookup.
    allocations: BTreeMap<u64, Allocation>,
    stats: SimDeviceStats,
}

/// The memory of one simulated device, shared by the device, its streams, engines and
/// contexts. Every access is bounds-checked against the live allocations.
pub(crate) struct DeviceMemory {
    device: DeviceId,
    capacity: usize,
    state: Mutex<MemoryState>,
}

/// Where an access landed: the allocation's start and the offset inside it.
struct Located {
    start: u64,
    offset: usize,
}

fn locate(allocations: &BTreeMap<u64, Allocation>, ptr: DevicePtr, len: usize) -> Result<Located> {
    let invalid = |reason| Error::InvalidDeviceAddress {
        address: ptr.0,
        bytes: len,
        reason,
    };
    if ptr == DevicePtr::NULL {
        return Err(invalid("null device address"));
    }
    let (&start, allocation) = allocations
        .range(..=ptr.0)
        .next_back()
        .ok_or_else(|| invalid("not inside a live allocation"))?;
    let offset =
        usize::try_from(ptr.0 - start).map_err(|_| invalid("not inside a live allocation"))?;
    if offset > allocation.bytes {
        return Err(invalid("not inside a live allocation"));
    }
    match offset.checked_add(len) {
        Some(end) if end <= allocation.bytes => Ok(Located { start, offset }),
        _ => Err(invalid("the access runs past the end of its allocation")),
    }
}

/// The error for a range that `locate` accepted but the allocation does not hold; it cannot
/// happen while the lock is held, and is an error rather than a panic all the same.
fn unreachable_range(ptr: DevicePtr, len: usize) -> Error {
    Error::InvalidDeviceAddress {
        address: ptr.0,
        bytes: len,
        reason: "not inside a live allocation",
    }
}

impl DeviceMemory {
    pub(crate) fn new(device: DeviceId, capacity: usize) -> DeviceMemory {
        DeviceMemory {
            device,
            capacity,
            state: Mutex::new(MemoryState::default()),
        }
    }

    /// Device capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The device this memory belongs to.
    pub(crate) fn device(&self) -> DeviceId {
        self.device
    }

    pub(crate) fn allocate(&self, bytes: usize) -> Result<DevicePtr> {
        let mut state = self.state.lock();
        let free = self.capacity.saturating_sub(state.stats.allocated_bytes);
        let out_of_memory = Error::OutOfDeviceMemory {
            device: self.device,
            requested: bytes,
            free,
            total: self.capacity,
        };
        if bytes > free {
            return Err(out_of_memory);
        }
        let allocation = Allocation::new(bytes).ok_or(out_of_memory)?;
        let address = allocation.address();
        state.allocations.insert(address, allocation);
        let stats = &mut state.stats;
        stats.allocated_bytes += bytes;
        stats.peak_bytes = stats.peak_bytes.max(stats.allocated_bytes);
        stats.live_allocations += 1;
        stats.total_allocations += 1;
        Ok(DevicePtr(address))
    }

    /// Frees the allocation starting at `ptr`. Returns false (and frees nothing) when `ptr`
    /// is not the start of a live allocation.
    pub(crate) fn free(&self, ptr: DevicePtr) -> bool {
        let mut state = self.state.lock();
        match state.allocations.remove(&ptr.0) {
            Some(allocation) => {
                let stats = &mut state.stats;
                stats.allocated_bytes -= allocation.bytes;
                stats.live_allocations -= 1;
                stats.total_frees += 1;
                true
            }
            None => {
                state.stats.invalid_frees += 1;
                false
            }
        }
    }

    /// Fails unless `[ptr, ptr + len)` lies inside one live allocation.
    pub(crate) fn check_range(&self, ptr: DevicePtr, len: usize) -> Result<()> {
        locate(&self.state.lock().allocations, ptr, len).map(|_| ())
    }

    /// Copies `len` device bytes at `ptr` out to the host.
    pub(crate) fn read(&self, ptr: DevicePtr, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.with_bytes(ptr, len, |bytes| out = bytes.to_vec())?;
        Ok(out)
    }

    /// Copies device bytes at `ptr` into `dst`.
    pub(crate) fn read_to_slice(&self, dst: &mut [u8], ptr: DevicePtr) -> Result<()> {
        self.with_bytes(ptr, dst.len(), |bytes| dst.copy_from_slice(bytes))
    }

    /// Runs `visit` on the `len` device bytes at `ptr`, under the lock.
    fn with_bytes(&self, ptr: DevicePtr, len: usize, visit: impl FnOnce(&[u8])) -> Result<()> {
        let state = self.state.lock();
        let located = locate(&state.allocations, ptr, len)?;
        let bytes = state
            .allocations
            .get(&located.start)
            .and_then(|allocation| {
                allocation
                    .contents()
                    .get(located.offset..located.offset + len)
            })
            .ok_or_else(|| unreachable_range(ptr, len))?;
        visit(bytes);
        Ok(())
    }

    /// Writes host bytes to device memory at `ptr`.
    pub(crate) fn write(&self, ptr: DevicePtr, data: &[u8]) -> Result<()> {
        let mut state = self.state.lock();
        let located = locate(&state.allocations, ptr, data.len())?;
        let bytes = state
            .allocations
            .get_mut(&located.start)
            .and_then(|allocation| {
                allocation
                    .contents_mut()
                    .get_mut(located.offset..located.offset + data.len())
            })
            .ok_or_else(|| unreachable_range(ptr, data.len()))?;
        bytes.copy_from_slice(data);
        Ok(())
    }

    /// Device-to-device copy with `memmove` semantics (the ranges may overlap).
    pub(crate) fn copy(&self, dst: DevicePtr, src: DevicePtr, len: usize) -> Result<()> {
        // Both ranges are checked before anything is written, so a failed copy changes nothing.
        self.check_range(dst, len)?;
        let staged = self.read(src, len)?;
        self.write(dst, &staged)
    }

    pub(crate) fn stats(&self) -> SimDeviceStats {
        self.state.lock().stats
    }

    fn record_trim(&self) {
        self.state.lock().stats.trims += 1;
    }

    fn record_make_current(&self) {
        self.state.lock().stats.make_current_calls += 1;
    }
}

/// The simulated GPU: memory is real host memory, streams run work synchronously.
pub struct SimDevice {
    memory: Arc<DeviceMemory>,
    counters: Arc<SimCounters>,
    next_stream_handle: AtomicU64,
}

impl fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDevice")
            .field("id", &self.memory.device)
            .field("capacity", &self.memory.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

impl SimDevice {
    pub(crate) fn new(device: DeviceId, capacity: usize, counters: Arc<SimCounters>) -> SimDevice {
        SimDevice {
            memory: Arc::new(DeviceMemory::new(device, capacity)),
            counters,
            next_stream_handle: AtomicU64::new(1),
        }
    }

    /// Allocation counters.
    pub fn stats(&self) -> SimDeviceStats {
        self.memory.stats()
    }

    pub(crate) fn memory(&self) -> &Arc<DeviceMemory> {
        &self.memory
    }

    pub(crate) fn counters(&self) -> &Arc<SimCounters> {
        &self.counters
    }
}

impl DeviceBackend for SimDevice {
    fn id(&self) -> DeviceId {
        self.memory.device
    }

    fn name(&self) -> String {
        "host simulation".to_owned()
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Simulation
    }

    fn allocate(&self, bytes: usize) -> Result<DevicePtr> {
        self.memory.allocate(bytes)
    }

    /// Frees an allocation. Freeing the null address does nothing (like `cudaFree(NULL)`);
    /// any other address that is not the start of a live allocation is logged and counted in
    /// [`SimDeviceStats::invalid_frees`].
    unsafe fn free(&self, ptr: DevicePtr) {
        if ptr == DevicePtr::NULL {
            return;
        }
        if !self.memory.free(ptr) {
            log::error!(
                "simulated {}: free of {ptr}, which is not the start of a live allocation",
                self.memory.device
            );
        }
    }

    fn memory_info(&self) -> Result<MemoryInfo> {
        let allocated = self.memory.stats().allocated_bytes;
        Ok(MemoryInfo {
            free: self.memory.capacity.saturating_sub(allocated),
            total: self.memory.capacity,
        })
    }

    fn trim(&self) {
        self.memory.record_trim();
    }

    fn make_current(&self) -> Result<()> {
        self.memory.record_make_current();
        Ok(())
    }

    fn create_stream(&self) -> Result<Box<dyn StreamBackend>> {
        let handle = self.next_stream_handle.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(SimStream::new(
            handle,
            Arc::clone(&self.memory),
            Arc::clone(&self.counters),
        )))
    }

    unsafe fn copy_to_device_sync(&self, dst: DevicePtr, src: &[u8]) -> Result<()> {
        self.memory.write(dst, src)?;
        self.counters
            .host_to_device_copies
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    unsafe fn copy_to_host_sync(&self, dst: &mut [u8], src: DevicePtr) -> Result<()> {
        self.memory.read_to_slice(dst, src)?;
        self.counters
            .device_to_host_copies
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(capacity: usize) -> SimDevice {
        SimDevice::new(DeviceId(0), capacity, Arc::new(SimCounters::default()))
    }

    #[test]
    fn allocations_are_aligned_accounted_and_bounded_by_capacity() {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let device = device(4096);
            let a = device.allocate(1000).unwrap();
            let b = device.allocate(24).unwrap();
            assert_eq!(a.0 % 256, 0);
            assert_eq!(b.0 % 256, 0);
            assert_ne!(a, b);
            let stats = device.stats();
            assert_eq!(stats.allocated_bytes, 1024);
            assert_eq!(stats.live_allocations, 2);
            assert_eq!(
                device.memory_info().unwrap(),
                MemoryInfo {
                    free: 3072,
                    total: 4096
                }
            );
            match device.allocate(3073) {
                Err(Error::OutOfDeviceMemory {
                    requested: 3073,
                    free: 3072,
                    total: 4096,
                    ..
                }) => {}
                other => panic!("expected out of memory, got {other:?}"),
            }
            device.allocate(3072).map(|ptr| device.free(ptr)).unwrap();
            device.free(a);
            device.free(b);
            let stats = device.stats();
            assert_eq!(stats.allocated_bytes, 0);
            assert_eq!(stats.peak_bytes, 4096);
            assert_eq!(stats.total_allocations, 3);
            assert_eq!(stats.total_frees, 3);
            assert_eq!(stats.live_allocations, 0);
        }
    }

    #[test]
    fn zero_byte_allocations_are_unique_and_free_of_charge() {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let device = device(0);
            let a = device.allocate(0).unwrap();
            let b = device.allocate(0).unwrap();
            assert_ne!(a, DevicePtr::NULL);
            assert_ne!(a, b);
            assert_eq!(device.stats().allocated_bytes, 0);
            assert_eq!(device.stats().live_allocations, 2);
            // An empty access at the address is fine, a one-byte one is not.
            device.copy_to_device_sync(a, &[]).unwrap();
            assert!(matches!(
                device.copy_to_device_sync(a, &[1]),
                Err(Error::InvalidDeviceAddress { .. })
            ));
            device.free(a);
            device.free(b);
            assert_eq!(device.stats().live_allocations, 0);
        }
    }

    #[test]
    fn accesses_must_stay_inside_one_live_allocation() {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let device = device(1 << 20);
            let ptr = device.allocate(100).unwrap();
            device
                .copy_to_device_sync(ptr.offset(90), &[7; 10])
                .unwrap();
            let mut back = [0u8; 4];
            device.copy_to_host_sync(&mut back, ptr.offset(96)).unwrap();
            assert_eq!(back, [7; 4]);
            // Past the requested length, even though the block is longer.
            let error = device
                .copy_to_device_sync(ptr.offset(95), &[0; 6])
                .unwrap_err();
            assert!(matches!(
                error,
                Error::InvalidDeviceAddress {
                    bytes: 6,
                    reason: "the access runs past the end of its allocation",
                    ..
                }
            ));
            assert!(device
                .copy_to_host_sync(&mut back, DevicePtr::NULL)
                .is_err());
            assert!(device.copy_to_host_sync(&mut back, DevicePtr(8)).is_err());
            assert!(device
                .copy_to_host_sync(&mut back, DevicePtr(u64::MAX - 1))
                .is_err());
            device.free(ptr);
            let error = device.copy_to_host_sync(&mut back, ptr).unwrap_err();
            assert!(
                matches!(error, Error::InvalidDeviceAddress { .. }),
                "{error}"
            );
        }
    }

    #[test]
    fn invalid_frees_are_counted_not_fatal() {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let device = device(1 << 20);
            let ptr = device.allocate(512).unwrap();
            device.free(ptr.offset(256));
            device.free(DevicePtr(12345));
            device.free(DevicePtr::NULL);
            device.free(ptr);
            device.free(ptr);
            let stats = device.stats();
            assert_eq!(stats.invalid_frees, 3);
            assert_eq!(stats.total_frees, 1);
            device.trim();
            assert_eq!(device.stats().trims, 1);
        }
    }

    #[test]
    fn device_to_device_copies_move_bytes_and_check_both_ranges() {
        let memory = DeviceMemory::new(DeviceId(0), 1 << 20);
        let a = memory.allocate(8).unwrap();
        let b = memory.allocate(8).unwrap();
        memory.write(a, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        memory.copy(b, a, 8).unwrap();
        assert_eq!(memory.read(b, 8).unwrap(), [1, 2, 3, 4, 5, 6, 7, 8]);
        // Overlapping copy inside one allocation behaves like memmove.
        memory.copy(a.offset(2), a, 6).unwrap();
        assert_eq!(memory.read(a, 8).unwrap(), [1, 2, 1, 2, 3, 4, 5, 6]);
        assert!(memory.copy(b.offset(4), a, 8).is_err());
        assert_eq!(memory.read(b, 8).unwrap(), [1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
