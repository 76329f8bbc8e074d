//! `trt inspect --rust`: a ready `#[trt_model]` struct for a manifest.

use std::fmt::Write as _;

use crate::{Manifest, Mode};

/// Element types `#[trt_model]` binds (the Rust types with a TensorRT data type).
const SUPPORTED_DTYPES: &[&str] = &["f32", "f16", "bf16", "i8", "u8", "i32", "i64"];

/// Rust keywords a tensor name may collide with; such fields get a trailing `_`.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "unsafe", "use", "where", "while", "yield",
];

/// A `#[trt_model]` struct declaring every I/O tensor of `manifest`, loading `engine_path`.
///
/// Fixed dimensions are written out; a dynamic first dimension is `Batch`, any other dynamic
/// one `_`. Tensor names that are not Rust identifiers become snake_case fields with
/// `name = "..."`. Tensors of element types the macro cannot bind are left as comments.
///
/// ```
/// let text = trt_manifest::render_model_struct(&trt_manifest::Manifest::example(), "models/mlp.simplan");
/// assert!(text.contains("#[input]\n    x: Tensor<f32, Batch, 16>,"));
/// ```
pub fn render_model_struct(manifest: &Manifest, engine_path: &str) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "#[trt::trt_model(engine = {})]", quoted(engine_path));
    let _ = writeln!(text, "pub struct {} {{", type_name(&manifest.engine));
    for tensor in &manifest.tensors {
        let dims: Vec<String> = tensor
            .shape
            .iter()
            .enumerate()
            .map(|(axis, &dim)| match (axis, dim) {
                (_, dim) if dim >= 0 => dim.to_string(),
                (0, _) => "Batch".to_owned(),
                _ => "_".to_owned(),
            })
            .collect();
        let mut generics = vec![tensor.dtype.clone()];
        generics.extend(dims);
        let field = field_name(&tensor.name);
        if !SUPPORTED_DTYPES.contains(&tensor.dtype.as_str()) {
            let _ = writeln!(
                text,
                "    // {} `{}`: #[trt_model] cannot bind {} elements",
                tensor.mode, tensor.name, tensor.dtype
            );
            continue;
        }
        let direction = match tensor.mode {
            Mode::Input => "input",
            Mode::Output => "output",
        };
        if field == tensor.name {
            let _ = writeln!(text, "    #[{direction}]");
        } else {
            let _ = writeln!(text, "    #[{direction}(name = {})]", quoted(&tensor.name));
        }
        let _ = writeln!(text, "    {field}: Tensor<{}>,", generics.join(", "));
    }
    text.push_str("}\n");
    text
}

/// A Rust string literal.
fn quoted(text: &str) -> String {
    format!("{text:?}")
}

/// `yolo-v8_det` -> `YoloV8Det`; a leading digit gets a `Model` prefix.
fn type_name(engine: &str) -> String {
    let mut name = String::new();
    for word in engine.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "Model");
    }
    name
}

/// `input.1` -> `input_1`, `Images` -> `images`, `type` -> `type_`, `0` -> `t_0`.
fn field_name(tensor: &str) -> String {
    let mut name: String = tensor
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) || name == "_" {
        name.insert_str(0, "t_");
    }
    if KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorEntry;

    #[test]
    fn names_become_identifiers() {
        assert_eq!(type_name("yolo-v8_det"), "YoloV8Det");
        assert_eq!(type_name("8bit"), "Model8bit");
        assert_eq!(type_name(""), "Model");
        assert_eq!(field_name("input.1"), "input_1");
        assert_eq!(field_name("Images"), "images");
        assert_eq!(field_name("type"), "type_");
        assert_eq!(field_name("0"), "t_0");
        assert_eq!(field_name("_"), "t__");
    }

    #[test]
    fn renders_every_bindable_tensor_and_comments_the_others() {
        let mut manifest = Manifest::example();
        manifest.engine = "tiny-detector".to_owned();
        manifest.tensors = vec![
            TensorEntry::new("input.1", Mode::Input, "f16", &[-1, 3, -1, -1]),
            TensorEntry::new("mask", Mode::Output, "bool", &[-1, 4]),
            TensorEntry::new("scores", Mode::Output, "f32", &[-1, 100]),
        ];
        let text = render_model_struct(&manifest, "models/tiny.plan");
        assert_eq!(
            text,
            "#[trt::trt_model(engine = \"models/tiny.plan\")]\n\
             pub struct TinyDetector {\n    \
             #[input(name = \"input.1\")]\n    \
             input_1: Tensor<f16, Batch, 3, _, _>,\n    \
             // output `mask`: #[trt_model] cannot bind bool elements\n    \
             #[output]\n    \
             scores: Tensor<f32, Batch, 100>,\n\
             }\n"
        );
    }
}
