"""Build the labelled ticket set from the phrasings beside this file.

Training builds it in memory (training.load_examples); running this module writes it
to tickets.jsonl (not kept in git) for reading or for other tools.

    python -m orchestrate_classifier.data.build_dataset

Two sources, both written by hand (labelling guidelines: docs/CLASSIFIER.md):

- handwritten.txt: free-form messages, each with its labels; about a third of them
  also get one noisy copy (typos, lower case, dropped punctuation).
- templates.txt: phrasing templates with alternatives and slots; each is expanded a
  few times with random slot values, a greeting, a sign-off, a tone (which sets the
  sentiment and can raise the priority), sometimes a sentence about another topic
  (the label stays the main request's) and sometimes typing noise.

Every example carries a `group`: the template it came from or the hand-written
message it copies, so that the held-out split keeps all variants of one phrasing on
the same side. The output is deterministic (fixed seed) and deduplicated.
"""

import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "tickets.jsonl"
SEED = 20261203
# Expansions drawn per template (duplicates are dropped afterwards).
PER_TEMPLATE = 6
# Share of hand-written messages that also get one noisy copy.
NOISY_COPY_RATE = 0.35
# Share of templated messages that get a sentence about another topic first.
MIXED_RATE = 0.1

PRIORITY_CODES = {"L": "low", "M": "medium", "H": "high", "U": "urgent"}
SENTIMENT_CODES = {
    "pos": "positive",
    "neu": "neutral",
    "neg": "negative",
    "fru": "frustrated",
    "ang": "angry",
}
TONE_CODES = {
    "N": "neutral",
    "P": "positive",
    "G": "negative",
    "F": "frustrated",
    "A": "angry",
}
TONE_WEIGHTS = {"N": 0.42, "P": 0.2, "G": 0.16, "F": 0.14, "A": 0.08}
PRIORITY_ORDER = ("low", "medium", "high", "urgent")

# ---------------------------------------------------------------- slot values

