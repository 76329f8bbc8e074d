//! Compile-fail and compile-pass tests of the `trt` typestate API.
//!
//! `cases/fail/*.rs` must not compile, and their compiler output must match the `.stderr`
//! snapshot next to them; `cases/pass/*.rs` must compile and their `main` must succeed on the
//! simulated engine. Regenerate snapshots with `TRYBUILD=overwrite cargo test -p trt-ui-tests`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("cases/fail/*.rs");
    cases.pass("cases/pass/*.rs");
}
