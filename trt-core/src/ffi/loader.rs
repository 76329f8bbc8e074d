//! Finding and loading the TensorRT library.
//!
//! Search order ([`LibrarySearch`]):
//! 1. an explicit path from the caller (a file, or a folder holding one of the standard names);
//! 2. the environment variable [`LIBRARY_PATH_VARIABLE`] (`TRT_LIBRARY_PATH`), file or folder;
//! 3. the dynamic loader's search path (`LD_LIBRARY_PATH`, `ld.so.cache`...) under the standard
//!    names [`STANDARD_NAMES`];
//! 4. pip installs: the [`PIP_FOLDERS`] folders in the site-packages of python3 installs and
//!    virtual environments.
//!
//! An explicit path or the environment variable, when given, is authoritative: if it holds no
//! loadable library the search fails there instead of silently picking another TensorRT.
//!
//! Libraries are never unloaded (TensorRT keeps threads and callbacks alive until exit), and a
//! library is loaded once per process: opening the same file again returns the same
//! [`TensorRtLibrary`], with the same logger (TensorRT keeps the first logger it is given).

use std::ffi::{c_void, OsStr, OsString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::abi::ApiObject;
use super::logger::Logger;
use super::slots::{Method, SlotTable};
use crate::error::{Error, Result};
use crate::types::Flavor;

/// The environment variable naming a TensorRT library file or a folder holding one.
pub const LIBRARY_PATH_VARIABLE: &str = "TRT_LIBRARY_PATH";

/// Library file names tried, in order of preference.
pub const STANDARD_NAMES: &[&str] = &[
    "libnvinfer.so.11",
    "libnvinfer.so.10",
    "libnvinfer_lean.so.11",
    "libnvinfer_lean.so.10",
    "libnvinfer_dispatch.so.11",
    "libnvinfer_dispatch.so.10",
    "libtensorrt_rtx.so.1",
];

/// The pip packages' library folders inside site-packages, in order of preference.
pub const PIP_FOLDERS: &[&str] = &[
    "tensorrt_libs",
    "tensorrt_lean_libs",
    "tensorrt_dispatch_libs",
    "tensorrt_rtx_libs",
];

/// Name prefixes a library file in a searched folder may have (`libnvinfer_lean.so.*` ...),
/// in order of preference.
const NAME_PREFIXES: &[&str] = &[
    "libnvinfer.so.",
    "libnvinfer_lean.so.",
    "libnvinfer_dispatch.so.",
    "libtensorrt_rtx.so.",
];

/// `int32_t getInferLibVersion()`.
type GetVersionFn = unsafe extern "C" fn() -> i32;
/// `void* createInferRuntime_INTERNAL(void* logger, int32_t version)`.
type CreateRuntimeFn = unsafe extern "C" fn(*mut c_void, i32) -> *mut c_void;

/// A loaded TensorRT library: where it is, what it is, and its slot table.
pub struct TensorRtLibrary {
    path: PathBuf,
    flavor: Flavor,
    version: u32,
    slots: SlotTable,
    logger: &'static Logger,
    create_runtime: CreateRuntimeFn,
    library: &'static libloading::Library,
}

impl std::fmt::Debug for TensorRtLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorRtLibrary")
            .field("path", &self.path)
            .field("flavor", &self.flavor)
            .field("version", &self.version_string())
            .finish_non_exhaustive()
    }
}

/// Every library loaded by this process, by resolved path.
static LOADED: Mutex<Vec<Arc<TensorRtLibrary>>> = Mutex::new(Vec::new());

impl TensorRtLibrary {
    /// Finds and loads TensorRT in the default order, reading the environment.
    pub fn discover() -> Result<Arc<TensorRtLibrary>> {
        LibrarySearch::from_environment().find()
    }

