//! A persistent TensorRT-RTX runtime cache: compiled kernels kept across runs and processes.
//!
//! TensorRT-RTX compiles kernels for the device at run time (and, with dynamic shapes, once per
//! specialized shape). Its `IRuntimeCache` holds them and can be serialized, so the next run
//! skips the compilation. [`RuntimeCache`] adds what TensorRT leaves to the caller:
//!
//! - **Where it lives.** [`RuntimeCache::open`] binds a cache to a file: loaded on open,
//!   saved by [`RuntimeCache::save`] and when the last handle is dropped.
//!   [`RuntimeCache::from_reader`] / [`RuntimeCache::save_to`] use a stream instead, and
//!   [`RuntimeCache::in_memory`] is caller-owned (optionally saved on drop with
//!   [`RuntimeCache::with_autosave`]). The default file is [`RuntimeCache::default_path`].
//! - **Sharing.** A handle is a cheap [`Clone`]; every session that names it uses the same
//!   backend cache. Opening the same path twice in one process returns the same cache, so two
//!   copies can never overwrite each other's kernels with a stale snapshot.
//! - **Safety of the file.** The file starts with a header (see below). A file that is
//!   corrupt, truncated, of another format version or written by another TensorRT flavor or
//!   version is ignored with a `log::warn!`: it is never handed to TensorRT, it never crashes
//!   the process, and it never stops a session (the cache just starts empty).
//! - **Several processes.** Loads hold a shared lock and saves an exclusive lock on the sibling
//!   file `<path>.lock` (the data file itself is replaced by rename, so it cannot carry the
//!   lock; the lock file is never deleted, as deleting it would let two processes lock two
//!   different files). A save writes `<path>.tmp`, syncs it and renames it over the file, so a
//!   reader sees either the old or the new file, never a torn one.
//!
//! # Kernels saved by other processes
//!
//! Before writing, a save re-reads the current file under the exclusive lock and loads it into
//! the in-memory cache, then loads this cache's own snapshot again on top, and writes the
//! result. What survives therefore depends on how the backend's `deserialize` treats a cache
//! that already holds kernels, which TensorRT-RTX does not document:
//!
//! - **Host simulation: measured, merges.** Every kernel saved by any process is kept
//!   (`tests/runtime_cache.rs` runs six processes saving at once and finds every kernel).
//! - **TensorRT-RTX: not measured.** The only GPUs available to this project's test machines
//!   (H100, H200) are refused by TensorRT-RTX, so the merge behaviour of the real
//!   `IRuntimeCache::deserialize` could not be observed. If it merges, RTX behaves like the
//!   simulation. If it replaces, the last writer's kernels win: because the own snapshot is
//!   loaded last, a save never loses this process's own kernels, but may drop kernels that
//!   other processes saved in the meantime (they are recompiled when next needed). The file is
//!   valid either way.
//!
//! TensorRT-RTX itself silently ignores a cache made on another GPU, by another RTX version or
//! with an older driver; the header check here only covers flavor and library version.
//!
//! # File format
//!
//! All integers little-endian; 36 bytes of header, then the backend's serialized cache:
//!
//! | offset | size | field                                                            |
//! |-------:|-----:|------------------------------------------------------------------|
//! | 0      | 8    | magic `TRT-RTC\0`                                                |
//! | 8      | 4    | format version ([`RuntimeCache::FORMAT_VERSION`])                |
//! | 12     | 4    | library flavor (1 standard, 2 lean, 3 dispatch, 4 RTX, 5 simulation) |
//! | 16     | 4    | library version (`getInferLibVersion()`; 0 for the simulation)   |
//! | 20     | 8    | payload length in bytes                                          |
//! | 28     | 8    | FNV-1a 64 checksum of the payload                                |
//! | 36     | n    | payload: `IRuntimeCache::serialize()` output                     |
//!
//! A file is accepted only when every field matches this runtime and the payload has exactly
//! the stated length and checksum.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, OnceLock, Weak};

use parking_lot::{Condvar, Mutex};

use crate::backend::{PlatformBackend, RuntimeCacheBackend};
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::types::Flavor;

