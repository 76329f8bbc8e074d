//! Host and device tensors, and the views a run takes as inputs and returns as outputs.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::backend::{DeviceBackend, DevicePtr};
use crate::error::{Error, Result};
use crate::types::{DataType, DeviceId, Shape};

mod sealed {
    pub trait Sealed {}
}

/// A Rust element type with a TensorRT data type (`f32`, `half::f16`, `half::bf16`, `i8`,
/// `u8`, `i32`, `i64`). Sealed: the mapping is fixed by TensorRT.
///
/// ```
/// use trt_core::{DataType, Element};
/// assert_eq!(<half::bf16 as Element>::DTYPE, DataType::BF16);
/// ```
pub trait Element: bytemuck::Pod + Send + Sync + sealed::Sealed + 'static {
    /// The TensorRT data type of this element.
    const DTYPE: DataType;
}

macro_rules! element {
    ($($ty:ty => $dtype:ident),* $(,)?) => {$(
        impl sealed::Sealed for $ty {}
        impl Element for $ty {
            const DTYPE: DataType = DataType::$dtype;
        }
    )*};
}
element!(f32 => F32, half::f16 => F16, half::bf16 => BF16, i8 => Int8, u8 => UInt8, i32 => Int32, i64 => Int64);

/// Bytes that `dtype` × `shape` occupy; `None` while the shape is dynamic.
pub(crate) fn byte_size(dtype: DataType, shape: &Shape) -> Option<usize> {
    shape
        .volume()
        .and_then(|elements| dtype.checked_bytes_for(elements))
}

/// Owned device memory, freed on drop (after the owner has synchronized its stream).
///
/// ```
/// use trt_core::{DeviceBuffer, Runtime};
/// let runtime = Runtime::simulated();
/// let buffer = DeviceBuffer::new(runtime.device(), 1024).unwrap();
/// assert_eq!(buffer.len(), 1024);
/// ```
pub struct DeviceBuffer {
    ptr: DevicePtr,
    bytes: usize,
    device: Arc<dyn DeviceBackend>,
}

impl DeviceBuffer {
    /// Allocates `bytes` on `device`.
    pub fn new(device: &Arc<dyn DeviceBackend>, bytes: usize) -> Result<DeviceBuffer> {
        let ptr = device.allocate(bytes)?;
        Ok(DeviceBuffer {
            ptr,
            bytes,
            device: Arc::clone(device),
        })
    }

    /// The device address.
    pub fn ptr(&self) -> DevicePtr {
        self.ptr
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// True for a zero-byte buffer.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The device that owns the memory.
    pub fn device(&self) -> &Arc<dyn DeviceBackend> {
        &self.device
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `allocate` on this device and is freed only here, once. Work
        // that used it was synchronized by its owner (sessions synchronize before a buffer
        // they bound can be dropped).
        unsafe { self.device.free(self.ptr) };
    }
}

impl fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeviceBuffer({} bytes at {} on {})",
            self.bytes,
            self.ptr,
            self.device.id()
        )
    }
}

/// A tensor in host memory: bytes (8-byte aligned, so every element type can be viewed in
/// place), a data type and a concrete shape.
///
/// ```
/// use trt_core::HostTensor;
/// let tensor = HostTensor::from_vec(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
/// assert_eq!(tensor.as_slice::<f32>().unwrap()[3], 4.0);
/// assert!(tensor.as_slice::<i32>().is_err());
/// ```
#[derive(Clone, PartialEq)]
pub struct HostTensor {
    words: Vec<u64>,
    bytes: usize,
    dtype: DataType,
    shape: Shape,
}

impl HostTensor {
    /// Zero-filled tensor (the shape must be concrete).
    pub fn zeros(dtype: DataType, shape: Shape) -> Result<HostTensor> {
        let bytes = byte_size(dtype, &shape).ok_or(Error::InvalidShape {
            shape: shape.to_string(),
            reason: "a host tensor needs a concrete shape whose size fits in memory",
        })?;
        // A huge shape must be an error, not an abort of the process.
        let mut words = Vec::new();
        words
            .try_reserve_exact(bytes.div_ceil(8))
            .map_err(|_| Error::InvalidShape {
                shape: shape.to_string(),
                reason: "too large for host memory",
            })?;
        words.resize(bytes.div_ceil(8), 0);
        Ok(HostTensor {
            words,
            bytes,
            dtype,
            shape,
        })
    }

