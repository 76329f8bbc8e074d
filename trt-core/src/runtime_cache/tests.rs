//! Unit tests of the runtime cache: file format, rejection of bad files, sharing, saving.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use super::*;
use crate::backend::sim::{SimConfig, SimPlatform, SimRuntimeCache};
use crate::backend::{DeviceBackend, EngineBackend};

// ---- fixtures ----------------------------------------------------------------------------

/// A unique directory under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "trt-rtc-unit-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A simulated cache that counts how often it was handed a blob, to prove that rejected
/// files never reach the backend.
#[derive(Debug, Default)]
struct SpyCache {
    kernels: SimRuntimeCache,
    deserialize_calls: AtomicUsize,
}

impl RuntimeCacheBackend for SpyCache {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn serialize(&self) -> Result<Vec<u8>> {
        self.kernels.serialize()
    }
    fn deserialize(&self, blob: &[u8]) -> Result<()> {
        self.deserialize_calls.fetch_add(1, Ordering::Relaxed);
        self.kernels.deserialize(blob)
    }
    fn reset(&self) -> Result<()> {
        self.kernels.reset()
    }
}

/// The simulation, reporting any library flavor and version, with spy caches.
struct SpyPlatform {
    inner: Arc<SimPlatform>,
    flavor: Flavor,
    version: u32,
}

impl PlatformBackend for SpyPlatform {
    fn device(&self) -> &Arc<dyn DeviceBackend> {
        self.inner.device()
    }
    fn flavor(&self) -> Flavor {
        self.flavor
    }
    fn library_version(&self) -> u32 {
        self.version
    }
    fn deserialize_engine(&self, plan: &[u8]) -> Result<Arc<dyn EngineBackend>> {
        self.inner.deserialize_engine(plan)
    }
    fn create_runtime_cache(&self) -> Result<Arc<dyn RuntimeCacheBackend>> {
        Ok(Arc::new(SpyCache::default()))
    }
}

fn spy_runtime(flavor: Flavor, version: u32) -> Runtime {
    Runtime::with_platform(Arc::new(SpyPlatform {
        inner: SimPlatform::new(SimConfig {
            memory_bytes: 1 << 20,
            ..SimConfig::default()
        }),
        flavor,
        version,
    }))
}

/// The simulation's identity (flavor simulation, version 0), with spy caches.
fn sim_runtime() -> Runtime {
    spy_runtime(Flavor::Simulation, 0)
}

fn spy(cache: &RuntimeCache) -> &SpyCache {
    cache
        .backend()
        .as_any()
        .downcast_ref::<SpyCache>()
        .expect("a spy cache")
}

fn add_kernel(cache: &RuntimeCache, id: &str) {
    spy(cache).kernels.record_kernel(id.to_owned());
}

fn kernels(cache: &RuntimeCache) -> Vec<String> {
    spy(cache).kernels.kernels()
}

fn deserialize_calls(cache: &RuntimeCache) -> usize {
    spy(cache).deserialize_calls.load(Ordering::Relaxed)
}

const SIM: LibraryIdentity = LibraryIdentity {
    flavor: Flavor::Simulation,
    version: 0,
};

/// A valid simulated cache file holding `ids`.
fn cache_file(ids: &[&str]) -> Vec<u8> {
    let blob = SimRuntimeCache::new();
    for id in ids {
        blob.record_kernel((*id).to_owned());
    }
    encode(SIM, &blob.serialize().unwrap())
}

/// The kernels of a cache file as a fresh runtime loads it (through the registry-free path).
fn kernels_on_disk(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let payload = decode(&bytes, SIM).expect("the saved file is valid");
    let cache = SimRuntimeCache::new();
    cache.deserialize(payload).unwrap();
    cache.kernels()
}

// ---- warnings --------------------------------------------------------------------------

/// Captures this thread's warnings, so tests can check that a bad file is reported.
struct WarningCapture;

