use super::*;

fn mlp_engine(runtime: &Runtime) -> Engine {
    runtime
        .load_engine(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/mlp.simplan"
        ))
        .unwrap()
}

const X: FieldDecl<'static> = FieldDecl {
    field: "features",
    tensor: "x",
    mode: Mode::Input,
    dtype: "f32",
    dims: &[Dim::Named("Batch"), Dim::Static(16)],
};

#[test]
fn the_io_table_and_manifest_describe_the_engine() {
    let runtime = Runtime::simulated();
    let engine = mlp_engine(&runtime);
    let table = io_table(engine.info());
    assert_eq!(
        table,
        [
            TensorEntry::new("x", Mode::Input, "f32", &[-1, 16])
                .with_profile(&[1, 16], &[4, 16], &[64, 16])
                .with_profile(&[65, 16], &[128, 16], &[256, 16]),
            TensorEntry::new("y", Mode::Output, "f32", &[-1, 8]),
            TensorEntry::new("z", Mode::Output, "f32", &[-1, 16]),
        ]
    );
    let plan = engine.serialize().unwrap();
    let written = manifest(engine.info(), "host simulation", "mlp.simplan", &plan);
    assert_eq!(written.num_profiles, 2);
    assert_eq!(written.device_memory_bytes, 65536);
    assert_eq!(written.weights_bytes, 1 << 20);
    assert!(written.plan.matches(&plan));
    assert_eq!(Manifest::parse(&written.to_toml()).unwrap(), written);
}

#[test]
fn a_mismatched_declaration_fails_to_load_naming_every_field() {
    const SPEC: ModelSpec = ModelSpec {
        model: "Wrong",
        engine_path: "",
        embedded_plan: None,
        fields: &[
            FieldDecl { dtype: "f16", ..X },
            FieldDecl {
                field: "y",
                tensor: "y",
                mode: Mode::Output,
                dtype: "f32",
                dims: &[Dim::Any, Dim::Static(9)],
            },
        ],
    };
    let runtime = Runtime::simulated();
    let engine = mlp_engine(&runtime);
    let error = check(&SPEC, engine.info()).unwrap_err();
    let fields: Vec<Option<&str>> = error
        .mismatches()
        .iter()
        .map(|mismatch| mismatch.field.as_deref())
        .collect();
    assert_eq!(fields, [Some("features"), Some("y")]);
    assert_eq!(
        error.to_string(),
        "model `Wrong` does not match engine `mlp`: field `features` (tensor `x`): the engine's \
         tensor holds f32 elements, the struct declares f16; field `y`: dimension 1 is 8 in the \
         engine, the struct declares 9"
    );
    assert!(!error.is_bad_input());
    assert!(check(
        &ModelSpec {
            fields: &[X],
            ..SPEC
        },
        engine.info()
    )
    .is_ok());
}

#[test]
fn typed_inputs_check_length_element_type_and_rank() {
    let data = vec![1.0f32; 6];
    let input = TypedInput::<f32, 2>::host(&data, [2, 3]).unwrap();
    assert_eq!(input.dims(), [2, 3]);
    assert_eq!(input.tensor_ref().shape(), Shape::new(&[2, 3]).unwrap());
    assert!(matches!(
        TypedInput::<f32, 2>::host(&data, [4, 2]),
        Err(Error::ByteSizeMismatch {
            expected: 32,
            found: 24,
            ..
        })
    ));
    assert!(matches!(
        TypedInput::<f32, 2>::host(&data, [usize::MAX, 2]),
        Err(Error::InvalidShape { .. })
    ));

    let host = HostTensor::from_vec(&[2, 3], data.clone()).unwrap();
    assert_eq!(
        TypedInput::<f32, 2>::from_host(&host).unwrap().dims(),
        [2, 3]
    );
    assert!(matches!(
        TypedInput::<f16, 2>::from_host(&host),
        Err(Error::ElementTypeMismatch {
            actual: DataType::F32,
            requested: DataType::F16,
            ..
        })
    ));
    assert!(matches!(
        TypedInput::<f32, 3>::from_host(&host),
        Err(Error::InvalidShape { .. })
    ));
    let runtime = Runtime::simulated();
    let device = DeviceTensor::from_host(runtime.device(), &host).unwrap();
    let on_device = TypedInput::<f32, 2>::from_device(&device).unwrap();
    assert!(matches!(on_device.tensor_ref(), TensorRef::Device(_)));
}

#[test]
fn runs_enforce_fixed_and_named_extents() {
    const BOXES: FieldDecl<'static> = FieldDecl {
        field: "boxes",
        tensor: "boxes",
        mode: Mode::Output,
        dtype: "f32",
        dims: &[Dim::Named("Batch"), Dim::Static(64), Dim::Any],
    };
    let shape = |dims: &[i64]| Shape::new(dims).unwrap();
    let mut bindings = Bindings::default();
    bindings.check("M", &X, &shape(&[3, 16])).unwrap();
    bindings.check("M", &BOXES, &shape(&[3, 64, 4])).unwrap();

    let named = bindings
        .check("M", &BOXES, &shape(&[2, 64, 4]))
        .unwrap_err();
    assert_eq!(
        named.to_string(),
        "model `M`, field `boxes`: dimension 0 is 2, but `Batch` is 3 in this run (dimension 0 \
         of field `features`)"
    );
    assert!(named.is_bad_input());
    let fixed = bindings
        .check("M", &BOXES, &shape(&[3, 60, 4]))
        .unwrap_err();
    assert!(matches!(
        fixed,
        ModelError::Shape {
            field: "boxes",
            axis: 1,
            found: 60,
            rule: ShapeRule::Fixed(64),
            ..
        }
    ));
    assert_eq!(
        fixed.to_string(),
        "model `M`, field `boxes`: dimension 1 is 60, but the struct declares 64"
    );
}
