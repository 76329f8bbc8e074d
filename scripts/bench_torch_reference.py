#!/usr/bin/env python3
"""The Python reference for the GPU benchmark: what inference_models does per call.

Reads the same stand-in plan file the Rust benchmark runs (so the MLP and its weights are
identical), builds the equivalent torch MLP (matmul + bias + relu per layer), captures it
into a CUDA graph per batch size, and times one call as inference_models makes it:
`static_input.copy_(x)`, `graph.replay()`, `static_output.clone()`, then synchronize.
Prints one JSON object per measurement.
"""
import argparse
import json
import struct
import time

import torch


def read_plan(path):
    data = open(path, "rb").read()
    if data[:8] != b"TRTSTND1":
        raise SystemExit(f"{path}: not a stand-in plan")
    _target, _flags, num_layers, _min_b, _opt_b, _max_b, name_len = struct.unpack_from("<7I", data, 8)
    offset = 36 + name_len
    layers = []
    for _ in range(num_layers):
        n_in, n_out = struct.unpack_from("<2I", data, offset)
        offset += 8
        weights = torch.frombuffer(bytearray(data[offset:offset + 4 * n_in * n_out]), dtype=torch.float32)
        offset += 4 * n_in * n_out
        bias = torch.frombuffer(bytearray(data[offset:offset + 4 * n_out]), dtype=torch.float32)
        offset += 4 * n_out
        layers.append((weights.reshape(n_in, n_out).cuda(), bias.cuda()))
    if data[offset:offset + 4] != b"END!":
        raise SystemExit(f"{path}: truncated plan")
    return layers


def forward(layers, x):
    for weights, bias in layers:
        x = torch.relu(torch.addmm(bias, x, weights))
    return x


def percentiles(samples):
    samples = sorted(samples)
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("plan")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    layers = read_plan(args.plan)
    width_in = layers[0][0].shape[0]
    for batch in [int(b) for b in args.batches.split(",")]:
        x = torch.randn(batch, width_in, device="cuda")
        static_input = torch.zeros_like(x)
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            for _ in range(3):  # warm up kernels and the allocator before capture
                forward(layers, static_input)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_output = forward(layers, static_input)
        reference = forward(layers, x)

        def call():
            static_input.copy_(x)
            graph.replay()
            out = static_output.clone()
            torch.cuda.synchronize()
            return out

        def eager():
            out = forward(layers, x)
            torch.cuda.synchronize()
            return out

        assert torch.allclose(call(), reference, rtol=1e-4, atol=1e-5)
        for label, function in (("torch_cudagraph_inference_models", call), ("torch_eager", eager)):
            for _ in range(args.warmup):
                function()
            samples = []
            for _ in range(args.iterations):
                start = time.perf_counter_ns()
                function()
                samples.append((time.perf_counter_ns() - start) / 1000.0)
            median, p99 = percentiles(samples)
            print(json.dumps({"impl": label, "batch": batch, "median_us": round(median, 2), "p99_us": round(p99, 2)}))


if __name__ == "__main__":
    main()
