//! Rung F: `IRuntime::setGpuAllocator` with a Rust-implemented `IGpuAllocator`.
//!
//! The stand-in library (compiled with g++ against NVIDIA's headers of each family) records the
//! call, asks the allocator for its interface info, and, once an allocator is set, takes every
//! engine's weight memory through it: on `deserializeCudaEngine` it calls the deprecated
//! `allocate` / `reallocate` / `deallocate` on a 64-byte scratch block (so every slot is
//! exercised) and then `allocateAsync(weight bytes, 256, 0, null)`; deleting the engine calls
//! `deallocateAsync` on that memory. Each test asserts both the calls the stand-in recorded and
//! what the Rust handler saw.

mod ffi_common;
use ffi_common as common;
use ffi_common::PlanSpec;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use trt::backend::DevicePtr;
use trt::ffi::gpu_allocator::GpuAllocatorHandler;
use trt::ffi::{Runtime, TensorRtLibrary};
use trt::Error;

/// One build of each vtable family: RTX 1.5+ (11.x style), standard 11.x, RTX 1.3 (10.x style).
const BUILDS: [&str; 4] = ["rtx-1.7", "rtx-1.5", "trt-11.4", "rtx-1.3"];

fn library(build: &str) -> Arc<TensorRtLibrary> {
    TensorRtLibrary::open(common::stand_in_library(build))
        .unwrap_or_else(|error| panic!("{build}: {error}"))
}

fn calls(library: &TensorRtLibrary) -> Vec<String> {
    trt::ffi::stand_in::take_calls(library)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts that `expected` appear in `calls` in this order (each a prefix of a recorded call),
/// and that the stand-in saw nothing unexpected.
#[track_caller]
fn assert_calls_in_order(calls: &[String], expected: &[String]) {
    let mut position = 0;
    for wanted in expected {
        match calls[position..]
            .iter()
            .position(|call| call.starts_with(wanted.as_str()))
        {
            Some(offset) => position += offset + 1,
            None => panic!(
                "call {wanted:?} not found in order in:\n{}",
                calls.join("\n")
            ),
        }
    }
    assert!(
        !calls
            .iter()
            .any(|call| call.starts_with("UNEXPECTED") || call.starts_with("ERROR")),
        "the stand-in saw an unexpected call:\n{}",
        calls.join("\n")
    );
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Allocate {
        size: u64,
        alignment: u64,
        flags: u32,
    },
    Reallocate {
        ptr: u64,
        alignment: u64,
        size: u64,
    },
    Deallocate {
        ptr: u64,
    },
    AllocateAsync {
        size: u64,
        alignment: u64,
        flags: u32,
        stream: u64,
    },
    DeallocateAsync {
        ptr: u64,
        stream: u64,
    },
}

/// Hands out fake, 64 KiB-aligned device addresses (the stand-in never dereferences them) and
/// records every call; refuses requests above `limit`.
struct Recording {
    limit: u64,
    state: Mutex<RecordingState>,
}

#[derive(Default)]
struct RecordingState {
    next: u64,
    live: BTreeMap<u64, u64>,
    events: Vec<Event>,
}

impl Recording {
    fn new(limit: u64) -> Arc<Recording> {
        Arc::new(Recording {
            limit,
            state: Mutex::new(RecordingState {
                next: 0x7000_0000,
                ..RecordingState::default()
            }),
        })
    }

    fn grant(&self, size: u64) -> Option<DevicePtr> {
        if size > self.limit {
            return None;
        }
        let mut state = self.state.lock();
        let ptr = state.next;
        state.next += 0x1_0000;
        state.live.insert(ptr, size);
        Some(DevicePtr(ptr))
    }

    fn release(&self, ptr: DevicePtr) -> bool {
        self.state.lock().live.remove(&ptr.0).is_some()
    }

    fn events(&self) -> Vec<Event> {
        self.state.lock().events.clone()
    }

    fn live(&self) -> BTreeMap<u64, u64> {
        self.state.lock().live.clone()
    }
}

impl GpuAllocatorHandler for Recording {
    fn allocate(&self, size: u64, alignment: u64, flags: u32) -> Option<DevicePtr> {
        self.state.lock().events.push(Event::Allocate {
            size,
            alignment,
            flags,
        });
        self.grant(size)
    }

    fn deallocate(&self, ptr: DevicePtr) -> bool {
        self.state
            .lock()
            .events
            .push(Event::Deallocate { ptr: ptr.0 });
        self.release(ptr)
    }

    fn reallocate(&self, ptr: DevicePtr, alignment: u64, new_size: u64) -> Option<DevicePtr> {
        self.state.lock().events.push(Event::Reallocate {
            ptr: ptr.0,
            alignment,
            size: new_size,
        });
        None // resizing unsupported, like NVIDIA's default
    }

    fn allocate_async(
        &self,
        size: u64,
        alignment: u64,
        flags: u32,
        stream: u64,
    ) -> Option<DevicePtr> {
        self.state.lock().events.push(Event::AllocateAsync {
            size,
            alignment,
            flags,
            stream,
        });
        self.grant(size)
    }

    fn deallocate_async(&self, ptr: DevicePtr, stream: u64) -> bool {
        self.state
            .lock()
            .events
            .push(Event::DeallocateAsync { ptr: ptr.0, stream });
        self.release(ptr)
    }
}

#[test]
fn engine_weight_memory_comes_from_the_rust_allocator_and_is_freed_with_the_engine() {
    common::init_logging();
    let spec = PlanSpec::mlp();
    let plan = spec.to_bytes();
    let weights = spec.weight_bytes() as u64;
    for build in BUILDS {
        let library = library(build);
        let runtime = Runtime::new(&library).unwrap();
        calls(&library);
        let allocator = Recording::new(u64::MAX);
        runtime.set_gpu_allocator(allocator.clone()).unwrap();
        let engine = runtime.deserialize_engine(&plan).unwrap();

        let scratch = 0x7000_0000u64;
        let memory = 0x7001_0000u64;
        assert_eq!(
            allocator.events(),
            vec![
                Event::Allocate {
                    size: 64,
                    alignment: 256,
                    flags: 0
                },
                Event::Reallocate {
                    ptr: scratch,
                    alignment: 256,
                    size: 128
                },
                Event::Deallocate { ptr: scratch },
                Event::AllocateAsync {
                    size: weights,
                    alignment: 256,
                    flags: 0,
                    stream: 0
                },
            ],
            "{build}"
        );
        assert_eq!(
            allocator.live(),
            BTreeMap::from([(memory, weights)]),
            "{build}"
        );
        assert_calls_in_order(
            &calls(&library),
            &[
                "IRuntime::setGpuAllocator allocator=set".to_owned(),
                "IGpuAllocator::getInterfaceInfo -> IGpuAllocator 1.0 language=0".to_owned(),
                format!("IRuntime::deserializeCudaEngine size={}", plan.len()),
                "IGpuAllocator::allocate size=64 alignment=256 flags=0 -> set".to_owned(),
                "IGpuAllocator::reallocate size=128 alignment=256 -> null".to_owned(),
                "IGpuAllocator::deallocate -> true".to_owned(),
                format!("IGpuAllocator::allocateAsync size={weights} alignment=256 flags=0 -> {memory:#x}"),
                "new ICudaEngine#".to_owned(),
            ],
        );

        drop(engine);
        assert_eq!(
            allocator.events().last(),
            Some(&Event::DeallocateAsync {
                ptr: memory,
                stream: 0
            }),
            "{build}"
        );
        assert_eq!(allocator.events().len(), 5, "{build}");
        assert!(allocator.live().is_empty(), "{build}");
        assert_calls_in_order(
            &calls(&library),
            &[
                "delete ICudaEngine#".to_owned(),
                format!("IGpuAllocator::deallocateAsync memory={memory:#x} -> true"),
            ],
        );
        drop(runtime);
        assert_calls_in_order(&calls(&library), &["delete IRuntime#".to_owned()]);
    }
}

#[test]
fn a_refusing_allocator_fails_deserialization_with_the_logged_reason() {
    let spec = PlanSpec::mlp();
    let weights = spec.weight_bytes() as u64;
    for build in BUILDS {
        let library = library(build);
        let runtime = Runtime::new(&library).unwrap();
        let allocator = Recording::new(weights - 1);
        runtime.set_gpu_allocator(allocator.clone()).unwrap();
        let error = runtime.deserialize_engine(&spec.to_bytes()).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidPlan { reason, .. } if reason.contains(&format!("refused {weights} bytes"))),
            "{build}: {error}"
        );
        assert!(allocator.live().is_empty(), "{build}");
        assert_calls_in_order(
            &calls(&library),
            &[format!(
                "IGpuAllocator::allocateAsync size={weights} alignment=256 flags=0 -> (nil)"
            )],
        );
    }
}

