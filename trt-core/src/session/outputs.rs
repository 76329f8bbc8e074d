//! What a run returns: [`Outputs`] (owned) or [`BorrowedOutputs`] (pre-allocated).

use std::sync::Arc;

use smallvec::SmallVec;

use super::core::OutputSource;
use crate::backend::{DeviceBackend, DevicePtr};
use crate::cache::GraphEntry;
use crate::error::{Error, Result};
use crate::tensor::{DeviceTensor, DeviceTensorView, HostTensor};
use crate::types::{DataType, EngineInfo, Shape};

/// Where one output of the last run is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutputView {
    pub(crate) tensor: usize,
    pub(crate) ptr: DevicePtr,
    pub(crate) shape: Shape,
    pub(crate) dtype: DataType,
    pub(crate) source: OutputSource,
}

fn no_such_output(info: &EngineInfo, name: &str, present: impl Iterator<Item = usize>) -> Error {
    Error::NoSuchOutput {
        tensor: name.to_owned(),
        known: present
            .map(|index| format!("`{}`", info.tensors[index].name))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Outputs of a run that own their device memory (for [`crate::Owned`] sessions).
///
/// ```
/// use trt_core::{inputs, HostTensor, Runtime};
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan")).unwrap();
/// let mut session = engine.session().build().unwrap();
/// let x = HostTensor::from_vec(&[1, 16], vec![0.0f32; 16]).unwrap();
/// let outputs = session.run(&inputs!["x" => &x]).unwrap();
/// let y: Vec<f32> = outputs.to_host("y").unwrap().to_vec().unwrap();
/// assert_eq!(y.len(), 8);
/// assert!(outputs.get("nope").is_err());
/// ```
#[derive(Debug)]
pub struct Outputs {
    info: Arc<EngineInfo>,
    tensors: SmallVec<[(usize, DeviceTensor); 4]>,
}

impl Outputs {
    pub(crate) fn new(
        info: Arc<EngineInfo>,
        tensors: SmallVec<[(usize, DeviceTensor); 4]>,
    ) -> Outputs {
        Outputs { info, tensors }
    }

    /// Output `name`.
    pub fn get(&self, name: &str) -> Result<&DeviceTensor> {
        self.tensors
            .iter()
            .find(|(index, _)| self.info.tensors[*index].name == name)
            .map(|(_, tensor)| tensor)
            .ok_or_else(|| {
                no_such_output(
                    &self.info,
                    name,
                    self.tensors.iter().map(|(index, _)| *index),
                )
            })
    }

    /// Downloads output `name` to host memory.
    pub fn to_host(&self, name: &str) -> Result<HostTensor> {
        self.get(name)?.to_host()
    }

    /// Outputs in engine order, with their names.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &DeviceTensor)> {
        self.tensors
            .iter()
            .map(|(index, tensor)| (self.info.tensors[*index].name.as_str(), tensor))
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when the engine has no outputs.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
}

/// Outputs of a run borrowed from the session's reused buffers (for [`crate::PreAllocated`]
/// sessions). They borrow the session mutably, so the next run cannot start while they live:
/// its results would overwrite them.
pub struct BorrowedOutputs<'s> {
    info: &'s EngineInfo,
    views: &'s [OutputView],
    device: &'s Arc<dyn DeviceBackend>,
    /// Keeps the graph entry whose buffers these are alive even if another thread evicts it;
    /// released on drop.
    pin: &'s mut Option<Arc<GraphEntry>>,
}

impl<'s> BorrowedOutputs<'s> {
    pub(crate) fn new(
        info: &'s EngineInfo,
        views: &'s [OutputView],
        device: &'s Arc<dyn DeviceBackend>,
        pin: &'s mut Option<Arc<GraphEntry>>,
    ) -> BorrowedOutputs<'s> {
        BorrowedOutputs {
            info,
            views,
            device,
            pin,
        }
    }

    /// Output `name`, valid while these outputs live.
    pub fn get(&self, name: &str) -> Result<DeviceTensorView<'_>> {
        self.views
            .iter()
            .find(|view| self.info.tensors[view.tensor].name == name)
            .map(|view| DeviceTensorView::new(view.ptr, view.dtype, view.shape, self.device))
            .ok_or_else(|| {
                no_such_output(self.info, name, self.views.iter().map(|view| view.tensor))
            })
    }

    /// Downloads output `name` to host memory.
    pub fn to_host(&self, name: &str) -> Result<HostTensor> {
        self.get(name)?.to_host()
    }

    /// Outputs in engine order, with their names.
    pub fn iter(&self) -> impl Iterator<Item = (&str, DeviceTensorView<'_>)> {
        self.views.iter().map(|view| {
            (
                self.info.tensors[view.tensor].name.as_str(),
                DeviceTensorView::new(view.ptr, view.dtype, view.shape, self.device),
            )
        })
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.views.len()
    }

    /// True when the engine has no outputs.
    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }
}

impl Drop for BorrowedOutputs<'_> {
    fn drop(&mut self) {
        *self.pin = None;
    }
}

impl std::fmt::Debug for BorrowedOutputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.views
                    .iter()
                    .map(|view| (&self.info.tensors[view.tensor].name, view.shape)),
            )
            .finish()
    }
}
