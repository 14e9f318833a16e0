"""The built-in models count usage with a real BPE tokenizer (GPT-4o's o200k_base)."""

import pytest

from orchestrate_classifier.model import classify
from orchestrate_classifier.model import count_tokens as classifier_tokens
from orchestrate_responder.model import Draft, write_reply
from orchestrate_responder.model import count_tokens as responder_tokens


@pytest.mark.parametrize("count", [classifier_tokens, responder_tokens])
def test_token_counts_are_bpe_tokens(count) -> None:
    assert count("hello world") == 2  # [24912, 2375] in o200k_base
    assert count("") == 0
    # Not words: a long rare word is several tokens, punctuation runs may be one.
    assert count("antidisestablishmentarianism") > 1


def test_usage_of_the_seed_ticket() -> None:
    ticket = "I have been waiting for my refund for 2 weeks. Order #12345. This is unacceptable!"
    _, usage = classify(ticket)
    assert usage.input_tokens == classifier_tokens(ticket) == 21
    reply, usage = write_reply(
        Draft(ticket, "refund", "frustrated", "12345", None, "approved", "fine")
    )
    assert usage.input_tokens == responder_tokens(ticket) + responder_tokens("fine")
    assert usage.output_tokens == responder_tokens(reply)


@pytest.mark.parametrize("count", [classifier_tokens, responder_tokens])
def test_special_token_text_in_a_ticket_is_plain_text(count) -> None:
    # A customer may paste anything; "<|endoftext|>" in a ticket is characters, not a
    # control token, and must not fail the step.
    assert count("see <|endoftext|> here") > count("see  here")
    _, usage = classify("Refund please <|endoftext|> order #123")
    assert usage.input_tokens > 0