PRODUCTS = (
    "wireless earbuds",
    "running shoes",
    "blue hoodie",
    "coffee grinder",
    "phone case",
    "yoga mat",
    "4K monitor",
    "rain jacket",
    "standing desk",
    "air fryer",
    "laptop sleeve",
    "skincare set",
    "desk lamp",
    "bluetooth speaker",
    "gaming chair",
    "wool scarf",
    "espresso machine",
    "dog bed",
    "smartwatch",
    "backpack",
    "duvet cover",
    "hair dryer",
    "water bottle",
    "winter boots",
    "kettle",
    "office chair",
    "baby monitor",
    "board game",
    "perfume",
    "leather wallet",
    "e-reader",
    "robot vacuum",
    "mattress",
    "frying pan",
    "denim jacket",
    "electric toothbrush",
    "printer",
    "sofa cushion",
    "jigsaw puzzle",
    "sunglasses",
    "protein powder",
    "tent",
    "bike helmet",
    "mixer",
    "curtains",
)
GADGETS = (
    "smart plug",
    "robot vacuum",
    "headphones",
    "smartwatch",
    "doorbell camera",
    "fitness tracker",
    "smart speaker",
    "thermostat",
    "printer",
    "e-reader",
    "baby monitor",
    "smart bulb",
)
DEVICES = (
    "iPhone 12",
    "an iPhone 15",
    "Android",
    "a Samsung Galaxy S23",
    "Chrome",
    "Safari",
    "Firefox",
    "an iPad",
    "Windows 11",
    "a Mac",
    "a Pixel 7",
    "Edge",
)
COURIERS = ("UPS", "FedEx", "DHL", "USPS", "Royal Mail", "DPD", "Evri", "Canada Post", "GLS")
METHODS = (
    "PayPal",
    "Apple Pay",
    "Google Pay",
    "Visa",
    "Mastercard",
    "Amex",
    "Klarna",
    "UPI",
    "iDEAL",
    "a debit card",
    "my credit card",
)
COUNTRIES = (
    "Canada",
    "Ireland",
    "Germany",
    "Australia",
    "the US",
    "India",
    "France",
    "Norway",
    "Switzerland",
    "New Zealand",
    "Spain",
    "Japan",
    "Brazil",
    "the Netherlands",
)
ADDRESSES = (
    "22 Elm Road, Bristol BS1 4DJ",
    "Flat 3, 41 King Street, Manchester",
    "1450 Oak Ave, Portland OR 97205",
    "Hauptstrasse 12, 10115 Berlin",
    "14 rue des Lilas, 75011 Paris",
    "88 Queen St W, Toronto ON",
    "B-204 Green Park, Pune 411001",
    "7 Harbour View, Wellington",
)
PLANS = (
    "Premium plan",
    "Pro membership",
    "Family plan",
    "annual subscription",
    "Plus membership",
    "meal kit subscription",
    "coffee subscription",
    "monthly box",
    "Basic plan",
)
NAMES = (
    "Anna",
    "James",
    "Priya",
    "Tom",
    "Maria",
    "Chen",
    "Fatima",
    "Luca",
    "Sophie",
    "Olu",
    "Mark",
    "Aisha",
    "Jonas",
    "Emily",
    "Raj",
    "Carmen",
)
SURNAMES = ("Smith", "Patel", "Nguyen", "Müller", "Garcia", "O'Brien", "Kowalski", "Silva")
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.co.uk", "icloud.com", "web.de", "company.io")
CITIES = ("London", "Leeds", "Dublin", "Berlin", "Toronto", "Sydney", "Mumbai", "Chicago")
MONTHS = ("January", "March", "April", "June", "September", "October", "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "last week", "yesterday")
DATES = (
    "last week",
    "yesterday",
    "on Monday",
    "last month",
    "on March 3",
    "on the 14th",
    "on 12/11",
    "on 2024-11-02",
    "on 5 October",
    "two days ago",
    "on Black Friday",
    "at the weekend",
)
WAIT_SHORT = ("2 days", "3 days", "a couple of days", "two days", "4 days", "48 hours", "5 days")
WAIT_LONG = (
    "2 weeks",
    "three weeks",
    "a month",
    "10 days",
    "over a month",
    "6 weeks",
    "two weeks",
    "12 days",
    "nearly 3 weeks",
    "a whole month",
    "8 days",
    "15 days",
)
SIZES = ("S", "M", "L", "XL", "8", "10", "12", "38", "42", "44")
COUNTS = ("2", "3", "4", "two", "three", "5", "6")
CODES = ("WELCOME10", "SAVE20", "SPRING15", "FREESHIP", "VIP25", "BLACKFRIDAY")


def _order_ref(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 8)))
    letters = "".join(rng.choice("ABCDEFGHKMNPRSTXZ") for _ in range(2))
    return rng.choice(
        (
            f"#{digits}",
            digits,
            f"{letters}-{digits}",
            f"ORD-{rng.randint(2021, 2026)}-{digits[:5]}",
            f"#{letters[0]}{digits}",
            f"{digits[:3]}-{digits[3:]}{rng.randint(1000, 9999)}",
            f"{letters}{digits}",
        )
    )


def _order(rng: random.Random) -> str:
    ref = _order_ref(rng)
    bare = ref.lstrip("#")
    return rng.choice(
        (
            f"order {ref}",
            f"order #{bare}",
            f"Order #{bare}",
            f"order no. {bare}",
            f"order number {bare}",
            f"Order {ref}",
            f"my order ({ref})",
            f"order ID {bare}",
            "my order",
            "my last order",
        )
    )


