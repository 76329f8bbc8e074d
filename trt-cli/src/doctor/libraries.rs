//! Which TensorRT libraries this machine has: the search of `trt_core::ffi::loader`, with
//! every candidate tried (not only the first that loads), so the report shows them all.

use std::path::PathBuf;

use trt_core::ffi::loader::{LIBRARY_PATH_VARIABLE, STANDARD_NAMES};
use trt_core::ffi::{Candidate, LibrarySearch, TensorRtLibrary};
use trt_core::Flavor;

use crate::plan::version_string;

/// One TensorRT library the search came across.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LibraryFinding {
    /// Loaded: its flavor and version are known.
    Loaded {
        /// The library file.
        path: PathBuf,
        /// Standard, lean, dispatch or RTX.
        flavor: Flavor,
        /// `major.minor.patch`.
        version: String,
        /// Why it was searched.
        origin: &'static str,
    },
    /// Exists but could not be used.
    Unusable {
        /// The library file (or loader name).
        path: PathBuf,
        /// The flavor its file name says.
        flavor: Flavor,
        /// Why it cannot be used.
        reason: String,
        /// Why it was searched.
        origin: &'static str,
    },
}

impl LibraryFinding {
    /// The flavor.
    pub fn flavor(&self) -> Flavor {
        match self {
            LibraryFinding::Loaded { flavor, .. } | LibraryFinding::Unusable { flavor, .. } => {
                *flavor
            }
        }
    }
}

/// The outcome of the search.
#[derive(Clone, Debug, Default)]
pub struct LibraryReport {
    /// What was searched, in order, in words.
    pub searched: Vec<String>,
    /// Every library found, in search order.
    pub found: Vec<LibraryFinding>,
}

impl LibraryReport {
    /// The library `Runtime::auto()` would use: the first that loads, else the first found.
    pub fn selected(&self) -> Option<&LibraryFinding> {
        self.found
            .iter()
            .find(|finding| matches!(finding, LibraryFinding::Loaded { .. }))
            .or_else(|| self.found.first())
    }
}

/// The flavor a library's file name says (for files that do not load).
pub use trt_core::ffi::loader::flavor_from_file_name;

/// Searches like `Runtime::auto()` does, trying every candidate.
pub fn search() -> LibraryReport {
    let search = LibrarySearch::from_environment();
    let mut report = LibraryReport::default();
    if let Some(value) = &search.environment {
        report.searched.push(format!(
            "{LIBRARY_PATH_VARIABLE}={} (set: the only place searched)",
            value.to_string_lossy()
        ));
    } else {
        report.searched.push(format!(
            "the dynamic loader's search path for {}",
            STANDARD_NAMES.join(", ")
        ));
        report.searched.push(format!(
            "{} python site-packages folder(s) for pip installs",
            search.site_packages.len()
        ));
    }
    for candidate in search.candidates() {
        let (target, origin): (PathBuf, &'static str) = match candidate {
            Candidate::File { path, origin } => (path, origin),
            // Opening a bare name cannot tell "absent" from "present but broken", so find
            // the file the loader would pick and open that.
            Candidate::LoaderName(name) => match locate_on_loader_path(name) {
                Some(path) => (path, "loader search path"),
                None => continue,
            },
            Candidate::EmptyFolder { path, .. } => {
                report
                    .searched
                    .push(format!("{}: holds no TensorRT library", path.display()));
                continue;
            }
        };
        let name = target
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        match TensorRtLibrary::open(&target) {
            Ok(library) => {
                let finding = LibraryFinding::Loaded {
                    path: library.path().to_owned(),
                    flavor: library.flavor(),
                    version: version_string(library.version()),
                    origin,
                };
                // The loader returns the same library for two names of one file.
                if !report.found.contains(&finding) {
                    report.found.push(finding);
                }
            }
            Err(trt_core::Error::LibraryNotFound { .. }) => {}
            Err(error) => report.found.push(LibraryFinding::Unusable {
                path: target,
                flavor: flavor_from_file_name(&name),
                reason: error.to_string(),
                origin,
            }),
        }
    }
    report
}

/// Where the dynamic loader would find `name`: `LD_LIBRARY_PATH`, then the `ldconfig`
/// cache, then the default folders.
fn locate_on_loader_path(name: &str) -> Option<PathBuf> {
    let from_environment = std::env::var_os("LD_LIBRARY_PATH")
        .map(|value| std::env::split_paths(&value).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(found) = from_environment
        .iter()
        .map(|folder| folder.join(name))
        .find(|path| path.is_file())
    {
        return Some(found);
    }
    let cache = ["ldconfig", "/sbin/ldconfig"]
        .iter()
        .find_map(|program| std::process::Command::new(program).arg("-p").output().ok())
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    if let Some(found) = find_in_ldconfig_cache(&cache, name) {
        return Some(found);
    }
    [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
    ]
    .iter()
    .map(|folder| PathBuf::from(folder).join(name))
    .find(|path| path.is_file())
}

/// The path `ldconfig -p` lists for `name` (`\tlibx.so.1 (libc6,x86-64) => /usr/lib/libx.so.1`).
fn find_in_ldconfig_cache(listing: &str, name: &str) -> Option<PathBuf> {
    listing.lines().find_map(|line| {
        let (entry, path) = line.trim().split_once(" => ")?;
        (entry.split_whitespace().next() == Some(name)).then(|| PathBuf::from(path.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldconfig_listing_gives_the_path() {
        let listing = "123 libs found in cache `/etc/ld.so.cache'\n\
            \tlibnvinfer.so.10 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvinfer.so.10\n\
            \tlibnvinfer_lean.so.10 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvinfer_lean.so.10\n";
        assert_eq!(
            find_in_ldconfig_cache(listing, "libnvinfer.so.10"),
            Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/libnvinfer.so.10"))
        );
        assert_eq!(find_in_ldconfig_cache(listing, "libnvinfer.so.11"), None);
    }

    #[test]
    fn flavors_by_file_name() {
        assert_eq!(flavor_from_file_name("libtensorrt_rtx.so.1"), Flavor::Rtx);
        assert_eq!(flavor_from_file_name("libnvinfer_lean.so.10"), Flavor::Lean);
        assert_eq!(
            flavor_from_file_name("libnvinfer_dispatch.so.10"),
            Flavor::Dispatch
        );
        assert_eq!(flavor_from_file_name("libnvinfer.so.10"), Flavor::Standard);
    }

    #[test]
    fn the_selected_library_is_the_first_that_loads() {
        let unusable = LibraryFinding::Unusable {
            path: "/a/libtensorrt_rtx.so.1".into(),
            flavor: Flavor::Rtx,
            reason: "bad".into(),
            origin: "test",
        };
        let loaded = LibraryFinding::Loaded {
            path: "/b/libnvinfer.so.10".into(),
            flavor: Flavor::Standard,
            version: "10.13.0".into(),
            origin: "test",
        };
        let mut report = LibraryReport {
            searched: vec![],
            found: vec![unusable.clone(), loaded.clone()],
        };
        assert_eq!(report.selected(), Some(&loaded));
        report.found.pop();
        assert_eq!(report.selected(), Some(&unusable));
        report.found.clear();
        assert_eq!(report.selected(), None);
    }
}