    /// Loads the library at `path` (a file path, or a bare file name for the loader's search
    /// path). A missing file is [`Error::LibraryNotFound`]; a file the loader refuses is
    /// [`Error::LibraryLoad`].
    pub fn open(path: impl AsRef<Path>) -> Result<Arc<TensorRtLibrary>> {
        let path = path.as_ref();
        let is_bare_name = path.components().count() == 1 && !path.exists();
        if !is_bare_name && !path.exists() {
            return Err(Error::LibraryNotFound {
                searched: format!("{} (does not exist)", path.display()),
            });
        }
        let canonical = if is_bare_name {
            None
        } else {
            path.canonicalize().ok()
        };
        if let Some(canonical) = &canonical {
            if let Some(found) = LOADED.lock().iter().find(|lib| &lib.path == canonical) {
                return Ok(found.clone());
            }
        }
        // SAFETY: loading runs the library's initialisers. TensorRT's are ordinary C++ static
        // constructors that only set up internal state; the stand-in's do nothing.
        let library = unsafe { libloading::Library::new(path.as_os_str()) }.map_err(|error| {
            Error::LibraryLoad {
                path: path.to_owned(),
                message: error_chain(&error),
            }
        })?;
        // Never unloaded: TensorRT keeps worker threads and our callbacks until exit.
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        let symbol_error = |symbol: &'static str| Error::MissingSymbol {
            library: path.to_owned(),
            symbol,
        };
        // SAFETY: `getInferLibVersion` is declared `int32_t getInferLibVersion() noexcept`.
        let get_version: GetVersionFn =
            unsafe { library.get::<GetVersionFn>(b"getInferLibVersion\0") }
                .map(|symbol| *symbol)
                .map_err(|_| symbol_error("getInferLibVersion"))?;
        // SAFETY: `createInferRuntime_INTERNAL` is declared
        // `void* createInferRuntime_INTERNAL(void* logger, int32_t version) noexcept`.
        let create_runtime: CreateRuntimeFn =
            unsafe { library.get::<CreateRuntimeFn>(b"createInferRuntime_INTERNAL\0") }
                .map(|symbol| *symbol)
                .map_err(|_| symbol_error("createInferRuntime_INTERNAL"))?;
        let resolved = resolve_loaded_path(get_version as *const c_void)
            .or(canonical)
            .unwrap_or_else(|| path.to_owned());
        let mut loaded = LOADED.lock();
        if let Some(found) = loaded.iter().find(|lib| lib.path == resolved) {
            return Ok(found.clone());
        }
        // SAFETY: a plain C function with no arguments, resolved from the library above.
        let raw_version = unsafe { get_version() };
        let version = u32::try_from(raw_version).map_err(|_| Error::UnsupportedVersion {
            flavor: flavor_from_name(&resolved, 0),
            version: raw_version.to_string(),
            supported: super::slots::SUPPORTED_VERSIONS,
        })?;
        let flavor = flavor_from_name(&resolved, version);
        let slots = SlotTable::for_version(version).map_err(|error| match error {
            Error::UnsupportedVersion {
                version, supported, ..
            } => Error::UnsupportedVersion {
                flavor,
                version,
                supported,
            },
            other => other,
        })?;
        let logger = Logger::leak_new(slots.family().logger_layout());
        let opened = Arc::new(TensorRtLibrary {
            path: resolved,
            flavor,
            version,
            slots,
            logger,
            create_runtime,
            library,
        });
        log::info!(
            "loaded {} {} from {}",
            opened.flavor,
            opened.version_string(),
            opened.path.display()
        );
        loaded.push(opened.clone());
        Ok(opened)
    }

    /// The library file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Standard, lean, dispatch or RTX.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// `getInferLibVersion()`: `major*10000 + minor*100 + patch` (RTX: major 1).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The version as `major.minor.patch`.
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            self.version / 10000,
            (self.version / 100) % 100,
            self.version % 100
        )
    }

    /// The slot table chosen for this version.
    pub fn slots(&self) -> &SlotTable {
        &self.slots
    }

    /// The logger every runtime of this library reports to.
    pub fn logger(&self) -> &'static Logger {
        self.logger
    }

    /// The slot of `method`, or a typed error when this version lacks it.
    pub(crate) fn slot(&self, method: Method) -> Result<u16> {
        self.slots
            .slot(method)
            .ok_or_else(|| Error::NotInLibraryVersion {
                call: method.call_name(),
                library: format!("{} {}", self.flavor, self.version_string()),
            })
    }

    /// `createInferRuntime_INTERNAL(logger, version)`; results below 4096 are failures (the
    /// lean runtime returns 0x228 when CUDA cannot initialise).
    pub(crate) fn create_runtime_object(&self) -> Result<ApiObject> {
        let mark = self.logger.mark();
        // SAFETY: the function was resolved with this signature at load; the logger is leaked
        // (lives forever) and has the vtable layout of this library's version. The version
        // argument is ignored by the libraries; pass their own.
        let raw = unsafe { (self.create_runtime)(self.logger.as_ptr(), self.version as i32) };
        ApiObject::from_returned(raw).ok_or_else(|| Error::TensorRt {
            call: "createInferRuntime",
            message: self.logger.failure_message(mark, || {
                format!("returned the invalid pointer {raw:p} and logged no error")
            }),
        })
    }

    /// The typed error of a failed call: TensorRT's logged errors since `mark`, or `fallback`.
    pub(crate) fn call_failed(
        &self,
        mark: super::logger::LogMark,
        method: Method,
        fallback: impl FnOnce() -> String,
    ) -> Error {
        Error::TensorRt {
            call: method.call_name(),
            message: self.logger.failure_message(mark, fallback),
        }
    }

    /// For methods that return nothing: an error when this thread logged one during the call.
    pub(crate) fn check_logged(&self, mark: super::logger::LogMark, method: Method) -> Result<()> {
        match self.logger.errors_of_this_thread_since(mark) {
            None => Ok(()),
            Some(message) => Err(Error::TensorRt {
                call: method.call_name(),
                message,
            }),
        }
    }

    /// The loaded library, for the stand-in's test hooks.
    pub(crate) fn raw_library(&self) -> &'static libloading::Library {
        self.library
    }
}