/// The first eight bytes of a runtime-cache file.
const MAGIC: [u8; 8] = *b"TRT-RTC\0";

/// Bytes before the payload: magic, format version, flavor, library version, length, checksum.
const HEADER_LEN: usize = 8 + 4 + 4 + 4 + 8 + 8;

/// Name of the default cache file inside the per-user directory.
const DEFAULT_FILE_NAME: &str = "runtime_cache.bin";

/// A shared, persistent TensorRT-RTX runtime cache (see the [module docs](self)).
///
/// Cloning is cheap and every clone is the same cache. The cache is `Send + Sync` and can be
/// named by any number of sessions at once. A handle that is never dropped (kept in a
/// `static`, leaked, or alive when the process exits) is never saved implicitly: call
/// [`RuntimeCache::save`] for it.
///
/// ```
/// use trt_core::{Runtime, RuntimeCache};
///
/// let runtime = Runtime::simulated();
/// let dir = std::env::temp_dir().join(format!("trt-doc-open-{}", std::process::id()));
/// let path = dir.join("runtime_cache.bin");
///
/// let cache = RuntimeCache::open(&runtime, &path)?;
/// // Opening the same file again in this process gives the same cache, not a stale copy.
/// let again = RuntimeCache::open(&runtime, &path)?;
/// assert!(std::sync::Arc::ptr_eq(cache.backend(), again.backend()));
/// assert_eq!(cache.path(), again.path());
///
/// cache.save()?; // also done when the last handle is dropped
/// drop((cache, again));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), trt_core::Error>(())
/// ```
#[derive(Clone)]
pub struct RuntimeCache {
    shared: Arc<SharedCache>,
}

static_assertions::assert_impl_all!(RuntimeCache: Send, Sync, Clone);

/// What all handles of one cache share. Dropping it (with the last handle) performs the
/// final save.
struct SharedCache {
    backend: Arc<dyn RuntimeCacheBackend>,
    library: LibraryIdentity,
    /// Where saves go: set at open, or later by `with_autosave`; unset for a stream or a
    /// caller-owned cache without autosave.
    file: OnceLock<CacheFile>,
    /// True when this cache is the registry's entry for its file, which its drop must remove.
    registered: bool,
}

/// The flavor and version of the library a cache belongs to: caches are only valid for the
/// library that wrote them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LibraryIdentity {
    flavor: Flavor,
    version: u32,
}

impl LibraryIdentity {
    fn of(platform: &dyn PlatformBackend) -> LibraryIdentity {
        LibraryIdentity {
            flavor: platform.flavor(),
            version: platform.library_version(),
        }
    }
}

impl fmt::Display for LibraryIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} version {}", self.flavor, self.version)
    }
}

/// The file-format code of a flavor. Codes are part of the file format: never renumber them.
fn flavor_code(flavor: Flavor) -> u32 {
    match flavor {
        Flavor::Standard => 1,
        Flavor::Lean => 2,
        Flavor::Dispatch => 3,
        Flavor::Rtx => 4,
        Flavor::Simulation => 5,
    }
}

fn flavor_from_code(code: u32) -> Option<Flavor> {
    [
        Flavor::Standard,
        Flavor::Lean,
        Flavor::Dispatch,
        Flavor::Rtx,
        Flavor::Simulation,
    ]
    .into_iter()
    .find(|&flavor| flavor_code(flavor) == code)
}

/// The data file and its two siblings, all in one directory (rename is only atomic within a
/// file system, and the lock must sit next to the file it protects).
#[derive(Debug)]
struct CacheFile {
    path: PathBuf,
    lock_path: PathBuf,
    temp_path: PathBuf,
}

impl CacheFile {
    /// Resolves `path` against the current directory without touching the file system.
    fn unresolved(path: &Path) -> Result<CacheFile> {
        let path = std::path::absolute(path)
            .map_err(|error| io_error("cannot resolve runtime-cache path", path, error))?;
        CacheFile::from_absolute(path)
    }

