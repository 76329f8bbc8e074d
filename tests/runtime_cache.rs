//! Rung S: the runtime cache across real processes, with kernels compiled by simulated
//! execution contexts.
//!
//! `several_processes_saving_at_once_keep_a_valid_file_with_every_kernel` re-executes this
//! test binary: with `TRT_RUNTIME_CACHE_CHILD` set, the same test function plays one child
//! process; without it (a normal run) it is the parent that starts the children.

mod sim_common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sim_common::{mlp_input, plan, Sim};
use trt::backend::sim::SimRuntimeCache;
use trt::backend::{ContextOptions, RuntimeCacheBackend};
use trt::{KernelSpecialization, Runtime, RuntimeCache, Shape};

/// Selects the child role and carries its index.
const CHILD_ENV: &str = "TRT_RUNTIME_CACHE_CHILD";
/// The cache file the children share.
const PATH_ENV: &str = "TRT_RUNTIME_CACHE_PATH";
/// A file whose appearance starts all children at once.
const GO_ENV: &str = "TRT_RUNTIME_CACHE_GO";
const CHILDREN: usize = 6;
/// Distinct batch sizes per child: child `c` compiles mlp kernels for batches
/// `c * SHAPES_PER_CHILD + 1 ..= (c + 1) * SHAPES_PER_CHILD` (all in profile 0, max 64).
const SHAPES_PER_CHILD: usize = 8;
/// Saves per new shape, to make the processes' saves overlap more.
const SAVES_PER_SHAPE: usize = 3;

fn kernel_id(batch: usize) -> String {
    format!("mlp/x=[{batch}, 16]")
}

fn unique_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trt-rtc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Checks a cache file byte by byte, independently of the crate's decoder (this pins the
/// on-disk format), and returns its kernel ids.
fn strictly_valid_kernels(bytes: &[u8]) -> Result<Vec<String>, String> {
    if bytes.len() < 36 || &bytes[..8] != b"TRT-RTC\0" {
        return Err(format!("bad header ({} bytes)", bytes.len()));
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    if (u32_at(8), u32_at(12), u32_at(16)) != (RuntimeCache::FORMAT_VERSION, 5, 0) {
        return Err("not a simulation cache of format 1".into());
    }
    let payload = &bytes[36..];
    if u64_at(20) != payload.len() as u64 {
        return Err(format!(
            "length {} but {} payload bytes",
            u64_at(20),
            payload.len()
        ));
    }
    let checksum = payload
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    if checksum != u64_at(28) {
        return Err("checksum mismatch".into());
    }
    let cache = SimRuntimeCache::new();
    cache
        .deserialize(payload)
        .map_err(|error| error.to_string())?;
    Ok(cache.kernels())
}

/// One child: compiles its kernels through real execution contexts and saves after each.
fn child(index: usize, path: &Path, go: &Path) {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let sim = Sim::new();
        let engine = sim.engine("mlp.simplan");
        let cache = RuntimeCache::open(&sim.runtime, path).unwrap();
        let options = ContextOptions {
            kernel_specialization: KernelSpecialization::Lazy,
            runtime_cache: Some(Arc::clone(cache.backend())),
            ..ContextOptions::default()
        };
        let mut context = engine.backend().create_context(&options).unwrap();
        let device = sim.runtime.device();
        let stream = device.create_stream().unwrap();

        let deadline = Instant::now() + Duration::from_secs(30);
        while !go.exists() {
            assert!(Instant::now() < deadline, "the parent never said go");
            std::thread::sleep(Duration::from_millis(1));
        }
        for batch in index * SHAPES_PER_CHILD + 1..=(index + 1) * SHAPES_PER_CHILD {
            let x = mlp_input(batch, index as u32);
            let x_ptr = device.allocate(x.as_bytes().len()).unwrap();
            device.copy_to_device_sync(x_ptr, x.as_bytes()).unwrap();
            let y_ptr = device.allocate(batch * 8 * 4).unwrap();
            let z_ptr = device.allocate(batch * 16 * 4).unwrap();
            context
                .set_input_shape(0, &Shape::new(&[batch as i64, 16]).unwrap())
                .unwrap();
            context.set_tensor_address(0, x_ptr).unwrap();
            context.set_tensor_address(1, y_ptr).unwrap();
            context.set_tensor_address(2, z_ptr).unwrap();
            context.enqueue(stream.as_ref()).unwrap();
            stream.synchronize().unwrap();
            for _ in 0..SAVES_PER_SHAPE {
                cache.save().unwrap();
            }
            for ptr in [x_ptr, y_ptr, z_ptr] {
                device.free(ptr);
            }
        }
        // The context compiled exactly this child's kernels (plus any merged from the others).
        let compiled = cache
            .backend()
            .as_any()
            .downcast_ref::<SimRuntimeCache>()
            .unwrap()
            .kernels();
        for batch in index * SHAPES_PER_CHILD + 1..=(index + 1) * SHAPES_PER_CHILD {
            assert!(compiled.contains(&kernel_id(batch)), "{batch} missing");
        }
    }
}

