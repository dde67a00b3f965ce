import FPTensor

/// llama.cpp's converter (convert_hf_to_gguf.py, `LlamaModel.permute`) reorders the rows of the
/// Llama-family Q and K projections for its RoPE layout:
///
///     w.reshape(n_head, 2, rows // n_head // 2, *rest).swapaxes(1, 2).reshape(w.shape)
///
/// i.e. within each head the two rotary halves [x0..x_{d/2-1} | y0..y_{d/2-1}] become
/// interleaved pairs [x0 y0 x1 y1 ...]. This restores the Hugging Face order: row
/// `h*d + j*(d/2) + i` of the result is row `h*d + 2*i + j` of `w` (d = rows / nHeads).
/// Pass n_heads for attn_q and n_kv_heads for attn_k. Works on [rows, cols] weights and on
/// [rows] biases (dim 0 is permuted, any further dims move along). Returns a new tensor.
public func undoLlamaQKPermutation(_ w: Tensor, nHeads: Int) throws -> Tensor {
    let fn = "undoLlamaQKPermutation"
    guard w.dtype == .float32 else {
        throw TensorError("\(fn): expected a float32 tensor, got \(w.dtype.rawValue)")
    }
    guard w.rank >= 1 else { throw TensorError("\(fn): expected a tensor with at least 1 dimension, got a scalar") }
    guard nHeads > 0 else { throw TensorError("\(fn): nHeads must be positive, got \(nHeads)") }
    let rows = w.shape[0]
    guard rows % (2 * nHeads) == 0 else {
        throw TensorError("\(fn): \(rows) rows are not divisible by 2 * nHeads = \(2 * nHeads)")
    }
    let rowLength = w.shape.dropFirst().reduce(1, *)
    let src = try w.contiguous()
    let out = try Tensor.empty(w.shape)
    let s = try src.floatPointer(), d = try out.floatPointer()
    let headDim = rows / nHeads, halfDim = headDim / 2
    for h in 0..<nHeads {
        for j in 0..<2 {
            for i in 0..<halfDim {
                let to = h * headDim + j * halfDim + i
                let from = h * headDim + 2 * i + j
                (d + to * rowLength).update(from: s + from * rowLength, count: rowLength)
            }
        }
    }
    return out
}
