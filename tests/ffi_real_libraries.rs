//! Rung L: the real TensorRT libraries from the pip wheels (`tensorrt-rtx-cu13-libs` 1.7.1,
//! `tensorrt-lean-cu13-libs` and `tensorrt-dispatch-cu13-libs` 11.4), on a machine without a
//! GPU: discovery, version, flavor, runtime creation, the logger, and typed errors quoting
//! TensorRT's own messages. The wheels are fetched once by `scripts/fetch-trt-fixtures.sh`.

mod ffi_common;
use ffi_common as common;

use std::path::PathBuf;
use std::sync::Arc;

use trt::ffi::{Candidate, LibrarySearch, Runtime, Severity, TensorRtLibrary};
use trt::{Error, Flavor};

fn wheel_library(folder: &str, file: &str) -> PathBuf {
    let path = common::site_packages().join(folder).join(file);
    assert!(
        path.is_file(),
        "{} is missing from the unzipped wheel",
        path.display()
    );
    path
}

fn rtx() -> Arc<TensorRtLibrary> {
    TensorRtLibrary::open(wheel_library("tensorrt_rtx_libs", "libtensorrt_rtx.so.1"))
        .expect("the RTX library loads")
}

/// A search that looks only at the fixtures' site-packages folder.
fn fixture_search() -> LibrarySearch {
    LibrarySearch {
        explicit: None,
        environment: None,
        loader_search_path: false,
        site_packages: vec![common::site_packages()],
    }
}

#[test]
fn each_real_library_reports_its_version_flavor_and_path() {
    common::init_logging();
    let cases = [
        (
            "tensorrt_rtx_libs",
            "libtensorrt_rtx.so.1",
            10701,
            Flavor::Rtx,
            "1.7.1",
        ),
        (
            "tensorrt_lean_libs",
            "libnvinfer_lean.so.11",
            110400,
            Flavor::Lean,
            "11.4.0",
        ),
        (
            "tensorrt_dispatch_libs",
            "libnvinfer_dispatch.so.11",
            110400,
            Flavor::Dispatch,
            "11.4.0",
        ),
    ];
    for (folder, file, version, flavor, dotted) in cases {
        let path = wheel_library(folder, file);
        let library =
            TensorRtLibrary::open(&path).unwrap_or_else(|error| panic!("{file}: {error}"));
        assert_eq!(library.version(), version, "{file}");
        assert_eq!(library.flavor(), flavor, "{file}");
        assert_eq!(library.version_string(), dotted);
        assert_eq!(library.path(), path.canonicalize().unwrap());
        // Loading again gives the same library (and logger): TensorRT keeps its first logger.
        assert!(Arc::ptr_eq(
            &library,
            &TensorRtLibrary::open(&path).unwrap()
        ));
    }
}

