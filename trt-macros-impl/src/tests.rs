//! Parse, validate and expand, on token streams: what the generated code contains, and that
//! every misuse is one error at the offending tokens with the types still generated.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::TokenStream;
use trt_manifest::{Manifest, Mode, PlanFingerprint, TensorEntry};

use super::*;

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn models_environment() -> Environment {
    Environment::new(models(), |_| None)
}

fn tokens(text: &str) -> TokenStream {
    TokenStream::from_str(text).expect("test input tokenizes")
}

/// One error message and where it starts (1-based line, 0-based column of the input it was
/// found in).
#[derive(Debug)]
struct Reported {
    message: String,
    line: usize,
    column: usize,
}

struct Expansion {
    errors: Vec<Reported>,
    file: syn::File,
    text: String,
}

impl Expansion {
    fn item_names(&self) -> Vec<String> {
        self.file
            .items
            .iter()
            .filter_map(|item| match item {
                syn::Item::Struct(item) => Some(item.ident.to_string()),
                _ => None,
            })
            .collect()
    }

    fn only_error(&self) -> &Reported {
        assert_eq!(self.errors.len(), 1, "{:#?}", self.errors);
        &self.errors[0]
    }
}

fn expand_with(args: &str, item: &str, environment: &Environment) -> Expansion {
    let (generated, errors) = expand_collecting_errors(tokens(args), tokens(item), environment);
    let errors = errors
        .into_iter()
        .flatten()
        .map(|error| {
            let start = error.span().start();
            Reported {
                message: error.to_string(),
                line: start.line,
                column: start.column,
            }
        })
        .collect();
    let text = generated.to_string();
    let file = syn::parse2(generated).expect("the expansion is valid Rust");
    Expansion { errors, file, text }
}

fn expand(args: &str, item: &str) -> Expansion {
    expand_with(args, item, &models_environment())
}

