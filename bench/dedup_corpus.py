"""A generated, instruction-like corpus for the dedup benchmark (no downloads).

Instructions are built from templates (task verb, object, topic, constraints, audience, format),
with topic words drawn from a Zipf-distributed vocabulary (a core of common English words plus a
long tail of generated pseudo-words, as real pools have many rare words). Lengths are 10-60 rouge
tokens. A controlled share are near-duplicates of an earlier item (a few words swapped, dropped,
inserted or replaced, or a clause changed), as a model re-generating a known task produces.

    python bench/dedup_corpus.py 100000 corpus.jsonl
"""

from __future__ import annotations

import sys

import numpy as np

VERBS = (
    "Write",
    "Generate",
    "Create",
    "Explain",
    "Describe",
    "Summarize",
    "List",
    "Classify",
    "Translate",
    "Rewrite",
    "Compose",
    "Give",
    "Suggest",
    "Identify",
    "Compare",
    "Find",
    "Outline",
    "Draft",
    "Design",
    "Plan",
    "Evaluate",
    "Analyze",
    "Propose",
    "Recommend",
    "Convert",
    "Edit",
    "Answer",
    "Predict",
    "Estimate",
    "Sort",
    "Extract",
    "Detect",
    "Brainstorm",
    "Paraphrase",
    "Tell",
)
OBJECTS = (
    "a short poem",
    "a haiku",
    "a story",
    "an email",
    "a letter",
    "a tweet",
    "a product description",
    "a summary",
    "a list of tips",
    "three reasons",
    "five examples",
    "a recipe",
    "a dialogue",
    "a step by step guide",
    "a paragraph",
    "an essay outline",
    "a job posting",
    "a slogan",
    "a review",
    "a set of questions",
    "a lesson plan",
    "a workout routine",
    "a travel itinerary",
    "a cover letter",
    "a limerick",
    "a news headline",
    "an argument",
    "a definition",
    "a joke",
    "a riddle",
    "a speech",
    "a blog post",
    "an advertisement",
    "a mnemonic",
    "a comparison table",
    "a python function",
    "a SQL query",
    "a regular expression",
    "a bash command",
    "a study schedule",
)
LINKS = ("about", "on", "for", "describing", "explaining", "regarding", "that explains", "comparing")
COMMON = (
    "water",
    "music",
    "history",
    "science",
    "health",
    "money",
    "family",
    "school",
    "food",
    "city",
    "ocean",
    "mountain",
    "forest",
    "computer",
    "phone",
    "car",
    "garden",
    "weather",
    "friendship",
    "travel",
    "sports",
    "art",
    "book",
    "movie",
    "game",
    "coffee",
    "tea",
    "dog",
    "cat",
    "bird",
    "climate",
    "energy",
    "economy",
    "election",
    "startup",
    "marketing",
    "customer",
    "product",
    "software",
    "language",
    "mathematics",
    "physics",
    "chemistry",
    "biology",
    "medicine",
    "sleep",
    "exercise",
    "nutrition",
    "holiday",
    "winter",
    "summer",
    "river",
    "planet",
    "space",
    "robot",
    "internet",
    "privacy",
    "security",
    "password",
    "database",
    "algorithm",
    "network",
    "cloud",
    "painting",
    "guitar",
    "piano",
    "dance",
    "theater",
    "poetry",
    "novel",
    "library",
    "museum",
    "restaurant",
    "kitchen",
    "bread",
    "chocolate",
    "vegetables",
    "fruit",
    "breakfast",
    "dinner",
    "meeting",
    "interview",
    "resume",
    "career",
    "salary",
    "budget",
    "investment",
    "taxes",
    "insurance",
    "house",
    "apartment",
    "neighborhood",
    "village",
    "island",
    "desert",
    "volcano",
    "earthquake",
    "storm",
    "rain",
    "snow",
    "sun",
    "moon",
    "stars",
    "galaxy",
    "ancient rome",
    "the french revolution",
    "world war",
    "democracy",
    "philosophy",
    "ethics",
    "psychology",
    "social media",
    "smartphones",
    "electric cars",
    "renewable energy",
    "recycling",
    "plastic",
    "pollution",
    "wildlife",
    "elephants",
    "bees",
    "dinosaurs",
    "volunteering",
    "kindness",
)
QUALIFIERS = (
    "the benefits of",
    "the history of",
    "the future of",
    "the dangers of",
    "the role of",
    "common myths about",
    "the basics of",
    "how to improve",
    "why people love",
    "the science behind",
    "a beginner's guide to",
    "the pros and cons of",
    "the impact of",
    "lessons learned from",
)
CONSTRAINTS = (
    "Use at most {n} words.",
    "Keep it under {n} sentences.",
    "Make it funny.",
    "Use simple language.",
    "Include at least {n} examples.",
    "Write it in the second person.",
    "Avoid technical jargon.",
    "Use a formal tone.",
    "End with a question.",
    "Make it suitable for children.",
    "Format the answer as a bulleted list.",
    "Give the answer in JSON.",
    "Do not use the letter e.",
    "Start every sentence with a verb.",
    "Mention {topic} at least once.",
    "Rhyme every other line.",
    "Explain your reasoning step by step.",
    "Cite one reliable source.",
)
AUDIENCES = (
    "for a high school student",
    "for a busy parent",
    "for a software engineer",
    "for a tourist",
    "for a small business owner",
    "for a ten year old",
    "for a retired teacher",
    "for my manager",
    "for a nervous first time flyer",
    "for new employees",
    "for a college admissions officer",
)
QUESTIONS = (
    "What is the difference between {topic} and {topic2}?",
    "How do I get started with {topic} if I know nothing about {topic2}?",
    "Why is {topic} important for {topic2}?",
    "Can you explain how {topic} affects {topic2} in simple terms?",
    "What are some common mistakes people make with {topic}?",
    "Which is better for {topic2}: {topic} or {topic3}?",
    "Help me decide between {topic} and {topic2} for my {topic3} project.",
    "Come up with a name for a {topic} company that also sells {topic2}.",
    "If you could change one thing about {topic}, what would it be and why?",
    "Pretend you are an expert in {topic}. Answer questions about {topic2}.",
    "Find the odd one out: {topic}, {topic2}, {topic3}.",
    "Fix the grammar in this sentence about {topic}.",
    "Convert the following {thing} about {topic} into a {thing2}.",
    "Rank these by importance for {topic}: {topic2}, {topic3}.",
)
CLASSIFY = (
    "Classify the sentiment of the following {thing} as positive, negative or neutral.",
    "Decide whether the following {thing} is about {topic} or {topic2}.",
    "Is the following statement about {topic} true or false?",
    "Identify the main topic of the given {thing}.",
    "Given a {thing} about {topic}, extract every named entity.",
    "Tell me whether this {thing} mentions {topic}. Answer yes or no.",
)
THINGS = ("review", "tweet", "paragraph", "news article", "email", "sentence", "product description")

