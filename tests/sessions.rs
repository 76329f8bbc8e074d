//! Rung S: sessions of every mode on the host simulation, and their errors.

mod sim_common;

use sim_common::{assert_close, mlp_input, mlp_reference_y, mlp_reference_z, Sim};
use trt::{
    enable_output_allocator, inputs, DataType, Error, GraphCache, HostTensor, KernelSpecialization,
    RuntimeSettings, TensorRef, WeightStreamingBudget,
};

#[test]
fn standard_session_matches_float64_reference() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine.session().build().unwrap();
    for batch in [1, 5, 64] {
        let x = mlp_input(batch, 3);
        let outputs = session.run(&inputs!["x" => &x]).unwrap();
        assert_eq!(outputs.len(), 2);
        let y = outputs.to_host("y").unwrap();
        assert_eq!(y.shape().dims(), &[batch as i64, 8]);
        assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
        assert_close(
            outputs.to_host("z").unwrap().as_slice::<f32>().unwrap(),
            &mlp_reference_z(&x),
        );
    }
}

#[test]
fn device_inputs_are_bound_without_copies() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine.session().build().unwrap();
    let x = mlp_input(3, 8);
    let on_device = trt::DeviceTensor::from_host(sim.runtime.device(), &x).unwrap();
    let copies = sim.stats().host_to_device_copies;
    let y = session
        .run(&inputs!["x" => &on_device])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
    assert_eq!(sim.stats().host_to_device_copies, copies);
}

