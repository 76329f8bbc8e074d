//! `ICudaEngine`: I/O description, profiles, memory needs, weight streaming, contexts.

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Arc;

use parking_lot::Mutex;

use super::abi::{vcall, ApiObject, Dims64};
use super::context::ExecutionContext;
use super::host_memory::HostMemory;
use super::loader::TensorRtLibrary;
use super::runtime::RuntimeInner;
use super::runtime_config::RuntimeConfig;
use super::slots::Method;
use crate::backend::AllocationStrategy;
use crate::error::{Error, Result};
use crate::types::{DataType, ProfileShapes, Shape, TensorIoMode};

/// `nvinfer1::OptProfileSelector`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ProfileSelector {
    /// `kMIN`.
    Min = 0,
    /// `kOPT`.
    Opt = 1,
    /// `kMAX`.
    Max = 2,
}

/// `EngineStat::kTOTAL_WEIGHTS_SIZE`.
const ENGINE_STAT_TOTAL_WEIGHTS_SIZE: i32 = 0;

/// The engine object and what keeps it valid. Contexts and runtime configs hold an `Arc` of
/// it, so the engine is deleted after all of them and before its runtime.
pub(crate) struct EngineInner {
    pub(crate) object: ApiObject,
    /// Keeps the runtime alive until the engine is deleted (dropped after `Drop::drop`).
    pub(crate) runtime: Arc<RuntimeInner>,
    /// Serialises the calls that change the engine (budget, context creation).
    pub(crate) mutation: Mutex<()>,
}

// SAFETY: TensorRT documents `ICudaEngine`'s const methods as thread-safe; the ones that change
// the engine are serialised by `mutation`.
unsafe impl Send for EngineInner {}
// SAFETY: as above.
unsafe impl Sync for EngineInner {}

impl Drop for EngineInner {
    fn drop(&mut self) {
        // SAFETY: last owner: every context and runtime config (which hold an
        // `Arc<EngineInner>`) is already deleted.
        unsafe { self.object.delete() };
    }
}

impl EngineInner {
    pub(crate) fn library(&self) -> &Arc<TensorRtLibrary> {
        &self.runtime.library
    }
}

/// A deserialized engine (`ICudaEngine`). Cheap to clone (shared ownership).
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("object", &self.inner.object)
            .finish()
    }
}

impl Engine {
    pub(crate) fn from_object(object: ApiObject, runtime: Arc<RuntimeInner>) -> Engine {
        Engine {
            inner: Arc::new(EngineInner {
                object,
                runtime,
                mutation: Mutex::new(()),
            }),
        }
    }

    /// The library this engine belongs to.
    pub fn library(&self) -> &Arc<TensorRtLibrary> {
        self.inner.library()
    }

    fn slot(&self, method: Method) -> Result<u16> {
        self.inner.library().slot(method)
    }

    /// `getName` (empty when TensorRT returns null).
    pub fn name(&self) -> Result<String> {
        let slot = self.slot(Method::EngineGetName)?;
        // SAFETY: live engine; slot is `char const* getName() const noexcept`.
        let raw = unsafe { vcall!(self.inner.object, slot, fn() -> *const c_char) };
        Ok(copy_c_string(raw).unwrap_or_default())
    }

    /// `getNbIOTensors`.
    pub fn num_io_tensors(&self) -> Result<usize> {
        let slot = self.slot(Method::EngineGetNbIoTensors)?;
        // SAFETY: live engine; slot is `int32_t getNbIOTensors() const noexcept`.
        let count = unsafe { vcall!(self.inner.object, slot, fn() -> i32) };
        usize::try_from(count).map_err(|_| Error::TensorRt {
            call: Method::EngineGetNbIoTensors.call_name(),
            message: format!("returned {count}"),
        })
    }

