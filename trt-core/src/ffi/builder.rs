//! `IBuilder`: the minimal builder subset that turns a small network into a serialized plan.
//!
//! Bound: `createInferBuilder_INTERNAL`, `IBuilder::{createNetworkV2, createBuilderConfig,
//! createOptimizationProfile, buildSerializedNetwork}`, `INetworkDefinition::{addInput,
//! addActivation, markOutput, getNbLayers, getNbInputs, getNbOutputs}`, `ILayer::getOutput`,
//! `ITensor::{setName, getName, getDimensions}`, `IBuilderConfig::addOptimizationProfile` and
//! `IOptimizationProfile::{setDimensions, getDimensions}`. Enough to build test plans (for
//! example on the CPU-only CI machine, where TensorRT-RTX builds plans without a GPU), not a
//! network-definition API.
//!
//! Ownership follows TensorRT's: the caller deletes the builder, its networks and its configs
//! (each through the wrapper's deleting destructor); tensors and layers belong to their network,
//! optimization profiles to their builder. [`NetworkDefinition`] and [`BuilderConfig`] hold the
//! builder, so the builder is deleted last; [`Tensor`] and [`Layer`] borrow their network and
//! [`OptimizationProfile`] its builder, so none of them outlives its owner. Objects from another
//! network or builder are refused with a typed error rather than handed to TensorRT.
//!
//! The builder objects are not thread-safe in TensorRT and are `!Send`/`!Sync` here.
//!
//! ABI notes (x86-64 Itanium): `addInput` and `setDimensions` take `Dims const&` in every
//! header family (RTX 1.3-1.7, TensorRT 10.0-11.4), that is a pointer to a 72-byte `Dims64`,
//! not a by-value copy; the slot oracle checks that exact signature. `getDimensions` returns
//! `Dims64` by value through the hidden return pointer, as elsewhere in this module.
//! `IActivationLayer` derives from `ILayer` by single inheritance, so the returned pointer is
//! also the `ILayer*`.

use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::abi::{vcall, ApiObject, Dims64};
use super::engine::ProfileSelector;
use super::host_memory::HostMemory;
use super::loader::TensorRtLibrary;
use super::logger::LogMark;
use super::slots::Method;
use crate::error::{Error, Result};
use crate::types::{DataType, Shape};

/// The C entry point's name, as [`Error::MissingSymbol`] reports it.
pub const CREATE_BUILDER_SYMBOL: &str = "createInferBuilder_INTERNAL";

/// `void* createInferBuilder_INTERNAL(void* logger, int32_t version) noexcept`.
type CreateBuilderFn = unsafe extern "C" fn(*mut c_void, i32) -> *mut c_void;

/// `nvinfer1::ActivationType` (the values used here; the wire type is `int32_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ActivationType {
    /// `kRELU`.
    Relu = 0,
    /// `kSIGMOID`.
    Sigmoid = 1,
    /// `kTANH`.
    Tanh = 2,
}

/// The builder object and what keeps it valid; networks and configs hold an `Rc` of it.
struct BuilderInner {
    object: ApiObject,
    library: Arc<TensorRtLibrary>,
}

impl Drop for BuilderInner {
    fn drop(&mut self) {
        // SAFETY: last owner of the builder: every network and config (which hold an
        // `Rc<BuilderInner>`) is already deleted, and the optimization profiles it owns are
        // only borrowed from a `Builder` handle, which is gone too.
        unsafe { self.object.delete() };
    }
}

impl BuilderInner {
    fn slot(&self, method: Method) -> Result<u16> {
        self.library.slot(method)
    }
}

/// A TensorRT builder (`IBuilder`).
pub struct Builder {
    inner: Rc<BuilderInner>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("library", &self.inner.library)
            .finish_non_exhaustive()
    }
}

/// A C string for TensorRT, or a typed error naming what it was for.
fn c_string(text: &str, what: &str) -> Result<CString> {
    CString::new(text)
        .map_err(|_| Error::InvalidConfig(format!("{what} {text:?} contains a NUL byte")))
}