/// Where the `nth` occurrence of `needle` starts in `text`.
fn position(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` occurs fewer than {} times", nth + 1))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |newline| newline + 1);
    (line, column)
}

fn assert_points_at(reported: &Reported, text: &str, needle: &str, nth: usize) {
    assert_eq!(
        (reported.line, reported.column),
        position(text, needle, nth),
        "`{}` should point at `{needle}`",
        reported.message
    );
}

const DETECTOR: &str = "
/// Finds things.
pub struct Detector {
    /// NCHW images.
    #[input] images: Tensor<f16, Batch, 3, 32, 32>,
    #[output] boxes: Tensor<f32, Batch, 64, 4>,
    #[output] scores: Tensor<f32, Batch, _>,
}";

fn path_text(path: &Path) -> String {
    path.canonicalize().unwrap().to_string_lossy().into_owned()
}

#[test]
fn a_valid_model_expands_to_its_types_spec_and_tracked_files() {
    let expansion = expand("engine = \"detector.simplan\"", DETECTOR);
    assert!(expansion.errors.is_empty(), "{:#?}", expansion.errors);
    assert_eq!(
        expansion.item_names(),
        ["Detector", "DetectorInputs", "DetectorOutputs"]
    );
    let text = &expansion.text;
    // The model owns only its engine; docs pass through.
    assert!(
        text.contains(
            "# [doc = \" Finds things.\"] pub struct Detector { engine : :: trt :: Engine , }"
        ),
        "{text}"
    );
    assert!(text.contains(
        "pub struct DetectorInputs < 'a > { # [doc = \" NCHW images.\"] pub images : :: trt :: typed :: TypedInput < 'a , :: trt :: typed :: f16 , 4usize > , }"
    ), "{text}");
    assert!(text.contains(
        "pub fn boxes (& self) -> :: trt :: typed :: TypedOutputView < '_ , :: core :: primitive :: f32 , 3usize > { self . outputs . view (0usize) }"
    ), "{text}");
    assert!(
        text.contains("pub fn scores (& self)") && text.contains("self . outputs . view (1usize)")
    );
    // Fields without docs get one, so crates that deny `missing_docs` accept the model.
    assert!(
        text.contains("# [doc = \"Output tensor `boxes`.\"] pub fn boxes"),
        "{text}"
    );
    assert!(text.contains(
        ":: trt :: typed :: FieldDecl { field : \"images\" , tensor : \"images\" , mode : :: trt :: typed :: Mode :: Input , dtype : \"f16\" , dims : & [:: trt :: typed :: Dim :: Named (\"Batch\") , :: trt :: typed :: Dim :: Static (3i64) , :: trt :: typed :: Dim :: Static (32i64) , :: trt :: typed :: Dim :: Static (32i64)] , }"
    ), "{text}");
    assert!(text.contains(
        "dims : & [:: trt :: typed :: Dim :: Named (\"Batch\") , :: trt :: typed :: Dim :: Any]"
    ));
    assert!(text.contains("type InputList < 'a > = [:: trt :: Input < 'a > ; 1usize]"));
    assert!(
        text.contains("[:: trt :: Input :: new (\"images\" , inputs . images . tensor_ref ())]")
    );
    // Loaded from the plan at run time; both files included so that editing them rebuilds.
    let plan = path_text(&models().join("detector.simplan"));
    let manifest = path_text(&models().join("detector.simplan.manifest.toml"));
    assert!(text.contains("embedded_plan : :: core :: option :: Option :: None"));
    assert!(
        text.contains(&format!("const _ : & [u8] = include_bytes ! ({plan:?}) ;")),
        "{text}"
    );
    assert!(
        text.contains(&format!("const _ : & str = include_str ! ({manifest:?}) ;")),
        "{text}"
    );
    assert!(text.contains(&format!("engine_path : {plan:?}")), "{text}");
}

#[test]
fn embed_compiles_the_plan_in_and_renamed_tensors_bind_by_name() {
    let item = "struct Mlp {
        #[input(name = \"x\")] features: Tensor<f32, Batch, 16>,
        #[output] y: Tensor<f32, Batch, 8>,
    }";
    let expansion = expand("engine = \"mlp.simplan\", embed", item);
    assert!(expansion.errors.is_empty(), "{:#?}", expansion.errors);
    let text = &expansion.text;
    let plan = path_text(&models().join("mlp.simplan"));
    assert!(
        text.contains(&format!(
            "embedded_plan : :: core :: option :: Option :: Some (include_bytes ! ({plan:?}))"
        )),
        "{text}"
    );
    // The embedded bytes already make the plan tracked; no manifest exists for mlp.
    assert!(!text.contains("const _ : & [u8]"));
    assert!(!text.contains("include_str"));
    assert!(text.contains("field : \"features\" , tensor : \"x\""));
    assert!(text.contains(":: trt :: Input :: new (\"x\" , inputs . features . tensor_ref ())"));
}

/// Each misuse: (attribute arguments, struct, message fragment, token the error points at
/// and which occurrence of it, in the arguments when `in_args`).
struct Misuse {
    args: &'static str,
    item: &'static str,
    message: &'static str,
    at: &'static str,
    nth: usize,
    in_args: bool,
}

const MLP_ARGS: &str = "engine = \"mlp.simplan\"";

fn misuse(item: &'static str, message: &'static str, at: &'static str, nth: usize) -> Misuse {
    Misuse {
        args: MLP_ARGS,
        item,
        message,
        at,
        nth,
        in_args: false,
    }
}

#[test]
fn each_misuse_is_one_error_at_the_offending_tokens_and_the_types_still_exist() {
    let mlp =
        "struct Mlp { #[input] x: Tensor<f32, Batch, 16>, #[output] y: Tensor<f32, Batch, 8> }";
    let cases = [
        Misuse {
            args: "engine = \"mlp.simplan\", batch = 4",
            item: mlp,
            message: "unknown #[trt_model] option `batch`; the options are `engine = \"path\"`, `embed`, `manifest = \"path\"` or `manifest = false`",
            at: "batch",
            nth: 0,
            in_args: true,
        },
        Misuse {
            args: "engine = \"mlp.simplan\", manifest = true",
            item: mlp,
            message: "`manifest = true` is the default",
            at: "true",
            nth: 0,
            in_args: true,
        },
        Misuse {
            args: "engine = \"missing.plan\"",
            item: mlp,
            message: "engine file `missing.plan` not found (looked for ",
            at: "\"missing.plan\"",
            nth: 0,
            in_args: true,
        },
        Misuse {
            args: "engine = \"$NOT_SET/mlp.simplan\"",
            item: mlp,
            message: "`$NOT_SET/mlp.simplan`: environment variable `NOT_SET` is not set at compile time",
            at: "\"$NOT_SET",
            nth: 0,
            in_args: true,
        },
        Misuse {
            args: "engine = \"mlp.simplan\", manifest = \"mlp.toml\"",
            item: mlp,
            message: "manifest `mlp.toml` not found",
            at: "\"mlp.toml\"",
            nth: 0,
            in_args: true,
        },
        misuse(
            "struct Mlp { #[input(nme = \"x\")] x: Tensor<f32, Batch, 16>, #[output] y: Tensor<f32, Batch, 8> }",
            "unknown #[input] option; the only option is `name = \"tensor name\"`",
            "nme",
            0,
        ),
        misuse(
            "struct Mlp { x: Tensor<f32, Batch, 16>, #[output] y: Tensor<f32, Batch, 8> }",
            "field `x` needs a direction: #[input] or #[output]",
            "x:",
            0,
        ),
        misuse(
            "struct Mlp { #[input] x: Tensor<f64, Batch, 16>, #[output] y: Tensor<f32, Batch, 8> }",
            "unsupported element type; a tensor holds one of `f32`, `f16`, `bf16`, `i8`, `u8`, `i32`, `i64`",
            "f64",
            0,
        ),
        misuse(
            "struct Mlp { #[input] x: Tensor<f32, Batch, 1.5>, #[output] y: Tensor<f32, Batch, 8> }",
            "expected a dimension: an extent such as `640`, a name such as `Batch`",
            "1.5",
            0,
        ),
        misuse(
            "struct Mlp { #[input] x: Vec<f32>, #[output] y: Tensor<f32, Batch, 8> }",
            "expected `Tensor<element, dimensions...>`",
            "Vec",
            0,
        ),
        misuse(
            "struct Mlp { #[input] x: Tensor<f32, 1, 1, 1, 1, 1, 1, 1, 1, 1>, #[output] y: Tensor<f32, Batch, 8> }",
            "a tensor has at most 8 dimensions, this one 9",
            "Tensor",
            0,
        ),
        misuse(
            "struct Mlp { #[input] x: Tensor<f32, Batch, 16>, #[output(name = \"x\")] y: Tensor<f32, Batch, 8> }",
            "tensor `x` is bound twice: by field `x` and by field `y`",
            "\"x\"",
            0,
        ),
        misuse(
            "struct Mlp { #[input] #[output] x: Tensor<f32, Batch, 16>, #[output] y: Tensor<f32, Batch, 8> }",
            "a field is either #[input] or #[output], once",
            "#[output]",
            0,
        ),
        misuse(
            "struct Mlp<T> { #[input] x: Tensor<f32, Batch, 16>, #[output] y: Tensor<f32, Batch, 8> }",
            "a #[trt_model] struct takes no generic parameters",
            "<T>",
            0,
        ),
        misuse(
            "struct Mlp { #[input] x: Tensor<f32, Batch, 16> }",
            "a #[trt_model] struct needs at least one #[output] field",
            "Mlp",
            0,
        ),
    ];
    for case in &cases {
        let expansion = expand(case.args, case.item);
        let error = expansion.only_error();
        assert!(
            error.message.contains(case.message),
            "expected `{}`, got `{}`",
            case.message,
            error.message
        );
        let source = if case.in_args { case.args } else { case.item };
        assert_points_at(error, source, case.at, case.nth);
        // The model's types are still generated: code using them sees this error only.
        assert_eq!(
            expansion.item_names(),
            ["Mlp", "MlpInputs", "MlpOutputs"],
            "{}",
            case.message
        );
        assert!(expansion
            .text
            .contains("impl :: trt :: typed :: TypedModel for Mlp"));
    }
}