def _amount(rng: random.Random) -> str:
    whole = rng.choice((9, 14, 19, 24, 35, 49, 59, 64, 89, 120, 149, 240, 399, 1299))
    cents = rng.choice(("", ".99", ".50", ".00", ".95"))
    value = f"{whole}{cents}"
    return rng.choice(
        (
            f"${value}",
            f"€{value}",
            f"£{value}",
            f"₹{whole * 80:,}",
            f"{value} USD",
            f"{value} EUR",
            f"{whole} euros",
            f"{whole} dollars",
            f"AUD {value}",
            f"CAD {value}",
            f"{value}€",
        )
    )


def _email(rng: random.Random) -> str:
    name = rng.choice(NAMES).lower()
    surname = rng.choice(SURNAMES).lower().replace("'", "").replace("ü", "u")
    joiner = rng.choice((".", "_", ""))
    suffix = rng.choice(("", str(rng.randint(1, 99))))
    return f"{name}{joiner}{surname}{suffix}@{rng.choice(EMAIL_DOMAINS)}"


def _phone(rng: random.Random) -> str:
    n = [rng.randint(0, 9) for _ in range(10)]
    return rng.choice(
        (
            "07{}{}{} {}{}{}{}{}{}".format(*n[:9]),
            "+44 7{}{}{} {}{}{}{}{}{}".format(*n[:9]),
            "({}{}{}) 555-0{}{}{}".format(*n[:6]),
            "+49 151 {}{}{}{}{}{}{}".format(*n[:7]),
            "98{}{}{} {}{}{}{}{}".format(*n[:8]),
        )
    )


def _slot(name: str, rng: random.Random, state: dict[str, bool]) -> str:
    if name == "wait":
        if rng.random() < 0.5:
            state["long_wait"] = True
            return rng.choice(WAIT_LONG)
        return rng.choice(WAIT_SHORT)
    fixed: dict[str, tuple[str, ...]] = {
        "product": PRODUCTS,
        "gadget": GADGETS,
        "device": DEVICES,
        "courier": COURIERS,
        "method": METHODS,
        "country": COUNTRIES,
        "address": ADDRESSES,
        "plan": PLANS,
        "name": NAMES,
        "city": CITIES,
        "month": MONTHS,
        "day": DAYS,
        "date": DATES,
        "size": SIZES,
        "size2": SIZES,
        "count": COUNTS,
        "count2": COUNTS,
        "code": CODES,
    }
    if name in fixed:
        return rng.choice(fixed[name])
    number = rng.randint(10000, 99999)
    generated: dict[str, Callable[[], str]] = {
        "order": lambda: _order(rng),
        "ordnum": lambda: _order_ref(rng),
        "amount": lambda: _amount(rng),
        "email": lambda: _email(rng),
        "phone": lambda: _phone(rng),
        "contact": lambda: rng.choice((_email(rng), _phone(rng))),
        "rma": lambda: rng.choice((f"RMA-{number}", f"R{number}", f"return #{number}")),
        "inv": lambda: rng.choice((f"INV-{number}", f"INV-2025-{number % 10000:04d}", str(number))),
        "vat": lambda: rng.choice((f"GB{number}4321", f"DE{number}1234", f"IE{number}7K")),
        "company": lambda: rng.choice(("Brightline Ltd", "Acme GmbH", "Nordic Pixels AB")),
        "ref": lambda: f"REF-{number}",
        "case": lambda: rng.choice((f"#{number}", f"CS-{number}", str(number))),
        "errcode": lambda: rng.choice(("E-13", "0x80070005", "403", "AUTH_02", "E42", "502")),
        "num": lambda: str(rng.randint(2, 140)),
    }
    return generated[name]()


# ---------------------------------------------------------------- tones and wrappers

