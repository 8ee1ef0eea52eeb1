"""A translator built the way the Hub's translation models are (Helsinki-NLP/opus-mt-*):
SentencePiece tokenizers and a Marian encoder-decoder, here trained in seconds on a tiny
English -> Spanish corpus (data/english_spanish.tsv), saved with save_pretrained and
loaded back with the same Auto classes students use for a Hub model.

Run on its own (python snippets/translate.py) or cell by cell in an editor.
"""

# %% corpus
#| inputs: data/english_spanish.tsv
import csv
import random

with open("data/english_spanish.tsv", encoding="utf-8") as handle:
    pairs = [(row["english"], row["spanish"]) for row in csv.DictReader(handle, delimiter="\t")]
random.shuffle(pairs)
held_out, train_pairs = pairs[:20], pairs[20:]
print(f"{len(pairs)} sentence pairs, e.g. {pairs[0]}")

# %% trainer
# One SentencePiece model per language (source.spm, target.spm), as Marian models have.
import json
import os

import sentencepiece as spm

folder = "build/models/marian-en-es"  # where save_pretrained writes the model below
os.makedirs(folder, exist_ok=True)


def train_pieces(sentences, name, size):
    """Learn `size` pieces from the sentences (byte-pair encoding); write NAME.spm."""
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_prefix=f"{folder}/{name}", vocab_size=size,
        model_type="bpe", character_coverage=1.0, unk_id=1, eos_id=0, bos_id=-1, pad_id=-1,
        hard_vocab_limit=False, minloglevel=2)
    os.replace(f"{folder}/{name}.model", f"{folder}/{name}.spm")
    os.remove(f"{folder}/{name}.vocab")  # the pieces are also in the model
    return spm.SentencePieceProcessor(model_file=f"{folder}/{name}.spm")

# %% sentencepiece
source = train_pieces([en for en, _ in pairs], "source", 100)
target = train_pieces([es for _, es in pairs], "target", 140)
print(source.encode("she reads the newspapers", out_type=str))
print(target.encode("ella lee los periódicos", out_type=str))

# %% vocabulary
# One id for every piece of either language; </s> and <unk> first, <pad> last (Marian's order).
from transformers import MarianTokenizer

pieces = [model.id_to_piece(i) for model in (source, target) for i in range(model.get_piece_size())]
vocab = {piece: i for i, piece in enumerate(dict.fromkeys(["</s>", "<unk>"] + pieces))}
vocab["<pad>"] = len(vocab)
with open(f"{folder}/vocab.json", "w", encoding="utf-8") as handle:
    json.dump(vocab, handle, ensure_ascii=False)
tokenizer = MarianTokenizer(f"{folder}/source.spm", f"{folder}/target.spm", f"{folder}/vocab.json",
                            source_lang="en", target_lang="es")
print(f"{len(vocab)} ids; <pad> is {tokenizer.pad_token_id}")

# %% model
import torch
from transformers import MarianConfig, MarianMTModel

config = MarianConfig(vocab_size=len(vocab), d_model=64, encoder_layers=2, decoder_layers=2,
                      encoder_attention_heads=4, decoder_attention_heads=4,
                      encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=64,
                      dropout=0.0, scale_embedding=True,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id,
                      forced_eos_token_id=tokenizer.eos_token_id)
model = MarianMTModel(config)
print(f"{type(model).__name__}: {model.num_parameters():,} parameters")

# %% batches
# Tokenized once: English ids in, Spanish ids to learn (labels), 32 pairs a batch.
batches = []
for start in range(0, len(train_pairs), 32):
    batch = train_pairs[start:start + 32]
    encoded = tokenizer([en for en, _ in batch], text_target=[es for _, es in batch],
                        return_tensors="pt", padding=True)
    encoded["labels"][encoded["labels"] == tokenizer.pad_token_id] = -100  # no loss on padding
    batches.append(encoded)

# %% train
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
model.train()
for epoch in range(1, 21):
    random.shuffle(batches)
    for encoded in batches:
        loss = model(**encoded).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    if epoch % 10 == 0:
        print(f"epoch {epoch}: loss {loss.item():.4f}")
model.eval();

# %% save
model.save_pretrained(folder)
tokenizer.save_pretrained(folder)
print(sorted(name for name in os.listdir(folder) if not name.startswith(".")))

# %% load
# The same two lines load Helsinki-NLP/opus-mt-en-es from the Hub.
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForSeq2SeqLM.from_pretrained(folder)
print(type(tokenizer).__name__, type(model).__name__)

# %% encode
sentence = "she reads the newspaper"
inputs = tokenizer.encode(sentence, return_tensors="pt")
print(tokenizer.convert_ids_to_tokens(inputs[0]))
print(inputs)

# %% generate
outputs = model.generate(inputs, max_new_tokens=12)
print(outputs)

# %% decode
print(tokenizer.decode(outputs[0]))
print(tokenizer.decode(outputs[0], skip_special_tokens=True))

# %% held_out
correct = 0
for english, spanish in held_out:
    ids = model.generate(tokenizer.encode(english, return_tensors="pt"), max_new_tokens=12)
    correct += tokenizer.decode(ids[0], skip_special_tokens=True) == spanish
print(f"{correct} of {len(held_out)} unseen sentences translated exactly")
