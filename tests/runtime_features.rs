//! Rung S: runtime settings (permanent and scoped), the standard-TensorRT rules, the
//! weight-streaming scope, dynamic resource allocation and multi-device checks, on the host
//! simulation.

mod sim_common;

use std::sync::Arc;

use sim_common::{assert_close, mlp_input, mlp_reference_y, plan, Sim};
use trt::backend::sim::{SimConfig, SimPlatform};
use trt::backend::{DeviceBackend, EngineBackend, PlatformBackend, RuntimeCacheBackend};
use trt::{
    enable_dynamic_allocation, enable_rtx_cudagraphs, inputs, CudaGraphStrategy, DeviceId,
    DeviceTensor, Error, Flavor, GraphCache, KernelSpecialization, Runtime, RuntimeSettings,
    RuntimeSettingsScope, WeightStreamingBudget,
};

#[test]
fn settings_before_the_first_run_cost_no_extra_context() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine.session().build().unwrap();
    assert_eq!(
        sim.stats().contexts_created,
        0,
        "the first run creates the context"
    );
    let eager = RuntimeSettings::default().with_kernel_specialization(KernelSpecialization::Eager);
    session.set_runtime_settings(eager.clone()).unwrap();
    session.run(&inputs!["x" => &mlp_input(1, 0)]).unwrap();
    assert_eq!(sim.stats().contexts_created, 1);
    // After the first run a change recreates the context once, on the next run.
    session
        .set_runtime_settings(eager.with_kernel_specialization(KernelSpecialization::None))
        .unwrap();
    assert_eq!(sim.stats().contexts_created, 1);
    session.run(&inputs!["x" => &mlp_input(1, 0)]).unwrap();
    assert_eq!(sim.stats().contexts_created, 2);
    assert_eq!(sim.stats().contexts_live, 1, "the old context is gone");
}

#[test]
fn a_settings_scope_overrides_several_sessions_and_restores_them() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut a = engine.session().build().unwrap();
    let mut b = engine
        .session()
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    let x = mlp_input(2, 5);
    a.run(&inputs!["x" => &x]).unwrap();
    b.run(&inputs!["x" => &x]).unwrap();
    assert_eq!(b.graph_cache().len(), 1);
    {
        let scope = RuntimeSettingsScope::new(|settings| {
            settings.with_kernel_specialization(KernelSpecialization::None)
        })
        .over(&mut a)
        .unwrap()
        .over(&mut b)
        .unwrap();
        assert_eq!(scope.len(), 2);
    }
    // Both restored; b's graphs were dropped with its old context and are captured again.
    assert_eq!(
        a.runtime_settings().kernel_specialization(),
        KernelSpecialization::Lazy
    );
    assert_eq!(b.runtime_settings(), RuntimeSettings::default());
    assert!(b.graph_cache().is_empty());
    let y = b.run(&inputs!["x" => &x]).unwrap().to_host("y").unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
    assert_eq!(b.graph_cache().len(), 1);

    let sugar = RuntimeSettingsScope::kernel_specialization(KernelSpecialization::Eager)
        .over(&mut a)
        .unwrap();
    drop(sugar);
    assert_eq!(a.runtime_settings(), RuntimeSettings::default());
}

#[test]
fn rtx_graph_strategy_goes_on_and_off_with_its_scope() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine.session().build().unwrap();
    {
        let _rtx = enable_rtx_cudagraphs(&mut session).unwrap();
    }
    assert_eq!(
        session.runtime_settings().cuda_graph_strategy(),
        CudaGraphStrategy::Disabled
    );
    let scope = enable_rtx_cudagraphs(&mut session).unwrap();
    assert_eq!(scope.len(), 1);
    drop(scope);
    let x = mlp_input(1, 0);
    let y = session
        .run(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
}

/// The simulation dressed up as standard TensorRT, to test the rules for that flavor.
struct StandardFlavored(Arc<SimPlatform>);

impl PlatformBackend for StandardFlavored {
    fn device(&self) -> &Arc<dyn DeviceBackend> {
        self.0.device()
    }
    fn flavor(&self) -> Flavor {
        Flavor::Standard
    }
    fn library_version(&self) -> u32 {
        110400
    }
    fn deserialize_engine(&self, plan: &[u8]) -> trt::Result<Arc<dyn EngineBackend>> {
        self.0.deserialize_engine(plan)
    }
    fn create_runtime_cache(&self) -> trt::Result<Arc<dyn RuntimeCacheBackend>> {
        self.0.create_runtime_cache()
    }
}