/// A handler that panics in every call: nothing unwinds into the library; TensorRT sees null /
/// false and the deserialization fails with a typed error.
struct Panicking;

impl GpuAllocatorHandler for Panicking {
    fn allocate(&self, _: u64, _: u64, _: u32) -> Option<DevicePtr> {
        panic!("allocate panics")
    }
    fn deallocate(&self, _: DevicePtr) -> bool {
        panic!("deallocate panics")
    }
}

#[test]
fn a_panicking_allocator_never_unwinds_across_the_ffi() {
    let spec = PlanSpec::mlp();
    for build in BUILDS {
        let library = library(build);
        let runtime = Runtime::new(&library).unwrap();
        runtime.set_gpu_allocator(Arc::new(Panicking)).unwrap();
        let error = runtime.deserialize_engine(&spec.to_bytes()).unwrap_err();
        assert!(
            matches!(error, Error::InvalidPlan { .. }),
            "{build}: {error}"
        );
        assert_calls_in_order(
            &calls(&library),
            &[
                "IGpuAllocator::allocate size=64 alignment=256 flags=0 -> null".to_owned(),
                "IGpuAllocator::allocateAsync".to_owned(),
            ],
        );
    }
}

#[test]
fn replacing_the_allocator_keeps_the_old_one_alive_for_its_engines() {
    let spec = PlanSpec::mlp();
    let plan = spec.to_bytes();
    for build in BUILDS {
        let library = library(build);
        let runtime = Runtime::new(&library).unwrap();
        let first = Recording::new(u64::MAX);
        let second = Recording::new(u64::MAX);
        runtime.set_gpu_allocator(first.clone()).unwrap();
        let engine = runtime.deserialize_engine(&plan).unwrap();
        runtime.set_gpu_allocator(second.clone()).unwrap();
        let later = runtime.deserialize_engine(&plan).unwrap();
        assert_eq!(first.live().len(), 1, "{build}");
        assert_eq!(second.live().len(), 1, "{build}");
        drop(runtime); // the engines keep the runtime (and its allocators) alive
        drop(engine);
        assert!(first.live().is_empty(), "{build}");
        assert_eq!(second.live().len(), 1, "{build}");
        drop(later);
        assert!(second.live().is_empty(), "{build}");
        calls(&library);
    }
}