thread_local! {
    static WARNINGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

impl log::Log for WarningCapture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            WARNINGS.with(|warnings| warnings.borrow_mut().push(record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

/// This thread's warnings since the last call.
fn take_warnings() -> Vec<String> {
    static INSTALL: Once = Once::new();
    static CAPTURE: WarningCapture = WarningCapture;
    INSTALL.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in the trt-core unit tests");
        log::set_max_level(log::LevelFilter::Warn);
    });
    WARNINGS.with(|warnings| std::mem::take(&mut *warnings.borrow_mut()))
}

// ---- tests -----------------------------------------------------------------------------

#[test]
fn header_layout_is_stable() {
    let bytes = encode(SIM, b"abc");
    assert_eq!(bytes.len(), HEADER_LEN + 3);
    assert_eq!(&bytes[..8], b"TRT-RTC\0");
    assert_eq!(bytes[8..12], 1u32.to_le_bytes());
    assert_eq!(bytes[12..16], 5u32.to_le_bytes());
    assert_eq!(bytes[16..20], 0u32.to_le_bytes());
    assert_eq!(bytes[20..28], 3u64.to_le_bytes());
    // FNV-1a 64 of "abc" (reference value).
    assert_eq!(bytes[28..36], 0xe71f_a219_0541_574bu64.to_le_bytes());
    assert_eq!(decode(&bytes, SIM), Ok(&b"abc"[..]));
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    for flavor in [
        Flavor::Standard,
        Flavor::Lean,
        Flavor::Dispatch,
        Flavor::Rtx,
        Flavor::Simulation,
    ] {
        assert_eq!(flavor_from_code(flavor_code(flavor)), Some(flavor));
    }
    assert_eq!(flavor_from_code(0), None);
}

#[test]
fn saved_kernels_are_loaded_by_the_next_open() {
    let dir = TempDir::new("round-trip");
    let path = dir.join("cache.bin");
    let runtime = sim_runtime();
    let cache = RuntimeCache::open(&runtime, &path).unwrap();
    assert!(kernels(&cache).is_empty());
    assert_eq!(
        cache.path(),
        Some(
            std::fs::canonicalize(&dir.0)
                .unwrap()
                .join("cache.bin")
                .as_path()
        )
    );
    add_kernel(&cache, "mlp/x=[4, 16]");
    add_kernel(&cache, "mlp/x=[1, 16]");
    cache.save().unwrap();
    assert_eq!(kernels_on_disk(&path), ["mlp/x=[1, 16]", "mlp/x=[4, 16]"]);
    assert!(dir.join("cache.bin.lock").exists());
    assert!(!dir.join("cache.bin.tmp").exists());
    drop(cache);

    let reopened = RuntimeCache::open(&runtime, &path).unwrap();
    assert_eq!(kernels(&reopened), ["mlp/x=[1, 16]", "mlp/x=[4, 16]"]);
    assert_eq!(deserialize_calls(&reopened), 1);
    assert!(take_warnings().is_empty());
}

#[test]
fn the_last_handle_saves_on_drop_and_earlier_ones_do_not() {
    let dir = TempDir::new("drop");
    let path = dir.join("nested/dirs/cache.bin");
    let runtime = sim_runtime();
    let first = RuntimeCache::open(&runtime, &path).unwrap();
    let clone = first.clone();
    let second = RuntimeCache::open(&runtime, &path).unwrap();
    add_kernel(&second, "k1");
    drop(first);
    drop(second);
    assert!(!path.exists(), "handles remain: nothing is saved yet");
    drop(clone);
    assert_eq!(kernels_on_disk(&path), ["k1"]);
}

#[test]
fn opening_one_file_twice_shares_one_cache() {
    let dir = TempDir::new("shared");
    let runtime = sim_runtime();
    let plain = RuntimeCache::open(&runtime, dir.join("cache.bin")).unwrap();
    // Another spelling of the same file, through a directory that open creates.
    let detour = RuntimeCache::open(&runtime, dir.join("sub/../cache.bin")).unwrap();
    assert!(Arc::ptr_eq(plain.backend(), detour.backend()));
    assert_eq!(plain.path(), detour.path());
    add_kernel(&plain, "seen-by-both");
    assert_eq!(kernels(&detour), ["seen-by-both"]);

    let other = RuntimeCache::open(&runtime, dir.join("other.bin")).unwrap();
    assert!(!Arc::ptr_eq(plain.backend(), other.backend()));

    // A runtime of another library cannot share it: its contexts could not use the backend.
    let rtx = spy_runtime(Flavor::Rtx, 10_100);
    let error = RuntimeCache::open(&rtx, dir.join("cache.bin")).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidConfig(message) if message.contains("already open")),
        "{error}"
    );

    // Once every handle is gone, the next open is a new cache loaded from the saved file.
    drop((plain, detour));
    let fresh = RuntimeCache::open(&runtime, dir.join("cache.bin")).unwrap();
    assert!(!Arc::ptr_eq(fresh.backend(), other.backend()));
    assert_eq!(kernels(&fresh), ["seen-by-both"]);
}