#[test]
fn standard_tensorrt_refuses_rtx_graph_strategy_and_ignores_other_settings() {
    let platform = SimPlatform::new(SimConfig::default());
    let runtime = Runtime::with_platform(Arc::new(StandardFlavored(platform.clone())));
    let mut engine = runtime.load_engine(plan("mlp.simplan")).unwrap();
    let graphs =
        RuntimeSettings::default().with_cuda_graph_strategy(CudaGraphStrategy::WholeGraphCapture);
    let error = engine.set_runtime_settings(graphs.clone()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::UnsupportedSetting {
                flavor: Flavor::Standard,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("TensorRT-RTX only"), "{error}");
    let error = engine
        .session()
        .with_runtime_settings(graphs)
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::UnsupportedSetting { .. }), "{error}");

    // Other settings are accepted, warned about once, and not passed to the library.
    let eager = RuntimeSettings::default().with_kernel_specialization(KernelSpecialization::Eager);
    engine.set_runtime_settings(eager.clone()).unwrap();
    let mut session = engine.session().build().unwrap();
    let error = enable_rtx_cudagraphs(&mut session).err().expect("refused");
    assert!(matches!(error, Error::UnsupportedSetting { .. }), "{error}");
    assert_eq!(
        session.runtime_settings(),
        eager,
        "a refused override changes nothing"
    );
    let x = mlp_input(2, 1);
    let y = session
        .run(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
}

#[test]
fn weight_streaming_scope_restores_the_budget_and_budgets_are_clamped() {
    let sim = Sim::new();
    let mut engine = sim.engine("streaming.simplan");
    let info = engine.weight_streaming().unwrap();
    {
        let scope = engine
            .weight_streaming_scope(WeightStreamingBudget::Bytes(info.streamable_bytes / 3))
            .unwrap();
        assert_eq!(
            scope.weight_streaming().unwrap().budget,
            info.streamable_bytes / 3
        );
        let mut session = scope.session().build().unwrap();
        let x = mlp_input(2, 0);
        session.run(&inputs!["x" => &x]).unwrap();
    }
    assert_eq!(engine.weight_streaming().unwrap().budget, info.budget);
    engine
        .set_weight_streaming_budget(WeightStreamingBudget::Bytes(usize::MAX))
        .unwrap();
    assert_eq!(
        engine.weight_streaming().unwrap().budget,
        info.streamable_bytes,
        "clamped to the streamable size"
    );
    let resident_all = sim.memory().allocated_bytes;
    engine
        .set_weight_streaming_budget(WeightStreamingBudget::StreamAll)
        .unwrap();
    assert_eq!(
        resident_all - sim.memory().allocated_bytes,
        info.streamable_bytes,
        "streaming everything frees the streamable weights from the device"
    );
}

#[test]
fn dynamic_allocation_holds_activation_memory_only_during_a_run() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let activation = engine.info().device_memory_size;
    let mut session = engine
        .session()
        .with_pre_allocated_outputs()
        .build()
        .unwrap();
    let x = mlp_input(4, 2);
    let on_device = DeviceTensor::from_host(sim.runtime.device(), &x).unwrap();
    session.run(&inputs!["x" => &on_device]).unwrap();
    let static_bytes = sim.memory().allocated_bytes;
    {
        let mut scope = enable_dynamic_allocation(&mut session);
        for seed in 0..3 {
            let x = mlp_input(4, seed);
            let on_device = DeviceTensor::from_host(sim.runtime.device(), &x).unwrap();
            let allocations = sim.memory().total_allocations;
            let outputs = scope.run(&inputs!["x" => &on_device]).unwrap();
            let y = outputs.get("y").unwrap().to_vec::<f32>().unwrap();
            assert_close(&y, &mlp_reference_y(&x));
            drop(outputs);
            drop(on_device);
            assert_eq!(
                sim.memory().total_allocations,
                allocations + 1,
                "one activation allocation per run"
            );
            assert_eq!(
                static_bytes - sim.memory().allocated_bytes,
                activation,
                "nothing held between runs but the I/O buffers"
            );
        }
    }
    session.run(&inputs!["x" => &on_device]).unwrap();
    assert_eq!(sim.memory().allocated_bytes, static_bytes, "static again");
}

