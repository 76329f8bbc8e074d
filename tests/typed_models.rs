//! `#[trt_model]` on the host simulation: typed runs in every mode, and the load-time and
//! run-time checks, each failing with a typed error that names the field.

mod sim_common;

use sim_common::{assert_close, mlp_input, mlp_reference_y, plan, Sim};
use trt::backend::sim::{linear_bias, linear_weight};
use trt::typed::{f16, MismatchKind, Mode, ModelError, ShapeRule, TypedInput};
use trt::{trt_model, GraphCache, Runtime, WeightStreamingBudget};

// Checked at compile time against models/detector.simplan.manifest.toml.
#[trt_model(engine = "models/detector.simplan")]
struct Detector {
    /// NCHW images.
    #[input]
    images: Tensor<f16, Batch, 3, 32, 32>,
    #[output]
    boxes: Tensor<f32, Batch, 64, 4>,
    #[output]
    scores: Tensor<f32, Batch, 64>,
}

/// Deterministic images in [0, 1), exactly representable in f16.
fn images(batch: usize) -> Vec<f16> {
    (0..batch * 3 * 32 * 32)
        .map(|i| f16::from_f32(((i * 7) % 64) as f32 / 64.0))
        .collect()
}

fn sigmoid(value: f64) -> f64 {
    1.0 / (1.0 + (-value).exp())
}

/// models/detector.simplan in float64: every anchor reads 48 consecutive values.
fn detector_reference(images: &[f16]) -> (Vec<f64>, Vec<f64>) {
    let (mut boxes, mut scores) = (Vec::new(), Vec::new());
    for anchor in images.chunks_exact(48) {
        // Output `n` of a `linear` op with `seed`.
        let linear = |n: usize, seed: u64| {
            let dot: f64 = anchor
                .iter()
                .enumerate()
                .map(|(k, value)| value.to_f64() * linear_weight(k, n, seed))
                .sum();
            dot + linear_bias(n, seed)
        };
        boxes.extend((0..4).map(|n| 32.0 * sigmoid(linear(n, 2))));
        scores.push(sigmoid(linear(0, 3)));
    }
    (boxes, scores)
}

#[test]
fn a_typed_model_runs_eagerly_with_typed_inputs_and_outputs() {
    let sim = Sim::new();
    let model = Detector::load_with(&sim.runtime).unwrap();
    assert_eq!(model.engine().name(), "detector");
    let mut session = model.session().build().unwrap();
    let pixels = images(2);
    let inputs = DetectorInputs {
        images: TypedInput::host(&pixels, [2, 3, 32, 32]).unwrap(),
    };
    let outputs = session.run(&inputs).unwrap();
    let (boxes, scores) = (outputs.boxes(), outputs.scores());
    assert_eq!(boxes.dims(), [2, 64, 4]);
    assert_eq!(scores.dims(), [2, 64]);
    let (expected_boxes, expected_scores) = detector_reference(&pixels);
    assert_close(&boxes.to_vec().unwrap(), &expected_boxes);
    assert_close(&scores.to_vec().unwrap(), &expected_scores);
    // Owned outputs outlive the next run.
    let again = session.run(&inputs).unwrap();
    assert_eq!(again.scores().to_vec().unwrap(), scores.to_vec().unwrap());
    // Untyped access reaches the same tensors.
    assert_eq!(
        outputs
            .untyped()
            .to_host("scores")
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        scores.to_vec().unwrap()
    );
}

#[test]
fn cuda_graphs_and_pre_allocated_outputs_carry_over_to_typed_sessions() {
    let sim = Sim::new();
    let model = Detector::load_with(&sim.runtime).unwrap();
    let mut eager = model.session().build().unwrap();
    let mut graphs = model
        .session()
        .with_cudagraphs(GraphCache::new(2))
        .with_pre_allocated_outputs()
        .with_safe_mode()
        .build()
        .unwrap();
    for batch in [1, 3, 1, 3] {
        let pixels = images(batch);
        let inputs = DetectorInputs {
            images: TypedInput::host(&pixels, [batch, 3, 32, 32]).unwrap(),
        };
        let expected = eager.run(&inputs).unwrap().boxes().to_vec().unwrap();
        let borrowed = graphs.run(&inputs).unwrap();
        assert_eq!(borrowed.boxes().dims(), [batch, 64, 4]);
        assert_eq!(borrowed.boxes().to_vec().unwrap(), expected);
    }
    let metrics = graphs.graph_cache().metrics();
    assert_eq!((metrics.captures, metrics.hits), (2, 2));
    assert_eq!(
        sim.memory().make_current_calls,
        4,
        "safe mode bound before each run"
    );
    // Bypassing the cache for one call still returns typed outputs.
    let pixels = images(1);
    let inputs = DetectorInputs {
        images: TypedInput::host(&pixels, [1, 3, 32, 32]).unwrap(),
    };
    assert_eq!(graphs.run_eager(&inputs).unwrap().scores().dims(), [1, 64]);
    assert_eq!(graphs.graph_cache().metrics().bypasses, 1);
}