    /// Creates the parent directory and canonicalizes it, so that two spellings of one file
    /// (`a/../b/cache.bin`, a symlinked directory) give the same registry key.
    fn canonical(path: &Path) -> Result<CacheFile> {
        let file = CacheFile::unresolved(path)?;
        let parent = file.directory();
        std::fs::create_dir_all(parent)
            .map_err(|error| io_error("cannot create runtime-cache directory", parent, error))?;
        let parent = std::fs::canonicalize(parent)
            .map_err(|error| io_error("cannot resolve runtime-cache directory", parent, error))?;
        let name = file.path.file_name().unwrap_or_default();
        CacheFile::from_absolute(parent.join(name))
    }

    fn from_absolute(path: PathBuf) -> Result<CacheFile> {
        let Some(name) = path.file_name() else {
            return Err(Error::InvalidConfig(format!(
                "runtime-cache path {} does not name a file",
                path.display()
            )));
        };
        let sibling = |suffix: &str| {
            let mut sibling_name = OsString::from(name);
            sibling_name.push(suffix);
            path.with_file_name(sibling_name)
        };
        Ok(CacheFile {
            lock_path: sibling(".lock"),
            temp_path: sibling(".tmp"),
            path,
        })
    }

    fn directory(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Opens (creating it if needed) the lock file and takes its lock; dropping the returned
    /// file releases it.
    fn lock(&self, exclusive: bool) -> Result<File> {
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
            .map_err(|error| io_error("cannot open runtime-cache lock", &self.lock_path, error))?;
        let locked = if exclusive {
            lock_file.lock()
        } else {
            lock_file.lock_shared()
        };
        locked.map_err(|error| io_error("cannot lock runtime cache", &self.lock_path, error))?;
        Ok(lock_file)
    }

    /// The file's bytes, or `None` when there is no file yet.
    fn read(&self) -> Result<Option<Vec<u8>>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error("cannot read runtime cache", &self.path, error)),
        }
    }

    /// Replaces the file atomically: temp file, fsync, rename, fsync of the directory (so the
    /// rename itself survives a power loss). The caller holds the exclusive lock, which is why
    /// one fixed temp name is enough.
    fn replace_with(&self, contents: &[u8]) -> Result<()> {
        let written = (|| {
            let mut temp = File::create(&self.temp_path)?;
            temp.write_all(contents)?;
            temp.sync_all()
        })();
        if let Err(error) = written {
            let _ = std::fs::remove_file(&self.temp_path);
            return Err(io_error(
                "cannot write runtime cache",
                &self.temp_path,
                error,
            ));
        }
        if let Err(error) = std::fs::rename(&self.temp_path, &self.path) {
            let _ = std::fs::remove_file(&self.temp_path);
            return Err(io_error("cannot replace runtime cache", &self.path, error));
        }
        sync_directory(self.directory());
        Ok(())
    }
}

/// Makes a rename durable. Best effort: some file systems refuse to sync a directory, and
/// the rename is atomic for other processes either way.
fn sync_directory(directory: &Path) {
    #[cfg(unix)]
    if let Err(error) = File::open(directory).and_then(|dir| dir.sync_all()) {
        log::debug!(
            "runtime cache: cannot sync directory {}: {error}",
            directory.display()
        );
    }
    #[cfg(not(unix))]
    let _ = directory;
}

fn io_error(action: &str, path: &Path, error: io::Error) -> Error {
    Error::Io(io::Error::new(
        error.kind(),
        format!("{action} {}: {error}", path.display()),
    ))
}

/// Every cache opened from a file in this process, by canonical path. Weak, so the cache is
/// dropped (and saved) with its last handle.
struct Registry {
    open: Mutex<HashMap<PathBuf, Weak<SharedCache>>>,
    /// Signalled when a dropped cache has finished its final save and left `open`.
    released: Condvar,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    open: Mutex::new(HashMap::new()),
    released: Condvar::new(),
});

impl RuntimeCache {
    /// The file-format version written in the header; files of any other version are ignored.
    pub const FORMAT_VERSION: u32 = 1;

