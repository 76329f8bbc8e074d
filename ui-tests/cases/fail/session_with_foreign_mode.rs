// Rule: only the session modes can parametrize a `Session`; any other type is rejected with
// a message that lists the modes.
fn takes(_session: &trt::Session<'_, String>) {}

fn main() {}