impl Builder {
    /// `createInferBuilder(logger)` with the library's Rust logger.
    ///
    /// A library without the builder entry point (the lean and dispatch runtimes) is
    /// [`Error::MissingSymbol`]; a null result is [`Error::TensorRt`] quoting the logger.
    pub fn new(library: &Arc<TensorRtLibrary>) -> Result<Builder> {
        // SAFETY: the symbol is declared `void* createInferBuilder_INTERNAL(void* logger,
        // int32_t version) noexcept` in every header family; the library is never unloaded,
        // so the copied function pointer stays valid.
        let create: CreateBuilderFn = unsafe {
            library
                .raw_library()
                .get::<CreateBuilderFn>(b"createInferBuilder_INTERNAL\0")
        }
        .map(|symbol| *symbol)
        .map_err(|_| Error::MissingSymbol {
            library: library.path().to_owned(),
            symbol: CREATE_BUILDER_SYMBOL,
        })?;
        let logger = library.logger();
        let mark = logger.mark();
        // SAFETY: resolved with this signature above; the logger is leaked (lives forever) and
        // has the vtable layout of this library's version. The version argument is what the
        // headers pass (`NV_TENSORRT_VERSION`, the library's own version).
        let raw = unsafe { create(logger.as_ptr(), library.version() as i32) };
        let object = ApiObject::from_returned(raw).ok_or_else(|| Error::TensorRt {
            call: "createInferBuilder",
            message: logger.failure_message(mark, || {
                format!("returned the invalid pointer {raw:p} and logged no error")
            }),
        })?;
        Ok(Builder {
            inner: Rc::new(BuilderInner {
                object,
                library: library.clone(),
            }),
        })
    }

    /// The library this builder belongs to.
    pub fn library(&self) -> &Arc<TensorRtLibrary> {
        &self.inner.library
    }

    /// Calls `T* method() noexcept` on the builder; null is a typed error quoting the logger.
    fn create_object(&self, method: Method) -> Result<ApiObject> {
        let library = &self.inner.library;
        let slot = self.inner.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live builder; `slot` is this library's slot of `method`, one of
        // `IBuilderConfig* createBuilderConfig() noexcept` and `IOptimizationProfile*
        // createOptimizationProfile() noexcept`.
        let raw = unsafe { vcall!(self.inner.object, slot, fn() -> *mut c_void) };
        self.created(raw, mark, method)
    }

    fn created(&self, raw: *mut c_void, mark: LogMark, method: Method) -> Result<ApiObject> {
        ApiObject::from_returned(raw).ok_or_else(|| {
            self.inner.library.call_failed(mark, method, || {
                format!("returned {raw:p} and logged no error")
            })
        })
    }

    /// `createNetworkV2(0)`: an empty network (explicit batch, the only mode of these versions).
    pub fn create_network(&self) -> Result<NetworkDefinition> {
        let method = Method::BuilderCreateNetworkV2;
        let slot = self.inner.slot(method)?;
        let mark = self.inner.library.logger().mark();
        // SAFETY: live builder; slot is `INetworkDefinition*
        // createNetworkV2(NetworkDefinitionCreationFlags) noexcept`, the flags a `uint32_t`.
        let raw = unsafe { vcall!(self.inner.object, slot, fn(u32) -> *mut c_void, 0u32) };
        let object = self.created(raw, mark, method)?;
        Ok(NetworkDefinition {
            object,
            builder: self.inner.clone(),
        })
    }

    /// `createBuilderConfig()`.
    pub fn create_config(&self) -> Result<BuilderConfig> {
        let object = self.create_object(Method::BuilderCreateBuilderConfig)?;
        Ok(BuilderConfig {
            object,
            builder: self.inner.clone(),
            profiles: Cell::new(0),
        })
    }