    /// Opens the cache stored at `path`, loading the file if it exists (under a shared lock).
    ///
    /// The cache is saved to `path` by [`RuntimeCache::save`] and when its last handle is
    /// dropped. Opening a path that is already open in this process returns that cache.
    /// A file that fails the header checks is ignored with a warning and the cache starts
    /// empty, still bound to `path` (the next save replaces the bad file).
    ///
    /// # Errors
    ///
    /// [`Error::NotInLibraryVersion`] when the library has no runtime cache (standard
    /// TensorRT); [`Error::Io`] when the directory or the lock file cannot be created or the
    /// file exists but cannot be read; [`Error::InvalidConfig`] when `path` names no file or
    /// is already open in this process for another library flavor or version.
    pub fn open(runtime: &Runtime, path: impl AsRef<Path>) -> Result<RuntimeCache> {
        let file = CacheFile::canonical(path.as_ref())?;
        let library = LibraryIdentity::of(runtime.platform().as_ref());
        let mut open = REGISTRY.open.lock();
        while let Some(entry) = open.get(&file.path) {
            match entry.upgrade() {
                Some(shared) => {
                    // Release the registry before `shared` can be dropped: if it is the last
                    // handle, its drop takes the registry lock.
                    drop(open);
                    if shared.library != library {
                        return Err(Error::InvalidConfig(format!(
                            "runtime cache {} is already open for {}, not {library}",
                            file.path.display(),
                            shared.library
                        )));
                    }
                    return Ok(RuntimeCache { shared });
                }
                // The last handle is gone and its final save is running: wait for it, so
                // this open reads what it writes.
                None => REGISTRY.released.wait(&mut open),
            }
        }
        // Loading while holding the registry makes a concurrent open of the same path wait
        // for this cache instead of loading a second copy.
        let backend = runtime.platform().create_runtime_cache()?;
        let lock = file.lock(false)?;
        let bytes = file.read();
        drop(lock);
        match bytes {
            Ok(Some(bytes)) => load_into(backend.as_ref(), &bytes, library, &file.path),
            Ok(None) => {}
            // An unreadable file must not stop the session: start empty, the save will tell.
            Err(error) => log::warn!("{error}; starting with an empty runtime cache"),
        }
        let key = file.path.clone();
        let shared = Arc::new(SharedCache {
            backend,
            library,
            file: OnceLock::from(file),
            registered: true,
        });
        open.insert(key, Arc::downgrade(&shared));
        Ok(RuntimeCache { shared })
    }

    /// Opens the cache at [`RuntimeCache::default_path`].
    pub fn open_default(runtime: &Runtime) -> Result<RuntimeCache> {
        RuntimeCache::open(runtime, RuntimeCache::default_path())
    }

    /// `{temp dir}/trt_{user}/runtime_cache.bin`: one cache per user, outside any project.
    ///
    /// The user is `$USER`, else `$LOGNAME`, else `$USERNAME`, else (on Linux) the numeric user
    /// id, else `unknown`; characters other than ASCII letters, digits, `.`, `_` and `-` are
    /// replaced by `_` so that the name cannot leave the temp directory.
    ///
    /// ```
    /// let path = trt_core::RuntimeCache::default_path();
    /// assert!(path.starts_with(std::env::temp_dir()));
    /// assert_eq!(path.file_name().unwrap(), "runtime_cache.bin");
    /// ```
    pub fn default_path() -> PathBuf {
        std::env::temp_dir()
            .join(format!("trt_{}", current_user()))
            .join(DEFAULT_FILE_NAME)
    }

    /// A cache loaded once from `reader` and bound to no file: save it with
    /// [`RuntimeCache::save_to`]. Content that fails the header checks is ignored with a
    /// warning (the cache starts empty).
    ///
    /// ```
    /// use trt_core::{Runtime, RuntimeCache};
    ///
    /// let runtime = Runtime::simulated();
    /// let cache = RuntimeCache::in_memory(&runtime)?;
    /// let mut bytes = Vec::new();
    /// cache.save_to(&mut bytes)?;
    /// let restored = RuntimeCache::from_reader(&runtime, bytes.as_slice())?;
    /// assert!(restored.path().is_none());
    /// # Ok::<(), trt_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when reading fails; [`Error::NotInLibraryVersion`] on standard TensorRT.
    pub fn from_reader(runtime: &Runtime, mut reader: impl Read) -> Result<RuntimeCache> {
        let cache = RuntimeCache::in_memory(runtime)?;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        load_into(
            cache.backend().as_ref(),
            &bytes,
            cache.shared.library,
            Path::new("<stream>"),
        );
        Ok(cache)
    }