#[test]
fn inputs_on_another_device_are_refused_and_keys_carry_the_device() {
    let device_1 = SimPlatform::new(SimConfig {
        device_id: DeviceId(1),
        ..SimConfig::default()
    });
    let runtime_1 = Runtime::with_platform(device_1);
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let engine_1 = runtime_1.load_engine(plan("mlp.simplan")).unwrap();
    let x = mlp_input(2, 3);
    let elsewhere = DeviceTensor::from_host(runtime_1.device(), &x).unwrap();
    let mut session = engine
        .session()
        .with_safe_mode()
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    let error = session.run(&inputs!["x" => &elsewhere]).unwrap_err();
    match &error {
        Error::WrongDevice {
            tensor,
            expected,
            found,
        } => {
            assert_eq!(tensor, "x");
            assert_eq!((*expected, *found), (DeviceId(0), DeviceId(1)));
        }
        other => panic!("unexpected {other}"),
    }
    let y = session
        .run(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
    let mut session_1 = engine_1
        .session()
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    session_1.run(&inputs!["x" => &elsewhere]).unwrap();
    let (key_0, key_1) = (
        session.graph_cache().keys()[0].clone(),
        session_1.graph_cache().keys()[0].clone(),
    );
    assert_eq!(key_0.inputs(), key_1.inputs());
    assert_eq!((key_0.device(), key_1.device()), (DeviceId(0), DeviceId(1)));
    assert_ne!(key_0, key_1);
}

fn sim_kernels(cache: &trt::RuntimeCache) -> Vec<String> {
    cache
        .backend()
        .as_any()
        .downcast_ref::<trt::backend::sim::SimRuntimeCache>()
        .expect("a simulated cache")
        .kernels()
}

#[test]
fn sessions_fill_a_path_runtime_cache_that_is_saved_and_shared() {
    let folder = std::env::temp_dir().join(format!("trt-rc-session-{}", std::process::id()));
    let path = folder.join("cache.bin");
    let _ = std::fs::remove_dir_all(&folder);
    {
        let sim = Sim::new();
        let engine = sim.engine("mlp.simplan");
        let settings = RuntimeSettings::default()
            .with_runtime_cache(trt::RuntimeCacheSetting::Path(path.clone()));
        let mut a = engine
            .session()
            .with_runtime_settings(settings.clone())
            .build()
            .unwrap();
        let mut b = engine
            .session()
            .with_runtime_settings(settings)
            .build()
            .unwrap();
        for batch in [1, 2, 3] {
            a.run(&inputs!["x" => &mlp_input(batch, 0)]).unwrap();
        }
        b.run(&inputs!["x" => &mlp_input(7, 0)]).unwrap();
        // Both sessions hold the one cache of that path.
        let shared = trt::RuntimeCache::open(&sim.runtime, &path).unwrap();
        assert_eq!(sim_kernels(&shared).len(), 4, "{:?}", sim_kernels(&shared));
    }
    assert!(path.exists(), "saved when the last user went away");
    let reopened = trt::RuntimeCache::open(&Runtime::simulated(), &path).unwrap();
    let kernels = sim_kernels(&reopened);
    assert_eq!(kernels.len(), 4, "{kernels:?}");
    assert!(
        kernels.iter().any(|kernel| kernel.contains("[7, 16]")),
        "{kernels:?}"
    );
    drop(reopened);
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn optimization_profile_one_accepts_its_own_range_only() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    assert_eq!(engine.info().num_profiles, 2);
    let mut session = engine
        .session()
        .with_optimization_profile(1)
        .build()
        .unwrap();
    let x = mlp_input(100, 4);
    let y = session
        .run(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
    let error = session.run(&inputs!["x" => &mlp_input(10, 4)]).unwrap_err();
    assert!(
        matches!(&error, Error::ShapeOutOfProfile { profile: 1, tensor, .. } if tensor == "x"),
        "{error}"
    );
    let error = engine
        .session()
        .with_optimization_profile(2)
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::InvalidConfig(_)), "{error}");
}

#[test]
fn the_rtx_graph_strategy_reaches_contexts_except_those_we_capture() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let x = mlp_input(2, 0);
    let mut session = engine.session().build().unwrap();
    {
        let _rtx = enable_rtx_cudagraphs(&mut session).unwrap();
    }
    session.run(&inputs!["x" => &x]).unwrap();
    assert_eq!(
        sim.stats().whole_graph_capture_contexts,
        0,
        "the scope was dropped first"
    );
    let rtx =
        RuntimeSettings::default().with_cuda_graph_strategy(CudaGraphStrategy::WholeGraphCapture);
    let mut with_rtx = engine
        .session()
        .with_runtime_settings(rtx.clone())
        .build()
        .unwrap();
    with_rtx.run(&inputs!["x" => &x]).unwrap();
    assert_eq!(
        sim.stats().whole_graph_capture_contexts,
        1,
        "RTX's own capture is asked for"
    );
    // Our own graph cache switches RTX's capture off for every context it creates: captures
    // cannot nest.
    let mut ours = engine
        .session()
        .with_runtime_settings(rtx)
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    ours.run(&inputs!["x" => &x]).unwrap();
    ours.run_eager(&inputs!["x" => &x]).unwrap();
    assert_eq!(ours.graph_cache().len(), 1);
    assert_eq!(sim.stats().whole_graph_capture_contexts, 1);
}

#[test]
fn safe_mode_binds_the_device_before_every_run() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let x = mlp_input(1, 0);
    let mut plain = engine.session().build().unwrap();
    plain.run(&inputs!["x" => &x]).unwrap();
    assert_eq!(sim.memory().make_current_calls, 0);
    let mut safe = engine
        .session()
        .with_safe_mode()
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    for _ in 0..3 {
        safe.run(&inputs!["x" => &x]).unwrap();
    }
    let shape = trt::Shape::new(&[1, 16]).unwrap();
    safe.stage(&[("x", shape)]).unwrap().run().unwrap();
    assert_eq!(sim.memory().make_current_calls, 4);
}