GREETINGS = (
    "Hi,",
    "Hello,",
    "Hey,",
    "Hi there,",
    "Hello team,",
    "Good morning,",
    "Good afternoon,",
    "Dear Sir or Madam,",
    "Dear support team,",
    "hey",
    "hi",
    "Hiya,",
    "Hello support,",
    "To whom it may concern,",
)
CLOSINGS = (
    "Thanks.",
    "Thank you.",
    "Thanks in advance!",
    "Kind regards, {name}",
    "Regards,\n{name}",
    "Best, {name}",
    "Cheers",
    "thx",
    "Thank you for your help.",
    "Many thanks,\n{name} {surname}",
    "Appreciate it.",
    "- {name}",
    "ty",
)
TONE_PHRASES = {
    "P": (
        "You guys are great, by the way!",
        "Love your products!",
        "Really happy with everything so far.",
        "Your service has always been excellent.",
        "Thanks so much, you're the best!",
        "Big fan of your shop :)",
        "Everything else was perfect, love it.",
    ),
    "G": (
        "I'm quite disappointed.",
        "Not very happy about this.",
        "This is a bit annoying.",
        "Pretty disappointing, to be honest.",
        "Not the experience I expected.",
        "I'm a little let down.",
        "Not impressed.",
        "Unfortunately this has spoiled the purchase for me.",
        "Kind of a bummer.",
    ),
    "F": (
        "This is unacceptable!",
        "I have already contacted you twice about this.",
        "This is the third time I'm writing.",
        "How long is this going to take?",
        "I'm getting really fed up.",
        "Why is this so difficult?",
        "Still no answer from anyone.",
        "I've been more than patient.",
        "Honestly, this is exhausting.",
        "Seriously??",
        "Nobody has replied to my previous emails.",
        "I'm so frustrated with this.",
        "Getting tired of chasing you.",
    ),
    "A": (
        "This is a complete joke!!",
        "Worst service I have ever experienced.",
        "I am absolutely furious.",
        "You people are useless.",
        "Never ordering from you again!!!",
        "This is a scam.",
        "Disgraceful.",
        "What a pathetic company.",
        "I'm DONE with you.",
        "Unbelievable. Absolutely shocking service.",
    ),
}
THREATS = (
    "I will be contacting my lawyer.",
    "If this isn't resolved today I'm filing a chargeback with my bank.",
    "I'm reporting you to consumer protection.",
    "Expect to hear from my solicitor.",
    "I will take legal action if this isn't fixed.",
    "I'm going to the Better Business Bureau.",
)
# A sentence about another topic, put before the main request.
CONTEXTS = {
    "refund": ("I already got a refund for the other item.", "I know refunds take a few days."),
    "order": (
        "I ordered a {product} last week.",
        "My order arrived yesterday.",
        "I placed an order {date}.",
    ),
    "payment": ("I paid with {method}.", "The payment went through fine.", "I paid {amount}."),
    "invoice": ("I already have the invoice.", "I got the receipt by email."),
    "shipping": (
        "The parcel arrived two days late, but that's not why I'm writing.",
        "Delivery was a bit slow.",
        "The courier left it with my neighbour.",
    ),
    "cancellation": ("I thought about cancelling, but decided not to.",),
    "account": ("My account email is {email}.", "I'm logged in as {email}."),
    "subscription": ("I've been a subscriber for years.", "I'm on the {plan}."),
    "technical": ("Your app was glitchy earlier, but that's a separate thing.",),
    "feedback": ("I'm a long-time customer.",),
    "contact": ("I tried calling but the line was busy.", "Your chat wasn't available."),
    "other": ("I was browsing your new collection.",),
}
DETAILS = (
    "My account email is {email}.",
    "I'm a long-time customer.",
    "My name is {name} {surname}.",
    "Please reply by email.",
    "I'm available all day today.",
    "It was a present for my {relative}.",
)
RELATIVES = ("mum", "dad", "sister", "son", "daughter", "partner", "friend")

# ---------------------------------------------------------------- noise

