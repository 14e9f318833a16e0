"""Train on the train split from scratch and report on the held-out split.

    python -m orchestrate_classifier.evaluate      (or: make eval)

Prints per-class precision, recall and F1 and the confusion matrix for the category,
the same summary for priority and sentiment, accuracy by source of the held-out
tickets (hand-written, their noisy copies, templated) and the latency of one
prediction. With --cv, also the accuracy of each head on each of the five folds.
"""

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from .training import (
    HEADS,
    Example,
    Head,
    Prediction,
    TicketModel,
    cross_validation,
    held_out_split,
    load_examples,
)


def _label(prediction: Prediction, head: Head) -> str:
    if head == "category":
        return prediction.category
    return prediction.priority if head == "priority" else prediction.sentiment


def _confusion(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> str:
    matrix = confusion_matrix(truth, predicted, labels=list(labels))
    short = [label[:6] for label in labels]
    lines = ["true \\ predicted".ljust(14) + "".join(f"{s:>7}" for s in short)]
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"{label:<14}" + "".join(f"{n:>7}" for n in row))
    return "\n".join(lines)


def report(train: Sequence[Example], test: Sequence[Example]) -> str:
    started = time.perf_counter()
    model = TicketModel.fit(train)
    fit_seconds = time.perf_counter() - started
    predictions = model.predict_many([e.text for e in test])

    out = [
        f"train {len(train)} tickets, held out {len(test)}; fitted in {fit_seconds:.1f} s",
        "",
    ]
    for head, labels in HEADS.items():
        truth = [e.label(head) for e in test]
        predicted = [_label(p, head) for p in predictions]
        accuracy = accuracy_score(truth, predicted)
        macro_f1 = f1_score(truth, predicted, average="macro", labels=list(labels))
        out.append(f"== {head}: accuracy {accuracy:.3f}, macro F1 {macro_f1:.3f}")
        out.append(
            classification_report(
                truth, predicted, labels=list(labels), digits=3, zero_division=0
            ).rstrip()
        )
        if head == "category":
            out += ["", _confusion(truth, predicted, labels)]
        out.append("")

    out.append("== category accuracy by source of the held-out ticket")
    for source in sorted({e.source for e in test}):
        pairs = [(e, p) for e, p in zip(test, predictions, strict=True) if e.source == source]
        hits = sum(e.category == p.category for e, p in pairs)
        out.append(f"{source:<18} {hits / len(pairs):.3f}  ({len(pairs)} tickets)")

    sample = [e.text for e in test[:200]]
    for text in sample[:20]:  # warm the code paths
        model.predict(text)
    started = time.perf_counter()
    for text in sample:
        model.predict(text)
    per_call_ms = (time.perf_counter() - started) / len(sample) * 1000
    out += ["", f"latency: {per_call_ms:.2f} ms per ticket (mean over {len(sample)})"]
    return "\n".join(out)


def cross_validation_report(examples: Sequence[Example]) -> str:
    """Accuracy of each head on each of the folds (the held-out split is fold 0)."""
    scores: dict[Head, list[float]] = {head: [] for head in HEADS}
    for train, test in cross_validation(examples):
        predictions = TicketModel.fit(train).predict_many([e.text for e in test])
        for head, values in scores.items():
            truth = [e.label(head) for e in test]
            values.append(accuracy_score(truth, [_label(p, head) for p in predictions]))
    lines = [f"== {len(scores['category'])}-fold cross-validation (grouped, stratified)"]
    for head, values in scores.items():
        folds = " ".join(f"{v:.3f}" for v in values)
        lines.append(f"{head:<10} mean {np.mean(values):.3f} sd {np.std(values):.3f}  [{folds}]")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, help="labelled tickets (JSONL); default: the shipped set"
    )
    parser.add_argument(
        "--cv", action="store_true", help="also cross-validate over all folds (slower)"
    )
    args = parser.parse_args()
    examples = load_examples(args.data)
    train, test = held_out_split(examples)
    print(report(train, test))
    if args.cv:
        print()
        print(cross_validation_report(examples))


if __name__ == "__main__":
    main()
