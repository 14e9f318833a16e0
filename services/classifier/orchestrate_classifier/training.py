"""The statistical ticket model: TF-IDF features into one logistic regression per head.

The labelled tickets are built from the phrasings that ship in data/ (handwritten.txt
and templates.txt, expanded by data/build_dataset.py with a fixed seed, in memory; the
taxonomy and labelling guidelines are in docs/CLASSIFIER.md). Word 1-2 grams carry
the vocabulary of each request; character 2-5 grams within word boundaries keep the
model robust to typos and casual spellings. Both feed three logistic regressions
(one-vs-rest, liblinear): category, priority and sentiment. Fitting takes a few
seconds and is deterministic.

A fitted model is cached on disk (under $XDG_CACHE_HOME/orchestrate or
~/.cache/orchestrate), keyed by the data, this module's source and the scikit-learn
version, so a restarted service loads it in milliseconds; where no cache directory
can be written it simply trains again.
"""

import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import sklearn
from numpy.typing import NDArray
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion

from .data import build_dataset

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 1203
# The held-out split is one fold of five: 20% of each category's tickets.
FOLDS = 5

CATEGORIES = (
    "refund",
    "order",
    "payment",
    "invoice",
    "shipping",
    "cancellation",
    "account",
    "subscription",
    "technical",
    "feedback",
    "contact",
    "other",
)
PRIORITIES = ("low", "medium", "high", "urgent")
SENTIMENTS = ("positive", "neutral", "negative", "frustrated", "angry")

Head = Literal["category", "priority", "sentiment"]
HEADS: dict[Head, tuple[str, ...]] = {
    "category": CATEGORIES,
    "priority": PRIORITIES,
    "sentiment": SENTIMENTS,
}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled ticket. `group` ties the variants of one phrasing together."""

    text: str
    category: str
    priority: str
    sentiment: str
    source: str
    group: str

    def label(self, head: Head) -> str:
        if head == "category":
            return self.category
        return self.priority if head == "priority" else self.sentiment


@dataclass(frozen=True, slots=True)
class Prediction:
    category: str
    confidence: float  # the predicted probability of the category
    priority: str
    sentiment: str


def _checked(example: Example, where: str) -> Example:
    for head, labels in HEADS.items():
        if example.label(head) not in labels:
            raise ValueError(f"{where}: unknown {head} {example.label(head)}")
    return example


def load_examples(path: Path | None = None) -> list[Example]:
    """The shipped labelled tickets, or those of a JSONL file (text, category, priority,
    sentiment, and optionally source and group per line)."""
    if path is None:
        return [
            _checked(
                Example(t.text, t.category, t.priority, t.sentiment, t.source, t.group),
                f"ticket {number}",
            )
            for number, t in enumerate(build_dataset.build(), 1)
        ]
    examples = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            row = json.loads(line)
            example = Example(
                text=row["text"],
                category=row["category"],
                priority=row["priority"],
                sentiment=row["sentiment"],
                source=row.get("source", ""),
                group=row.get("group") or f"line-{number}",
            )
            examples.append(_checked(example, f"{path.name}:{number}"))
    return examples


def _folds(examples: Sequence[Example]) -> list[int]:
    """The fold (0 to FOLDS - 1) of each example: stratified by category, by group.

    Within each category the groups are ranked by a seeded hash of their id and cut
    into FOLDS runs of about equal numbers of tickets. A group's fold follows from its
    own id and its rank, not from a shuffle of the whole set: adding tickets moves
    few held-out tickets into training (only at the cut points), so held-out figures
    stay comparable across data versions.
    """
    sizes: dict[str, Counter[str]] = {}
    for e in examples:
        sizes.setdefault(e.category, Counter())[e.group] += 1
    fold_of: dict[tuple[str, str], int] = {}
    for category, groups in sizes.items():
        total = sum(groups.values())
        before = 0
        for group in sorted(groups, key=lambda g: hashlib.sha256(f"{SEED}:{g}".encode()).digest()):
            # By the group's middle ticket, so each fold holds about 1/FOLDS of the tickets.
            fold_of[category, group] = min(
                FOLDS - 1, (2 * before + groups[group]) * FOLDS // (2 * total)
            )
            before += groups[group]
    return [fold_of[e.category, e.group] for e in examples]


def cross_validation(examples: Sequence[Example]) -> list[tuple[list[Example], list[Example]]]:
    """(train, test) for each of the FOLDS folds; the first is the held-out split."""
    folds = _folds(examples)
    return [
        (
            [e for e, f in zip(examples, folds, strict=True) if f != k],
            [e for e, f in zip(examples, folds, strict=True) if f == k],
        )
        for k in range(FOLDS)
    ]


def held_out_split(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(train, test): the fixed held-out split, 20% of each category's groups.

    Grouped: all variants of one template, or a hand-written message and its noisy
    copy, fall on the same side, so the test measures the model on phrasings it has
    never seen.
    """
    return cross_validation(examples)[0]