#[test]
fn discovery_in_site_packages_prefers_lean_then_dispatch_then_rtx() {
    let search = fixture_search();
    let files: Vec<String> = search
        .candidates()
        .into_iter()
        .filter_map(|candidate| match candidate {
            Candidate::File { path, origin } => {
                assert_eq!(origin, "pip install");
                Some(path.file_name().unwrap().to_string_lossy().into_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        files,
        [
            "libnvinfer_lean.so.11",
            "libnvinfer_dispatch.so.11",
            "libtensorrt_rtx.so.1"
        ]
    );
    let found = search.find().unwrap();
    assert_eq!(found.flavor(), Flavor::Lean);
}

#[test]
fn environment_variable_and_explicit_path_take_precedence_over_pip_installs() {
    let rtx_folder = common::site_packages().join("tensorrt_rtx_libs");
    let search = LibrarySearch {
        environment: Some(rtx_folder.clone().into_os_string()),
        ..fixture_search()
    };
    assert_eq!(search.find().unwrap().flavor(), Flavor::Rtx);
    let search = LibrarySearch {
        explicit: Some(common::site_packages().join("tensorrt_dispatch_libs")),
        ..search
    };
    assert_eq!(search.find().unwrap().flavor(), Flavor::Dispatch);
}

#[test]
fn rtx_runtime_is_created_and_garbage_plans_are_typed_errors_quoting_tensorrt() {
    common::init_logging();
    let library = rtx();
    let runtime = Runtime::new(&library).expect("TensorRT-RTX creates a runtime without a GPU");
    for plan in [&b"definitely not a plan"[..], &[0u8; 4096][..], &[][..]] {
        let mark = library.logger().mark();
        let error = runtime.deserialize_engine(plan).unwrap_err();
        let Error::InvalidPlan {
            reason,
            source_name,
        } = &error
        else {
            panic!("expected InvalidPlan, got {error:?}");
        };
        assert_eq!(source_name, &None);
        // The reason is what TensorRT logged, not a generic text of ours.
        let logged: Vec<String> = library
            .logger()
            .messages_since(mark)
            .into_iter()
            .filter(|message| message.severity <= Severity::Error)
            .map(|message| message.text)
            .collect();
        assert!(
            !logged.is_empty(),
            "TensorRT logged no error for {} garbage bytes",
            plan.len()
        );
        assert!(
            logged.iter().any(|text| reason.contains(text.as_str())),
            "reason {reason:?} quotes none of {logged:?}"
        );
        println!("{} bytes: {error}", plan.len());
    }
}

#[test]
fn rtx_plan_files_are_read_and_named_in_errors() {
    let library = rtx();
    let runtime = Runtime::new(&library).unwrap();
    let path = std::env::temp_dir().join(format!("trt-garbage-{}.plan", std::process::id()));
    std::fs::write(&path, b"garbage plan").unwrap();
    let error = runtime.deserialize_engine_file(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(
        matches!(&error, Error::InvalidPlan { source_name: Some(name), .. } if name.ends_with(".plan")),
        "{error:?}"
    );
    let missing = runtime
        .deserialize_engine_file("/nonexistent/model.plan")
        .unwrap_err();
    assert!(matches!(missing, Error::Io(_)), "{missing:?}");
    assert!(missing.to_string().contains("/nonexistent/model.plan"));
}

#[test]
fn lean_and_dispatch_runtime_creation_without_gpu_is_a_typed_error_quoting_tensorrt() {
    common::init_logging();
    for (folder, file) in [
        ("tensorrt_lean_libs", "libnvinfer_lean.so.11"),
        ("tensorrt_dispatch_libs", "libnvinfer_dispatch.so.11"),
    ] {
        let library = TensorRtLibrary::open(wheel_library(folder, file)).unwrap();
        let error = Runtime::new(&library).unwrap_err();
        let Error::TensorRt { call, message } = &error else {
            panic!("{file}: expected Error::TensorRt, got {error:?}");
        };
        assert_eq!(*call, "createInferRuntime");
        assert!(
            message.contains("CUDA initialization failure"),
            "{file}: {message}"
        );
    }
}

#[test]
fn missing_library_is_not_found_listing_every_searched_place() {
    let error = TensorRtLibrary::open("/nonexistent/dir/libnvinfer.so.11").unwrap_err();
    assert!(
        matches!(&error, Error::LibraryNotFound { searched } if searched.contains("/nonexistent/dir/libnvinfer.so.11"))
    );

    let empty = std::env::temp_dir().join(format!("trt-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    // The loader's search path is listed by name (searching it for real would find the
    // libraries other tests of this process already loaded: glibc matches loaded sonames).
    let with_loader = LibrarySearch {
        explicit: None,
        environment: None,
        loader_search_path: true,
        site_packages: vec![empty.clone()],
    };
    let names: Vec<Candidate> = trt::ffi::loader::STANDARD_NAMES
        .iter()
        .map(|&name| Candidate::LoaderName(name))
        .collect();
    assert_eq!(with_loader.candidates(), names);
    let search = LibrarySearch {
        loader_search_path: false,
        ..with_loader
    };
    let error = search.find().unwrap_err();
    assert!(matches!(&error, Error::LibraryNotFound { .. }), "{error:?}");
    let site_folder = empty.join("tensorrt_rtx_libs");
    std::fs::create_dir_all(&site_folder).unwrap();
    let error = search.find().unwrap_err();
    let Error::LibraryNotFound { searched } = &error else {
        panic!("expected LibraryNotFound, got {error:?}");
    };
    assert!(
        searched.contains(&site_folder.display().to_string()),
        "{searched}"
    );
    let search = LibrarySearch {
        environment: Some(empty.clone().into_os_string()),
        ..search
    };
    let error = search.find().unwrap_err();
    assert!(
        matches!(&error, Error::LibraryNotFound { searched } if searched.contains("TRT_LIBRARY_PATH")),
        "{error}"
    );
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn a_file_that_is_not_a_library_is_a_load_error() {
    let path = std::env::temp_dir().join(format!("libnvinfer.so.{}", std::process::id()));
    std::fs::write(&path, b"this is not an ELF file").unwrap();
    let error = TensorRtLibrary::open(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(
        matches!(&error, Error::LibraryLoad { path: reported, .. } if reported == &path),
        "{error:?}"
    );
}

#[test]
fn a_library_without_the_entry_points_is_a_missing_symbol_error() {
    // The ONNX parser of the RTX wheel is a real shared library that is not TensorRT itself.
    let parser = wheel_library("tensorrt_rtx_libs", "libtensorrt_onnxparser_rtx.so.1");
    let error = TensorRtLibrary::open(&parser).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::MissingSymbol {
                symbol: "getInferLibVersion",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_library_missing_from_the_loader_path_is_reported_with_the_loaders_reason() {
    let error = trt::ffi::TensorRtLibrary::open("libnvinfer_does_not_exist.so.99").unwrap_err();
    match &error {
        trt::Error::LibraryLoad { message, .. } => assert!(
            message.contains("cannot open shared object file"),
            "the dlopen reason must reach the message: {message}"
        ),
        other => panic!("unexpected {other}"),
    }
}
