// Rule: `SessionMode` is sealed: the modes are Standard, CudaGraphs, OutputAllocator and
// WeightStreaming, and no other crate can add one.
enum MyMode {}

impl trt::SessionMode for MyMode {
    const NAME: &'static str = "MyMode";
}

fn main() {}