    /// An empty cache owned by the caller, bound to no file (see
    /// [`RuntimeCache::with_autosave`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotInLibraryVersion`] when the library has no runtime cache.
    pub fn in_memory(runtime: &Runtime) -> Result<RuntimeCache> {
        let platform = runtime.platform();
        Ok(RuntimeCache {
            shared: Arc::new(SharedCache {
                backend: platform.create_runtime_cache()?,
                library: LibraryIdentity::of(platform.as_ref()),
                file: OnceLock::new(),
                registered: false,
            }),
        })
    }

    /// Saves this cache to `path` when its last handle is dropped (and on
    /// [`RuntimeCache::save`]), without loading the file first. Saving merges the file's
    /// current kernels like any save. A cache already bound to a file keeps its file; the new
    /// path is ignored with a warning.
    ///
    /// Unlike [`RuntimeCache::open`], this cache is not shared with other opens of `path`.
    ///
    /// ```
    /// use trt_core::{Runtime, RuntimeCache};
    ///
    /// let runtime = Runtime::simulated();
    /// let dir = std::env::temp_dir().join(format!("trt-doc-autosave-{}", std::process::id()));
    /// let cache = RuntimeCache::in_memory(&runtime)?.with_autosave(dir.join("kernels.bin"));
    /// drop(cache); // written here
    /// assert!(dir.join("kernels.bin").exists());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), trt_core::Error>(())
    /// ```
    pub fn with_autosave(self, path: impl AsRef<Path>) -> RuntimeCache {
        let path = path.as_ref();
        match CacheFile::unresolved(path) {
            Ok(file) => {
                if let Err(file) = self.shared.file.set(file) {
                    log::warn!(
                        "runtime cache is already saved to {}; autosave path {} ignored",
                        self.path().unwrap_or(&file.path).display(),
                        file.path.display()
                    );
                }
            }
            Err(error) => log::warn!("runtime-cache autosave disabled: {error}"),
        }
        self
    }

    /// The file this cache is saved to, if any (absolute; canonical for [`RuntimeCache::open`]).
    pub fn path(&self) -> Option<&Path> {
        self.shared.file.get().map(|file| file.path.as_path())
    }

    /// Saves the cache to its file now: under an exclusive lock, merges the file's current
    /// kernels (see the [module docs](self)), then writes a temp file and renames it over the
    /// file. Writes nothing when the file already holds exactly this cache.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a cache bound to no file; [`Error::Io`] when locking,
    /// reading or writing fails; a backend error when serializing fails.
    ///
    /// With TensorRT-RTX, save while no session using the cache is running: whether the
    /// library's `serialize` tolerates a concurrent enqueue that compiles kernels into the
    /// cache is not documented. (The automatic save on drop satisfies this by construction.)
    pub fn save(&self) -> Result<()> {
        match self.shared.file.get() {
            Some(file) => self.shared.save_to_file(file),
            None => Err(Error::InvalidConfig(
                "this runtime cache is bound to no file; use save_to or with_autosave".to_owned(),
            )),
        }
    }

    /// Writes the cache (header and payload) to `writer` once.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when writing fails; a backend error when serializing fails.
    pub fn save_to(&self, mut writer: impl Write) -> Result<()> {
        let payload = self.shared.backend.serialize()?;
        writer.write_all(&encode(self.shared.library, &payload))?;
        writer.flush()?;
        Ok(())
    }