_DIGITS = re.compile(r"\d")


def normalise(text: str) -> str:
    """Lower case, and every digit a 0: order numbers and amounts share their shape."""
    return _DIGITS.sub("0", text.lower())


def _features() -> FeatureUnion:
    words = TfidfVectorizer(
        preprocessor=normalise,
        token_pattern=r"(?u)\b\w+\b|[!?]",
        ngram_range=(1, 2),
        sublinear_tf=True,
    )
    chars = TfidfVectorizer(
        preprocessor=normalise,
        analyzer="char_wb",
        ngram_range=(2, 5),
        sublinear_tf=True,
        min_df=2,
    )
    return FeatureUnion([("words", words), ("chars", chars)])


def _head() -> OneVsRestClassifier:
    # One-vs-rest liblinear in its dual form (far more features than tickets) fits in
    # well under a second per head; multinomial lbfgs takes several and scored no
    # better. Balanced class weights keep the rare labels (urgent, angry) from being
    # drowned by the frequent ones.
    return OneVsRestClassifier(
        LogisticRegression(
            C=20.0,
            solver="liblinear",
            dual=True,
            class_weight="balanced",
            max_iter=1000,
            random_state=SEED,
        )
    )


def _tfidf(vectoriser: TfidfVectorizer, texts: Sequence[str]) -> sparse.csr_matrix:
    """vectoriser.transform(texts), computed on the raw arrays: the input validation and
    the sparse-matrix bookkeeping of the library path cost more than the arithmetic for
    a single ticket. The tests check that both give the same numbers."""
    counts = CountVectorizer.transform(vectoriser, texts)
    data = counts.data.astype(np.float64)
    if vectoriser.sublinear_tf:
        data = np.log(data) + 1.0
    data *= vectoriser.idf_[counts.indices]
    per_row = np.diff(counts.indptr)
    rows = np.repeat(np.arange(len(per_row)), per_row)
    norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=len(per_row)))
    norms[norms == 0.0] = 1.0
    data /= np.repeat(norms, per_row)
    return sparse.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)