#[test]
fn missing_engine_option_and_non_structs_are_reported() {
    let expansion = expand(
        "",
        "struct Mlp { #[input] x: Tensor<f32, N>, #[output] y: Tensor<f32, N> }",
    );
    assert_eq!(
        expansion.only_error().message,
        "#[trt_model] needs the plan: `#[trt_model(engine = \"models/model.plan\")]`"
    );
    for item in [
        "enum Mlp { A }",
        "struct Mlp(Tensor<f32, N>);",
        "struct Mlp;",
    ] {
        let expansion = expand(MLP_ARGS, item);
        assert!(
            expansion.only_error().message.starts_with("#[trt_model]"),
            "{:#?}",
            expansion.errors
        );
        assert!(expansion.file.items.is_empty());
    }
}

#[test]
fn manifest_mismatches_are_errors_at_the_offending_field() {
    let args = "engine = \"detector.simplan\"";
    // (struct, message, token the error points at, occurrence)
    let cases = [
        (
            DETECTOR.replace("Tensor<f32, Batch, _>", "Tensor<f16, Batch, _>"),
            "field `scores`: the engine's tensor holds f32 elements, the struct declares f16 (manifest `detector.simplan.manifest.toml`)",
            "f16",
            1,
        ),
        (
            DETECTOR.replace("Batch, 64, 4", "Batch, 63, 4"),
            "field `boxes`: dimension 1 is 64 in the engine, the struct declares 63",
            "63",
            0,
        ),
        (
            DETECTOR.replace("Tensor<f32, Batch, _>", "Tensor<f32, Batch>"),
            "field `scores`: the engine's tensor has rank 2 (shape [-1, 64]), the struct declares rank 1",
            "Tensor<f32, Batch>",
            0,
        ),
        (
            DETECTOR.replace("#[output] boxes", "#[input] boxes"),
            "field `boxes`: declared #[input], but the engine's tensor is an output",
            "#[input]",
            1,
        ),
        (
            DETECTOR.replace("f16, Batch, 3", "f16, 32, 3"),
            "field `images`: dimension 0 is dynamic in the engine, and no optimization profile accepts the struct's 32 (profile 0: 1..=16)",
            "32",
            0,
        ),
        (
            DETECTOR.replace("#[output] scores", "#[output(name = \"score\")] scores"),
            "field `scores` (tensor `score`): the engine has no tensor `score`; its tensors are `images`, `boxes`, `scores`",
            "\"score\"",
            0,
        ),
    ];
    for (item, message, at, nth) in &cases {
        let expansion = expand(args, item);
        let error = expansion.only_error();
        assert!(error.message.starts_with(message), "{}", error.message);
        assert_points_at(error, item, at, *nth);
        assert_eq!(
            expansion.item_names(),
            ["Detector", "DetectorInputs", "DetectorOutputs"]
        );
    }

    // An engine input without a field: reported at the struct, next to the renamed field.
    let renamed = DETECTOR.replace("#[input] images", "#[input(name = \"pixels\")] images");
    let expansion = expand(args, &renamed);
    let messages: Vec<&str> = expansion
        .errors
        .iter()
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(messages[0]
        .starts_with("field `images` (tensor `pixels`): the engine has no tensor `pixels`"));
    assert!(messages[1].starts_with("engine input `images` has no #[input] field"));
    assert_points_at(&expansion.errors[1], &renamed, "Detector", 0);

    // `manifest = false` turns the compile-time check off (the load-time check remains).
    let unchecked = expand(
        "engine = \"detector.simplan\", manifest = false",
        &DETECTOR.replace("Batch, 64, 4", "Batch, 63, 4"),
    );
    assert!(unchecked.errors.is_empty(), "{:#?}", unchecked.errors);
    assert!(!unchecked.text.contains("include_str"));
}

