//! The options of `#[trt_model(...)]` and of the field attributes `#[input]` / `#[output]`.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Attribute, LitBool, LitStr};

use trt_manifest::Mode;

/// The options in `#[trt_model(...)]`.
#[derive(Default)]
pub(crate) struct ModelOptions {
    /// `engine = "path"`: the plan, relative to the crate root (a leading `$VAR` is expanded).
    pub(crate) engine: Option<LitStr>,
    /// `embed`: the plan bytes are compiled into the binary.
    pub(crate) embed: Option<Span>,
    /// `manifest = "path"` (must exist) or `manifest = false` (no compile-time check).
    pub(crate) manifest: ManifestOption,
}

/// Where the compile-time check finds its manifest.
#[derive(Default)]
pub(crate) enum ManifestOption {
    /// `PLAN.manifest.toml` when it exists.
    #[default]
    NextToPlan,
    /// An explicit path, which must exist.
    Path(LitStr),
    /// `manifest = false`.
    Disabled,
}

const OPTIONS: &str = "`engine = \"path\"`, `embed`, `manifest = \"path\"` or `manifest = false`";

/// Parses the attribute's arguments. Stops at the first malformed option: what follows it
/// cannot be read reliably.
pub(crate) fn parse_model_options(args: TokenStream) -> syn::Result<ModelOptions> {
    let mut options = ModelOptions::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("engine") {
            if options.engine.is_some() {
                return Err(meta.error("`engine` is given twice"));
            }
            options.engine = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("embed") {
            options.embed = Some(meta.path.span());
        } else if meta.path.is_ident("manifest") {
            let value = meta.value()?;
            options.manifest = if value.peek(LitBool) {
                let flag: LitBool = value.parse()?;
                if flag.value {
                    return Err(syn::Error::new(
                        flag.span(),
                        "`manifest = true` is the default; give a path or `false`",
                    ));
                }
                ManifestOption::Disabled
            } else {
                ManifestOption::Path(value.parse()?)
            };
        } else {
            let name = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_else(|| "this".to_owned());
            return Err(meta.error(format!(
                "unknown #[trt_model] option `{name}`; the options are {OPTIONS}"
            )));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(options)
}

/// A field's `#[input]` or `#[output]` attribute.
pub(crate) struct Direction {
    /// Input or output.
    pub(crate) mode: Mode,
    /// The attribute, for errors about the direction.
    pub(crate) span: Span,
    /// `name = "..."`: the engine tensor, when it differs from the field name.
    pub(crate) tensor: Option<LitStr>,
}

/// Splits a field's attributes into its direction and the attributes passed through to the
/// generated code (doc comments, lints...).
pub(crate) fn parse_field_attributes(
    attributes: &[Attribute],
    errors: &mut Vec<syn::Error>,
) -> (Option<Direction>, Vec<Attribute>) {
    let mut direction: Option<Direction> = None;
    let mut passed = Vec::new();
    for attribute in attributes {
        let mode = if attribute.path().is_ident("input") {
            Mode::Input
        } else if attribute.path().is_ident("output") {
            Mode::Output
        } else {
            passed.push(attribute.clone());
            continue;
        };
        if direction.is_some() {
            errors.push(syn::Error::new(
                attribute.span(),
                "a field is either #[input] or #[output], once",
            ));
            continue;
        }
        let mut tensor = None;
        if let syn::Meta::List(_) = &attribute.meta {
            let result = attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    let name: LitStr = meta.value()?.parse()?;
                    if name.value().is_empty() {
                        return Err(syn::Error::new(
                            name.span(),
                            "a tensor name cannot be empty",
                        ));
                    }
                    tensor = Some(name);
                    Ok(())
                } else {
                    Err(meta.error(format!(
                        "unknown #[{mode}] option; the only option is `name = \"tensor name\"`"
                    )))
                }
            });
            if let Err(error) = result {
                errors.push(error);
            }
        } else if let syn::Meta::NameValue(_) = &attribute.meta {
            errors.push(syn::Error::new(
                attribute.span(),
                format!("expected #[{mode}] or #[{mode}(name = \"tensor name\")]"),
            ));
        }
        direction = Some(Direction {
            mode,
            span: attribute.span(),
            tensor,
        });
    }
    (direction, passed)
}