#[trt_model(engine = "models/mlp.simplan", embed)]
struct Mlp {
    #[input(name = "x")]
    features: Tensor<f32, Batch, 16>,
    #[output]
    y: Tensor<f32, Batch, 8>,
}

#[test]
fn embedded_plans_load_without_the_file_and_other_plans_with_the_same_io_load_too() {
    let sim = Sim::new();
    let model = Mlp::load_with(&sim.runtime).unwrap();
    let mut session = model.session().build().unwrap();
    let x = mlp_input(3, 5);
    let data = x.as_slice::<f32>().unwrap();
    let outputs = session
        .run(&MlpInputs {
            features: TypedInput::host(data, [3, 16]).unwrap(),
        })
        .unwrap();
    assert_close(&outputs.y().to_vec().unwrap(), &mlp_reference_y(&x));

    // models/streaming.simplan has the same I/O (without `z`, which Mlp does not declare).
    let mut streaming = Mlp::load_from(&sim.runtime, plan("streaming.simplan")).unwrap();
    streaming
        .engine_mut()
        .set_weight_streaming_budget(WeightStreamingBudget::Automatic)
        .unwrap();
    let mut session = streaming
        .session()
        .with_weight_streaming(WeightStreamingBudget::StreamAll)
        .build()
        .unwrap();
    assert_eq!(session.weight_streaming().unwrap().budget, 0);
    let outputs = session
        .run(&MlpInputs {
            features: TypedInput::from_host(&x).unwrap(),
        })
        .unwrap();
    assert_close(&outputs.y().to_vec().unwrap(), &mlp_reference_y(&x));
}

// Declarations that do not match their engine, loaded at run time. `manifest = false`: the
// compile-time check would refuse them.
#[trt_model(engine = "models/detector.simplan", manifest = false)]
struct WrongDtype {
    #[input]
    images: Tensor<f32, Batch, 3, 32, 32>,
    #[output]
    scores: Tensor<f32, Batch, 64>,
}

#[trt_model(engine = "models/detector.simplan", manifest = false)]
struct WrongName {
    #[input]
    images: Tensor<f16, Batch, 3, 32, 32>,
    #[output(name = "score")]
    scores: Tensor<f32, Batch, 64>,
}

#[trt_model(engine = "models/detector.simplan", manifest = false)]
struct WrongRank {
    #[input]
    images: Tensor<f16, Batch, 3, 1024>,
    #[output]
    scores: Tensor<f32, Batch, 64>,
}

#[trt_model(engine = "models/detector.simplan", manifest = false)]
struct WrongStaticDim {
    #[input]
    images: Tensor<f16, Batch, 3, 32, 32>,
    #[output]
    boxes: Tensor<f32, Batch, 100, 4>,
}

#[trt_model(engine = "models/detector.simplan", manifest = false)]
struct OutsideProfile {
    #[input]
    images: Tensor<f16, 32, 3, 32, 32>,
    #[output]
    scores: Tensor<f32, 32, 64>,
}

#[trt_model(engine = "models/detector.simplan", manifest = false)]
struct WrongMode {
    #[input]
    images: Tensor<f16, Batch, 3, 32, 32>,
    #[input]
    scores: Tensor<f32, Batch, 64>,
    #[output]
    boxes: Tensor<f32, Batch, 64, 4>,
}

#[trt_model(engine = "models/two_inputs.simplan")]
struct MissingInput {
    #[input]
    a: Tensor<f32, Batch, 4>,
    #[output]
    sum: Tensor<f32, Batch, 4>,
}

/// The one mismatch of a load that must fail.
fn mismatch(result: Result<impl Sized, ModelError>) -> (Option<String>, MismatchKind, String) {
    let error = match result {
        Ok(_) => panic!("the load should fail"),
        Err(error) => error,
    };
    let message = error.to_string();
    let [mismatch] = error.mismatches() else {
        panic!("expected one mismatch: {message}")
    };
    (mismatch.field.clone(), mismatch.kind.clone(), message)
}