    /// `createOptimizationProfile()`: owned by the builder, borrowed here.
    pub fn create_optimization_profile(&self) -> Result<OptimizationProfile<'_>> {
        let object = self.create_object(Method::BuilderCreateOptimizationProfile)?;
        Ok(OptimizationProfile {
            object,
            builder: self,
        })
    }

    /// `buildSerializedNetwork(network, config)`: the plan bytes, copied out of the returned
    /// `IHostMemory`, which is then deleted. Failures quote TensorRT's logged errors.
    pub fn build_serialized_network(
        &self,
        network: &NetworkDefinition,
        config: &BuilderConfig,
    ) -> Result<Vec<u8>> {
        if !Rc::ptr_eq(&network.builder, &self.inner) || !Rc::ptr_eq(&config.builder, &self.inner) {
            return Err(Error::InvalidConfig(
                "buildSerializedNetwork needs a network and a config created by this builder"
                    .into(),
            ));
        }
        let method = Method::BuilderBuildSerializedNetwork;
        let library = &self.inner.library;
        let slot = self.inner.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live builder, network and config of this builder; slot is
        // `IHostMemory* buildSerializedNetwork(INetworkDefinition&, IBuilderConfig&) noexcept`,
        // references being pointers to the wrapper objects.
        let raw = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*mut c_void, *mut c_void) -> *mut c_void,
                network.object.as_ptr(),
                config.object.as_ptr()
            )
        };
        let object = self.created(raw, mark, method)?;
        let plan = HostMemory::from_object(object, library.clone()).into_vec()?;
        if plan.is_empty() {
            return Err(library.call_failed(mark, method, || {
                "returned an empty plan and logged no error".into()
            }));
        }
        Ok(plan)
    }
}

/// A network definition (`INetworkDefinition`), deleted before its builder.
pub struct NetworkDefinition {
    object: ApiObject,
    builder: Rc<BuilderInner>,
}

impl Drop for NetworkDefinition {
    fn drop(&mut self) {
        // SAFETY: this wrapper owns the network; tensors and layers borrow it, so none is
        // alive; the builder (held by `self.builder`) is still alive.
        unsafe { self.object.delete() };
    }
}

impl std::fmt::Debug for NetworkDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkDefinition")
            .field("object", &self.object)
            .finish_non_exhaustive()
    }
}

impl NetworkDefinition {
    fn library(&self) -> &Arc<TensorRtLibrary> {
        &self.builder.library
    }

    fn own_tensor(&self, tensor: Tensor<'_>, call: &str) -> Result<()> {
        if tensor.network == self.object {
            Ok(())
        } else {
            Err(Error::InvalidConfig(format!(
                "{call}: the tensor belongs to another network"
            )))
        }
    }

    /// `addInput(name, type, dims)`; `-1` dimensions are dynamic (they need an optimization
    /// profile).
    pub fn add_input(&self, name: &str, data_type: DataType, shape: Shape) -> Result<Tensor<'_>> {
        let method = Method::NetworkAddInput;
        let name_c = c_string(name, "input name")?;
        let dims = Dims64::from_shape(&shape);
        let library = self.library();
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live network; slot is `ITensor* addInput(char const*, DataType, Dims const&)
        // noexcept` (`DataType` is an `int32_t` enum, `Dims const&` a pointer to a `Dims64`);
        // the name and dims outlive the call (TensorRT copies them).
        let raw = unsafe {
            vcall!(
                self.object,
                slot,
                fn(*const c_char, i32, *const Dims64) -> *mut c_void,
                name_c.as_ptr(),
                data_type as i32,
                &dims
            )
        };
        self.tensor_from(raw, mark, method, || {
            format!("refused input `{name}` {shape}")
        })
    }

    fn tensor_from(
        &self,
        raw: *mut c_void,
        mark: LogMark,
        method: Method,
        fallback: impl FnOnce() -> String,
    ) -> Result<Tensor<'_>> {
        match ApiObject::from_returned(raw) {
            Some(object) => Ok(Tensor {
                object,
                network: self.object,
                library: self.library(),
                _network: PhantomData,
            }),
            None => Err(self.library().call_failed(mark, method, fallback)),
        }
    }

    /// `addActivation(input, type)`.
    pub fn add_activation(
        &self,
        input: Tensor<'_>,
        activation: ActivationType,
    ) -> Result<Layer<'_>> {
        let method = Method::NetworkAddActivation;
        self.own_tensor(input, method.call_name())?;
        let library = self.library();
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live network and a tensor of it; slot is `IActivationLayer*
        // addActivation(ITensor&, ActivationType) noexcept` (the reference is the wrapper's
        // address, the enum an `int32_t`).
        let raw = unsafe {
            vcall!(
                self.object,
                slot,
                fn(*mut c_void, i32) -> *mut c_void,
                input.object.as_ptr(),
                activation as i32
            )
        };
        match ApiObject::from_returned(raw) {
            Some(object) => Ok(Layer {
                object,
                network: self,
            }),
            None => Err(library.call_failed(mark, method, || {
                format!("refused a {activation:?} activation")
            })),
        }
    }

    /// `markOutput(tensor)`; an error TensorRT logs during the call is returned.
    pub fn mark_output(&self, tensor: Tensor<'_>) -> Result<()> {
        let method = Method::NetworkMarkOutput;
        self.own_tensor(tensor, method.call_name())?;
        let library = self.library();
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live network and a tensor of it; slot is `void markOutput(ITensor&) noexcept`.
        unsafe {
            vcall!(
                self.object,
                slot,
                fn(*mut c_void) -> (),
                tensor.object.as_ptr()
            )
        };
        library.check_logged(mark, method)
    }

    fn count(&self, method: Method) -> Result<usize> {
        let slot = self.library().slot(method)?;
        // SAFETY: live network; slot is `int32_t f() const noexcept` (getNbLayers,
        // getNbInputs, getNbOutputs).
        let count = unsafe { vcall!(self.object, slot, fn() -> i32) };
        usize::try_from(count).map_err(|_| Error::TensorRt {
            call: method.call_name(),
            message: format!("returned {count}"),
        })
    }

    /// `getNbLayers()`.
    pub fn num_layers(&self) -> Result<usize> {
        self.count(Method::NetworkGetNbLayers)
    }

    /// `getNbInputs()`.
    pub fn num_inputs(&self) -> Result<usize> {
        self.count(Method::NetworkGetNbInputs)
    }

    /// `getNbOutputs()`.
    pub fn num_outputs(&self) -> Result<usize> {
        self.count(Method::NetworkGetNbOutputs)
    }
}