class TicketModel:
    """Fitted features and one classifier per head.

    Prediction does not go through the estimators one by one (twelve binary models
    for the category alone): their coefficients are stacked into one matrix, so a
    ticket costs two vectoriser transforms and one sparse-dense product, about a
    millisecond. The probabilities are those of OneVsRestClassifier.predict_proba.
    """

    def __init__(self, features: FeatureUnion, heads: dict[Head, OneVsRestClassifier]) -> None:
        self._features = features
        self._heads = heads
        self._classes = {head: [str(c) for c in clf.classes_] for head, clf in heads.items()}
        columns = [est.coef_.ravel() for clf in heads.values() for est in clf.estimators_]
        self._weights = np.column_stack(columns)
        self._bias = np.array(
            [float(est.intercept_[0]) for clf in heads.values() for est in clf.estimators_]
        )
        bounds = np.cumsum([0] + [len(clf.estimators_) for clf in heads.values()])
        self._slices = {
            head: slice(int(a), int(b))
            for head, a, b in zip(heads, bounds[:-1], bounds[1:], strict=True)
        }

    @classmethod
    def fit(cls, examples: Sequence[Example]) -> "TicketModel":
        features = _features()
        matrix = features.fit_transform([e.text for e in examples])
        heads: dict[Head, OneVsRestClassifier] = {}
        for head in HEADS:
            classifier = _head()
            classifier.fit(matrix, [e.label(head) for e in examples])
            heads[head] = classifier
        return cls(features, heads)

    def probabilities(self, texts: Sequence[str]) -> dict[Head, NDArray[np.float64]]:
        """Each head's class probabilities, columns in the order of `classes(head)`."""
        scores = np.tile(self._bias, (len(texts), 1))
        offset = 0
        for _, vectoriser in self._features.transformer_list:
            part = _tfidf(vectoriser, texts)
            scores += part @ self._weights[offset : offset + part.shape[1]]
            offset += part.shape[1]
        binary = 1.0 / (1.0 + np.exp(-scores))  # each one-vs-rest model's own probability
        result = {}
        for head, columns in self._slices.items():
            block = binary[:, columns]
            result[head] = block / block.sum(axis=1, keepdims=True)
        return result

    def classes(self, head: Head) -> list[str]:
        return self._classes[head]

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        probabilities = self.probabilities(texts)
        best = {head: np.argmax(p, axis=1) for head, p in probabilities.items()}
        return [
            Prediction(
                category=self._classes["category"][best["category"][i]],
                confidence=float(probabilities["category"][i, best["category"][i]]),
                priority=self._classes["priority"][best["priority"][i]],
                sentiment=self._classes["sentiment"][best["sentiment"][i]],
            )
            for i in range(len(texts))
        ]

    def reference_probabilities(self, texts: Sequence[str]) -> dict[Head, NDArray[np.float64]]:
        """The same probabilities through scikit-learn's own predict_proba (for tests)."""
        matrix = self._features.transform(texts)
        return {head: clf.predict_proba(matrix) for head, clf in self._heads.items()}


_STALE_AFTER_S = 24 * 3600


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "orchestrate"


def _cache_key(data: Path | None) -> str:
    digest = hashlib.sha256()
    sources = [data] if data else [*sorted(DATA_DIR.glob("*.txt")), DATA_DIR / "build_dataset.py"]
    for source in sources:
        digest.update(source.read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(sklearn.__version__.encode())
    return digest.hexdigest()[:24]


def load_or_train(data: Path | None = None, cache_dir: Path | None = None) -> TicketModel:
    """The model fitted on every shipped ticket: from the disk cache, else trained."""
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    cached = cache_dir / f"classifier-{_cache_key(data)}.pickle"
    try:
        with cached.open("rb") as stored:
            model = pickle.load(stored)
        if isinstance(model, TicketModel):
            return model
    except FileNotFoundError:
        pass
    except Exception:  # a corrupt or incompatible cache entry: train again
        log.warning("ignoring unreadable classifier cache %s", cached, exc_info=True)
    model = TicketModel.fit(load_examples(data))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: concurrent processes never read half a file.
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tmp", delete=False) as out:
            temporary = Path(out.name)
            try:
                pickle.dump(model, out, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        os.replace(temporary, cached)
        # Entries of other data or code versions, once a day old (another checkout
        # sharing the cache may still be using a recent one).
        for stale in cache_dir.glob("classifier-*.pickle"):
            if stale != cached and time.time() - stale.stat().st_mtime > _STALE_AFTER_S:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        log.info("classifier model not cached (%s); it is trained at each start", exc)
    return model