    /// Tensor of `dtype` and `shape` holding a copy of `data` (whose length must match).
    pub fn from_bytes(dtype: DataType, shape: Shape, data: &[u8]) -> Result<HostTensor> {
        let mut tensor = HostTensor::zeros(dtype, shape)?;
        if data.len() != tensor.bytes {
            return Err(Error::ByteSizeMismatch {
                tensor: "<host tensor>".into(),
                dtype,
                shape,
                expected: tensor.bytes,
                found: data.len(),
            });
        }
        tensor.as_bytes_mut().copy_from_slice(data);
        Ok(tensor)
    }

    /// Tensor of shape `extents` holding `data` (length must equal the shape's volume).
    pub fn from_vec<T: Element>(extents: &[usize], data: Vec<T>) -> Result<HostTensor> {
        HostTensor::from_slice(extents, &data)
    }

    /// Tensor of shape `extents` holding a copy of `data`.
    pub fn from_slice<T: Element>(extents: &[usize], data: &[T]) -> Result<HostTensor> {
        let shape = Shape::from_extents(extents)?;
        HostTensor::from_bytes(T::DTYPE, shape, bytemuck::cast_slice(data))
    }

    /// Element type.
    pub fn dtype(&self) -> DataType {
        self.dtype
    }

    /// Shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.bytes]
    }

    /// The raw bytes, writable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.bytes]
    }

    /// The elements as `T`; fails when `T` is not the tensor's data type.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        self.check_element::<T>()?;
        Ok(bytemuck::cast_slice(self.as_bytes()))
    }

    /// The elements as `T`, writable.
    pub fn as_mut_slice<T: Element>(&mut self) -> Result<&mut [T]> {
        self.check_element::<T>()?;
        Ok(bytemuck::cast_slice_mut(self.as_bytes_mut()))
    }

    /// Copies the elements out as `Vec<T>`.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.as_slice().map(<[T]>::to_vec)
    }

    fn check_element<T: Element>(&self) -> Result<()> {
        if T::DTYPE == self.dtype {
            Ok(())
        } else {
            Err(Error::ElementTypeMismatch {
                tensor: "<host tensor>".into(),
                actual: self.dtype,
                requested: T::DTYPE,
            })
        }
    }
}

impl fmt::Debug for HostTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostTensor({} {})", self.dtype, self.shape)
    }
}

/// A tensor in device memory that owns its buffer.
#[derive(Debug)]
pub struct DeviceTensor {
    buffer: DeviceBuffer,
    dtype: DataType,
    shape: Shape,
}

impl DeviceTensor {
    /// Uploads a host tensor to `device`.
    ///
    /// ```
    /// use trt_core::{DeviceTensor, HostTensor, Runtime};
    /// let runtime = Runtime::simulated();
    /// let host = HostTensor::from_vec(&[3], vec![1i32, 2, 3]).unwrap();
    /// let device = DeviceTensor::from_host(runtime.device(), &host).unwrap();
    /// assert_eq!(device.to_host().unwrap(), host);
    /// ```
    pub fn from_host(device: &Arc<dyn DeviceBackend>, host: &HostTensor) -> Result<DeviceTensor> {
        let buffer = DeviceBuffer::new(device, host.as_bytes().len())?;
        // SAFETY: the new buffer holds exactly the host tensor's bytes and nothing else uses it.
        unsafe { device.copy_to_device_sync(buffer.ptr(), host.as_bytes())? };
        Ok(DeviceTensor {
            buffer,
            dtype: host.dtype(),
            shape: host.shape(),
        })
    }

    /// Wraps a buffer that holds `dtype` × `shape` (the buffer may be larger).
    pub fn from_buffer(
        buffer: DeviceBuffer,
        dtype: DataType,
        shape: Shape,
    ) -> Result<DeviceTensor> {
        let needed = byte_size(dtype, &shape).ok_or(Error::InvalidShape {
            shape: shape.to_string(),
            reason: "a device tensor needs a concrete shape",
        })?;
        if buffer.len() < needed {
            return Err(Error::ByteSizeMismatch {
                tensor: "<device tensor>".into(),
                dtype,
                shape,
                expected: needed,
                found: buffer.len(),
            });
        }
        Ok(DeviceTensor {
            buffer,
            dtype,
            shape,
        })
    }

    /// Element type.
    pub fn dtype(&self) -> DataType {
        self.dtype
    }

    /// Shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The underlying buffer.
    pub fn buffer(&self) -> &DeviceBuffer {
        &self.buffer
    }

