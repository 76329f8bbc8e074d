//! Rung G: the CUDA backend on a real GPU. The `#[ignore]`d tests need a CUDA device; run
//! them on the GPU machine with `--ignored` (see scripts/gpu-bundle.sh). The first test runs
//! everywhere: without a driver the backend must answer with a typed error, never a panic.

use trt::backend::cuda::CudaDevice;
use trt::backend::DeviceBackend;
use trt::ffi::cuda::driver_present;
use trt::Error;

#[test]
fn opening_a_device_is_a_typed_error_without_a_driver() {
    match CudaDevice::new(0) {
        Ok(device) => {
            assert!(driver_present());
            assert!(device.memory_info().unwrap().total > 0);
        }
        Err(error) => {
            assert!(
                matches!(error, Error::BackendUnavailable(_) | Error::Cuda { .. }),
                "{error}"
            );
            if !driver_present() {
                assert!(error.to_string().contains("libcuda"), "{error}");
            }
        }
    }
}

fn device() -> std::sync::Arc<CudaDevice> {
    CudaDevice::new(0).expect("this test needs a CUDA GPU")
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn memory_is_accounted_and_copies_round_trip() {
    // SAFETY: every address passed to CUDA here comes from `allocate` on this device, is used within its size, and is freed once, after the work using it was synchronized.
    unsafe {
        let device = device();
        let before = device.memory_info().unwrap();
        let bytes = 64 << 20;
        let ptr = device.allocate(bytes).unwrap();
        assert_eq!(ptr.0 % 256, 0);
        let during = device.memory_info().unwrap();
        assert!(
            before.free - during.free >= bytes,
            "{before:?} -> {during:?}"
        );
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
        device.copy_to_device_sync(ptr, &data).unwrap();
        let mut back = vec![0u8; data.len()];
        device.copy_to_host_sync(&mut back, ptr).unwrap();
        assert_eq!(back, data);
        device.free(ptr);
        let after = device.memory_info().unwrap();
        assert!(
            after.free + (1 << 20) >= before.free,
            "{before:?} -> {after:?}"
        );
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn a_captured_graph_replays_its_recorded_copies() {
    // SAFETY: every address passed to CUDA here comes from `allocate` on this device, is used within its size, and is freed once, after the work using it was synchronized.
    unsafe {
        let device = device();
        let stream = device.create_stream().unwrap();
        let n = 1 << 16;
        let (a, b, c) = (
            device.allocate(n).unwrap(),
            device.allocate(n).unwrap(),
            device.allocate(n).unwrap(),
        );
        stream.begin_capture().unwrap();
        assert!(stream.is_capturing());
        stream.copy_device_to_device(b, a, n).unwrap();
        stream.copy_device_to_device(c, b, n).unwrap();
        let graph = stream.end_capture().unwrap();
        assert!(!stream.is_capturing());
        graph.upload(&*stream).unwrap();
        for round in 0..3u8 {
            let input = vec![round.wrapping_mul(37).wrapping_add(1); n];
            stream.copy_to_device(a, &input).unwrap();
            graph.launch(&*stream).unwrap();
            stream.synchronize().unwrap();
            let mut out = vec![0u8; n];
            stream.copy_to_host(&mut out, c).unwrap();
            assert_eq!(
                out, input,
                "round {round}: the replay copied a -> b -> c at the recorded addresses"
            );
        }
        drop(graph);
        for ptr in [a, b, c] {
            device.free(ptr);
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn an_illegal_operation_fails_the_capture_and_the_stream_recovers() {
    // SAFETY: every address passed to CUDA here comes from `allocate` on this device, is used within its size, and is freed once, after the work using it was synchronized.
    unsafe {
        let device = device();
        let stream = device.create_stream().unwrap();
        let ptr = device.allocate(1024).unwrap();
        stream.begin_capture().unwrap();
        // A synchronize inside a capture is illegal: it invalidates the capture.
        let _ = stream.synchronize();
        let error = stream.end_capture().err().expect("capture must fail");
        assert!(matches!(error, Error::CaptureFailed { .. }), "{error}");
        assert!(!stream.is_capturing());
        stream.copy_to_device(ptr, &[7u8; 1024]).unwrap();
        let mut out = [0u8; 1024];
        stream.copy_to_host(&mut out, ptr).unwrap();
        assert_eq!(out, [7u8; 1024]);
        device.free(ptr);
    }
}

#[test]
fn a_native_runtime_without_a_driver_or_device_is_a_typed_error() {
    match trt::Runtime::native(0) {
        Ok(runtime) => assert!(!runtime.is_simulated()),
        Err(error) => assert!(
            matches!(
                error,
                Error::BackendUnavailable(_) | Error::Cuda { .. } | Error::LibraryNotFound { .. }
            ),
            "{error}"
        ),
    }
    // No machine here has 4096 GPUs: always an error, never a panic.
    assert!(trt::Runtime::native(4096).is_err());
}
