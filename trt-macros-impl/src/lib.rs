//! The work behind `#[trt_model]`, as a plain library so it can be unit-tested:
//! `attr` reads the options, `ast` the struct, `valid` checks the declaration, the engine
//! file and the manifest next to it, and `expand` generates the code.
//!
//! Errors never stop the expansion: they are emitted as `compile_error!`s next to the
//! generated types, so code using the model sees the errors that matter and no cascade of
//! "cannot find type" errors.
//!
//! ```
//! use quote::quote;
//! let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");
//! let environment = trt_macros_impl::Environment::new(models, |_| None);
//! let output = trt_macros_impl::trt_model(
//!     quote!(engine = "mlp.simplan"),
//!     quote! {
//!         struct Mlp {
//!             #[input] x: Tensor<f32, Batch, 16>,
//!             #[output] y: Tensor<f32, Batch, 8>,
//!         }
//!     },
//!     &environment,
//! );
//! assert!(!output.to_string().contains("compile_error"));
//! ```

use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::quote;

mod ast;
mod attr;
mod expand;
mod valid;

#[cfg(test)]
mod tests;

/// Reads an environment variable by name.
pub type VariableLookup = Box<dyn Fn(&str) -> Option<String>>;

/// What the expansion may read of the compiling crate's environment.
pub struct Environment {
    /// The crate root: relative engine and manifest paths start here.
    pub manifest_dir: PathBuf,
    /// Reads an environment variable (for `$VAR` at the start of a path).
    pub variable: VariableLookup,
}

impl Environment {
    /// An environment with crate root `manifest_dir` and variables from `variable`.
    pub fn new(
        manifest_dir: impl Into<PathBuf>,
        variable: impl Fn(&str) -> Option<String> + 'static,
    ) -> Environment {
        Environment {
            manifest_dir: manifest_dir.into(),
            variable: Box::new(variable),
        }
    }

    /// The environment of the running compiler: `CARGO_MANIFEST_DIR` (or the current
    /// directory) and the process's variables.
    pub fn from_process() -> Environment {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_default();
        Environment::new(manifest_dir, |name| std::env::var(name).ok())
    }
}

/// Expands `#[trt_model(args)] item`. Always returns code: the generated items, preceded by
/// one `compile_error!` per problem found.
pub fn trt_model(args: TokenStream, item: TokenStream, environment: &Environment) -> TokenStream {
    let (generated, errors) = expand_collecting_errors(args, item, environment);
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote! {
        #(#errors)*
        #generated
    }
}

/// The generated items and every problem found, separately (tests check the spans).
fn expand_collecting_errors(
    args: TokenStream,
    item: TokenStream,
    environment: &Environment,
) -> (TokenStream, Vec<syn::Error>) {
    let mut errors = Vec::new();
    let options = attr::parse_model_options(args).unwrap_or_else(|error| {
        errors.push(error);
        attr::ModelOptions::default()
    });
    let options_failed = !errors.is_empty();
    let model = match ast::parse_model(item, &mut errors) {
        Ok(model) => model,
        // Not a struct with named fields: nothing sensible to generate.
        Err(error) => {
            errors.push(error);
            return (TokenStream::new(), errors);
        }
    };
    let resolved = if options_failed {
        // Without reliable options the engine and manifest checks would only add noise.
        valid::Resolved::default()
    } else {
        valid::validate(&model, &options, environment, &mut errors)
    };
    (expand::expand(&model, &resolved), errors)
}
