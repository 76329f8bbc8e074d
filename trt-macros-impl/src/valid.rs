//! What `#[trt_model]` checks before generating code: the declaration itself, the engine
//! file, and, when a manifest sits next to the plan, the declaration against the manifest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proc_macro2::Span;
use trt_manifest::{check_model, manifest_path_for, Dim, FieldDecl, Manifest, MismatchKind, Mode};

use crate::ast::{DimKind, Model};
use crate::attr::{ManifestOption, ModelOptions};
use crate::Environment;

/// The files the model is bound to, as far as they were found.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// The plan, absolute; `None` when missing (an error was recorded).
    pub(crate) engine_path: Option<String>,
    /// The manifest that exists for the plan, absolute: included so editing it rebuilds.
    pub(crate) manifest_path: Option<String>,
    /// Compile the plan bytes in.
    pub(crate) embed: bool,
}

/// Checks the declaration, finds the files, and checks the declaration against the manifest.
/// Problems are pushed to `errors`; what was found is returned either way.
pub(crate) fn validate(
    model: &Model,
    options: &ModelOptions,
    environment: &Environment,
    errors: &mut Vec<syn::Error>,
) -> Resolved {
    let declaration_errors = errors.len();
    check_declaration(model, errors);
    let declaration_is_valid = errors.len() == declaration_errors;

    let mut resolved = Resolved {
        embed: options.embed.is_some(),
        ..Resolved::default()
    };
    let Some(engine) = &options.engine else {
        errors.push(syn::Error::new(
            Span::call_site(),
            "#[trt_model] needs the plan: `#[trt_model(engine = \"models/model.plan\")]`",
        ));
        return resolved;
    };
    let engine_path = match resolve_file(&engine.value(), environment) {
        // Canonical, so the baked-in path and the included file read cleanly.
        Ok(path) if path.is_file() => path.canonicalize().unwrap_or(path),
        Ok(path) => {
            errors.push(syn::Error::new(
                engine.span(),
                format!(
                    "engine file `{}` not found (looked for {}); paths are relative to the crate root",
                    engine.value(),
                    path.display()
                ),
            ));
            return resolved;
        }
        Err(reason) => {
            errors.push(syn::Error::new(engine.span(), reason));
            return resolved;
        }
    };
    resolved.engine_path = utf8(&engine_path, engine.span(), errors);

    let (manifest_path, manifest_span) = match &options.manifest {
        ManifestOption::Disabled => return resolved,
        ManifestOption::NextToPlan => {
            let path = manifest_path_for(&engine_path);
            if !path.is_file() {
                return resolved;
            }
            (path, engine.span())
        }
        ManifestOption::Path(literal) => match resolve_file(&literal.value(), environment) {
            Ok(path) if path.is_file() => (path.canonicalize().unwrap_or(path), literal.span()),
            Ok(path) => {
                errors.push(syn::Error::new(
                    literal.span(),
                    format!(
                        "manifest `{}` not found (looked for {}); write one with `trt inspect --manifest PLAN`",
                        literal.value(),
                        path.display()
                    ),
                ));
                return resolved;
            }
            Err(reason) => {
                errors.push(syn::Error::new(literal.span(), reason));
                return resolved;
            }
        },
    };
    resolved.manifest_path = utf8(&manifest_path, manifest_span, errors);
    // A declaration that is already wrong would only add noise to the comparison.
    if declaration_is_valid {
        if let Err(error) =
            check_against_manifest(model, &engine_path, &manifest_path, manifest_span)
        {
            errors.push(error);
        }
    }
    resolved
}

/// Rules that need no engine: directions, unique tensor names, at least one input and output.
fn check_declaration(model: &Model, errors: &mut Vec<syn::Error>) {
    if model.fields.is_empty() {
        errors.push(syn::Error::new(
            model.ident.span(),
            "a #[trt_model] struct declares the engine's tensors, one field each; this one has none",
        ));
        return;
    }
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    for field in &model.fields {
        let tensor = field.tensor_name();
        if let Some(first) = seen.get(&tensor) {
            errors.push(syn::Error::new(
                field.tensor_name_span(),
                format!(
                    "tensor `{tensor}` is bound twice: by field `{first}` and by field `{}`",
                    field.ident
                ),
            ));
        } else {
            seen.insert(tensor, &field.ident);
        }
    }
    // Only when every direction is known: otherwise the missing one is the real error.
    if model.fields.iter().all(|field| field.direction.is_some()) {
        for (mode, what) in [(Mode::Input, "#[input]"), (Mode::Output, "#[output]")] {
            if !model.fields.iter().any(|field| field.mode() == Some(mode)) {
                errors.push(syn::Error::new(
                    model.ident.span(),
                    format!("a #[trt_model] struct needs at least one {what} field"),
                ));
            }
        }
    }
}