    /// A borrowed view.
    pub fn view(&self) -> DeviceTensorView<'_> {
        DeviceTensorView {
            ptr: self.buffer.ptr(),
            dtype: self.dtype,
            shape: self.shape,
            device: &self.buffer.device,
        }
    }

    /// Downloads to host memory (synchronous).
    pub fn to_host(&self) -> Result<HostTensor> {
        self.view().to_host()
    }
}

/// A borrowed tensor in device memory: what pre-allocated outputs hand out, valid until the
/// session that produced it runs again (the borrow checker enforces this).
#[derive(Clone, Copy)]
pub struct DeviceTensorView<'a> {
    ptr: DevicePtr,
    dtype: DataType,
    shape: Shape,
    device: &'a Arc<dyn DeviceBackend>,
}

impl<'a> DeviceTensorView<'a> {
    pub(crate) fn new(
        ptr: DevicePtr,
        dtype: DataType,
        shape: Shape,
        device: &'a Arc<dyn DeviceBackend>,
    ) -> DeviceTensorView<'a> {
        DeviceTensorView {
            ptr,
            dtype,
            shape,
            device,
        }
    }

    /// Device address of the first element.
    pub fn ptr(&self) -> DevicePtr {
        self.ptr
    }

    /// Element type.
    pub fn dtype(&self) -> DataType {
        self.dtype
    }

    /// Shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Size in bytes.
    pub fn byte_len(&self) -> usize {
        byte_size(self.dtype, &self.shape).unwrap_or(0)
    }

    /// The device holding the memory.
    pub fn device_id(&self) -> DeviceId {
        self.device.id()
    }

    /// Downloads to host memory (synchronous).
    pub fn to_host(&self) -> Result<HostTensor> {
        let mut host = HostTensor::zeros(self.dtype, self.shape)?;
        // SAFETY: a view only exists for device memory alive for its lifetime (an owned
        // buffer, a pinned graph entry or a vouched-for raw region) holding its bytes.
        unsafe {
            self.device
                .copy_to_host_sync(host.as_bytes_mut(), self.ptr)?
        };
        Ok(host)
    }

    /// Downloads the elements as `Vec<T>`.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.to_host()?.to_vec()
    }
}

impl fmt::Debug for DeviceTensorView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeviceTensorView({} {} at {} on {})",
            self.dtype,
            self.shape,
            self.ptr,
            self.device.id()
        )
    }
}

/// Where the data of one input lives.
#[derive(Clone, Copy, Debug)]
pub enum TensorRef<'a> {
    /// Host memory: copied to the device by the run.
    Host {
        /// The bytes.
        bytes: &'a [u8],
        /// Element type.
        dtype: DataType,
        /// Shape.
        shape: Shape,
    },
    /// Device memory: bound directly (eager runs) or copied device-to-device (graph replays).
    Device(DeviceRegion<'a>),
}

/// Device memory that is live for `'a` and holds a tensor: taken from a
/// [`DeviceTensor`] or [`DeviceTensorView`], or vouched for through the `unsafe`
/// [`TensorRef::from_raw_device`]. Its fields are private so that safe code cannot point a
/// run at memory it does not own.
#[derive(Clone, Copy, Debug)]
pub struct DeviceRegion<'a> {
    ptr: DevicePtr,
    device: DeviceId,
    dtype: DataType,
    shape: Shape,
    bytes: usize,
    marker: PhantomData<&'a ()>,
}

impl DeviceRegion<'_> {
    /// Device address.
    pub fn ptr(&self) -> DevicePtr {
        self.ptr
    }

    /// The device it lives on.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// Length in bytes of the memory behind [`DeviceRegion::ptr`].
    pub fn byte_len(&self) -> usize {
        self.bytes
    }
}

impl<'a> TensorRef<'a> {
    /// A host slice viewed with shape `extents`.
    pub fn host<T: Element>(data: &'a [T], extents: &[usize]) -> Result<TensorRef<'a>> {
        Ok(TensorRef::Host {
            bytes: bytemuck::cast_slice(data),
            dtype: T::DTYPE,
            shape: Shape::from_extents(extents)?,
        })
    }

    /// Device memory the caller owns by other means (a framework's tensor, say).
    ///
    /// # Safety
    /// For all of `'a`, `ptr` is live device memory on `device` holding at least `bytes`
    /// bytes, and nothing frees it or writes it while a run reads it.
    pub unsafe fn from_raw_device(
        ptr: DevicePtr,
        device: DeviceId,
        dtype: DataType,
        shape: Shape,
        bytes: usize,
    ) -> TensorRef<'a> {
        TensorRef::Device(DeviceRegion {
            ptr,
            device,
            dtype,
            shape,
            bytes,
            marker: PhantomData,
        })
    }

