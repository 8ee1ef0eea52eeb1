"""Attention weights of a real pretrained model (MiniLM-L6), drawn as heatmaps."""

# %% load
from transformers import AutoModel, AutoTokenizer
from helpers import minilm_path

tokenizer = AutoTokenizer.from_pretrained(minilm_path())
# "eager" attention can hand back its weights
model = AutoModel.from_pretrained(minilm_path(), attn_implementation="eager")

# %% run
sentence = "The trophy did not fit in the suitcase because it was too big."
inputs = tokenizer(sentence, return_tensors="pt")
outputs = model(**inputs, output_attentions=True)
tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
print(len(outputs.attentions), "layers, each", tuple(outputs.attentions[0].shape))

# %% one_head
#| fig-alt: "A heatmap of how strongly each token of the sentence attends to every other token, in layer 2, head 5 of MiniLM."
import matplotlib.pyplot as plt
from helpers import heatmap

layer, head = 2, 5
# sentence 0, one head: tokens x tokens
weights = outputs.attentions[layer][0, head]

fig, ax = plt.subplots(figsize=(7, 5.6))
heatmap(ax, weights.detach(), tokens,
        title=f"Layer {layer}, head {head}");

# %% all_heads
#| fig-alt: "Twelve small heatmaps, one per attention head of MiniLM's layer 2, each with its own pattern."
layer_weights = outputs.attentions[layer][0].detach()
fig, axes = plt.subplots(2, 6, figsize=(15, 6.4), sharex=True, sharey=True)
for head, ax in enumerate(axes.flat):
    heatmap(ax, layer_weights[head], tokens, title=f"head {head}", colorbar=False)
    ax.tick_params(labelsize=7)
fig.suptitle(f"Layer {layer}: all {len(axes.flat)} heads")
fig.tight_layout()

# %% average
#| fig-alt: "Left, the average attention of layer 2's heads as a heatmap; right, a bar chart of how much the word 'it' attends to each token."
mean_weights = layer_weights.mean(dim=0)
it = tokens.index("it")
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [3, 2]})
heatmap(left, mean_weights, tokens, title=f"Layer {layer}, average of the heads")
rows = range(len(tokens))  # by position: a word that comes twice ("the") gets two bars
right.barh(rows, mean_weights[it].flip(0))
right.set_yticks(rows, tokens[::-1])
right.set_title("How much 'it' attends to each token")
fig.tight_layout()

# %% interactive
from bertviz import head_view  # pick a layer; hover over a word to see where each head looks

head_view(outputs.attentions, tokens, html_action="return")