/// Standard, lean or dispatch by file name; RTX by version (every RTX version is below 100000).
fn flavor_from_name(path: &Path, version: u32) -> Flavor {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if (1..100_000).contains(&version) {
        Flavor::Rtx
    } else {
        flavor_from_file_name(&name)
    }
}

/// The flavor a TensorRT library's file name says (`libtensorrt_rtx*`, `libnvinfer_lean*`,
/// `libnvinfer_dispatch*`, else standard): what can be told without loading it.
///
/// ```
/// use trt_core::ffi::loader::flavor_from_file_name;
/// use trt_core::Flavor;
/// assert_eq!(flavor_from_file_name("libnvinfer_lean.so.11"), Flavor::Lean);
/// ```
pub fn flavor_from_file_name(name: &str) -> Flavor {
    if name.starts_with("libtensorrt_rtx") {
        Flavor::Rtx
    } else if name.starts_with("libnvinfer_lean") {
        Flavor::Lean
    } else if name.starts_with("libnvinfer_dispatch") {
        Flavor::Dispatch
    } else {
        Flavor::Standard
    }
}

/// The file that contains `address`, from `/proc/self/maps` (what a bare name resolved to).
fn resolve_loaded_path(address: *const c_void) -> Option<PathBuf> {
    let address = address as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        let path = fields.nth(4)?;
        (start <= address && address < end && path.starts_with('/')).then(|| PathBuf::from(path))
    })
}

/// One place the search looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidate {
    /// A file path.
    File {
        /// The file.
        path: PathBuf,
        /// Why it is searched ("explicit path", "TRT_LIBRARY_PATH", "pip install").
        origin: &'static str,
    },
    /// A file name handed to the dynamic loader, which searches its own path.
    LoaderName(&'static str),
    /// A folder that holds none of the library names.
    EmptyFolder {
        /// The folder.
        path: PathBuf,
        /// Why it was searched.
        origin: &'static str,
    },
}

/// Where to look for TensorRT. [`LibrarySearch::from_environment`] fills it the default way;
/// tests and embedders set the fields directly.
#[derive(Clone, Debug, Default)]
pub struct LibrarySearch {
    /// An explicit file or folder (authoritative when set).
    pub explicit: Option<PathBuf>,
    /// The value of `TRT_LIBRARY_PATH` (authoritative when set).
    pub environment: Option<OsString>,
    /// Whether to ask the dynamic loader for the standard names.
    pub loader_search_path: bool,
    /// site-packages folders to look for the pip packages' library folders in.
    pub site_packages: Vec<PathBuf>,
}

impl LibrarySearch {
    /// The default search: `TRT_LIBRARY_PATH`, the loader's path, then python3 installs.
    pub fn from_environment() -> LibrarySearch {
        LibrarySearch {
            explicit: None,
            environment: std::env::var_os(LIBRARY_PATH_VARIABLE).filter(|value| !value.is_empty()),
            loader_search_path: true,
            site_packages: python_site_packages(),
        }
    }

    /// The default search with an explicit path first.
    pub fn with_explicit_path(path: impl Into<PathBuf>) -> LibrarySearch {
        LibrarySearch {
            explicit: Some(path.into()),
            ..LibrarySearch::from_environment()
        }
    }