fn spawn_child(index: usize, path: &Path, go: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "several_processes_saving_at_once_keep_a_valid_file_with_every_kernel",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, index.to_string())
        .env(PATH_ENV, path)
        .env(GO_ENV, go)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn several_processes_saving_at_once_keep_a_valid_file_with_every_kernel() {
    if let Ok(index) = std::env::var(CHILD_ENV) {
        let path = PathBuf::from(std::env::var_os(PATH_ENV).unwrap());
        let go = PathBuf::from(std::env::var_os(GO_ENV).unwrap());
        return child(index.parse().unwrap(), &path, &go);
    }

    let started = Instant::now();
    let dir = unique_dir("processes");
    let path = dir.join("runtime_cache.bin");
    let go = dir.join("go");
    let mut children: Vec<Child> = (0..CHILDREN)
        .map(|index| spawn_child(index, &path, &go))
        .collect();
    std::fs::write(&go, b"").unwrap();

    // While the children save, every read of the file (without any lock: the rename makes
    // each read see one whole file) must be valid, and since every save merges the file it
    // replaces, the kernel set can only grow.
    let mut seen: Vec<String> = Vec::new();
    let mut reads = 0;
    while children
        .iter_mut()
        .any(|child| child.try_wait().unwrap().is_none())
    {
        if let Ok(bytes) = std::fs::read(&path) {
            let kernels = strictly_valid_kernels(&bytes).unwrap_or_else(|reason| {
                panic!("a reader saw an invalid file after {reads} reads: {reason}")
            });
            assert!(
                seen.iter().all(|id| kernels.contains(id)),
                "kernels disappeared: had {seen:?}, now {kernels:?}"
            );
            seen = kernels;
            reads += 1;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "children hang");
    }
    for (index, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "child {index} failed: {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let final_kernels = strictly_valid_kernels(&std::fs::read(&path).unwrap()).unwrap();
    let mut expected: Vec<String> = (1..=CHILDREN * SHAPES_PER_CHILD).map(kernel_id).collect();
    expected.sort();
    assert_eq!(final_kernels, expected);
    assert!(
        !dir.join("runtime_cache.bin.tmp").exists(),
        "a save was left half done"
    );

    // And the crate loads it cleanly into a fresh runtime.
    let cache = RuntimeCache::open(&Runtime::simulated(), &path).unwrap();
    let loaded = cache
        .backend()
        .as_any()
        .downcast_ref::<SimRuntimeCache>()
        .unwrap()
        .kernels();
    assert_eq!(loaded, expected);
    drop(cache);
    eprintln!(
        "{CHILDREN} processes, {} saves, {reads} concurrent reads, {:?}",
        CHILDREN * SHAPES_PER_CHILD * SAVES_PER_SHAPE,
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn contexts_fill_the_cache_and_a_reopened_cache_has_their_kernels() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let sim = Sim::new();
        let engine = sim.runtime.load_engine(plan("mlp.simplan")).unwrap();
        let dir = unique_dir("contexts");
        let path = dir.join("runtime_cache.bin");
        let cache = RuntimeCache::open(&sim.runtime, &path).unwrap();
        let device = sim.runtime.device();
        let stream = device.create_stream().unwrap();
        for specialization in [KernelSpecialization::None, KernelSpecialization::Eager] {
            let mut context = engine
                .backend()
                .create_context(&ContextOptions {
                    kernel_specialization: specialization,
                    runtime_cache: Some(Arc::clone(cache.backend())),
                    ..ContextOptions::default()
                })
                .unwrap();
            let x = mlp_input(3, 0);
            let x_ptr = device.allocate(x.as_bytes().len()).unwrap();
            device.copy_to_device_sync(x_ptr, x.as_bytes()).unwrap();
            let y_ptr = device.allocate(3 * 8 * 4).unwrap();
            let z_ptr = device.allocate(3 * 16 * 4).unwrap();
            context
                .set_input_shape(0, &Shape::new(&[3, 16]).unwrap())
                .unwrap();
            context.set_tensor_address(0, x_ptr).unwrap();
            context.set_tensor_address(1, y_ptr).unwrap();
            context.set_tensor_address(2, z_ptr).unwrap();
            context.enqueue(stream.as_ref()).unwrap();
            stream.synchronize().unwrap();
        }
        drop(cache); // the last handle saves
        let reopened = RuntimeCache::open(&Runtime::simulated(), &path).unwrap();
        let kernels = reopened
            .backend()
            .as_any()
            .downcast_ref::<SimRuntimeCache>()
            .unwrap()
            .kernels();
        // Only the specializing context compiled a kernel.
        assert_eq!(kernels, [kernel_id(3)]);
        drop(reopened);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
