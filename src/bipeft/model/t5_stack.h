#pragma once
// A stack of T5 blocks (the encoder or the decoder) with its final norm. The relative position bias
// lives in block 0 and is computed once per forward, together with the mask, for all blocks.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "bipeft/model/t5_block.h"

namespace bipeft::model {

/// Key/value caches of every decoder block, plus the number of positions already decoded.
struct DecoderCache {
  std::vector<BlockCache> blocks;
  int64_t length = 0;
};

/// The additive mask (0 keep, dtype-min drop) of a [B, Tk] 0/1 mask, shaped [B, 1, 1, Tk].
torch::Tensor extended_mask(const torch::Tensor& mask, c10::ScalarType dtype);

class T5StackImpl : public torch::nn::Module {
 public:
  T5StackImpl(const T5Config& c, bool is_decoder);

  /// Runs the stack on embeddings [B, T, d_model]. `mask` [B, T] (encoder; may be undefined = all ones).
  /// Decoder: `encoder_hidden` [B, Ts, d_model] and `encoder_mask` [B, Ts]; with `cache`, the input
  /// holds only the new positions and the cache is extended.
  torch::Tensor forward(const torch::Tensor& embeds, const torch::Tensor& mask, const torch::Tensor& encoder_hidden,
                        const torch::Tensor& encoder_mask, DecoderCache* cache = nullptr);

  torch::nn::ModuleList block;
  std::vector<T5Block> blocks;
  T5LayerNorm final_layer_norm{nullptr};
  bool is_decoder;
  double dropout;
};
TORCH_MODULE(T5Stack);

}  // namespace bipeft::model
