"""Linear classifiers over one shared set of TF-IDF features (characters and jieba words).

Chosen by measurement (see README, "Choosing the classifier"): on our data it is
more accurate than spaCy's ``textcat`` and trains in seconds instead of minutes.

- ``Features`` turns a message into one sparse TF-IDF vector: character n-grams and
  word uni/bigrams, each block l2-normalised, exactly as scikit-learn's
  ``TfidfVectorizer(sublinear_tf=True)`` would (a test checks it).
- ``LinearHead`` is one trained linear model over those features: the intent, the
  urgency and the voice models are heads of one ``Features``, so a message is
  featurised once however many models read it.

Training uses scikit-learn; the trained model is kept as plain vocabularies and
weight matrices, so predicting needs only numpy and never imports scikit-learn.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

_WHITESPACE = re.compile(r"\s\s+")


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    """Character n-grams exactly as scikit-learn's ``analyzer="char"`` makes them."""
    text = _WHITESPACE.sub(" ", text.lower())
    grams = []
    for n in range(low, high + 1):
        grams.extend(text[i:i + n] for i in range(len(text) - n + 1))
    return grams


def word_ngrams(tokens: list[str]) -> list[str]:
    """Word unigrams and bigrams from a token list (spaces dropped)."""
    words = [t for t in tokens if t.strip()]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def _identity(items):
    return items


@dataclass
class ClassifierSettings:
    char_ngrams: tuple[int, int] = (1, 3)
    alpha: float = 1e-4  # regularisation of the linear model
    epochs: int = 50
    seed: int = 0


Vector = tuple[np.ndarray, np.ndarray]  # (feature indices, values)
_EMPTY: Vector = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


class Features:
    """The fitted TF-IDF vocabularies: one sparse vector per message, shared by every head."""

    def __init__(self, char_range: tuple[int, int], chars: dict[str, int], chars_idf: np.ndarray,
                 words: dict[str, int], words_idf: np.ndarray):
        self.char_range = tuple(char_range)
        self.chars, self.words = chars, words
        self.offset = len(chars)  # word features follow the character features
        self.idf = np.concatenate([chars_idf, words_idf]).astype(np.float64)
        self.size = len(chars) + len(words)

    @classmethod
    def fit_matrix(cls, texts: list[str], tokens: list[list[str]], char_range: tuple[int, int]):
        """Fit the vocabularies on ``texts`` and return them with the texts' feature matrix (scikit-learn's,
        equal to ``matrix(texts, tokens)`` but built in C: training stays fast)."""
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer

        chars = TfidfVectorizer(analyzer="char", ngram_range=char_range, sublinear_tf=True, dtype=np.float64)
        words = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, lowercase=False, dtype=np.float64)
        matrix = sp.hstack([chars.fit_transform(texts), words.fit_transform([word_ngrams(t) for t in tokens])]).tocsr()
        features = cls(char_range, dict(chars.vocabulary_), chars.idf_, dict(words.vocabulary_), words.idf_)
        return features, matrix

    def _block(self, grams: list[str], vocabulary: dict[str, int], offset: int) -> Vector:
        get = vocabulary.get
        pairs = [(index, count) for gram, count in Counter(grams).items()
                 if (index := get(gram)) is not None]
        if not pairs:
            return _EMPTY
        index = np.fromiter((i + offset for i, _ in pairs), np.int64, len(pairs))
        values = (1.0 + np.log(np.fromiter((c for _, c in pairs), np.float64, len(pairs)))) * self.idf[index]
        return index, values / np.linalg.norm(values)

    def vector(self, text: str, tokens: list[str]) -> Vector:
        """The message's features: l2-normalised sublinear TF-IDF, characters then words."""
        ci, cv = self._block(char_ngrams(text, *self.char_range), self.chars, 0)
        wi, wv = self._block(word_ngrams(tokens), self.words, self.offset)
        return np.concatenate([ci, wi]), np.concatenate([cv, wv])

    def matrix(self, texts: list[str], tokens: list[list[str]]):
        """Feature vectors of many messages as a scipy CSR matrix (for training)."""
        import scipy.sparse as sp

        indptr, indices, data = [0], [], []
        for text, toks in zip(texts, tokens):
            index, values = self.vector(text, toks)
            indices.append(index)
            data.append(values)
            indptr.append(indptr[-1] + len(index))
        return sp.csr_matrix((np.concatenate(data or [_EMPTY[1]]), np.concatenate(indices or [_EMPTY[0]]),
                              np.array(indptr)), shape=(len(texts), self.size), dtype=np.float64)


