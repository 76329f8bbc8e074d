//! The generated code: the model type, its typed input and output types, and the
//! `trt::typed::TypedModel` implementation that the generic runtime support drives.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::LitStr;

use trt_manifest::Mode;

use crate::ast::{DimKind, Field, Model};
use crate::valid::Resolved;

/// Generates everything from a (possibly partly invalid) model. Invalid pieces are replaced
/// by neutral stand-ins so the types exist and the real errors stand alone: a field without
/// direction is left out, an unsupported element becomes `f32`, a missing plan gets an
/// empty path (the compile errors stop the build before it could be used).
pub(crate) fn expand(model: &Model, resolved: &Resolved) -> TokenStream {
    let krate = quote!(::trt);
    let Model {
        attributes,
        vis,
        ident,
        ..
    } = model;
    let model_name = ident.to_string();
    let inputs_ident = format_ident!("{}Inputs", ident);
    let outputs_ident = format_ident!("{}Outputs", ident);

    let inputs: Vec<&Field> = with_mode(model, Mode::Input).collect();
    let outputs: Vec<&Field> = with_mode(model, Mode::Output).collect();

    let input_fields = inputs.iter().map(|field| {
        let name = &field.ident;
        let docs = with_default_doc(field, "Input");
        let ty = typed_tensor(field, quote!(TypedInput<'a,), &krate);
        quote! { #docs pub #name: #ty, }
    });
    // An inputs struct without fields would leave `'a` unused; only reachable with errors.
    let input_marker = inputs
        .is_empty()
        .then(|| quote! { _unused: ::core::marker::PhantomData<&'a ()>, });
    let input_list = inputs.iter().map(|field| {
        let name = &field.ident;
        let tensor = LitStr::new(&field.tensor_name(), field.ident.span());
        quote! { #krate::Input::new(#tensor, inputs.#name.tensor_ref()) }
    });
    let input_count = inputs.len();

    let output_accessors = outputs.iter().enumerate().map(|(slot, field)| {
        let name = &field.ident;
        let docs = with_default_doc(field, "Output");
        let ty = typed_tensor(field, quote!(TypedOutputView<'_,), &krate);
        quote! {
            #docs
            pub fn #name(&self) -> #ty {
                self.outputs.view(#slot)
            }
        }
    });

    // Inputs first, then outputs: the order `OutputSet::view` slots and the run check use.
    let field_specs = inputs.iter().chain(&outputs).map(|field| {
        let name = field.ident.to_string();
        let tensor = field.tensor_name();
        let mode = match field.mode() {
            Some(Mode::Output) => quote!(Output),
            _ => quote!(Input),
        };
        let dtype = field.element.map_or("f32", |element| element.dtype);
        let dims = field.dims.iter().map(|dim| match &dim.dim {
            DimKind::Static(extent) => quote!(#krate::typed::Dim::Static(#extent)),
            DimKind::Named(name) => quote!(#krate::typed::Dim::Named(#name)),
            DimKind::Any => quote!(#krate::typed::Dim::Any),
        });
        quote! {
            #krate::typed::FieldDecl {
                field: #name,
                tensor: #tensor,
                mode: #krate::typed::Mode::#mode,
                dtype: #dtype,
                dims: &[#(#dims),*],
            }
        }
    });

    let engine_path = resolved.engine_path.as_deref().unwrap_or_default();
    let embedded = match (&resolved.engine_path, resolved.embed) {
        (Some(path), true) => quote!(::core::option::Option::Some(include_bytes!(#path))),
        _ => quote!(::core::option::Option::None),
    };
    // Including a file makes rustc track it: editing the plan or manifest rebuilds the crate.
    let track_plan = match (&resolved.engine_path, resolved.embed) {
        (Some(path), false) => quote!(
            const _: &[u8] = include_bytes!(#path);
        ),
        _ => TokenStream::new(),
    };
    let track_manifest = resolved.manifest_path.as_ref().map(|path| {
        quote!(
            const _: &str = include_str!(#path);
        )
    });

    let inputs_doc = format!("Inputs of [`{model_name}`]: one typed tensor per `#[input]` field.");
    let outputs_doc = format!(
        "Outputs of a [`{model_name}`] run: one accessor per `#[output]` field. Owned outputs \
         (`Outputs<'static>`) or borrowed from the session's pre-allocated buffers until its next run."
    );
    let result = quote!(::core::result::Result<Self, #krate::typed::ModelError>);
    let call_site = Span::call_site();
    let model_impl = quote_spanned! {call_site=>
        impl #krate::typed::TypedModel for #ident {
            const SPEC: #krate::typed::ModelSpec = #krate::typed::ModelSpec {
                model: #model_name,
                engine_path: #engine_path,
                embedded_plan: #embedded,
                fields: &[#(#field_specs),*],
            };
            type Inputs<'a> = #inputs_ident<'a>;
            type Outputs<'s> = #outputs_ident<'s>;
            type InputList<'a> = [#krate::Input<'a>; #input_count];

            fn input_list<'a>(inputs: &Self::Inputs<'a>) -> Self::InputList<'a> {
                [#(#input_list),*]
            }

            fn outputs(outputs: #krate::typed::OutputSet<'_>) -> Self::Outputs<'_> {
                #outputs_ident { outputs }
            }

            fn engine(&self) -> &#krate::Engine {
                &self.engine
            }

            fn engine_mut(&mut self) -> &mut #krate::Engine {
                &mut self.engine
            }

            fn into_engine(self) -> #krate::Engine {
                self.engine
            }

            fn from_validated_engine(engine: #krate::Engine) -> Self {
                Self { engine }
            }
        }
    };

    quote! {
        #(#attributes)*
        #vis struct #ident {
            engine: #krate::Engine,
        }

        #[doc = #inputs_doc]
        #vis struct #inputs_ident<'a> {
            #(#input_fields)*
            #input_marker
        }

        #[doc = #outputs_doc]
        #vis struct #outputs_ident<'s> {
            outputs: #krate::typed::OutputSet<'s>,
        }

        impl<'s> #outputs_ident<'s> {
            #(#output_accessors)*

            /// Every output of the run, untyped (including engine outputs no field declares).
            pub fn untyped(&self) -> &#krate::typed::OutputSet<'s> {
                &self.outputs
            }
        }

        #model_impl

        impl #ident {
            /// Loads the plan (or the embedded plan) on `Runtime::auto()`, the GPU or the host
            /// simulation, and checks the engine against the struct.
            pub fn load() -> #result {
                #krate::typed::load::<Self>(&#krate::Runtime::auto())
            }

            /// Loads the plan (or the embedded plan) on `runtime` and checks the engine.
            pub fn load_with(runtime: &#krate::Runtime) -> #result {
                #krate::typed::load::<Self>(runtime)
            }

            /// Loads another plan with the same I/O on `runtime` and checks the engine.
            pub fn load_from(
                runtime: &#krate::Runtime,
                plan: impl ::core::convert::AsRef<::std::path::Path>,
            ) -> #result {
                #krate::typed::load_from::<Self>(runtime, plan.as_ref())
            }

            /// Deserializes plan bytes on `runtime` and checks the engine.
            pub fn from_plan_bytes(runtime: &#krate::Runtime, plan: &[u8]) -> #result {
                #krate::typed::from_plan_bytes::<Self>(runtime, plan)
            }

            /// Checks an engine loaded elsewhere against the struct.
            pub fn from_engine(engine: #krate::Engine) -> #result {
                #krate::typed::from_engine::<Self>(engine)
            }

            /// The engine.
            pub fn engine(&self) -> &#krate::Engine {
                &self.engine
            }

            /// The engine, for settings that need it exclusively (weight-streaming budget,
            /// default runtime settings); its I/O cannot change, so the checks still hold.
            pub fn engine_mut(&mut self) -> &mut #krate::Engine {
                &mut self.engine
            }

            /// Starts a typed session builder: `.with_cudagraphs(..)`, `.build()`...
            pub fn session(
                &self,
            ) -> #krate::typed::TypedSessionBuilder<'_, Self, #krate::Standard, #krate::Owned> {
                #krate::typed::TypedSessionBuilder::new(self)
            }
        }

        #track_plan
        #track_manifest
    }
}

/// The field's attributes, with a doc comment naming the engine tensor when it has none
/// (generated public items stay documented in crates that deny `missing_docs`).
fn with_default_doc(field: &Field, what: &str) -> TokenStream {
    let attributes = &field.attributes;
    let documented = attributes
        .iter()
        .any(|attribute| attribute.path().is_ident("doc"));
    let default = (!documented).then(|| {
        let text = format!("{what} tensor `{}`.", field.tensor_name());
        quote!(#[doc = #text])
    });
    quote!(#default #(#attributes)*)
}

fn with_mode(model: &Model, mode: Mode) -> impl Iterator<Item = &Field> {
    model
        .fields
        .iter()
        .filter(move |field| field.mode() == Some(mode))
}

/// `#krate::typed::<wrapper> element, rank>`, with the element at the field's element span.
fn typed_tensor(field: &Field, wrapper: TokenStream, krate: &TokenStream) -> TokenStream {
    let rank = field.dims.len();
    let element = match field.element {
        Some(element) if matches!(element.rust, "f16" | "bf16") => {
            let name = format_ident!("{}", element.rust);
            quote!(#krate::typed::#name)
        }
        Some(element) => {
            let name = format_ident!("{}", element.rust);
            quote!(::core::primitive::#name)
        }
        None => quote!(::core::primitive::f32),
    };
    quote!(#krate::typed::#wrapper #element, #rank>)
}
