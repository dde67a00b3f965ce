import CLua
import FPTensor

/// Lua entry points of the sparse-dictionary training kernels (FPTensor/SparseDictionaryStep),
/// used by stdlib/fp/sae_train.lua.
enum LuaSAEKernels {
    static let stepOptions = ["k", "batch_topk", "rescale_acts_by_decoder_norm", "apply_b_dec_to_input",
                              "dead_feature_window", "aux_loss_coefficient", "clip_grad_norm"]

    static var functions: [(String, LuaFunction)] {
        [
            // fp._sae_topk_step(x, W_enc, b_enc, W_dec, b_dec, since_fired, opts) -> grad W_enc, b_enc,
            // W_dec, b_dec (clipped to opts.clip_grad_norm if given), mse_loss, aux_loss, l0, n_dead,
            // min firing activation (or nil), gradient norm before clipping; since_fired is advanced
            // in place
            ("_sae_topk_step", { l in
                try l.checkOptions(7, stepOptions)
                guard let k = try l.intOption(7, "k") else { throw LuaError("_sae_topk_step: option 'k' is required") }
                let settings = SparseDictionaryStep.Settings(
                    k: k, batchTopK: try l.boolOption(7, "batch_topk", default: false),
                    rescaleByDecoderNorm: try l.boolOption(7, "rescale_acts_by_decoder_norm", default: true),
                    applyBDecToInput: try l.boolOption(7, "apply_b_dec_to_input", default: true),
                    deadWindow: try l.numberOption(7, "dead_feature_window") ?? 1000,
                    auxCoefficient: Float(try l.numberOption(7, "aux_loss_coefficient") ?? 1),
                    clipGradNorm: try l.numberOption(7, "clip_grad_norm"))
                let r = try SparseDictionaryStep.run(x: try l.tensor(1), wEnc: try l.tensor(2), bEnc: try l.tensor(3),
                                                     wDec: try l.tensor(4), bDec: try l.tensor(5),
                                                     sinceFired: try l.tensor(6), settings)
                l.push(r.gradWEnc); l.push(r.gradBEnc); l.push(r.gradWDec); l.push(r.gradBDec)
                l.push(r.mseLoss); l.push(r.auxLoss); l.push(r.l0); l.push(int: r.deadBefore)
                if let v = r.minPositiveAct { l.push(Double(v)) } else { l.pushNil() }
                l.push(r.gradNorm)
                return 10
            }),
        ]
    }
}