    /// Every place looked at, in order.
    pub fn candidates(&self) -> Vec<Candidate> {
        if let Some(explicit) = &self.explicit {
            return file_or_folder(explicit, "explicit path");
        }
        if let Some(value) = &self.environment {
            return file_or_folder(Path::new(value), LIBRARY_PATH_VARIABLE);
        }
        let mut candidates = Vec::new();
        if self.loader_search_path {
            candidates.extend(
                STANDARD_NAMES
                    .iter()
                    .map(|&name| Candidate::LoaderName(name)),
            );
        }
        for site in &self.site_packages {
            for folder in PIP_FOLDERS {
                let folder = site.join(folder);
                if folder.is_dir() {
                    candidates.extend(folder_candidates(&folder, "pip install"));
                }
            }
        }
        candidates
    }

    /// Loads the first candidate that loads. Fails with [`Error::LibraryNotFound`] listing
    /// every place searched, or with the load error of a file that exists but cannot be used
    /// when nothing else was found.
    pub fn find(&self) -> Result<Arc<TensorRtLibrary>> {
        let candidates = self.candidates();
        let mut searched = String::new();
        let mut first_failure: Option<Error> = None;
        let mut note = |text: String| {
            if !searched.is_empty() {
                searched.push_str("; ");
            }
            searched.push_str(&text);
        };
        for candidate in &candidates {
            match candidate {
                Candidate::File { path, origin } => match TensorRtLibrary::open(path) {
                    Ok(library) => return Ok(library),
                    Err(error) => {
                        note(format!("{} ({origin}: {error})", path.display()));
                        first_failure.get_or_insert(error);
                    }
                },
                Candidate::LoaderName(name) => match TensorRtLibrary::open(name) {
                    Ok(library) => return Ok(library),
                    Err(Error::LibraryLoad { message, .. })
                        if message.contains("cannot open shared object file") =>
                    {
                        note(format!("{name} (not on the loader search path)"));
                    }
                    Err(error) => {
                        note(format!("{name} (loader search path: {error})"));
                        first_failure.get_or_insert(error);
                    }
                },
                Candidate::EmptyFolder { path, origin } => {
                    note(format!(
                        "{} ({origin}: no {} in this folder)",
                        path.display(),
                        STANDARD_NAMES.join(", ")
                    ));
                }
            }
        }
        if searched.is_empty() {
            let mut text = String::from("nowhere: no explicit path, no ");
            let _ = write!(
                text,
                "{LIBRARY_PATH_VARIABLE}, loader search disabled and no site-packages folder with {}",
                PIP_FOLDERS.join(", ")
            );
            searched = text;
        }
        match first_failure {
            Some(
                error @ (Error::LibraryLoad { .. }
                | Error::MissingSymbol { .. }
                | Error::UnsupportedVersion { .. }),
            ) => Err(error),
            _ => Err(Error::LibraryNotFound { searched }),
        }
    }
}

/// A file is one candidate; a folder yields the library files in it.
fn file_or_folder(path: &Path, origin: &'static str) -> Vec<Candidate> {
    if path.is_dir() {
        folder_candidates(path, origin)
    } else {
        vec![Candidate::File {
            path: path.to_owned(),
            origin,
        }]
    }
}

/// The library files of a folder, in order of preference (`libnvinfer.so.*` first, newest
/// version first within a name).
fn folder_candidates(folder: &Path, origin: &'static str) -> Vec<Candidate> {
    let mut names: Vec<OsString> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|e| e.file_name()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.reverse();
    let mut candidates = Vec::new();
    for prefix in NAME_PREFIXES {
        for name in &names {
            let text = name.to_string_lossy();
            let Some(suffix) = text.strip_prefix(prefix) else {
                continue;
            };
            // `libnvinfer.so.11` or `libnvinfer.so.11.4.0`, not `libnvinfer.so.11.py`.
            if !suffix.is_empty() && suffix.split('.').all(|part| part.parse::<u32>().is_ok()) {
                candidates.push(Candidate::File {
                    path: folder.join(name),
                    origin,
                });
            }
        }
    }
    if candidates.is_empty() {
        candidates.push(Candidate::EmptyFolder {
            path: folder.to_owned(),
            origin,
        });
    }
    candidates
}