_SYLLABLES = (
    "ba",
    "ro",
    "ven",
    "tal",
    "mi",
    "ko",
    "sar",
    "lu",
    "den",
    "fi",
    "gra",
    "pol",
    "zen",
    "tri",
    "mo",
    "qua",
    "ler",
    "nex",
    "dio",
    "vy",
    "sta",
    "ru",
    "ph",
    "ex",
    "cor",
    "an",
    "is",
    "ul",
    "tor",
    "ine",
)


def _vocabulary(rng: np.random.Generator, size: int) -> tuple[list[str], np.ndarray]:
    words = list(COMMON)
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 5))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.05
    return words, weights / weights.sum()


class _Topics:
    """Zipf-distributed topic words, drawn in bulk (one ``choice`` call per 100k words)."""

    def __init__(self, rng: np.random.Generator, vocab: list[str], probs: np.ndarray) -> None:
        self._rng, self._vocab, self._probs = rng, vocab, probs
        self._buffer: list[int] = []

    def __call__(self) -> str:
        if not self._buffer:
            self._buffer = self._rng.choice(len(self._vocab), size=100_000, p=self._probs).tolist()
        return self._vocab[self._buffer.pop()]


def _fresh(rng: np.random.Generator, topic: _Topics) -> str:
    draw = rng.random()
    if draw < 0.12:
        text = str(rng.choice(CLASSIFY)).format(thing=rng.choice(THINGS), topic=topic(), topic2=topic())
    elif draw < 0.35:
        text = str(rng.choice(QUESTIONS)).format(
            thing=rng.choice(THINGS), thing2=rng.choice(THINGS), topic=topic(), topic2=topic(), topic3=topic()
        )
    else:
        parts = [str(rng.choice(VERBS)), str(rng.choice(OBJECTS)), str(rng.choice(LINKS))]
        if rng.random() < 0.5:
            parts.append(str(rng.choice(QUALIFIERS)))
        parts += [topic() for _ in range(int(rng.integers(1, 4)))]
        if rng.random() < 0.5:
            parts += [str(rng.choice(("and", "with", "versus", "without", "in"))), topic()]
        if rng.random() < 0.4:
            parts.append(str(rng.choice(AUDIENCES)))
        elif rng.random() < 0.3:
            parts += ["in", str(rng.choice(("the style of", "the voice of", "the spirit of"))), topic()]
        text = " ".join(parts) + "."
    extra = int(rng.integers(0, 3)) + (int(rng.integers(1, 7)) if rng.random() < 0.1 else 0)
    for _ in range(extra):
        text += " " + str(rng.choice(CONSTRAINTS)).format(
            n=int(rng.integers(2, 200)), topic=topic(), topic2=topic()
        )
    return text


def _perturb(rng: np.random.Generator, text: str, topic: _Topics) -> str:
    words = text.split()
    for _ in range(int(rng.integers(1, 4))):
        op = rng.random()
        i = int(rng.integers(0, len(words)))
        if op < 0.3 and len(words) > 3:
            del words[i]
        elif op < 0.6:
            words.insert(i, topic())
        elif op < 0.85:
            words[i] = topic()
        else:
            j = int(rng.integers(0, len(words)))
            words[i], words[j] = words[j], words[i]
    return " ".join(words)


def generate(count: int, *, seed: int = 0, near_duplicate_share: float = 0.15) -> list[str]:
    """``count`` instructions, about ``near_duplicate_share`` of them perturbed copies of earlier ones."""
    rng = np.random.default_rng(seed)
    topic = _Topics(rng, *_vocabulary(rng, 20_000))
    out: list[str] = []
    from selfinstruct.dedup import tokenize

    while len(out) < count:
        if out and rng.random() < near_duplicate_share:
            text = _perturb(rng, out[int(rng.integers(0, len(out)))], topic)
        else:
            text = _fresh(rng, topic)
        if 10 <= len(tokenize(text)) <= 60:
            out.append(text)
    return out


def main(argv: list[str]) -> int:
    import orjson

    count = int(argv[1]) if len(argv) > 1 else 100_000
    path = argv[2] if len(argv) > 2 else "dedup_corpus.jsonl"
    with open(path, "wb") as handle:
        for i, text in enumerate(generate(count)):
            handle.write(orjson.dumps({"id": i, "instruction": text}) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