CASUAL = {
    "please": ("pls", "plz"),
    "you": ("u",),
    "your": ("ur",),
    "thanks": ("thx", "thanks!!"),
    "because": ("cuz", "bc"),
    "I'm": ("im", "Im"),
    "I've": ("ive", "Ive"),
    "don't": ("dont",),
    "can't": ("cant",),
    "doesn't": ("doesnt",),
    "haven't": ("havent",),
    "it's": ("its",),
    "received": ("recieved", "recived"),
    "tomorrow": ("tmrw", "tommorow"),
    "okay": ("ok",),
    # Frequent real misspellings, on top of the random typos below.
    "cancel": ("cancle", "cancell"),
    "cancelled": ("canceled", "cancled"),
    "address": ("adress", "addres"),
    "receive": ("recieve",),
    "password": ("pasword", "passwrod"),
    "account": ("acount", "accont"),
    "subscription": ("subscribtion", "subscripton"),
    "delivery": ("delivary", "delievery"),
    "delivered": ("deliverd",),
    "package": ("pakage", "packege"),
    "payment": ("payement", "paymnet"),
    "invoice": ("invoce", "invioce"),
    "refund": ("refnd", "refud"),
    "shipping": ("shiping",),
    "until": ("untill",),
    "which": ("wich",),
    "definitely": ("definately",),
    "separate": ("seperate",),
    "immediately": ("immediatly",),
    "unacceptable": ("unacceptible",),
}


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:  # swap two letters
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:  # drop a letter
        return word[:i] + word[i + 1 :]
    if kind == 2:  # double a letter
        return word[:i] + word[i] + word[i:]
    keyboard = "qwertyuiopasdfghjklzxcvbnm"
    return word[:i] + rng.choice(keyboard) + word[i + 1 :]


def add_noise(text: str, rng: random.Random) -> str:
    """Typing noise: casual spellings, typos, lower case, missing punctuation."""
    words = text.split(" ")
    if rng.random() < 0.5:
        words = [rng.choice(CASUAL[w]) if w in CASUAL and rng.random() < 0.6 else w for w in words]
    if rng.random() < 0.7:
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(words))
            words[i] = _typo(words[i], rng)
    noisy = " ".join(words)
    if rng.random() < 0.45:
        noisy = noisy.lower()
    if rng.random() < 0.3:
        noisy = re.sub(r"[.,;:](?=\s|$)", "", noisy)
    if rng.random() < 0.2:
        noisy = noisy.replace("?", "")
    return noisy


# ---------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class Template:
    category: str
    index: int
    priority: str
    tones: str
    flags: str
    text: str


@dataclass(frozen=True, slots=True)
class Ticket:
    text: str
    category: str
    priority: str
    sentiment: str
    source: str
    group: str


def _sections(path: Path) -> list[tuple[str, str, str]]:
    """(category, head, text) per line under a [category] header."""
    category = ""
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]") and "|" not in line:
            category = line[1:-1]
            continue
        head, sep, text = line.partition(" | ")
        if not sep or not category:
            raise ValueError(f"{path.name}:{number}: malformed line")
        rows.append((category, head, text.replace("\\n", "\n")))
    return rows


def load_templates(path: Path = HERE / "templates.txt") -> list[Template]:
    templates = []
    per_category: Counter[str] = Counter()
    for category, head, text in _sections(path):
        code, tones, flags = head.split()
        templates.append(
            Template(category, per_category[category], PRIORITY_CODES[code], tones, flags, text)
        )
        per_category[category] += 1
    return templates


def load_handwritten(path: Path = HERE / "handwritten.txt") -> list[Ticket]:
    tickets = []
    per_category: Counter[str] = Counter()
    for category, head, text in _sections(path):
        priority, sentiment = head.split()
        group = f"{category}/h{per_category[category]:03d}"
        per_category[category] += 1
        tickets.append(
            Ticket(
                text,
                category,
                PRIORITY_CODES[priority],
                SENTIMENT_CODES[sentiment],
                "handwritten",
                group,
            )
        )
    return tickets


_CHOICE = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)\}")


