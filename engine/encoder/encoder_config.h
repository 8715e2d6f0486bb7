#pragma once
// What a sentence-transformers folder says about its encoder: config.json (BERT or MPNet),
// sentence_bert_config.json (max_seq_length), 1_Pooling/config.json (mean pooling) and
// modules.json (whether a Normalize module follows the pooling).
#include <string>

namespace ember {

enum class EncoderArch { Bert, MPNet };

struct EncoderConfig {
  EncoderArch arch = EncoderArch::Bert;
  int hidden = 0, layers = 0, heads = 0, intermediate = 0;
  int vocab = 0, max_positions = 0, type_vocab = 0;
  float ln_eps = 1e-12f;
  int pad_id = 0;               // MPNet's positions start at pad_id + 1
  int relative_buckets = 0;     // MPNet: relative_attention_num_buckets
  int max_seq_length = 0;       // tokens per text after truncation, special tokens included
  bool normalize = false;       // modules.json holds a Normalize module
  std::string name;             // the folder's base name

  int head_dim() const { return hidden / heads; }
};

// Reads and checks the folder. Throws ember::Error naming the file and field at fault.
EncoderConfig read_encoder_config(const std::string& dir);

}  // namespace ember