/// One way of spoiling a valid file, and what the warning must say.
struct BadFile {
    name: &'static str,
    bytes: Vec<u8>,
    reason: &'static str,
}

fn bad_files() -> Vec<BadFile> {
    let valid = cache_file(&["a", "b"]);
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = valid.clone();
        edit(&mut bytes);
        bytes
    };
    let set_u32 = |at: usize, value: u32| {
        with(&move |bytes: &mut Vec<u8>| bytes[at..at + 4].copy_from_slice(&value.to_le_bytes()))
    };
    vec![
        BadFile {
            name: "empty",
            bytes: Vec::new(),
            reason: "truncated: 0 bytes",
        },
        BadFile {
            name: "text",
            bytes: b"#trt-sim-runtime-cache v1\na\nb\n".to_vec(),
            reason: "wrong magic",
        },
        BadFile {
            name: "other binary",
            bytes: vec![0xff; 64],
            reason: "wrong magic",
        },
        BadFile {
            name: "magic only",
            bytes: MAGIC[..5].to_vec(),
            reason: "truncated: 5 bytes",
        },
        BadFile {
            name: "header cut short",
            bytes: valid[..20].to_vec(),
            reason: "truncated: 20 bytes",
        },
        BadFile {
            name: "payload cut short",
            bytes: valid[..valid.len() - 1].to_vec(),
            reason: "truncated: the header announces",
        },
        BadFile {
            name: "no payload",
            bytes: valid[..HEADER_LEN].to_vec(),
            reason: "truncated: the header announces",
        },
        BadFile {
            name: "trailing bytes",
            bytes: with(&|bytes| bytes.push(b'\n')),
            reason: "corrupt: the header announces",
        },
        BadFile {
            name: "flipped payload bit",
            bytes: with(&|bytes| bytes[HEADER_LEN + 3] ^= 0x04),
            reason: "checksum",
        },
        BadFile {
            name: "flipped checksum bit",
            bytes: with(&|bytes| bytes[30] ^= 0x80),
            reason: "checksum",
        },
        BadFile {
            name: "next format version",
            bytes: set_u32(8, 2),
            reason: "format version 2, this build reads version 1",
        },
        BadFile {
            name: "TensorRT-RTX file",
            bytes: set_u32(12, flavor_code(Flavor::Rtx)),
            reason: "written by TensorRT-RTX version 0, this runtime is host simulation version 0",
        },
        BadFile {
            name: "unknown flavor",
            bytes: set_u32(12, 99),
            reason: "unknown flavor 99",
        },
        BadFile {
            name: "other library version",
            bytes: set_u32(16, 10_100),
            reason: "written by host simulation version 10100",
        },
    ]
}

#[test]
fn bad_files_are_ignored_with_a_warning_and_never_reach_the_backend() {
    let dir = TempDir::new("bad");
    let runtime = sim_runtime();
    take_warnings();
    for (index, bad) in bad_files().into_iter().enumerate() {
        let path = dir.join(&format!("bad-{index}.bin"));
        std::fs::write(&path, &bad.bytes).unwrap();
        let cache = RuntimeCache::open(&runtime, &path)
            .unwrap_or_else(|error| panic!("{}: open must not fail: {error}", bad.name));
        assert!(kernels(&cache).is_empty(), "{}", bad.name);
        assert_eq!(
            deserialize_calls(&cache),
            0,
            "{}: reached the backend",
            bad.name
        );
        assert_eq!(
            cache.path().unwrap().file_name(),
            path.file_name(),
            "{}",
            bad.name
        );
        let warnings = take_warnings();
        assert!(
            warnings.len() == 1
                && warnings[0].contains(bad.reason)
                && warnings[0].contains("ignored"),
            "{}: expected one warning containing {:?}, got {warnings:?}",
            bad.name,
            bad.reason
        );

        // The cache works and its next save replaces the bad file.
        add_kernel(&cache, "fresh");
        cache.save().unwrap();
        assert_eq!(kernels_on_disk(&path), ["fresh"], "{}", bad.name);
        assert!(
            take_warnings().iter().any(|w| w.contains("replacing it")),
            "{}",
            bad.name
        );

        // The same content from a stream is ignored the same way.
        let streamed = RuntimeCache::from_reader(&runtime, bad.bytes.as_slice()).unwrap();
        assert!(kernels(&streamed).is_empty(), "{}", bad.name);
        assert_eq!(deserialize_calls(&streamed), 0, "{}", bad.name);
        assert!(
            take_warnings().iter().any(|w| w.contains(bad.reason)),
            "{}",
            bad.name
        );
    }
}

