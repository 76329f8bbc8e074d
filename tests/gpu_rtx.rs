//! Rung G: the real TensorRT-RTX library on a lent GPU, which it refuses (compute capability
//! 9.0): the refusal must be a typed error quoting TensorRT's own message, never a crash.
//!
//! Needs a CUDA GPU, `TRT_RTX_LIBRARY` (libtensorrt_rtx.so.1 from the pip wheel) and
//! `TRT_RTX_PLAN` (the tiny plan `tests/ffi_builder.rs` builds on the CPU machine into
//! target/trt-fixtures/rtx-tiny.plan), so it is `#[ignore]`d.

use trt::backend::cuda::CudaDevice;
use trt::backend::tensorrt::TensorRtPlatform;
use trt::ffi::TensorRtLibrary;
use trt::{Error, Flavor, Runtime};

#[test]
#[ignore = "needs a CUDA GPU, TRT_RTX_LIBRARY and TRT_RTX_PLAN"]
fn tensorrt_rtx_refuses_this_gpu_with_a_typed_error_quoting_its_reason() {
    let device = CudaDevice::new(0).expect("this test needs a CUDA GPU");
    let capability = device.compute_capability().unwrap();
    let library =
        TensorRtLibrary::open(std::env::var("TRT_RTX_LIBRARY").expect("TRT_RTX_LIBRARY")).unwrap();
    assert_eq!(library.flavor(), Flavor::Rtx);
    let plan = std::fs::read(std::env::var("TRT_RTX_PLAN").expect("TRT_RTX_PLAN")).unwrap();
    let runtime = match TensorRtPlatform::new(library, device) {
        Ok(platform) => Runtime::with_platform(platform),
        Err(error) => {
            println!("RTX runtime creation on compute capability {capability:?}: {error}");
            panic!("the RTX runtime is expected to be created; only deserialization refuses");
        }
    };
    match runtime.engine_from_bytes(&plan) {
        Ok(engine) => println!(
            "compute capability {capability:?}: RTX deserialized `{}`",
            engine.name()
        ),
        Err(error) => {
            println!("compute capability {capability:?}: {error}");
            assert!(matches!(error, Error::InvalidPlan { .. }), "{error}");
            if capability == (9, 0) {
                assert!(
                    error.to_string().contains("compute capability 9.0"),
                    "{error}"
                );
            }
        }
    }
    assert!(capability != (9, 0) || runtime.engine_from_bytes(&plan).is_err());
}
