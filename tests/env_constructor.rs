//! `GraphCache::from_env` reads ENABLE_AUTO_CUDA_GRAPHS_FOR_TRT_BACKEND. One test in its own
//! process, because it changes the environment.

use trt::cache::AUTO_CUDA_GRAPHS_ENV;
use trt::{Error, GraphCache};

#[test]
fn from_env_follows_the_inference_models_variable() {
    std::env::remove_var(AUTO_CUDA_GRAPHS_ENV);
    assert!(
        !GraphCache::from_env(4).unwrap().is_enabled(),
        "unset means off"
    );
    for (value, enabled) in [("true", true), ("TRUE", true), ("False", false)] {
        std::env::set_var(AUTO_CUDA_GRAPHS_ENV, value);
        assert_eq!(
            GraphCache::from_env(4).unwrap().is_enabled(),
            enabled,
            "{value}"
        );
    }
    std::env::set_var(AUTO_CUDA_GRAPHS_ENV, "1");
    let error = GraphCache::from_env(4).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidEnvironment { value, .. } if value == "1"),
        "{error}"
    );
    std::env::remove_var(AUTO_CUDA_GRAPHS_ENV);
}