class LinearHead:
    """One linear model over ``Features``: a score and a probability for each of its labels."""

    def __init__(self, labels: list[str], weights: np.ndarray, bias: np.ndarray):
        self.labels = labels
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)  # (features, labels)
        self.bias = bias.astype(np.float64)

    @classmethod
    def train(cls, matrix, labels: list[str], settings: ClassifierSettings) -> "LinearHead":
        from sklearn.linear_model import SGDClassifier

        model = SGDClassifier(loss="modified_huber", alpha=settings.alpha, max_iter=settings.epochs,
                              tol=None, class_weight="balanced", random_state=settings.seed)
        model.fit(matrix, labels)
        coef, bias = model.coef_, model.intercept_
        if coef.shape[0] == 1:  # two labels: scikit-learn keeps one row, for the second label
            coef, bias = np.vstack([-coef, coef]), np.concatenate([-bias, bias])
        return cls([str(label) for label in model.classes_], coef.T, bias)

    def score(self, vector: Vector) -> np.ndarray:
        index, values = vector
        return self.bias + values @ self.weights[index] if len(index) else self.bias.copy()

    def strongest(self, features: Features, tokens: list[str], label: str) -> str:
        """The word (or word pair) that pushes hardest towards ``label``, e.g. "转 了" → "转了"."""
        column = self.labels.index(label)
        grams = [g for g in set(word_ngrams(tokens)) if len(g.replace(" ", "")) >= 2]  # one character explains nothing
        found = [(g, i + features.offset) for g in grams if (i := features.words.get(g)) is not None]
        if not found:
            return ""
        rows = self.weights[[i for _, i in found]]
        lift = rows[:, column] - rows.mean(axis=1)
        best = int(np.argmax(lift))
        return found[best][0].replace(" ", "") if lift[best] > 0 else ""

    def probabilities(self, vector: Vector) -> np.ndarray:
        """This head's probabilities for one message (a 1-D array in ``self.labels`` order)."""
        return self.probabilities_of(self.score(vector))

    @staticmethod
    def probabilities_of(raw: np.ndarray) -> np.ndarray:
        """One message's scores to probabilities, as the modified Huber loss defines them (they sum to 1)."""
        clipped = (np.clip(raw, -1.0, 1.0) + 1.0) / 2.0
        total = clipped.sum()
        return clipped / total if total > 0 else np.full_like(clipped, 1.0 / len(clipped))

    @staticmethod
    def to_probabilities(scores: np.ndarray) -> np.ndarray:
        """Scores to probabilities the way the modified Huber loss defines them (each row sums to 1)."""
        scores = np.atleast_2d(scores)
        clipped = (np.clip(scores, -1.0, 1.0) + 1.0) / 2.0
        totals = clipped.sum(axis=1, keepdims=True)
        uniform = np.full_like(clipped, 1.0 / clipped.shape[1])
        return np.where(totals > 0, clipped / np.where(totals > 0, totals, 1.0), uniform)


class IntentClassifier:
    """A head with its own features: the simple case of one model (used in tests and tools)."""

    def __init__(self, features: Features, head: LinearHead):
        self.features, self.head = features, head
        self.labels = head.labels

    @classmethod
    def train(cls, texts: list[str], tokens: list[list[str]], labels: list[str],
              settings: ClassifierSettings | None = None) -> "IntentClassifier":
        settings = settings or ClassifierSettings()
        features, matrix = Features.fit_matrix(texts, tokens, tuple(settings.char_ngrams))
        return cls(features, LinearHead.train(matrix, labels, settings))

    def scores(self, texts: list[str], tokens: list[list[str]]) -> np.ndarray:
        """Decision scores: one row per message, one column per label (``self.labels``)."""
        rows = [self.head.score(self.features.vector(t, k)) for t, k in zip(texts, tokens)]
        return np.vstack(rows) if rows else np.zeros((0, len(self.labels)))

    to_probabilities = staticmethod(LinearHead.to_probabilities)