/// A tensor of a network (`ITensor`), owned by the network and borrowed here.
#[derive(Clone, Copy)]
pub struct Tensor<'n> {
    object: ApiObject,
    /// The owning network's object, to refuse tensors of another network.
    network: ApiObject,
    library: &'n Arc<TensorRtLibrary>,
    _network: PhantomData<&'n NetworkDefinition>,
}

impl std::fmt::Debug for Tensor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("object", &self.object)
            .finish_non_exhaustive()
    }
}

impl Tensor<'_> {
    /// `setName(name)`.
    pub fn set_name(&self, name: &str) -> Result<()> {
        let method = Method::TensorSetName;
        let name_c = c_string(name, "tensor name")?;
        let slot = self.library.slot(method)?;
        let mark = self.library.logger().mark();
        // SAFETY: live tensor (its network is borrowed); slot is `void setName(char const*)
        // noexcept`; TensorRT copies the name.
        unsafe { vcall!(self.object, slot, fn(*const c_char) -> (), name_c.as_ptr()) };
        self.library.check_logged(mark, method)
    }

    /// `getName()`, copied.
    pub fn name(&self) -> Result<String> {
        let slot = self.library.slot(Method::TensorGetName)?;
        // SAFETY: live tensor; slot is `char const* getName() const noexcept`.
        let raw = unsafe { vcall!(self.object, slot, fn() -> *const c_char) };
        if raw.is_null() {
            return Err(Error::TensorRt {
                call: Method::TensorGetName.call_name(),
                message: "returned null".into(),
            });
        }
        // SAFETY: a NUL-terminated string owned by the tensor, copied at once.
        Ok(unsafe { CStr::from_ptr(raw) }
            .to_string_lossy()
            .into_owned())
    }

    /// `getDimensions()`.
    pub fn dimensions(&self) -> Result<Shape> {
        let method = Method::TensorGetDimensions;
        let slot = self.library.slot(method)?;
        // SAFETY: live tensor; slot is `Dims getDimensions() const noexcept`, returned by
        // value through the hidden pointer that Rust passes for a 72-byte `repr(C)` return.
        let dims = unsafe { vcall!(self.object, slot, fn() -> Dims64) };
        dims.to_shape(method.call_name())
    }
}

/// A layer of a network (`ILayer`, or a derived layer seen as its `ILayer` base).
pub struct Layer<'n> {
    object: ApiObject,
    network: &'n NetworkDefinition,
}

impl std::fmt::Debug for Layer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("object", &self.object)
            .finish_non_exhaustive()
    }
}

