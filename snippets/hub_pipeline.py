"""The one-liner from the Hugging Face docs: it needs the model from the Hub (or its cache)."""

# %% classify
from transformers import pipeline

try:
    classifier = pipeline("text-classification",
                          model="distilbert/distilbert-base-uncased-finetuned-sst-2-english")
    print(classifier("I love using the Hugging Face library!"))
except OSError as err:  # no network and no cached copy
    print("Model not available offline:", type(err).__name__)
    print("Run this once with internet access to cache it.")