#[test]
fn a_file_of_another_library_version_is_ignored_end_to_end() {
    let dir = TempDir::new("versions");
    let path = dir.join("cache.bin");
    let rtx_10_1 = spy_runtime(Flavor::Rtx, 10_100);
    let cache = RuntimeCache::open(&rtx_10_1, &path).unwrap();
    add_kernel(&cache, "compiled-by-10.1");
    drop(cache);

    take_warnings();
    let rtx_10_2 = RuntimeCache::open(&spy_runtime(Flavor::Rtx, 10_200), &path).unwrap();
    assert!(kernels(&rtx_10_2).is_empty());
    assert_eq!(deserialize_calls(&rtx_10_2), 0);
    let warnings = take_warnings();
    assert!(
        warnings[0].contains(
            "written by TensorRT-RTX version 10100, this runtime is TensorRT-RTX version 10200"
        ),
        "{warnings:?}"
    );
    drop(rtx_10_2);

    // The 10.2 runtime saved its own (empty-of-kernels) cache over it; 10.1 now ignores that.
    let again = RuntimeCache::open(&rtx_10_1, &path).unwrap();
    assert!(kernels(&again).is_empty());
    assert!(take_warnings()[0].contains("version 10200"));
}

#[test]
fn a_payload_the_backend_refuses_leaves_the_cache_empty() {
    let dir = TempDir::new("refused");
    let path = dir.join("cache.bin");
    // Header and checksum are right, but the payload is not a simulated cache.
    std::fs::write(&path, encode(SIM, b"not kernels")).unwrap();
    take_warnings();
    let cache = RuntimeCache::open(&sim_runtime(), &path).unwrap();
    assert!(kernels(&cache).is_empty());
    assert_eq!(deserialize_calls(&cache), 1);
    let warnings = take_warnings();
    assert!(
        warnings[0].contains("the backend refused it"),
        "{warnings:?}"
    );
}

#[test]
fn an_unreadable_file_does_not_stop_the_session() {
    let dir = TempDir::new("unreadable");
    let path = dir.join("cache.bin");
    std::fs::create_dir(&path).unwrap(); // a directory where the file should be
    take_warnings();
    let cache = RuntimeCache::open(&sim_runtime(), &path).unwrap();
    assert!(kernels(&cache).is_empty());
    assert!(take_warnings()[0].contains("cannot read runtime cache"));
    assert!(matches!(cache.save(), Err(Error::Io(_))));
    drop(cache); // the failed final save is a warning, not a panic
    assert!(take_warnings()[0].contains("not saved on drop"));
}

#[test]
fn paths_without_a_file_name_are_refused() {
    let runtime = sim_runtime();
    for path in ["/", "..", ""] {
        assert!(
            matches!(
                RuntimeCache::open(&runtime, path),
                Err(Error::InvalidConfig(_) | Error::Io(_))
            ),
            "{path:?}"
        );
    }
}

#[test]
fn streams_are_read_once_and_written_once() {
    let runtime = sim_runtime();
    let cache = RuntimeCache::in_memory(&runtime).unwrap();
    add_kernel(&cache, "streamed");
    let mut bytes = Vec::new();
    cache.save_to(&mut bytes).unwrap();
    assert_eq!(bytes, cache_file(&["streamed"]));

    let restored = RuntimeCache::from_reader(&runtime, bytes.as_slice()).unwrap();
    assert_eq!(kernels(&restored), ["streamed"]);
    assert_eq!(restored.path(), None);
    assert!(matches!(restored.save(), Err(Error::InvalidConfig(_))));

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    assert!(matches!(
        RuntimeCache::from_reader(&runtime, Failing),
        Err(Error::Io(_))
    ));
}