impl<'n> Layer<'n> {
    /// `getOutput(index)`.
    pub fn output(&self, index: usize) -> Result<Tensor<'n>> {
        let method = Method::LayerGetOutput;
        let index_i32 = i32::try_from(index)
            .map_err(|_| Error::InvalidConfig(format!("layer output index {index} too large")))?;
        let library = self.network.library();
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live layer (its network is borrowed); `ILayer`'s `mLayer` is word 1 of the
        // object like every wrapper's implementation pointer; slot is `ITensor*
        // getOutput(int32_t) const noexcept`.
        let raw = unsafe { vcall!(self.object, slot, fn(i32) -> *mut c_void, index_i32) };
        self.network
            .tensor_from(raw, mark, method, || format!("no output {index}"))
    }
}

/// A builder configuration (`IBuilderConfig`), deleted before its builder.
pub struct BuilderConfig {
    object: ApiObject,
    builder: Rc<BuilderInner>,
    profiles: Cell<usize>,
}

impl Drop for BuilderConfig {
    fn drop(&mut self) {
        // SAFETY: this wrapper owns the config; the builder (and the profiles it owns, which
        // the config refers to) is still alive through `self.builder`.
        unsafe { self.object.delete() };
    }
}

impl std::fmt::Debug for BuilderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuilderConfig")
            .field("object", &self.object)
            .field("profiles", &self.profiles.get())
            .finish_non_exhaustive()
    }
}

impl BuilderConfig {
    /// `addOptimizationProfile(profile)`: the profile's index. TensorRT returns -1 for an
    /// invalid profile (for example one missing an input's dimensions).
    pub fn add_optimization_profile(&self, profile: &OptimizationProfile<'_>) -> Result<usize> {
        let method = Method::BuilderConfigAddOptimizationProfile;
        if !Rc::ptr_eq(&profile.builder.inner, &self.builder) {
            return Err(Error::InvalidConfig(format!(
                "{}: the profile belongs to another builder",
                method.call_name()
            )));
        }
        let library = &self.builder.library;
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live config and a profile owned by the same (live) builder; slot is
        // `int32_t addOptimizationProfile(IOptimizationProfile const*) noexcept`.
        let index = unsafe {
            vcall!(
                self.object,
                slot,
                fn(*const c_void) -> i32,
                profile.object.as_ptr()
            )
        };
        let index = usize::try_from(index)
            .map_err(|_| library.call_failed(mark, method, || format!("returned {index}")))?;
        self.profiles.set(self.profiles.get() + 1);
        Ok(index)
    }
}

/// An optimization profile (`IOptimizationProfile`), owned by its builder.
pub struct OptimizationProfile<'b> {
    object: ApiObject,
    builder: &'b Builder,
}

impl std::fmt::Debug for OptimizationProfile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptimizationProfile")
            .field("object", &self.object)
            .finish_non_exhaustive()
    }
}

impl OptimizationProfile<'_> {
    /// `setDimensions(input, selector, dims)`; false from TensorRT is a typed error.
    pub fn set_dimensions(
        &self,
        input: &str,
        selector: ProfileSelector,
        shape: Shape,
    ) -> Result<()> {
        let method = Method::ProfileSetDimensions;
        let input_c = c_string(input, "input name")?;
        let dims = Dims64::from_shape(&shape);
        let library = &self.builder.inner.library;
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live profile (its builder is borrowed); slot is `bool setDimensions(char
        // const*, OptProfileSelector, Dims const&) noexcept`; name and dims outlive the call.
        let accepted = unsafe {
            vcall!(
                self.object,
                slot,
                fn(*const c_char, i32, *const Dims64) -> u8,
                input_c.as_ptr(),
                selector as i32,
                &dims
            )
        };
        if accepted != 0 {
            Ok(())
        } else {
            Err(library.call_failed(mark, method, || {
                format!("refused {selector:?} {shape} for `{input}`")
            }))
        }
    }

    /// `getDimensions(input, selector)`.
    pub fn dimensions(&self, input: &str, selector: ProfileSelector) -> Result<Shape> {
        let method = Method::ProfileGetDimensions;
        let input_c = c_string(input, "input name")?;
        let slot = self.builder.inner.library.slot(method)?;
        // SAFETY: live profile; slot is `Dims getDimensions(char const*, OptProfileSelector)
        // const noexcept`, `Dims64` returned through the hidden pointer.
        let dims = unsafe {
            vcall!(
                self.object,
                slot,
                fn(*const c_char, i32) -> Dims64,
                input_c.as_ptr(),
                selector as i32
            )
        };
        dims.to_shape(method.call_name())
    }
}
