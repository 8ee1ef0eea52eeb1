"""An encoder-decoder trained in seconds on a tiny English -> Spanish corpus (data/english_spanish.tsv).

Run on its own (python snippets/translate.py) or cell by cell in an editor.
"""

# %% corpus
#| inputs: data/english_spanish.tsv
import csv
import random

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

with open("data/english_spanish.tsv", encoding="utf-8") as handle:
    pairs = [(row["english"], row["spanish"]) for row in csv.DictReader(handle, delimiter="\t")]
random.shuffle(pairs)
held_out, train_pairs = pairs[:20], pairs[20:]
print(f"{len(pairs)} sentence pairs, e.g. {pairs[0]}")

# %% tokenizer
# One word = one token; both languages share the vocabulary.
words = sorted({word for pair in pairs for text in pair for word in text.split()})
vocab = {token: i for i, token in enumerate(["<pad>", "<s>", "</s>", "<unk>"] + words)}
word_level = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
word_level.post_processor = processors.TemplateProcessing(single="$A </s>",
                                                          special_tokens=[("</s>", 2)])
tokenizer = PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="<pad>",
                                    bos_token="<s>", eos_token="</s>", unk_token="<unk>")
print(f"{len(vocab)} tokens in the vocabulary")

# %% model
import torch
from transformers import AutoModelForSeq2SeqLM, BartConfig

config = BartConfig(vocab_size=len(vocab), d_model=64, encoder_layers=2, decoder_layers=2,
                    encoder_attention_heads=4, decoder_attention_heads=4,
                    encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=32,
                    pad_token_id=0, bos_token_id=1, eos_token_id=2,
                    decoder_start_token_id=1, forced_eos_token_id=2)
model = AutoModelForSeq2SeqLM.from_config(config)
print(f"{type(model).__name__}: {model.num_parameters():,} parameters")

# %% train
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
model.train()
for epoch in range(1, 41):
    random.shuffle(train_pairs)
    for start in range(0, len(train_pairs), 32):
        batch = train_pairs[start:start + 32]
        inputs = tokenizer([en for en, _ in batch], return_tensors="pt", padding=True)
        labels = tokenizer([es for _, es in batch], return_tensors="pt", padding=True)["input_ids"]
        labels[labels == tokenizer.pad_token_id] = -100  # no loss on padding
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    if epoch % 20 == 0:
        print(f"epoch {epoch}: loss {loss.item():.3f}")
model.eval();

# %% encode
sentence = "she reads the newspaper"
inputs = tokenizer.encode(sentence, return_tensors="pt")
print(inputs)

# %% generate
outputs = model.generate(inputs, max_new_tokens=10)
print(outputs)

# %% decode
print(tokenizer.decode(outputs[0]))
print(tokenizer.decode(outputs[0], skip_special_tokens=True))

# %% held_out
correct = 0
for english, spanish in held_out:
    ids = model.generate(tokenizer.encode(english, return_tensors="pt"), max_new_tokens=10)
    correct += tokenizer.decode(ids[0], skip_special_tokens=True) == spanish
print(f"{correct} of {len(held_out)} unseen sentences translated exactly")