#[test]
fn autosave_writes_on_drop_and_keeps_kernels_saved_by_others() {
    let dir = TempDir::new("autosave");
    let path = dir.join("new-dir/cache.bin");
    let runtime = sim_runtime();
    let opened = RuntimeCache::open(&runtime, &path).unwrap();
    add_kernel(&opened, "from-open");
    opened.save().unwrap();

    let owned = RuntimeCache::in_memory(&runtime)
        .unwrap()
        .with_autosave(&path);
    assert!(!Arc::ptr_eq(owned.backend(), opened.backend()));
    assert_eq!(owned.path(), opened.path());
    add_kernel(&owned, "from-owned");
    drop(owned);
    assert_eq!(kernels_on_disk(&path), ["from-open", "from-owned"]);

    // An opened cache keeps its file.
    take_warnings();
    let opened = opened.with_autosave(dir.join("elsewhere.bin"));
    assert_eq!(opened.path().unwrap().file_name().unwrap(), "cache.bin");
    assert!(take_warnings()[0].contains("already saved to"));
}

#[test]
fn a_save_merges_kernels_saved_meanwhile() {
    let dir = TempDir::new("merge");
    let path = dir.join("cache.bin");
    let runtime = sim_runtime();
    // Two independent caches on one file, as two processes would have.
    let first = RuntimeCache::in_memory(&runtime)
        .unwrap()
        .with_autosave(&path);
    let second = RuntimeCache::in_memory(&runtime)
        .unwrap()
        .with_autosave(&path);
    add_kernel(&first, "a");
    first.save().unwrap();
    add_kernel(&second, "b");
    second.save().unwrap();
    assert_eq!(kernels_on_disk(&path), ["a", "b"]);
    assert_eq!(kernels(&second), ["a", "b"]);
    add_kernel(&first, "c");
    first.save().unwrap();
    assert_eq!(kernels_on_disk(&path), ["a", "b", "c"]);
}

#[test]
fn saving_an_unchanged_cache_leaves_the_file_alone() {
    let dir = TempDir::new("unchanged");
    let path = dir.join("cache.bin");
    let cache = RuntimeCache::open(&sim_runtime(), &path).unwrap();
    add_kernel(&cache, "k");
    cache.save().unwrap();
    let before = std::fs::read(&path).unwrap();
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&path).unwrap().ino()
    };
    cache.save().unwrap();
    cache.save().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().ino(),
            inode,
            "the file was rewritten"
        );
    }
}

#[test]
fn threads_opening_and_dropping_one_file_lose_no_kernels() {
    let dir = TempDir::new("threads");
    let path = dir.join("cache.bin");
    let runtime = sim_runtime();
    const THREADS: usize = 8;
    const ROUNDS: usize = 10;
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (runtime, path) = (&runtime, &path);
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    // Each drop may be the last handle's, saving while others reopen.
                    let cache = RuntimeCache::open(runtime, path).unwrap();
                    add_kernel(&cache, &format!("t{thread}-r{round}"));
                }
            });
        }
    });
    let on_disk = kernels_on_disk(&path);
    assert_eq!(on_disk.len(), THREADS * ROUNDS, "{on_disk:?}");
}

#[test]
fn default_path_is_per_user_under_the_temp_dir() {
    let path = RuntimeCache::default_path();
    let directory = path.parent().unwrap();
    assert_eq!(directory.parent().unwrap(), std::env::temp_dir());
    let user = directory.file_name().unwrap().to_str().unwrap();
    assert!(user.starts_with("trt_") && user.len() > 4, "{user}");
    assert_eq!(path.file_name().unwrap(), "runtime_cache.bin");

    assert_eq!(sanitize_user("alice"), "alice");
    assert_eq!(sanitize_user("../../etc"), ".._.._etc");
    assert_eq!(sanitize_user("DOMAIN\\bob smith"), "DOMAIN_bob_smith");
    assert_eq!(sanitize_user("jörg"), "j_rg");
}