def fill(text: str, rng: random.Random, state: dict[str, bool]) -> str:
    """Pick one alternative of each [a|b] and fill each {slot}."""
    text = _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), text)
    extra: dict[str, Callable[[], str]] = {
        "surname": lambda: rng.choice(SURNAMES),
        "relative": lambda: rng.choice(RELATIVES),
    }
    text = _SLOT.sub(
        lambda m: extra[m.group(1)]() if m.group(1) in extra else _slot(m.group(1), rng, state),
        text,
    )
    # An empty alternative can leave a space before punctuation, or two spaces.
    return re.sub(r" +", " ", re.sub(r" +([?.!,])", r"\1", text))


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _raise(priority: str, floor: str) -> str:
    return max(priority, floor, key=PRIORITY_ORDER.index)


def render(template: Template, rng: random.Random) -> Ticket:
    """One message from a template, with its labels."""
    state: dict[str, bool] = {}
    core = _capitalise(fill(template.text, rng, state).strip())
    if "i" in template.flags:
        tone = template.tones
    else:
        allowed = list(template.tones)
        tone = rng.choices(allowed, weights=[TONE_WEIGHTS[t] for t in allowed])[0]
    priority = template.priority
    if "w" in template.flags and state.get("long_wait"):
        priority = _raise(priority, "high")
    if tone in ("F", "A"):
        priority = _raise(priority, "high")

    parts: list[str] = []
    if rng.random() < 0.55:
        parts.append(rng.choice(GREETINGS))
    if rng.random() < MIXED_RATE:
        other = rng.choice([c for c in CONTEXTS if c != template.category])
        parts.append(fill(rng.choice(CONTEXTS[other]), rng, {}))
    tone_phrase = ""
    if tone != "N" and "i" not in template.flags:
        tone_phrase = rng.choice(TONE_PHRASES[tone])
    if tone == "A" and rng.random() < 0.3:
        core = core.upper()
    if tone_phrase and rng.random() < 0.3:
        parts += [tone_phrase, core]
    else:
        parts += [core, tone_phrase] if tone_phrase else [core]
    if tone == "A" and rng.random() < 0.35:
        parts.append(rng.choice(THREATS))
        priority = "urgent"
    if rng.random() < 0.15:
        parts.append(fill(rng.choice(DETAILS), rng, {}))
    if rng.random() < 0.5:
        parts.append(fill(rng.choice(CLOSINGS), rng, {}))
    separator = "\n" if rng.random() < 0.15 else " "
    text = separator.join(p for p in parts if p)
    if rng.random() < 0.3:
        text = add_noise(text, rng)
    return Ticket(
        text,
        template.category,
        priority,
        TONE_CODES[tone],
        "template",
        f"{template.category}/t{template.index:03d}",
    )


def _key(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def build(seed: int = SEED) -> list[Ticket]:
    rng = random.Random(seed)
    tickets: list[Ticket] = []
    for ticket in load_handwritten():
        tickets.append(ticket)
        if rng.random() < NOISY_COPY_RATE:
            noisy = add_noise(ticket.text, rng)
            tickets.append(
                Ticket(
                    noisy,
                    ticket.category,
                    ticket.priority,
                    ticket.sentiment,
                    "handwritten-noisy",
                    ticket.group,
                )
            )
    for template in load_templates():
        tickets += [render(template, rng) for _ in range(PER_TEMPLATE)]
    seen: set[str] = set()
    unique = []
    for ticket in tickets:
        key = _key(ticket.text)
        if key and key not in seen:
            seen.add(key)
            unique.append(ticket)
    return unique


def main() -> None:
    tickets = build()
    with OUTPUT.open("w", encoding="utf-8") as out:
        for t in tickets:
            row = {
                "text": t.text,
                "category": t.category,
                "priority": t.priority,
                "sentiment": t.sentiment,
                "source": t.source,
                "group": t.group,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    by_category = Counter(t.category for t in tickets)
    print(f"wrote {len(tickets)} tickets to {OUTPUT}", file=sys.stderr)
    for category, count in sorted(by_category.items()):
        print(f"  {category:<13} {count}", file=sys.stderr)


if __name__ == "__main__":
    main()
