//! The model declaration: the struct and its fields as `#[trt_model]` reads them.
//!
//! Parsing is forgiving: every problem becomes an error in a list and the field keeps what
//! could be read, so the expansion still produces the model's types and the user sees the
//! errors that matter, not a cascade of "cannot find type" errors.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, GenericArgument, Ident, Lit, PathArguments, Type, Visibility};

use trt_manifest::Mode;

use crate::attr::{parse_field_attributes, Direction};

/// Element types a field may declare: the Rust types with a TensorRT data type.
pub(crate) const ELEMENTS: &[Element] = &[
    Element::new("f32", "f32"),
    Element::new("f16", "f16"),
    Element::new("bf16", "bf16"),
    Element::new("i8", "i8"),
    Element::new("u8", "u8"),
    Element::new("i32", "i32"),
    Element::new("i64", "i64"),
];

/// TensorRT's limit on the rank of a tensor.
const MAX_RANK: usize = 8;

/// An element type: its Rust name and the data type's short name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Element {
    /// The Rust type (`f16` is `half::f16`, re-exported by `trt::typed`).
    pub(crate) rust: &'static str,
    /// The data type's short name, as manifests and `trt_core::DataType::name` write it.
    pub(crate) dtype: &'static str,
}

impl Element {
    const fn new(rust: &'static str, dtype: &'static str) -> Element {
        Element { rust, dtype }
    }
}

/// One declared dimension, with where it was written.
#[derive(Clone, Debug)]
pub(crate) struct DimDecl {
    /// The dimension.
    pub(crate) dim: DimKind,
    /// The tokens that declared it.
    pub(crate) span: Span,
}

/// What a dimension declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DimKind {
    /// A fixed extent (`3`).
    Static(i64),
    /// A named dynamic extent (`Batch`).
    Named(String),
    /// An anonymous dynamic extent (`_`).
    Any,
}

/// A field of the model struct.
pub(crate) struct Field {
    /// The field name.
    pub(crate) ident: Ident,
    /// Attributes passed through to the generated items (doc comments...).
    pub(crate) attributes: Vec<Attribute>,
    /// `#[input]` / `#[output]`; `None` when missing (an error was recorded).
    pub(crate) direction: Option<Direction>,
    /// The element type; `None` when unsupported (an error was recorded).
    pub(crate) element: Option<Element>,
    /// Where the element type was written.
    pub(crate) element_span: Span,
    /// The dimensions.
    pub(crate) dims: Vec<DimDecl>,
    /// The whole field type.
    pub(crate) type_span: Span,
}

impl Field {
    /// The engine tensor this field binds.
    pub(crate) fn tensor_name(&self) -> String {
        match self.direction.as_ref().and_then(|d| d.tensor.as_ref()) {
            Some(name) => name.value(),
            None => self.ident.to_string(),
        }
    }

    /// Where the tensor name was written (`name = "..."`, or the field name).
    pub(crate) fn tensor_name_span(&self) -> Span {
        match self.direction.as_ref().and_then(|d| d.tensor.as_ref()) {
            Some(name) => name.span(),
            None => self.ident.span(),
        }
    }

    /// Input or output, when declared.
    pub(crate) fn mode(&self) -> Option<Mode> {
        self.direction.as_ref().map(|direction| direction.mode)
    }
}

/// The model struct.
pub(crate) struct Model {
    /// Attributes of the struct, passed through (doc comments, derives...).
    pub(crate) attributes: Vec<Attribute>,
    /// Its visibility, given to every generated type.
    pub(crate) vis: Visibility,
    /// Its name.
    pub(crate) ident: Ident,
    /// Its fields, in order.
    pub(crate) fields: Vec<Field>,
}

/// Reads the struct. Fails only when the item is not a struct with named fields (then there
/// is nothing sensible to generate); field-level problems are pushed to `errors`.
pub(crate) fn parse_model(item: TokenStream, errors: &mut Vec<syn::Error>) -> syn::Result<Model> {
    let input: syn::DeriveInput = syn::parse2(item)?;
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        errors.push(syn::Error::new(
            input.generics.span(),
            "a #[trt_model] struct takes no generic parameters",
        ));
    }
    let syn::Data::Struct(data) = input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "#[trt_model] applies to a struct with named fields, one per engine tensor",
        ));
    };
    let syn::Fields::Named(named) = data.fields else {
        return Err(syn::Error::new(
            input.ident.span(),
            "#[trt_model] needs named fields: `#[input] images: Tensor<f16, Batch, 3, 640, 640>`",
        ));
    };
    let fields = named
        .named
        .into_iter()
        .filter_map(|field| parse_field(field, errors))
        .collect();
    Ok(Model {
        attributes: input.attrs,
        vis: input.vis,
        ident: input.ident,
        fields,
    })
}