/// Runs a good input after every error: the session must still be correct.
fn assert_still_usable(session: &mut trt::Session<'_>) {
    let x = mlp_input(2, 1);
    let y = session
        .run(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
}

#[test]
fn bad_input_gives_typed_errors_naming_the_tensor_and_session_stays_usable() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine.session().build().unwrap();
    let good = mlp_input(2, 0);

    let error = session.run(&inputs!["images" => &good]).unwrap_err();
    assert!(
        matches!(&error, Error::UnknownTensor { tensor, known } if tensor == "images" && known.contains("`x`")),
        "{error}"
    );
    assert!(error.is_bad_input());
    assert_still_usable(&mut session);

    let wrong_dtype = HostTensor::from_vec(&[2, 16], vec![0i32; 32]).unwrap();
    let error = session.run(&inputs!["x" => &wrong_dtype]).unwrap_err();
    assert!(
        matches!(&error, Error::DataTypeMismatch { tensor, expected: DataType::F32, found: DataType::Int32 } if tensor == "x"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "tensor `x`: expected data type f32, found i32"
    );
    assert_still_usable(&mut session);

    let wrong_rank = HostTensor::from_vec(&[32], vec![0f32; 32]).unwrap();
    let error = session.run(&inputs!["x" => &wrong_rank]).unwrap_err();
    assert!(
        matches!(&error, Error::RankMismatch { tensor, expected: 2, found: 1, .. } if tensor == "x"),
        "{error}"
    );
    assert_still_usable(&mut session);

    let wrong_dim = HostTensor::from_vec(&[2, 15], vec![0f32; 30]).unwrap();
    let error = session.run(&inputs!["x" => &wrong_dim]).unwrap_err();
    assert!(
        matches!(&error, Error::StaticDimMismatch { tensor, axis: 1, expected: 16, found: 15, .. } if tensor == "x"),
        "{error}"
    );
    assert_still_usable(&mut session);

    let too_big = mlp_input(65, 0);
    let error = session.run(&inputs!["x" => &too_big]).unwrap_err();
    match &error {
        Error::ShapeOutOfProfile {
            tensor,
            profile: 0,
            min,
            max,
            found,
        } => {
            assert_eq!(tensor, "x");
            assert_eq!(
                (min.dims(), max.dims(), found.dims()),
                (&[1i64, 16][..], &[64i64, 16][..], &[65i64, 16][..])
            );
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        error.to_string().contains("outside optimization profile 0"),
        "{error}"
    );
    assert_still_usable(&mut session);

    let error = session.run(&[]).unwrap_err();
    assert!(
        matches!(&error, Error::MissingInput { tensor } if tensor == "x"),
        "{error}"
    );
    assert_still_usable(&mut session);

    let error = session
        .run(&inputs!["x" => &good, "x" => &good])
        .unwrap_err();
    assert!(
        matches!(&error, Error::DuplicateInput { tensor } if tensor == "x"),
        "{error}"
    );

    let error = session.run(&inputs!["y" => &good]).unwrap_err();
    assert!(
        matches!(&error, Error::WrongTensorMode { tensor, wanted: "input", .. } if tensor == "y"),
        "{error}"
    );

    let data = [0f32; 10];
    let short = TensorRef::host(&data[..], &[2, 16]).unwrap();
    let error = session.run(&[trt::Input::new("x", short)]).unwrap_err();
    assert!(
        matches!(&error, Error::ByteSizeMismatch { tensor, expected: 128, found: 40, .. } if tensor == "x"),
        "{error}"
    );
    assert_still_usable(&mut session);
}

#[test]
fn graph_sessions_report_the_same_bad_input_errors() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    let error = session.run(&inputs!["x" => &mlp_input(65, 0)]).unwrap_err();
    assert!(matches!(error, Error::ShapeOutOfProfile { .. }), "{error}");
    assert!(session.graph_cache().is_empty());
    let x = mlp_input(2, 0);
    let y = session
        .run(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
}

#[test]
fn pre_allocated_outputs_reuse_one_buffer() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine
        .session()
        .with_pre_allocated_outputs()
        .build()
        .unwrap();
    let first = {
        let outputs = session.run(&inputs!["x" => &mlp_input(4, 1)]).unwrap();
        outputs.get("y").unwrap().ptr()
    };
    let allocations = sim.memory().total_allocations;
    let x = mlp_input(4, 2);
    let outputs = session.run(&inputs!["x" => &x]).unwrap();
    let y = outputs.get("y").unwrap();
    assert_eq!(y.ptr(), first, "same buffer");
    assert_close(&y.to_vec::<f32>().unwrap(), &mlp_reference_y(&x));
    assert_eq!(
        sim.memory().total_allocations,
        allocations,
        "no allocation per steady run"
    );
}

#[test]
fn output_allocator_returns_data_dependent_shapes_and_reuses_buffers() {
    let sim = Sim::new();
    let engine = sim.engine("nonzero.simplan");
    let mut session = engine.session().with_output_allocator().build().unwrap();
    let dense = HostTensor::from_vec(&[2, 8], vec![1.0f32; 16]).unwrap();
    let y = session
        .run(&inputs!["x" => &dense])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_eq!(y.shape().dims(), &[16, 2]);
    assert_eq!(&y.as_slice::<i64>().unwrap()[..6], &[0, 0, 0, 1, 0, 2]);
    let allocations = sim.memory().total_allocations;
    let sparse =
        HostTensor::from_vec(&[1, 8], vec![0.0f32, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
    let outputs = session.run(&inputs!["x" => &sparse]).unwrap();
    let y = outputs.to_host("y").unwrap();
    assert_eq!(y.shape().dims(), &[1, 2]);
    assert_eq!(y.as_slice::<i64>().unwrap(), &[0, 2]);
    // Only the owned clone of the output was allocated: the allocator reused its buffer.
    assert_eq!(sim.memory().total_allocations, allocations + 1);
    assert!(session.max_output_size("y").unwrap() >= 16);

    let mut scoped = engine.session().build().unwrap();
    let mut scope = enable_output_allocator(&mut scoped).unwrap();
    let y = scope
        .run(&inputs!["x" => &sparse])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_eq!(y.as_slice::<i64>().unwrap(), &[0, 2]);
}

#[test]
fn weight_streaming_sessions_apply_the_budget() {
    let sim = Sim::new();
    let mut engine = sim.engine("streaming.simplan");
    let info = engine.weight_streaming().unwrap();
    assert!(info.streamable_bytes > 0);
    assert!(!info.is_streaming());
    {
        let session = engine
            .session()
            .with_weight_streaming(WeightStreamingBudget::Bytes(info.streamable_bytes / 4))
            .build()
            .unwrap();
        let now = session.weight_streaming().unwrap();
        assert_eq!(now.budget, info.streamable_bytes / 4);
        assert!(now.is_streaming());
        // A second session cannot change the budget while this one's context lives.
        let error = engine
            .session()
            .with_weight_streaming(WeightStreamingBudget::StreamAll)
            .build()
            .unwrap_err();
        assert!(matches!(error, Error::EngineInUse { .. }), "{error}");
    }
    engine
        .set_weight_streaming_budget(WeightStreamingBudget::Disabled)
        .unwrap();
    assert_eq!(
        engine.weight_streaming().unwrap().budget,
        info.streamable_bytes
    );

    let plain = sim.engine("mlp.simplan");
    let error = plain
        .session()
        .with_weight_streaming(WeightStreamingBudget::Automatic)
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, Error::WeightStreamingUnsupported { engine } if engine == "mlp"),
        "{error}"
    );
}

#[test]
fn capturing_a_streaming_engine_fails_like_the_real_thing() {
    let sim = Sim::new();
    let mut engine = sim.engine("streaming.simplan");
    engine
        .set_weight_streaming_budget(WeightStreamingBudget::StreamAll)
        .unwrap();
    let mut session = engine
        .session()
        .with_cudagraphs(
            GraphCache::new(2).with_capture_failure_policy(trt::CaptureFailurePolicy::Error),
        )
        .build()
        .unwrap();
    let error = session.run(&inputs!["x" => &mlp_input(2, 0)]).unwrap_err();
    assert!(
        matches!(&error, Error::CaptureFailed { reason } if reason.contains("stream")),
        "{error}"
    );
}

#[test]
fn changing_runtime_settings_recreates_the_context() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine.session().build().unwrap();
    session.run(&inputs!["x" => &mlp_input(1, 0)]).unwrap();
    assert_eq!(
        sim.stats().contexts_created,
        1,
        "the first run creates the context"
    );
    let eager = RuntimeSettings::default().with_kernel_specialization(KernelSpecialization::Eager);
    session.set_runtime_settings(eager.clone()).unwrap();
    assert_eq!(session.runtime_settings(), eager);
    session.run(&inputs!["x" => &mlp_input(1, 0)]).unwrap();
    assert_eq!(
        sim.stats().contexts_created,
        2,
        "recreated once, on the next run"
    );
    session.set_runtime_settings(eager).unwrap();
    session.run(&inputs!["x" => &mlp_input(1, 0)]).unwrap();
    assert_eq!(
        sim.stats().contexts_created,
        2,
        "same settings: nothing recreated"
    );
}

