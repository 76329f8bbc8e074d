//! Compile-fail and compile-pass tests of the `trt` typestate API.
//!
//! `cases/fail/*.rs` must not compile, and their compiler output must match the `.stderr`
//! snapshot next to them; `cases/pass/*.rs` must compile and their `main` must succeed on the
//! simulated engine. Regenerate snapshots with `TRYBUILD=overwrite cargo test -p trt-ui-tests`.

#[test]
fn ui() {
    // `#[trt_model]` resolves plan paths at compile time from the crate root, which for the
    // cases is trybuild's generated crate; they name the plans through this variable instead.
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    std::env::set_var(
        "TRT_UI_MODELS",
        models.canonicalize().expect("models/ exists"),
    );
    let cases = trybuild::TestCases::new();
    cases.compile_fail("cases/fail/*.rs");
    cases.pass("cases/pass/*.rs");
}