fn parse_field(field: syn::Field, errors: &mut Vec<syn::Error>) -> Option<Field> {
    let ident = field.ident?;
    let (direction, attributes) = parse_field_attributes(&field.attrs, errors);
    if direction.is_none() {
        errors.push(syn::Error::new(
            ident.span(),
            format!(
                "field `{ident}` needs a direction: #[input] or #[output] (with `(name = \"...\")` \
                 when the engine tensor is named otherwise)"
            ),
        ));
    }
    let type_span = field.ty.span();
    let (element, element_span, dims) = match parse_tensor_type(&field.ty) {
        Ok((element, element_span, dims)) => {
            if element.is_none() {
                errors.push(syn::Error::new(element_span, unsupported_element_message()));
            }
            (element, element_span, dims)
        }
        Err(error) => {
            errors.push(error);
            (None, type_span, Vec::new())
        }
    };
    Some(Field {
        ident,
        attributes,
        direction,
        element,
        element_span,
        dims,
        type_span,
    })
}

fn unsupported_element_message() -> String {
    let names: Vec<String> = ELEMENTS.iter().map(|e| format!("`{}`", e.rust)).collect();
    format!(
        "unsupported element type; a tensor holds one of {} (f16 and bf16 are the `half` types)",
        names.join(", ")
    )
}

const TENSOR_SYNTAX: &str =
    "expected `Tensor<element, dimensions...>`, for example `Tensor<f16, Batch, 3, 640, 640>`";

/// Reads `Tensor<elem, dims...>`: the element (`None` when unsupported) and its span, and
/// the dimensions.
fn parse_tensor_type(ty: &Type) -> syn::Result<(Option<Element>, Span, Vec<DimDecl>)> {
    let Type::Path(path) = ty else {
        return Err(syn::Error::new(ty.span(), TENSOR_SYNTAX));
    };
    let segment = path
        .path
        .segments
        .last()
        .filter(|segment| path.qself.is_none() && segment.ident == "Tensor")
        .ok_or_else(|| syn::Error::new(ty.span(), TENSOR_SYNTAX))?;
    let PathArguments::AngleBracketed(arguments) = &segment.arguments else {
        return Err(syn::Error::new(ty.span(), TENSOR_SYNTAX));
    };
    let mut arguments = arguments.args.iter();
    let element_argument = arguments
        .next()
        .ok_or_else(|| syn::Error::new(ty.span(), TENSOR_SYNTAX))?;
    let element_span = element_argument.span();
    let element = match element_argument {
        GenericArgument::Type(Type::Path(element)) if element.qself.is_none() => element
            .path
            .segments
            .last()
            .and_then(|last| ELEMENTS.iter().find(|e| last.ident == e.rust))
            .copied(),
        _ => None,
    };
    let dims = arguments.map(parse_dim).collect::<syn::Result<Vec<_>>>()?;
    if dims.len() > MAX_RANK {
        return Err(syn::Error::new(
            ty.span(),
            format!(
                "a tensor has at most {MAX_RANK} dimensions, this one {}",
                dims.len()
            ),
        ));
    }
    Ok((element, element_span, dims))
}

fn parse_dim(argument: &GenericArgument) -> syn::Result<DimDecl> {
    let span = argument.span();
    let dim = match argument {
        GenericArgument::Const(Expr::Lit(literal)) => match &literal.lit {
            Lit::Int(extent) => DimKind::Static(extent.base10_parse::<i64>()?),
            _ => return Err(dim_error(span)),
        },
        GenericArgument::Type(Type::Infer(_)) => DimKind::Any,
        GenericArgument::Type(Type::Path(path)) if path.qself.is_none() => {
            match path.path.get_ident() {
                Some(name) => DimKind::Named(name.to_string()),
                None => return Err(dim_error(span)),
            }
        }
        _ => return Err(dim_error(span)),
    };
    Ok(DimDecl { dim, span })
}

fn dim_error(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "expected a dimension: an extent such as `640`, a name such as `Batch` (dynamic, equal \
         wherever the name appears in one run) or `_` (dynamic)",
    )
}