/// Expands a leading `$VAR` or `${VAR}` and makes the path absolute from the crate root.
fn resolve_file(written: &str, environment: &Environment) -> Result<PathBuf, String> {
    let expanded = expand_variable(written, environment)?;
    let path = Path::new(&expanded);
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        environment.manifest_dir.join(path)
    })
}

fn expand_variable(written: &str, environment: &Environment) -> Result<String, String> {
    let Some(rest) = written.strip_prefix('$') else {
        return Ok(written.to_owned());
    };
    let (name, tail) = match rest.strip_prefix('{') {
        Some(braced) => {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("`{written}`: `${{` without a closing `}}`"))?;
            (&braced[..end], &braced[end + 1..])
        }
        None => {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest.split_at(end)
        }
    };
    if name.is_empty() {
        return Err(format!(
            "`{written}`: `$` must be followed by a variable name"
        ));
    }
    let value = (environment.variable)(name).ok_or_else(|| {
        format!("`{written}`: environment variable `{name}` is not set at compile time")
    })?;
    Ok(format!("{value}{tail}"))
}

fn utf8(path: &Path, span: Span, errors: &mut Vec<syn::Error>) -> Option<String> {
    match path.to_str() {
        Some(text) => Some(text.to_owned()),
        None => {
            errors.push(syn::Error::new(
                span,
                format!("the path {} is not valid UTF-8", path.display()),
            ));
            None
        }
    }
}

/// Reads the manifest, checks it describes the plan as it is now, and checks every field.
fn check_against_manifest(
    model: &Model,
    engine_path: &Path,
    manifest_path: &Path,
    span: Span,
) -> Result<(), syn::Error> {
    let shown = manifest_path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(manifest_path).map_err(|error| {
        syn::Error::new(span, format!("cannot read manifest `{shown}`: {error}"))
    })?;
    let manifest = Manifest::parse(&text)
        .map_err(|error| syn::Error::new(span, format!("manifest `{shown}`: {error}")))?;
    let plan = std::fs::read(engine_path).map_err(|error| {
        syn::Error::new(
            span,
            format!("cannot read the plan {}: {error}", engine_path.display()),
        )
    })?;
    if !manifest.plan.matches(&plan) {
        return Err(syn::Error::new(
            span,
            format!(
                "manifest `{shown}` is stale: it describes a plan of {} bytes (FNV-1a {}), but the \
                 plan now has {} bytes or other contents; regenerate it with `trt inspect --manifest {}`",
                manifest.plan.bytes,
                manifest.plan.fnv1a64,
                plan.len(),
                engine_path.display()
            ),
        ));
    }

    let dims: Vec<Vec<Dim<'_>>> = model
        .fields
        .iter()
        .map(|field| {
            field
                .dims
                .iter()
                .map(|dim| match &dim.dim {
                    DimKind::Static(extent) => Dim::Static(*extent),
                    DimKind::Named(name) => Dim::Named(name),
                    DimKind::Any => Dim::Any,
                })
                .collect()
        })
        .collect();
    let names: Vec<(String, String)> = model
        .fields
        .iter()
        .map(|field| (field.ident.to_string(), field.tensor_name()))
        .collect();
    let mut declared = Vec::new();
    for ((field, dims), (name, tensor)) in model.fields.iter().zip(&dims).zip(&names) {
        // A valid declaration has both; the caller checked.
        let (Some(mode), Some(element)) = (field.mode(), field.element) else {
            continue;
        };
        declared.push(FieldDecl {
            field: name,
            tensor,
            mode,
            dtype: element.dtype,
            dims,
        });
    }

    let mut combined: Option<syn::Error> = None;
    for mismatch in check_model(&declared, &manifest.tensors) {
        let field = mismatch
            .field
            .as_ref()
            .and_then(|name| model.fields.iter().find(|field| field.ident == name));
        let at_axis = |axis: usize| {
            field
                .and_then(|field| field.dims.get(axis))
                .map(|dim| dim.span)
        };
        let location = match (&mismatch.kind, field) {
            (_, None) => Some(model.ident.span()),
            (MismatchKind::MissingTensor { .. }, Some(field)) => Some(field.tensor_name_span()),
            (MismatchKind::WrongMode { .. }, Some(field)) => {
                field.direction.as_ref().map(|direction| direction.span)
            }
            (MismatchKind::DataType { .. }, Some(field)) => Some(field.element_span),
            (MismatchKind::Rank { .. }, Some(field)) => Some(field.type_span),
            (
                MismatchKind::StaticDim { axis, .. }
                | MismatchKind::OutsideProfiles { axis, .. }
                | MismatchKind::NamedDim { axis, .. },
                Some(_),
            ) => at_axis(*axis),
            (MismatchKind::UndeclaredInput, Some(field)) => Some(field.ident.span()),
        };
        let error = syn::Error::new(
            location.unwrap_or(span),
            format!("{mismatch} (manifest `{shown}`)"),
        );
        match &mut combined {
            Some(all) => all.combine(error),
            None => combined = Some(error),
        }
    }
    combined.map_or(Ok(()), Err)
}
