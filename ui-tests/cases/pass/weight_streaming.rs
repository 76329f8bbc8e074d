// Legal: a `Session<WeightStreaming>` on an engine built for weight streaming.
use trt::{inputs, HostTensor, Runtime, Session, WeightStreaming, WeightStreamingBudget};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.engine_from_bytes(include_bytes!("../../../models/streaming.simplan"))?;
    let mut session: Session<WeightStreaming> = engine
        .session()
        .with_weight_streaming(WeightStreamingBudget::StreamAll)
        .build()?;
    let info = session.weight_streaming()?;
    assert_eq!(info.budget, 0);
    assert!(info.is_streaming());
    let x = HostTensor::from_vec(&[2, 16], vec![-1.0f32; 32])?;
    let y = session.run(&inputs!["x" => &x])?.to_host("y")?;
    assert_eq!(y.shape().dims(), &[2, 8]);
    assert!(y.as_slice::<f32>()?.iter().all(|&v| v >= 1.0));
    Ok(())
}
