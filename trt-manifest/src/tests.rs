use super::*;

/// The detector of `models/detector.simplan`: a dynamic batch with two profiles.
fn detector() -> Vec<TensorEntry> {
    vec![
        TensorEntry::new("images", Mode::Input, "f16", &[-1, 3, 32, 32])
            .with_profile(&[1, 3, 32, 32], &[2, 3, 32, 32], &[8, 3, 32, 32])
            .with_profile(&[16, 3, 32, 32], &[16, 3, 32, 32], &[32, 3, 32, 32]),
        TensorEntry::new("boxes", Mode::Output, "f32", &[-1, 64, 4]),
        TensorEntry::new("scores", Mode::Output, "f32", &[-1, 64]),
    ]
}

const BATCH_3_32_32: &[Dim<'static>] = &[
    Dim::Named("Batch"),
    Dim::Static(3),
    Dim::Static(32),
    Dim::Static(32),
];

fn field<'a>(name: &'a str, mode: Mode, dtype: &'a str, dims: &'a [Dim<'a>]) -> FieldDecl<'a> {
    FieldDecl {
        field: name,
        tensor: name,
        mode,
        dtype,
        dims,
    }
}

fn declared() -> Vec<FieldDecl<'static>> {
    vec![
        field("images", Mode::Input, "f16", BATCH_3_32_32),
        field(
            "boxes",
            Mode::Output,
            "f32",
            &[Dim::Named("Batch"), Dim::Static(64), Dim::Static(4)],
        ),
        field(
            "scores",
            Mode::Output,
            "f32",
            &[Dim::Named("Batch"), Dim::Any],
        ),
    ]
}