    /// The backend cache that execution contexts use (`ContextOptions::runtime_cache`). Also an
    /// escape hatch for driving contexts directly through the backend traits.
    pub fn backend(&self) -> &Arc<dyn RuntimeCacheBackend> {
        &self.shared.backend
    }
}

impl fmt::Debug for RuntimeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeCache")
            .field("path", &self.path())
            .field("library", &self.shared.library)
            .field("backend", &self.shared.backend)
            .finish()
    }
}

impl SharedCache {
    fn save_to_file(&self, file: &CacheFile) -> Result<()> {
        std::fs::create_dir_all(file.directory()).map_err(|error| {
            io_error(
                "cannot create runtime-cache directory",
                file.directory(),
                error,
            )
        })?;
        let _lock = file.lock(true)?;
        let on_disk = file
            .read()?
            .and_then(|bytes| match decode(&bytes, self.library) {
                Ok(payload) => Some(payload.to_vec()),
                Err(rejection) => {
                    log::warn!(
                        "runtime cache {}: {rejection}; replacing it",
                        file.path.display()
                    );
                    None
                }
            });
        if let Some(disk_payload) = on_disk.as_deref().filter(|payload| !payload.is_empty()) {
            let own = self.backend.serialize()?;
            if own.as_slice() != disk_payload {
                // Disk first, own snapshot last: a merging backend ends with the union, a
                // replacing one with at least this process's kernels.
                if let Err(error) = self.backend.deserialize(disk_payload) {
                    log::warn!(
                        "runtime cache {}: the backend refused the saved kernels ({error}); \
                         they are replaced",
                        file.path.display()
                    );
                }
                if !own.is_empty() {
                    self.backend.deserialize(&own)?;
                }
            }
        }
        let payload = self.backend.serialize()?;
        // An empty blob is what a cache that never saw a kernel serializes to on RTX; writing
        // it would gain nothing. An identical file needs no rewrite either.
        if payload.is_empty() || on_disk.as_deref() == Some(payload.as_slice()) {
            return Ok(());
        }
        file.replace_with(&encode(self.library, &payload))
    }
}

impl Drop for SharedCache {
    fn drop(&mut self) {
        if let Some(file) = self.file.get() {
            if let Err(error) = self.save_to_file(file) {
                log::warn!("runtime cache not saved on drop: {error}");
            }
        }
        if self.registered {
            let mut open = REGISTRY.open.lock();
            if let Some(file) = self.file.get() {
                let this: *const SharedCache = self;
                // Only this cache's own (now dead) entry: opens wait while it exists, so no
                // other entry for the path can have replaced it.
                if open
                    .get(&file.path)
                    .is_some_and(|entry| std::ptr::eq(entry.as_ptr(), this))
                {
                    open.remove(&file.path);
                }
            }
            REGISTRY.released.notify_all();
        }
    }
}

/// Loads a cache file into `backend` when its header and checksum are valid; warns and leaves
/// the backend empty otherwise. Never fails: a bad cache must not stop a session.
fn load_into(
    backend: &dyn RuntimeCacheBackend,
    bytes: &[u8],
    library: LibraryIdentity,
    source: &Path,
) {
    match decode(bytes, library) {
        // An empty payload is an empty cache; some backends refuse to deserialize nothing.
        Ok([]) => {}
        Ok(payload) => {
            if let Err(error) = backend.deserialize(payload) {
                log::warn!(
                    "runtime cache {}: the backend refused it ({error}); starting with an empty \
                     runtime cache",
                    source.display()
                );
                // A refused blob may have been partly loaded.
                if let Err(error) = backend.reset() {
                    log::warn!("runtime cache: reset after a refused load failed: {error}");
                }
            }
        }
        Err(rejection) => log::warn!(
            "runtime cache {} ignored: {rejection}; starting with an empty runtime cache",
            source.display()
        ),
    }
}