#[test]
fn two_input_engine_and_half_precision() {
    let sim = Sim::new();
    let engine = sim.engine("two_inputs.simplan");
    let mut session = engine.session().build().unwrap();
    let a = HostTensor::from_vec(&[2, 4], (0..8).map(|v| v as f32).collect()).unwrap();
    let b = HostTensor::from_vec(&[2, 4], vec![0.5f32; 8]).unwrap();
    let error = session.run(&inputs!["a" => &a]).unwrap_err();
    assert!(
        matches!(&error, Error::MissingInput { tensor } if tensor == "b"),
        "{error}"
    );
    let out = session.run(&inputs!["b" => &b, "a" => &a]).unwrap();
    let (name, tensor) = out.iter().next().unwrap();
    let sum = tensor.to_host().unwrap();
    assert_eq!(
        sum.as_slice::<f32>().unwrap(),
        &[0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5],
        "{name}"
    );

    let engine = sim.engine("half.simplan");
    let input = engine.info().inputs().next().unwrap().clone();
    assert_eq!(input.dtype, DataType::F16);
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    let x = HostTensor::from_vec(
        &[1, 4],
        [1.0f32, -2.0, 0.25, 3.0].map(half::f16::from_f32).to_vec(),
    )
    .unwrap();
    let outputs = session.run(&inputs![input.name.as_str() => &x]).unwrap();
    let (_, first) = outputs.iter().next().unwrap();
    let doubled: Vec<f32> = first
        .to_host()
        .unwrap()
        .as_slice::<half::f16>()
        .unwrap()
        .iter()
        .map(|v| v.to_f32())
        .collect();
    assert_eq!(doubled, [2.0, -4.0, 0.5, 6.0]);
}

#[test]
fn corrupt_and_foreign_plans_are_typed_errors() {
    let sim = Sim::new();
    let error = sim
        .runtime
        .engine_from_bytes(b"\x00\x01garbage")
        .unwrap_err();
    assert!(matches!(error, Error::InvalidPlan { .. }), "{error}");
    let text = std::fs::read(sim_common::plan("mlp.simplan")).unwrap();
    for cut in [20, text.len() / 2, text.len() - 3] {
        let error = sim.runtime.engine_from_bytes(&text[..cut]).err();
        if let Some(error) = error {
            assert!(matches!(error, Error::InvalidPlan { .. }), "{error}");
        }
    }
    let missing = sim.runtime.load_engine("no/such/plan.simplan").unwrap_err();
    assert!(
        missing.to_string().contains("no/such/plan.simplan"),
        "{missing}"
    );
}

#[test]
fn a_forgotten_scope_guard_cannot_mix_graphs_and_an_output_allocator() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine.session().build().unwrap();
    // `mem::forget` is safe and skips the guard's Drop: the run-time check must hold the line.
    std::mem::forget(trt::enable_cudagraphs(&mut session, GraphCache::new(2)).unwrap());
    let error = enable_output_allocator(&mut session)
        .err()
        .expect("refused");
    assert!(
        matches!(&error, Error::InvalidConfig(message) if message.contains("already has CUDA graphs")),
        "{error}"
    );
    let error = trt::enable_cudagraphs(&mut session, GraphCache::new(2))
        .err()
        .expect("refused");
    assert!(matches!(error, Error::InvalidConfig(_)), "{error}");

    let mut other = engine.session().build().unwrap();
    std::mem::forget(enable_output_allocator(&mut other).unwrap());
    let error = trt::enable_cudagraphs(&mut other, GraphCache::new(2))
        .err()
        .expect("refused");
    assert!(
        matches!(&error, Error::InvalidConfig(message) if message.contains("output allocator")),
        "{error}"
    );
}