#[test]
fn loading_checks_the_engine_against_the_struct_naming_the_field() {
    let runtime = Runtime::simulated();

    let (field, kind, message) = mismatch(WrongDtype::load_with(&runtime));
    assert_eq!(field.as_deref(), Some("images"));
    assert_eq!(
        kind,
        MismatchKind::DataType {
            declared: "f32".into(),
            engine: "f16".into()
        }
    );
    assert_eq!(
        message,
        "model `WrongDtype` does not match engine `detector`: field `images`: the engine's tensor \
         holds f16 elements, the struct declares f32"
    );

    let (field, kind, _) = mismatch(WrongName::load_with(&runtime));
    assert_eq!(field.as_deref(), Some("scores"));
    assert!(
        matches!(kind, MismatchKind::MissingTensor { known } if known == ["images", "boxes", "scores"])
    );

    let (field, kind, _) = mismatch(WrongRank::load_with(&runtime));
    assert_eq!(field.as_deref(), Some("images"));
    assert!(matches!(
        kind,
        MismatchKind::Rank {
            declared: 3,
            engine: 4,
            ..
        }
    ));

    let (field, kind, _) = mismatch(WrongStaticDim::load_with(&runtime));
    assert_eq!(field.as_deref(), Some("boxes"));
    assert_eq!(
        kind,
        MismatchKind::StaticDim {
            axis: 1,
            declared: 100,
            engine: 64
        }
    );

    let (field, kind, message) = mismatch(OutsideProfile::load_with(&runtime));
    assert_eq!(field.as_deref(), Some("images"));
    assert_eq!(
        kind,
        MismatchKind::OutsideProfiles {
            axis: 0,
            declared: 32,
            ranges: vec![(1, 16)]
        }
    );
    assert!(
        message.ends_with("no optimization profile accepts the struct's 32 (profile 0: 1..=16)")
    );

    let (field, kind, _) = mismatch(WrongMode::load_with(&runtime));
    assert_eq!(field.as_deref(), Some("scores"));
    assert_eq!(
        kind,
        MismatchKind::WrongMode {
            declared: Mode::Input,
            engine: Mode::Output
        }
    );

    let (field, kind, message) = mismatch(MissingInput::load_with(&runtime));
    assert_eq!((field, kind), (None, MismatchKind::UndeclaredInput));
    assert!(message.ends_with("engine input `b` has no #[input] field: a run needs every input"));

    // A plan that cannot be read is an engine error, not a mismatch.
    let missing = Detector::load_from(&runtime, "models/none.simplan");
    assert!(matches!(
        missing,
        Err(ModelError::Engine(trt::Error::Io(_)))
    ));
}

#[trt_model(engine = "models/two_inputs.simplan")]
struct Pair {
    #[input]
    a: Tensor<f32, Batch, 4>,
    #[input]
    b: Tensor<f32, Batch, 4>,
    #[output]
    sum: Tensor<f32, Batch, 4>,
}

#[trt_model(engine = "models/nonzero.simplan")]
struct Nonzero {
    #[input]
    x: Tensor<f32, Batch, 8>,
    /// Exactly three nonzero elements are expected.
    #[output]
    y: Tensor<i64, 3, 2>,
}

#[test]
fn runs_check_named_and_fixed_extents_and_the_session_stays_usable() {
    let runtime = Runtime::simulated();
    let pair = Pair::load_with(&runtime).unwrap();
    let mut session = pair.session().build().unwrap();
    let (two, three) = (vec![1.0f32; 8], vec![2.0f32; 12]);
    let conflicting = PairInputs {
        a: TypedInput::host(&two, [2, 4]).unwrap(),
        b: TypedInput::host(&three, [3, 4]).unwrap(),
    };
    let error = session.run(&conflicting).map(drop).unwrap_err();
    assert!(matches!(
        error,
        ModelError::Shape {
            field: "b",
            axis: 0,
            found: 3,
            rule: ShapeRule::Named {
                name: "Batch",
                extent: 2,
                field: "a",
                axis: 0
            },
            ..
        }
    ));
    assert!(error.is_bad_input());
    let good = PairInputs {
        a: TypedInput::host(&two, [2, 4]).unwrap(),
        b: TypedInput::host(&two, [2, 4]).unwrap(),
    };
    assert_eq!(
        session.run(&good).unwrap().sum().to_vec().unwrap(),
        [2.0; 8]
    );

    // A data-dependent output through the output allocator, with a fixed declared extent.
    let nonzero = Nonzero::load_with(&runtime).unwrap();
    let mut session = nonzero.session().with_output_allocator().build().unwrap();
    let three_set = [0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0];
    let outputs = session
        .run(&NonzeroInputs {
            x: TypedInput::host(&three_set, [1, 8]).unwrap(),
        })
        .unwrap();
    assert_eq!(outputs.y().to_vec().unwrap(), [0, 1, 0, 3, 0, 7]);
    let two_set = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0];
    let error = session
        .run(&NonzeroInputs {
            x: TypedInput::host(&two_set, [1, 8]).unwrap(),
        })
        .map(drop)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "model `Nonzero`, field `y`: dimension 0 is 2, but the struct declares 3"
    );
}