    /// `getIOTensorName(index)`, copied.
    pub fn io_tensor_name(&self, index: usize) -> Result<CString> {
        let method = Method::EngineGetIoTensorName;
        let slot = self.slot(method)?;
        let index_i32 = i32::try_from(index).map_err(|_| out_of_range(method, index))?;
        // SAFETY: live engine; slot is `char const* getIOTensorName(int32_t) const noexcept`;
        // the returned string is owned by the engine and copied at once.
        let raw = unsafe { vcall!(self.inner.object, slot, fn(i32) -> *const c_char, index_i32) };
        if raw.is_null() {
            return Err(out_of_range(method, index));
        }
        // SAFETY: non-null NUL-terminated string owned by the live engine.
        Ok(unsafe { CStr::from_ptr(raw) }.to_owned())
    }

    /// `getTensorShape(name)`: `-1` marks dynamic dimensions.
    pub fn tensor_shape(&self, name: &CStr) -> Result<Shape> {
        let method = Method::EngineGetTensorShape;
        let slot = self.slot(method)?;
        // SAFETY: live engine; slot is `Dims getTensorShape(char const*) const noexcept`, a
        // 72-byte return through the hidden pointer, which `extern "C"` also uses.
        let dims = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*const c_char) -> Dims64,
                name.as_ptr()
            )
        };
        dims.to_shape(method.call_name())
    }

    /// `getTensorDataType(name)`, checked against the known data types.
    pub fn tensor_data_type(&self, name: &CStr) -> Result<DataType> {
        let slot = self.slot(Method::EngineGetTensorDataType)?;
        // SAFETY: live engine; slot is `DataType getTensorDataType(char const*) const noexcept`
        // (an `int32_t` enum).
        let raw = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*const c_char) -> i32,
                name.as_ptr()
            )
        };
        DataType::try_from(raw)
    }

    /// `getTensorIOMode(name)`.
    pub fn tensor_io_mode(&self, name: &CStr) -> Result<TensorIoMode> {
        let slot = self.slot(Method::EngineGetTensorIoMode)?;
        // SAFETY: live engine; slot is `TensorIOMode getTensorIOMode(char const*) const
        // noexcept` (an `int32_t` enum).
        let raw = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*const c_char) -> i32,
                name.as_ptr()
            )
        };
        TensorIoMode::try_from(raw)
    }

    /// `getTensorFormat(name)`: the raw `TensorFormat` value (0 is `kLINEAR`, the only layout
    /// the session layer supports).
    pub fn tensor_format(&self, name: &CStr) -> Result<i32> {
        let slot = self.slot(Method::EngineGetTensorFormat)?;
        // SAFETY: live engine; slot is `TensorFormat getTensorFormat(char const*) const
        // noexcept` (an `int32_t` enum).
        Ok(unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*const c_char) -> i32,
                name.as_ptr()
            )
        })
    }

    /// `getNbOptimizationProfiles`.
    pub fn num_optimization_profiles(&self) -> Result<usize> {
        let method = Method::EngineGetNbOptimizationProfiles;
        let slot = self.slot(method)?;
        // SAFETY: live engine; slot is `int32_t getNbOptimizationProfiles() const noexcept`.
        let count = unsafe { vcall!(self.inner.object, slot, fn() -> i32) };
        usize::try_from(count).map_err(|_| Error::TensorRt {
            call: method.call_name(),
            message: format!("returned {count}"),
        })
    }

    /// `getProfileShape(name, profile, selector)`.
    pub fn profile_shape(
        &self,
        name: &CStr,
        profile: usize,
        selector: ProfileSelector,
    ) -> Result<Shape> {
        let method = Method::EngineGetProfileShape;
        let slot = self.slot(method)?;
        let profile = i32::try_from(profile).map_err(|_| out_of_range(method, profile))?;
        // SAFETY: live engine; slot is `Dims getProfileShape(char const*, int32_t,
        // OptProfileSelector) const noexcept` (hidden return pointer as above).
        let dims = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*const c_char, i32, i32) -> Dims64,
                name.as_ptr(),
                profile,
                selector as i32
            )
        };
        dims.to_shape(method.call_name())
    }

    /// Min, opt and max shapes of an input in one profile.
    pub fn profile_shapes(&self, name: &CStr, profile: usize) -> Result<ProfileShapes> {
        Ok(ProfileShapes {
            min: self.profile_shape(name, profile, ProfileSelector::Min)?,
            opt: self.profile_shape(name, profile, ProfileSelector::Opt)?,
            max: self.profile_shape(name, profile, ProfileSelector::Max)?,
        })
    }

    /// `getDeviceMemorySizeV2`: activation bytes a context needs for the largest profile.
    pub fn device_memory_size(&self) -> Result<usize> {
        self.size_query(Method::EngineGetDeviceMemorySizeV2)
    }

    /// `getDeviceMemorySizeForProfileV2(profile)`.
    pub fn device_memory_size_for_profile(&self, profile: usize) -> Result<usize> {
        let method = Method::EngineGetDeviceMemorySizeForProfileV2;
        let slot = self.slot(method)?;
        let profile_i32 = i32::try_from(profile).map_err(|_| out_of_range(method, profile))?;
        let mark = self.library().logger().mark();
        // SAFETY: live engine; slot is `int64_t getDeviceMemorySizeForProfileV2(int32_t) const
        // noexcept`.
        let bytes = unsafe { vcall!(self.inner.object, slot, fn(i32) -> i64, profile_i32) };
        self.non_negative(mark, method, bytes)
    }

    /// `getStreamableWeightsSize`: 0 unless built with weight streaming.
    pub fn streamable_weights_size(&self) -> Result<usize> {
        self.size_query(Method::EngineGetStreamableWeightsSize)
    }

    /// `getWeightStreamingBudgetV2`.
    pub fn weight_streaming_budget(&self) -> Result<usize> {
        self.size_query(Method::EngineGetWeightStreamingBudgetV2)
    }

    /// `getWeightStreamingAutomaticBudget`.
    pub fn weight_streaming_automatic_budget(&self) -> Result<usize> {
        self.size_query(Method::EngineGetWeightStreamingAutomaticBudget)
    }

    /// `getWeightStreamingScratchMemorySize`.
    pub fn weight_streaming_scratch_memory_size(&self) -> Result<usize> {
        self.size_query(Method::EngineGetWeightStreamingScratchMemorySize)
    }

    /// `getEngineStat(kTOTAL_WEIGHTS_SIZE)`; `None` on versions without `getEngineStat`.
    pub fn total_weights_size(&self) -> Result<Option<usize>> {
        let method = Method::EngineGetEngineStat;
        let Some(slot) = self.inner.library().slots().slot(method) else {
            return Ok(None);
        };
        let mark = self.library().logger().mark();
        // SAFETY: live engine; slot is `int64_t getEngineStat(EngineStat) const noexcept`.
        let bytes = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(i32) -> i64,
                ENGINE_STAT_TOTAL_WEIGHTS_SIZE
            )
        };
        self.non_negative(mark, method, bytes).map(Some)
    }

    /// `setWeightStreamingBudgetV2(bytes)`: 0 streams every streamable weight; at least the
    /// streamable size disables streaming. TensorRT refuses it while contexts exist.
    pub fn set_weight_streaming_budget(&self, bytes: usize) -> Result<()> {
        let library = self.inner.library();
        let method = Method::EngineSetWeightStreamingBudgetV2;
        let slot = library.slot(method)?;
        let budget = i64::try_from(bytes).map_err(|_| out_of_range(method, bytes))?;
        let _mutation = self.inner.mutation.lock();
        let mark = library.logger().mark();
        // SAFETY: live engine, mutation serialised; slot is `bool setWeightStreamingBudgetV2(
        // int64_t) noexcept`.
        let accepted = unsafe { vcall!(self.inner.object, slot, fn(i64) -> u8, budget) };
        if accepted != 0 {
            Ok(())
        } else {
            Err(library.call_failed(mark, method, || {
                format!("refused a budget of {bytes} bytes")
            }))
        }
    }

    /// `createExecutionContext(strategy)`.
    pub fn create_execution_context(
        &self,
        strategy: AllocationStrategy,
    ) -> Result<ExecutionContext> {
        let library = self.inner.library();
        let method = Method::EngineCreateExecutionContext;
        let slot = library.slot(method)?;
        let _mutation = self.inner.mutation.lock();
        let mark = library.logger().mark();
        // SAFETY: live engine; slot is `IExecutionContext* createExecutionContext(
        // ExecutionContextAllocationStrategy) noexcept` (an `int32_t` enum).
        let raw = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(i32) -> *mut c_void,
                strategy as i32
            )
        };
        let object = ApiObject::from_returned(raw)
            .ok_or_else(|| library.call_failed(mark, method, || "returned null".into()))?;
        Ok(ExecutionContext::from_object(
            object,
            self.inner.clone(),
            None,
        ))
    }

    /// `createExecutionContext(IRuntimeConfig*)` (the `...WithRuntimeConfig` slot). The
    /// context keeps the config (and through it any runtime cache) alive.
    pub fn create_execution_context_with_config(
        &self,
        config: &Arc<RuntimeConfig>,
    ) -> Result<ExecutionContext> {
        let library = self.inner.library();
        let method = Method::EngineCreateExecutionContextWithRuntimeConfig;
        let slot = library.slot(method)?;
        let _mutation = self.inner.mutation.lock();
        let mark = library.logger().mark();
        let _config_calls = config.calls.lock();
        // SAFETY: live engine and live config wrapper (TensorRT takes `IRuntimeConfig*`, the
        // wrapper's address); slot is `IExecutionContext* createExecutionContextWithRuntimeConfig(
        // IRuntimeConfig*) noexcept`.
        let raw = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*mut c_void) -> *mut c_void,
                config.object.as_ptr()
            )
        };
        let object = ApiObject::from_returned(raw)
            .ok_or_else(|| library.call_failed(mark, method, || "returned null".into()))?;
        Ok(ExecutionContext::from_object(
            object,
            self.inner.clone(),
            Some(config.clone()),
        ))
    }

    /// `createRuntimeConfig` (TensorRT >= 10.11 and TensorRT-RTX).
    pub fn create_runtime_config(&self) -> Result<RuntimeConfig> {
        let library = self.inner.library();
        let method = Method::EngineCreateRuntimeConfig;
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live engine; slot is `IRuntimeConfig* createRuntimeConfig() noexcept`.
        let raw = unsafe { vcall!(self.inner.object, slot, fn() -> *mut c_void) };
        let object = ApiObject::from_returned(raw)
            .ok_or_else(|| library.call_failed(mark, method, || "returned null".into()))?;
        Ok(RuntimeConfig::from_object(object, self.inner.clone()))
    }

    /// `serialize`: the plan bytes, copied out of the `IHostMemory`, which is then deleted.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let library = self.inner.library();
        let method = Method::EngineSerialize;
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live engine; slot is `IHostMemory* serialize() const noexcept`; the result is
        // owned by the caller.
        let raw = unsafe { vcall!(self.inner.object, slot, fn() -> *mut c_void) };
        let object = ApiObject::from_returned(raw)
            .ok_or_else(|| library.call_failed(mark, method, || "returned null".into()))?;
        HostMemory::from_object(object, library.clone()).into_vec()
    }

    fn size_query(&self, method: Method) -> Result<usize> {
        let slot = self.slot(method)?;
        let mark = self.library().logger().mark();
        // SAFETY: live engine; every method passed here is `int64_t name() const noexcept`.
        let bytes = unsafe { vcall!(self.inner.object, slot, fn() -> i64) };
        self.non_negative(mark, method, bytes)
    }

    /// TensorRT signals failed size queries with negative values; the error quotes its log.
    fn non_negative(
        &self,
        mark: super::logger::LogMark,
        method: Method,
        value: i64,
    ) -> Result<usize> {
        usize::try_from(value).map_err(|_| {
            self.library()
                .call_failed(mark, method, || format!("returned {value}"))
        })
    }
}

/// Copies a NUL-terminated string TensorRT returned (`None` for null).
pub(crate) fn copy_c_string(raw: *const c_char) -> Option<String> {
    if raw.is_null() {
        return None;
    }
    // SAFETY: TensorRT returns NUL-terminated strings owned by a live object; copied at once.
    Some(
        unsafe { CStr::from_ptr(raw) }
            .to_string_lossy()
            .into_owned(),
    )
}

fn out_of_range(method: Method, value: usize) -> Error {
    Error::TensorRt {
        call: method.call_name(),
        message: format!("argument {value} is out of range"),
    }
}