/// A folder with a copy of the detector plan and a manifest for it, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("trt-macros-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        let plan = std::fs::read(models().join("detector.simplan")).unwrap();
        std::fs::write(path.join("detector.simplan"), &plan).unwrap();
        let manifest = Manifest {
            tensors: vec![
                TensorEntry::new("images", Mode::Input, "f16", &[-1, 3, 32, 32]).with_profile(
                    &[1, 3, 32, 32],
                    &[4, 3, 32, 32],
                    &[16, 3, 32, 32],
                ),
                TensorEntry::new("boxes", Mode::Output, "f32", &[-1, 64, 4]),
                TensorEntry::new("scores", Mode::Output, "f32", &[-1, 64]),
            ],
            plan: PlanFingerprint::of("detector.simplan", &plan),
            ..Manifest::example()
        };
        std::fs::write(
            path.join("detector.simplan.manifest.toml"),
            manifest.to_toml(),
        )
        .unwrap();
        Scratch(path)
    }

    fn environment(&self) -> Environment {
        let root = self.0.to_string_lossy().into_owned();
        Environment::new("/nonexistent-crate-root", move |name| {
            (name == "MODELS").then(|| root.clone())
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn variables_expand_and_a_stale_manifest_is_an_error() {
    let scratch = Scratch::new("stale");
    let environment = scratch.environment();
    for args in [
        "engine = \"$MODELS/detector.simplan\"",
        "engine = \"${MODELS}/detector.simplan\"",
    ] {
        let expansion = expand_with(args, DETECTOR, &environment);
        assert!(
            expansion.errors.is_empty(),
            "{args}: {:#?}",
            expansion.errors
        );
        assert!(
            expansion.text.contains("include_str"),
            "the manifest is used and tracked"
        );
    }
    let unclosed = expand_with("engine = \"${MODELS/x\"", DETECTOR, &environment);
    assert!(unclosed
        .only_error()
        .message
        .contains("`${` without a closing `}`"));

    // The plan changes after the manifest was written.
    let plan = scratch.0.join("detector.simplan");
    let mut bytes = std::fs::read(&plan).unwrap();
    bytes.extend_from_slice(b"# edited\n");
    std::fs::write(&plan, &bytes).unwrap();
    let args = "engine = \"$MODELS/detector.simplan\"";
    let stale = expand_with(args, DETECTOR, &environment);
    let error = stale.only_error();
    assert!(
        error.message.starts_with(
            "manifest `detector.simplan.manifest.toml` is stale: it describes a plan of "
        ),
        "{}",
        error.message
    );
    assert!(error
        .message
        .contains("regenerate it with `trt inspect --manifest "));
    assert_points_at(error, args, "\"$MODELS", 0);

    // A manifest that is not one.
    std::fs::write(
        scratch.0.join("detector.simplan.manifest.toml"),
        "format = 9",
    )
    .unwrap();
    let unreadable = expand_with(args, DETECTOR, &environment);
    assert!(unreadable
        .only_error()
        .message
        .contains("manifest format 9 is not supported"));
}

#[test]
fn a_rendered_struct_compiles_against_its_own_manifest() {
    let manifest = Manifest::parse(
        &std::fs::read_to_string(models().join("detector.simplan.manifest.toml")).unwrap(),
    )
    .unwrap();
    let rendered = trt_manifest::render_model_struct(&manifest, "detector.simplan");
    let item: syn::ItemStruct = syn::parse_str(&rendered).unwrap();
    let attribute = &item.attrs[0];
    let syn::Meta::List(list) = &attribute.meta else {
        panic!("{rendered}")
    };
    let mut bare = item.clone();
    bare.attrs.clear();
    let (generated, errors) = expand_collecting_errors(
        list.tokens.clone(),
        quote::quote!(#bare),
        &models_environment(),
    );
    assert!(errors.is_empty(), "{errors:?}\n{rendered}");
    assert!(generated.to_string().contains("include_str"));
}