/// Header followed by `payload`.
fn encode(library: LibraryIdentity, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&RuntimeCache::FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&flavor_code(library.flavor).to_le_bytes());
    bytes.extend_from_slice(&library.version.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&fnv1a64(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// Why a cache file was not loaded.
#[derive(Debug, PartialEq, Eq)]
enum Rejection {
    NotACacheFile,
    TruncatedHeader {
        found: usize,
    },
    FormatVersion {
        found: u32,
    },
    OtherLibrary {
        flavor_code: u32,
        version: u32,
        expected: LibraryIdentity,
    },
    TruncatedPayload {
        expected: u64,
        found: usize,
    },
    TrailingBytes {
        expected: u64,
        found: usize,
    },
    Checksum {
        stored: u64,
        computed: u64,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotACacheFile => write!(f, "not a runtime-cache file (wrong magic)"),
            Rejection::TruncatedHeader { found } => write!(
                f,
                "truncated: {found} bytes, shorter than the {HEADER_LEN}-byte header"
            ),
            Rejection::FormatVersion { found } => write!(
                f,
                "format version {found}, this build reads version {}",
                RuntimeCache::FORMAT_VERSION
            ),
            Rejection::OtherLibrary {
                flavor_code,
                version,
                expected,
            } => {
                let flavor = match flavor_from_code(*flavor_code) {
                    Some(flavor) => flavor.to_string(),
                    None => format!("unknown flavor {flavor_code}"),
                };
                write!(
                    f,
                    "written by {flavor} version {version}, this runtime is {expected}"
                )
            }
            Rejection::TruncatedPayload { expected, found } => write!(
                f,
                "truncated: the header announces {expected} payload bytes, {found} present"
            ),
            Rejection::TrailingBytes { expected, found } => write!(
                f,
                "corrupt: the header announces {expected} payload bytes, {found} present"
            ),
            Rejection::Checksum { stored, computed } => write!(
                f,
                "corrupt: payload checksum {computed:#018x} differs from the stored {stored:#018x}"
            ),
        }
    }
}

/// Splits fixed-size fields off the front of a byte slice, without panicking on short input.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// The payload of a cache file written for `library`, or why the file must be ignored.
fn decode(bytes: &[u8], library: LibraryIdentity) -> Result<&[u8], Rejection> {
    let magic_seen = bytes.len().min(MAGIC.len());
    if bytes[..magic_seen] != MAGIC[..magic_seen] {
        return Err(Rejection::NotACacheFile);
    }
    let truncated = Rejection::TruncatedHeader { found: bytes.len() };
    let mut fields = Fields(bytes);
    let header = (|| {
        fields.take::<8>()?;
        Some((
            fields.u32()?,
            fields.u32()?,
            fields.u32()?,
            fields.u64()?,
            fields.u64()?,
        ))
    })();
    let Some((format_version, flavor, version, length, checksum)) = header else {
        return Err(truncated);
    };
    if format_version != RuntimeCache::FORMAT_VERSION {
        return Err(Rejection::FormatVersion {
            found: format_version,
        });
    }
    if flavor != flavor_code(library.flavor) || version != library.version {
        return Err(Rejection::OtherLibrary {
            flavor_code: flavor,
            version,
            expected: library,
        });
    }
    let payload = fields.rest();
    let found = payload.len();
    match u64::try_from(found) {
        Ok(found_len) if found_len < length => {
            return Err(Rejection::TruncatedPayload {
                expected: length,
                found,
            })
        }
        Ok(found_len) if found_len > length => {
            return Err(Rejection::TrailingBytes {
                expected: length,
                found,
            })
        }
        _ => {}
    }
    let computed = fnv1a64(payload);
    if computed != checksum {
        return Err(Rejection::Checksum {
            stored: checksum,
            computed,
        });
    }
    Ok(payload)
}

/// FNV-1a, 64 bits: catches torn writes and bit flips; not a defence against tampering (the
/// file lives in the user's own directory).
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The user name for the default path, made safe as a single path component.
fn current_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .filter_map(std::env::var_os)
        .map(|name| sanitize_user(&name.to_string_lossy()))
        .find(|name| !name.is_empty())
        .or_else(numeric_user_id)
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The process's user id without libc: Linux gives `/proc/self` to the process's owner.
fn numeric_user_id() -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self")
            .ok()
            .map(|metadata| metadata.uid().to_string())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn sanitize_user(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
