//! Holds no code: the tests in `tests/ui.rs` compile the cases under `cases/`.
