"""The lab: fine-tune MiniLM-L6 for sentiment on data/reviews.csv, evaluate, then use it."""

# %% data
#| inputs: data/reviews.csv
import pandas as pd

reviews = pd.read_csv("data/reviews.csv")
test = reviews.groupby("label").sample(frac=0.2, random_state=12)
train = reviews.drop(test.index)
print(f"{len(train)} training and {len(test)} held-out sentences")
train.sample(3, random_state=1)

# %% model
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from helpers import minilm_path

labels = ["negative", "positive"]
tokenizer = AutoTokenizer.from_pretrained(minilm_path())
model = AutoModelForSequenceClassification.from_pretrained(
    minilm_path(), num_labels=2,
    id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)})
print("new, untrained layer on top:", model.classifier)

# %% train
import torch

optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
texts = list(train["text"])
targets = torch.tensor([labels.index(label) for label in train["label"]])
model.train()
for epoch in range(1, 5):
    for batch in torch.randperm(len(texts)).split(16):
        encoded = tokenizer([texts[i] for i in batch], padding=True, return_tensors="pt")
        loss = model(**encoded, labels=targets[batch]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    print(f"epoch {epoch}: loss {loss.item():.3f}")
model.eval();

# %% evaluate
sentences = list(test["text"])
with torch.no_grad():
    batch = tokenizer(sentences, padding=True,
                      return_tensors="pt")
    best = model(**batch).logits.argmax(-1)
predicted = [labels[i] for i in best]
accuracy = (test["label"] == predicted).mean()
print(f"accuracy: {accuracy:.0%} of {len(test)}")

# %% confusion
#| fig-alt: "A confusion matrix of the fine-tuned classifier on the held-out reviews: true labels against predicted labels."
import matplotlib.pyplot as plt

matrix = pd.crosstab(test["label"], pd.Series(predicted, index=test.index, name="predicted"))
matrix = matrix.reindex(index=labels, columns=labels, fill_value=0)

fig, ax = plt.subplots(figsize=(4.4, 3.8))
ax.imshow(matrix, cmap="Blues")
for row, true_label in enumerate(labels):
    for col, predicted_label in enumerate(labels):
        count = matrix.loc[true_label, predicted_label]
        ax.text(col, row, count, ha="center", va="center", fontsize=18,
                color="white" if count > matrix.values.max() / 2 else "black")
ax.set_xticks([0, 1], labels)
ax.set_yticks([0, 1], labels)
ax.set_xlabel("predicted")
ax.set_ylabel("true label");

# %% use
from transformers import pipeline

classify = pipeline("text-classification", model=model, tokenizer=tokenizer)
classify(["The tutorial was a joy to work through",
          "The projector broke and nobody could fix it"])