/// The one mismatch found after replacing field `index` by `replacement`.
fn only_mismatch(index: usize, replacement: FieldDecl<'_>) -> Mismatch {
    let mut fields = declared();
    fields[index] = replacement;
    let mut found = check_model(&fields, &detector());
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

#[test]
fn a_matching_declaration_has_no_mismatch() {
    assert_eq!(check_model(&declared(), &detector()), []);
    // Outputs may be left out; a fixed extent inside the second profile is accepted.
    let fields = [field(
        "images",
        Mode::Input,
        "f16",
        &[Dim::Static(20), Dim::Static(3), Dim::Any, Dim::Static(32)],
    )];
    assert_eq!(check_model(&fields, &detector()), []);
}

#[test]
fn each_kind_of_difference_names_the_field() {
    let wrong_name = only_mismatch(
        2,
        FieldDecl {
            tensor: "score",
            ..field("scores", Mode::Output, "f32", &[Dim::Any, Dim::Any])
        },
    );
    assert_eq!(wrong_name.field.as_deref(), Some("scores"));
    assert_eq!(
        wrong_name.to_string(),
        "field `scores` (tensor `score`): the engine has no tensor `score`; its tensors are \
         `images`, `boxes`, `scores`"
    );

    let wrong_mode = only_mismatch(
        2,
        field("scores", Mode::Input, "f32", &[Dim::Any, Dim::Any]),
    );
    assert_eq!(
        wrong_mode.kind,
        MismatchKind::WrongMode {
            declared: Mode::Input,
            engine: Mode::Output
        }
    );
    assert_eq!(
        wrong_mode.to_string(),
        "field `scores`: declared #[input], but the engine's tensor is an output"
    );

    let wrong_dtype = only_mismatch(0, field("images", Mode::Input, "f32", BATCH_3_32_32));
    assert_eq!(
        wrong_dtype.kind,
        MismatchKind::DataType {
            declared: "f32".into(),
            engine: "f16".into()
        }
    );

    let wrong_rank = only_mismatch(2, field("scores", Mode::Output, "f32", &[Dim::Any]));
    assert_eq!(
        wrong_rank.to_string(),
        "field `scores`: the engine's tensor has rank 2 (shape [-1, 64]), the struct declares rank 1"
    );

    let wrong_extent = only_mismatch(
        1,
        field(
            "boxes",
            Mode::Output,
            "f32",
            &[Dim::Any, Dim::Static(100), Dim::Static(4)],
        ),
    );
    assert_eq!(
        wrong_extent.kind,
        MismatchKind::StaticDim {
            axis: 1,
            declared: 100,
            engine: 64
        }
    );
    assert_eq!(
        wrong_extent.to_string(),
        "field `boxes`: dimension 1 is 64 in the engine, the struct declares 100"
    );

    let outside = only_mismatch(
        0,
        field(
            "images",
            Mode::Input,
            "f16",
            &[Dim::Static(12), Dim::Static(3), Dim::Any, Dim::Any],
        ),
    );
    assert_eq!(
        outside.kind,
        MismatchKind::OutsideProfiles {
            axis: 0,
            declared: 12,
            ranges: vec![(1, 8), (16, 32)]
        }
    );
    assert!(outside.to_string().contains(
        "no optimization profile accepts the struct's 12 (profile 0: 1..=8, profile 1: 16..=32)"
    ));
}

#[test]
fn fixed_extents_of_dynamic_outputs_wait_for_the_run() {
    let fields = [
        field("images", Mode::Input, "f16", BATCH_3_32_32),
        field(
            "scores",
            Mode::Output,
            "f32",
            &[Dim::Static(1000), Dim::Any],
        ),
    ];
    assert_eq!(check_model(&fields, &detector()), []);
}

#[test]
fn a_named_dimension_the_engine_fixes_twice_differently_is_a_mismatch() {
    let tensors = vec![
        TensorEntry::new("a", Mode::Input, "f32", &[2, 4]),
        TensorEntry::new("b", Mode::Input, "f32", &[3, 4]),
        TensorEntry::new("y", Mode::Output, "f32", &[2, 4]),
    ];
    let n_4: &[Dim<'static>] = &[Dim::Named("N"), Dim::Static(4)];
    let fields = [
        field("a", Mode::Input, "f32", n_4),
        field("b", Mode::Input, "f32", n_4),
        field("y", Mode::Output, "f32", n_4),
    ];
    let found = check_model(&fields, &tensors);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field.as_deref(), Some("b"));
    assert_eq!(
        found[0].to_string(),
        "field `b`: dimension 0 is `N`, which the engine fixes to 3 here but to 2 at dimension 0 \
         of field `a`"
    );
}

#[test]
fn every_engine_input_needs_a_field() {
    let mut tensors = detector();
    tensors.push(TensorEntry::new("mask", Mode::Input, "u8", &[-1, 32, 32]));
    let found = check_model(&declared(), &tensors);
    assert_eq!(
        found,
        [Mismatch {
            field: None,
            tensor: "mask".into(),
            kind: MismatchKind::UndeclaredInput
        }]
    );
    assert_eq!(
        found[0].to_string(),
        "engine input `mask` has no #[input] field: a run needs every input"
    );
}

#[test]
fn manifests_round_trip_and_bad_ones_are_refused_with_reasons() {
    let mut manifest = Manifest::example();
    manifest.tensors = detector();
    let text = manifest.to_toml();
    assert!(text.starts_with("# I/O manifest written by `trt inspect --manifest`"));
    assert_eq!(Manifest::parse(&text).unwrap(), manifest);

    let error = |text: &str| Manifest::parse(text).unwrap_err().to_string();
    assert!(error("format = 7").contains("format 7 is not supported"));
    assert!(error("engine = \"x\"").contains("no `format` key"));
    assert!(error("format = 1\nengine = [").contains("not a valid manifest"));
    assert!(error(&text.replace("dtype", "type")).contains("not a valid manifest"));
    let bad_rank = text.replacen("min = [1, 3, 32, 32]", "min = [1, 3, 32]", 1);
    assert_ne!(bad_rank, text);
    assert!(error(&bad_rank).contains("tensor `images`: shapes must have rank 4"));
}

#[test]
fn fingerprints_notice_any_change() {
    let plan = b"#trt-sim-plan v1\nname = \"x\"\n";
    let print = PlanFingerprint::of("x.simplan", plan);
    assert_eq!(print.fnv1a64.len(), 16);
    assert!(print.matches(plan));
    let mut changed = plan.to_vec();
    changed[20] ^= 1;
    assert!(!print.matches(&changed));
    assert!(!print.matches(&plan[..plan.len() - 1]));
    // The reference value of FNV-1a 64 for "a".
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
}