/// site-packages folders of the python3 installs and virtual environments on this machine:
/// `$VIRTUAL_ENV`, `$CONDA_PREFIX`, the prefixes of the `python3` executables on `PATH`,
/// pyenv versions, `./.venv`, `./venv`, the user site, and the system folders.
pub fn python_site_packages() -> Vec<PathBuf> {
    let mut prefixes: Vec<PathBuf> = Vec::new();
    for variable in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(value) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
            prefixes.push(PathBuf::from(value));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("python3").is_file() {
                if let Some(prefix) = dir.parent() {
                    prefixes.push(prefix.to_owned());
                }
            }
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        prefixes.push(cwd.join(".venv"));
        prefixes.push(cwd.join("venv"));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".pyenv")));
    if let Some(versions) = pyenv_root.map(|root| root.join("versions")) {
        if let Ok(entries) = std::fs::read_dir(versions) {
            let mut found: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            found.sort();
            prefixes.extend(found);
        }
    }
    if let Some(home) = &home {
        prefixes.push(home.join(".local"));
    }
    prefixes.push(PathBuf::from("/usr/local"));
    prefixes.push(PathBuf::from("/usr"));

    let mut folders: Vec<PathBuf> = Vec::new();
    for prefix in prefixes {
        let lib = prefix.join("lib");
        let Ok(entries) = std::fs::read_dir(&lib) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
            .map(|entry| entry.path())
            .collect();
        pythons.sort();
        for python in pythons {
            for leaf in ["site-packages", "dist-packages"] {
                folders.push(python.join(leaf));
            }
        }
    }
    folders.retain(|folder| folder.is_dir());
    let mut unique: Vec<PathBuf> = Vec::new();
    for folder in folders {
        if !unique.contains(&folder) {
            unique.push(folder);
        }
    }
    unique
}

/// True when `name` is one of the library names the search recognises.
pub fn is_library_name(name: &OsStr) -> bool {
    let text = name.to_string_lossy();
    NAME_PREFIXES.iter().any(|prefix| text.starts_with(prefix))
}

/// An error and its sources, joined: libloading 0.9 says only "dlopen failed" at the top and
/// keeps the loader's own reason ("cannot open shared object file...") in `source()`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavors_come_from_version_and_name() {
        let flavor = |name: &str, version| flavor_from_name(Path::new(name), version);
        assert_eq!(flavor("/x/libtensorrt_rtx.so.1", 10701), Flavor::Rtx);
        assert_eq!(flavor("/x/libnvinfer_lean.so.11", 110400), Flavor::Lean);
        assert_eq!(
            flavor("/x/libnvinfer_dispatch.so.11", 110400),
            Flavor::Dispatch
        );
        assert_eq!(flavor("/x/libnvinfer.so.10", 101300), Flavor::Standard);
        // A stand-in reporting an RTX version is RTX whatever its file name.
        assert_eq!(flavor("/x/libnvinfer.so.11", 10701), Flavor::Rtx);
    }

    #[test]
    fn explicit_path_is_authoritative_and_env_comes_next() {
        let search = LibrarySearch {
            explicit: Some("/nonexistent/libnvinfer.so.11".into()),
            environment: Some("/elsewhere".into()),
            loader_search_path: true,
            site_packages: vec![],
        };
        assert_eq!(
            search.candidates(),
            vec![Candidate::File {
                path: "/nonexistent/libnvinfer.so.11".into(),
                origin: "explicit path"
            }]
        );
        let search = LibrarySearch {
            explicit: None,
            ..search
        };
        assert_eq!(
            search.candidates(),
            vec![Candidate::File {
                path: "/elsewhere".into(),
                origin: LIBRARY_PATH_VARIABLE
            }]
        );
        let search = LibrarySearch {
            environment: None,
            ..search
        };
        let names: Vec<Candidate> = STANDARD_NAMES
            .iter()
            .map(|&n| Candidate::LoaderName(n))
            .collect();
        assert_eq!(search.candidates(), names);
    }

    #[test]
    fn folder_candidates_prefer_standard_then_lean_then_dispatch_then_rtx() {
        let dir = std::env::temp_dir().join(format!("trt-loader-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "libtensorrt_rtx.so.1",
            "libnvinfer_vc_plugin.so.11",
            "libnvinfer_lean.so.11",
            "libnvinfer.so.10",
            "libnvinfer.so.11",
            "libnvinfer.so.11.py",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let found: Vec<String> = folder_candidates(&dir, "test")
            .into_iter()
            .map(|c| match c {
                Candidate::File { path, .. } => {
                    path.file_name().unwrap().to_string_lossy().into_owned()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            found,
            [
                "libnvinfer.so.11",
                "libnvinfer.so.10",
                "libnvinfer_lean.so.11",
                "libtensorrt_rtx.so.1"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            folder_candidates(Path::new("/nonexistent-folder"), "test")[0],
            Candidate::EmptyFolder { .. }
        ));
    }
}