    /// Element type.
    pub fn dtype(&self) -> DataType {
        match self {
            TensorRef::Host { dtype, .. } => *dtype,
            TensorRef::Device(region) => region.dtype,
        }
    }

    /// Shape.
    pub fn shape(&self) -> Shape {
        match self {
            TensorRef::Host { shape, .. } => *shape,
            TensorRef::Device(region) => region.shape,
        }
    }

    /// Length in bytes of the data.
    pub fn byte_len(&self) -> usize {
        match self {
            TensorRef::Host { bytes, .. } => bytes.len(),
            TensorRef::Device(region) => region.bytes,
        }
    }
}

impl<'a> From<&'a HostTensor> for TensorRef<'a> {
    fn from(tensor: &'a HostTensor) -> Self {
        TensorRef::Host {
            bytes: tensor.as_bytes(),
            dtype: tensor.dtype(),
            shape: tensor.shape(),
        }
    }
}

impl<'a> From<&'a DeviceTensor> for TensorRef<'a> {
    fn from(tensor: &'a DeviceTensor) -> Self {
        tensor.view().into()
    }
}

impl<'a> From<DeviceTensorView<'a>> for TensorRef<'a> {
    fn from(view: DeviceTensorView<'a>) -> Self {
        TensorRef::Device(DeviceRegion {
            ptr: view.ptr,
            device: view.device.id(),
            dtype: view.dtype,
            shape: view.shape,
            bytes: view.byte_len(),
            marker: PhantomData,
        })
    }
}

/// One named input of a run.
///
/// ```
/// use trt_core::{HostTensor, Input};
/// let x = HostTensor::from_vec(&[1, 2], vec![1.0f32, 2.0]).unwrap();
/// let input = Input::new("x", &x);
/// assert_eq!(input.name(), "x");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    name: &'a str,
    tensor: TensorRef<'a>,
}

impl<'a> Input<'a> {
    /// Names `tensor` as the engine input `name`.
    pub fn new(name: &'a str, tensor: impl Into<TensorRef<'a>>) -> Input<'a> {
        Input {
            name,
            tensor: tensor.into(),
        }
    }

    /// The engine tensor name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The data.
    pub fn tensor(&self) -> &TensorRef<'a> {
        &self.tensor
    }
}

/// Builds an array of [`Input`]s: `inputs!["x" => &x, "mask" => &mask]`.
///
/// ```
/// use trt_core::{inputs, HostTensor};
/// let a = HostTensor::from_vec(&[1], vec![1.0f32]).unwrap();
/// let list = inputs!["a" => &a, "b" => &a];
/// assert_eq!(list.len(), 2);
/// ```
#[macro_export]
macro_rules! inputs {
    ($($name:expr => $tensor:expr),* $(,)?) => {
        [$($crate::Input::new($name, $tensor)),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tensor_checks_sizes_and_types() {
        let error = HostTensor::from_vec(&[2, 2], vec![1.0f32; 3]).unwrap_err();
        assert!(matches!(
            error,
            Error::ByteSizeMismatch {
                expected: 16,
                found: 12,
                ..
            }
        ));
        let tensor = HostTensor::from_vec(&[2], vec![half::f16::from_f32(1.5); 2]).unwrap();
        assert_eq!(tensor.dtype(), DataType::F16);
        assert_eq!(tensor.as_slice::<half::f16>().unwrap()[1].to_f32(), 1.5);
        assert!(matches!(
            tensor.as_slice::<f32>(),
            Err(Error::ElementTypeMismatch {
                requested: DataType::F32,
                ..
            })
        ));
    }

    #[test]
    fn odd_sized_tensors_keep_their_exact_byte_length() {
        let tensor = HostTensor::from_vec(&[3], vec![1u8, 2, 3]).unwrap();
        assert_eq!(tensor.as_bytes(), &[1, 2, 3]);
        let packed = HostTensor::zeros(DataType::Int4, Shape::new(&[3]).unwrap()).unwrap();
        assert_eq!(packed.as_bytes().len(), 2);
    }

    #[test]
    fn huge_shapes_are_errors_not_panics_or_aborts() {
        let overflowing = Shape::new(&[1 << 61, 1]).unwrap();
        assert!(matches!(
            HostTensor::zeros(DataType::F32, overflowing),
            Err(Error::InvalidShape { .. })
        ));
        let too_big = Shape::new(&[1 << 58, 1]).unwrap();
        assert!(matches!(
            HostTensor::zeros(DataType::F32, too_big),
            Err(Error::InvalidShape { .. })
        ));
    }
}
