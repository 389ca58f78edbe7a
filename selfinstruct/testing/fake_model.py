"""A deterministic stand-in for a language model, shaped like a real one, for the fake server.

``FakeModel`` is a ``responder(kind, body)`` for :class:`~selfinstruct.testing.server.FakeOpenAIServer`.
It reads which stage a prompt belongs to and answers the way real models do:

* list continuations for bootstrap prompts: fresh instructions composed from phrasing templates
  and a vocabulary (so similar-but-distinct wording is common, as with a real model), a share of
  near-copies of the prompt's own examples and of "favourite" instructions a model keeps coming
  back to, and a share that the heuristic filters catch (blacklisted words, too short, too long,
  ``Write a program``, punctuation or non-ASCII first character); chat answers add preambles,
  bold markers, bullets, echoed lists and sign-offs; a few answers are cut by ``max_tokens``;
* ``Yes``/``No`` for classification identification, with the odd unclear answer;
* instances in the input-first or label-first form: half in the prompt's own shape (``Input:`` /
  ``Output:``), mostly well formed, some sloppy (no ``Example`` headers, bold field names, an empty
  output, a repeated instance, a conflict); half (``demo_shape_rate``) in the paper's demo shapes
  (``Sentence:``, ``Question:`` + ``Options:``, a ``Dialogue:``, markdown, numbered examples, ``N/A``
  inputs, ``Class label: x`` then ``Sentence: ...``); chat preambles and sign-offs; cuts at
  ``max_tokens``. :meth:`FakeModel.written_instances` says which instances an answer wrote whole.

Everything is a pure function of the request body and ``seed``, so a run against it is
reproducible. Run ``python -m selfinstruct.testing.fake_model --port 0`` to serve it from its own
process (prints the base URL on the first stdout line).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..pipeline.seeds import Instance
from .server import FakeReply, prompt_text

__all__ = ["FakeModel"]

# -- vocabulary ---------------------------------------------------------------------------------

_ADJ = (
    "remote", "urban", "sustainable", "small", "local", "online", "digital", "public", "modern",
    "traditional", "rural", "seasonal", "budget", "community", "competitive", "indoor", "outdoor",
    "beginner", "advanced", "family", "coastal", "mountain", "student", "weekend", "vintage",
    "electric", "organic", "collaborative", "international", "independent", "volunteer", "nighttime",
    "minimalist", "open-source", "hybrid", "regional", "medieval", "futuristic", "ancient", "everyday",
)  # fmt: skip
_NOUN = (
    "gardening", "banking", "education", "transport", "cooking", "tourism", "healthcare", "marketing",
    "journalism", "farming", "photography", "cycling", "recycling", "architecture", "chess", "theater",
    "beekeeping", "carpentry", "astronomy", "podcasting", "baking", "fishing", "hiking", "knitting",
    "sculpture", "poetry", "robotics", "libraries", "museums", "hospitals", "bakeries", "startups",
    "elections", "festivals", "orchestras", "classrooms", "warehouses", "airports", "restaurants",
    "bookstores", "schools", "markets", "parks", "zoos", "factories", "vineyards", "bridges", "railways",
    "newspapers", "gyms", "cafes", "hotels", "ferries", "laboratories", "theaters", "stadiums", "farms",
    "apartments", "offices", "bicycles", "volcanoes", "rainforests", "glaciers", "deserts", "oceans",
    "tea", "coffee", "chocolate", "bread", "cheese", "rice", "spices", "mushrooms", "honey", "soup",
)  # fmt: skip
_PERSON = (
    "student", "teacher", "nurse", "engineer", "retiree", "chef", "librarian", "shop owner",
    "software developer", "farmer", "parent", "teenager", "tourist", "volunteer", "manager", "artist",
    "journalist", "scientist", "athlete", "musician", "pilot", "plumber", "accountant", "gardener",
    "designer", "landlord", "intern", "coach", "pharmacist", "firefighter", "translator", "veterinarian",
)  # fmt: skip
_PERSON_ADJ = (
    "busy", "new", "nervous", "curious", "retired", "young", "experienced", "first-time", "tired",
    "ambitious", "shy", "skeptical", "overworked", "enthusiastic", "lonely", "forgetful",
)  # fmt: skip
_COUNT = ("two", "three", "four", "five", "six", "seven", "ten", "a few", "several")
_THING = (
    "tips", "questions", "ideas", "reasons", "arguments", "steps", "mistakes to avoid", "strategies",
    "facts", "slogans", "titles", "headlines", "habits", "exercises", "recipes", "games", "riddles",
    "interview questions", "discussion prompts", "gift ideas", "names", "rules", "challenges",
)  # fmt: skip
_FORMAT = (
    "a haiku", "a limerick", "a short story", "a tweet", "a product description", "an email",
    "a cover letter", "a speech", "a blog post introduction", "a news headline", "a sonnet",
    "a job advertisement", "a movie plot", "a diary entry", "a song chorus", "a toast",
    "a restaurant review", "a press release", "a bedtime story", "a motivational quote",
    "a two-sentence horror story", "an apology letter", "a fable", "a riddle", "a eulogy",
)  # fmt: skip
_TONE = (
    "a friendly", "a formal", "a humorous", "a persuasive", "an optimistic", "a sarcastic",
    "a neutral", "an enthusiastic", "a polite", "a dramatic", "a professional", "a casual",
)  # fmt: skip
_CONSTRAINT = (
    "in under fifty words", "using simple language", "without using technical terms",
    "as a bulleted list", "in the voice of a pirate", "for a ten-year-old", "in exactly three sentences",
    "using only questions", "with a surprising ending", "in the second person", "in rhyming couplets",
    "with at least one statistic", "as if it were a recipe", "from the point of view of a cat",
    "in a single paragraph", "with a clear call to action", "without using the letter z",
    "in the style of a sports commentator", "using an analogy", "in a numbered list",
)  # fmt: skip
_TEXTTYPE = (
    "sentence", "paragraph", "tweet", "email", "product review", "news article", "text message",
    "customer complaint", "movie review", "headline", "poem", "dialogue", "essay", "recipe",
    "job posting", "comment", "question", "statement", "speech excerpt", "advertisement",
)  # fmt: skip
_LABELS = (
    ("positive", "negative"), ("formal", "informal"), ("fact", "opinion"), ("spam", "not spam"),
    ("true", "false"), ("sarcastic", "sincere"), ("urgent", "not urgent"), ("question", "statement"),
    ("offensive", "not offensive"), ("relevant", "irrelevant"), ("complete", "incomplete"),
    ("ethical", "unethical"), ("past", "present", "future"), ("happy", "sad", "angry"),
    ("low", "medium", "high"), ("agree", "disagree", "neutral"), ("animal", "plant", "mineral"),
)  # fmt: skip
_ITEMS = (
    "animals", "foods", "countries", "sports", "occupations", "musical instruments", "emotions",
    "vehicles", "programming languages", "fruits", "colors", "tools", "planets", "sentences",
    "words", "cities", "book titles", "company names", "hobbies", "diseases",
)  # fmt: skip
_CATEGORIES = (
    ("mammals", "birds", "reptiles"), ("sweet", "savory"), ("indoor", "outdoor"),
    ("renewable", "non-renewable"),
    ("verbs", "nouns", "adjectives"), ("team", "individual"), ("European", "Asian", "African"),
    ("cheap", "expensive"), ("physical", "mental"), ("ancient", "modern"), ("liquid", "solid", "gas"),
)  # fmt: skip
_LANGUAGE = ("French", "Spanish", "German", "Japanese", "Italian", "Portuguese", "Korean", "Swahili", "Dutch")
_ACTIVITY = (
    "learning a new language", "starting a small business", "moving to a new city", "training for a marathon",
    "saving money for a house", "adopting a rescue dog", "working from home", "planning a wedding",
    "switching careers", "writing a novel", "quitting social media", "going back to school",
    "renovating a kitchen", "raising chickens", "learning to swim as an adult", "living without a car",
    "hosting a dinner party", "negotiating a salary", "preparing for a job interview", "traveling alone",
)  # fmt: skip
_CONCEPT = (
    "compound interest", "photosynthesis", "inflation", "the water cycle", "supply and demand", "gravity",
    "machine learning", "the greenhouse effect", "natural selection", "blockchain", "vaccination",
    "opportunity cost", "plate tectonics", "recursion", "the scientific method", "jet lag", "placebo effects",
    "encryption", "herd immunity", "entropy", "the electoral college", "black holes", "tides",
    "credit scores",
)  # fmt: skip
_MATH = (
    ("the average", "numbers"), ("the median", "numbers"), ("the greatest common divisor", "two integers"),
    ("the area", "triangle"), ("the perimeter", "rectangle"), ("the sum of the digits", "number"),
    ("the largest value", "list"), ("the number of vowels", "word"), ("the percentage change", "two prices"),
)  # fmt: skip
_EVENT = ("trip", "party", "workshop", "fundraiser", "picnic", "retreat", "reunion", "field day", "hackathon")
_DURATION = ("one-day", "weekend", "three-day", "week-long", "two-hour", "half-day")

_PLACE = (
    "a small town", "Tokyo", "the Arctic", "a hospital waiting room", "a crowded subway", "rural Kenya",
    "a university campus", "a mountain village", "downtown Chicago", "a fishing port", "a space station",
    "a public library", "a night market", "the Sahara", "a ski resort", "a suburban kitchen",
    "a coworking space", "an island community", "a refugee camp", "medieval Europe", "a car factory",
)  # fmt: skip
_TIME = (
    "during a heatwave", "on a rainy Sunday", "before a big deadline", "in the first week of school",
    "after a long flight", "during the holidays", "at midnight", "in the year 2050", "on a tight budget",
    "after a breakup", "during a power outage", "on the first day of a new job", "in winter",
)  # fmt: skip
_SUBJECT = (
    "{adj} {noun}", "{adj} {noun} in {place}", "the history of {adj} {noun}", "the future of {adj} {noun}",
    "{adj} {noun} for {padj} {person}s", "how {noun} affects {adj} {noun2}", "{adj} {noun} {time}",
    "the economics of {adj} {noun}", "common myths about {adj} {noun}", "{noun} and {adj} {noun2}",
    "starting out in {adj} {noun}", "{adj} {noun} as seen by a {person}",
)  # fmt: skip
_SUGGEST = ("Suggest", "Give me", "List", "Come up with", "Brainstorm", "Provide", "Share", "Name")
_WRITE = ("Write", "Compose", "Draft", "Create", "Produce", "Pen")
_EXPLAIN = ("Explain", "Describe", "Clarify", "Break down", "Walk me through", "Teach me")
_TAILS = (
    "Keep it suitable for a {padj} {person}.", "Mention {adj} {noun} at least once.",
    "Use examples from {place}.", "End with a question about {adj} {noun}.",
    "Assume the reader lives in {place}.", "Include one fact about {noun}.",
    "Write it for someone {time}.", "Avoid clichés about {noun}.", "Add a short title that mentions {noun}.",
    "Make it useful for a {person} in {place}.", "Explain your choice in a sentence.",
    "Focus on what a {padj} {person} would care about.", "Compare it briefly with {adj} {noun}.",
)  # fmt: skip
_OPTIONAL_CONTEXT = ("", "", "", " for a {padj} {person}", " in {place}", " {time}", " for {padj} {person}s")

# Phrasing templates: few fixed words and several multi-word slots, so wording varies as with a
# real model while look-alike instructions still occur.
_FRESH: tuple[str, ...] = (
    "{suggest} {count} {thing} about {subject}{context}{constraint}.",
    "{suggest} {count} {thing} a {person} could use with {subject}{constraint}.",
    "{write} {format} about {subject}{context}{constraint}.",
    "{write} {format} set in {place}{constraint}.",
    "{explain} {concept}{context}{constraint}.",
    "{explain} {concept} using an example from {subject}.",
    "How does {concept} relate to {subject}?",
    "Compare {subject} with {subject2}{constraint}.",
    "What separates {subject} from {subject2}?",
    "Give a {padj} {person} advice on {activity}{context}.",
    "What should a {person} know before {activity} {time}?",
    "Outline a plan for {activity} in {place}{constraint}.",
    "Rewrite this {texttype} in {tone} tone{constraint}.",
    "Make the {texttype} sound {tone_adj} for a {padj} {person}.",
    "Paraphrase the {texttype} about {subject}.",
    "Summarize the {texttype} on {subject} in {count} sentences.",
    "Give the main point of this {texttype} about {subject}.",
    "Classify these {items} linked to {subject} as {cats}.",
    "Sort the {items} from {place} into {cats}.",
    "Determine whether the {texttype} is {labels}.",
    "Is this {texttype} about {subject} {labels}?",
    "Label the sentiment of the {texttype} on {subject} as {labels}.",
    "Translate the {texttype} about {subject} into {language}{constraint}.",
    "Find {math} of the given {mathobj} from a report on {subject}.",
    "Calculate {math} of these {mathobj} about {subject} and show each step.",
    "Plan a {duration} {event} in {place} for {padj} {person}s.",
    "Organize a {duration} {event} about {subject}{context}.",
    "Write a dialogue between a {person} and a {person2} about {subject}.",
    "Imagine being a {person} in {place} and describe {subject}.",
    "Extract the {items} mentioned in this {texttype} about {subject}.",
    "Propose a name for a business about {subject}.",
    "Invent a game about {subject} and explain its rules{constraint}.",
    "Argue for {activity} with {subject} in mind{context}.",
    "Why does {concept} matter to a {padj} {person} working in {subject}?",
    "Fix the grammar in this {texttype} about {subject}.",
    "Turn my notes on {subject} into a {texttype}{constraint}.",
    "What questions would a {padj} {person} ask about {subject}?",
    "Predict how {subject} will change by 2040{constraint}.",
)
# Instructions models keep coming back to; small variations of these collide in dedup.
_FAVOURITES: tuple[str, ...] = (
    "Write a short story about a robot who learns to feel emotions.",
    "Give me three tips for staying productive while working from home.",
    "Explain the difference between weather and climate.",
    "Generate a list of five healthy breakfast ideas.",
    "Write a poem about the ocean at sunset.",
    "What are some good ways to reduce stress before an exam?",
    "Describe your ideal vacation in a few sentences.",
    "Suggest a name for a new coffee shop.",
    "Explain how a bill becomes a law in the United States.",
    "Write a letter to your future self.",
    "List the planets of the solar system in order from the sun.",
    "Tell me a fun fact about octopuses.",
)
_BLACKLISTED: tuple[str, ...] = (
    "Draw a diagram that shows how {adj} {noun} works.",
    "Create a graph comparing {adj} {noun} and {adj2} {noun2} over the last decade.",
    "Describe the image of a {person} enjoying {noun}.",
    "Compose a piece of music inspired by {adj} {noun}.",
    "Make a video script that introduces {noun} to a {padj} {person}.",
    "Plot the growth of {adj} {noun} on a chart.",
    "Read the attached file about {noun} and summarize it.",
    "Design a flowchart for {activity}.",
    "Use the map to plan a route for a {duration} {event}.",
)
_PROGRAMS: tuple[str, ...] = (
    "Write a program that counts the {items} in a list.",
    "Write a program to compute {math} of the given {mathobj}.",
    "Write a Python program that sorts {items} alphabetically.",
)
_SHORT: tuple[str, ...] = ("Tell a joke.", "Define {noun}.", "Summarize this.", "Be creative.", "Translate.")
_ODD_START: tuple[str, ...] = (
    '"Explain {concept} in plain words."',
    "(Optional) Give {count} {thing} about {noun}.",
    "- Suggest {count} {thing} for {activity}.",
    "¿Cómo se explica {concept} a un niño?",
    "“Describe {adj} {noun} to a {person}.”",
    "Écris un court poème sur {noun}.",
)
_CHAT_PREAMBLES = (
    "Sure! Here are some more tasks:",
    "Here are eight new tasks that continue the list:",
    "Certainly. Continuing the list:",
    "Of course! Here's the continuation:",
)
_CHAT_SIGNOFFS = (
    "Let me know if you'd like more tasks!",
    "I hope these are helpful.",
    "These tasks cover a range of topics and skills.",
)
_CLASSIFY_CUES = re.compile(
    r"\b(classify|categorize|sort the|label|determine whether|decide if|is the following|identify whether|"
    r"sentiment|true or false|yes or no)\b",
    re.IGNORECASE,
)
_NUMBERED = re.compile(r"^\s*(\d{1,3})\.\s+(.+)$", re.MULTILINE)
_TASK_LINE = re.compile(r"^Task:\s*(.+)$", re.MULTILINE)
_LABEL_LIST = re.compile(r"\bas ([\w -]+?)(?:,| or) ([\w -]+?)(?: or ([\w -]+?))?[.?]", re.IGNORECASE)
_WORDS = (
    "the quick results surprised everyone at the meeting",
    "our team finished the project two days early",
    "I honestly did not expect the service to be this slow",
    "the new library opens every weekday at nine",
    "prices went up again this month and people are worried",
    "she trained for months and finally won the regional race",
    "the soup was cold but the bread was excellent",
    "please send the signed form back by Friday",
    "he thinks the plan is risky but worth a try",
    "the museum added a room full of old maps and letters",
    "my neighbour plays the trumpet every night at eleven",
    "the hiking trail was closed after the storm",
    "we should meet earlier so everyone can catch the last bus",
    "this phone charger stopped working after one week",
    "the children planted tomatoes and beans in the school garden",
)


def _digest(*parts: str) -> int:
    hasher = hashlib.blake2b(digest_size=8)
    for part in parts:
        hasher.update(part.encode())
        hasher.update(b"\x00")
    return int.from_bytes(hasher.digest(), "big")


@dataclass(frozen=True, kw_only=True)
class FakeModel:
    """A deterministic responder that answers each SELF-INSTRUCT stage like a real model.

    Attributes:
        seed: changes every answer (same seed, same body => same answer).
        near_duplicate_rate: share of list items that are near-copies of a prompt example or of a
            favourite instruction (rejected by a 0.7 ROUGE-L novelty check).
        filter_hit_rate: share of list items that a heuristic instruction filter rejects.
        sloppy_rate: share of answers with formatting slips (chat chatter, odd instance layout).
        truncate_rate: share of list and instance answers cut by ``max_tokens``
            (``finish_reason == "length"``).
        demo_shape_rate: share of instance answers in the paper's demo shapes (task-named fields such
            as ``Sentence:``, ``Question:`` + ``Options:``, markdown, numbered examples, ``N/A``
            inputs, ``Class label: x`` then ``Sentence: ...``) instead of the prompt's own shape.
    """

    seed: int = 0
    near_duplicate_rate: float = 0.15
    filter_hit_rate: float = 0.1
    sloppy_rate: float = 0.1
    truncate_rate: float = 0.03
    demo_shape_rate: float = 0.5

    def __post_init__(self) -> None:
        for name in (
            "near_duplicate_rate",
            "filter_hit_rate",
            "sloppy_rate",
            "truncate_rate",
            "demo_shape_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FakeModel.{name} must be in [0, 1], got {value!r}")
        if self.near_duplicate_rate + self.filter_hit_rate > 1.0:
            raise ValueError("FakeModel.near_duplicate_rate + filter_hit_rate must be at most 1")

    def __call__(self, kind: str, body: dict[str, Any]) -> str | FakeReply:
        """Answer one request (the FakeOpenAIServer responder protocol)."""
        text = prompt_text(kind, body)
        rng = random.Random(_digest(str(self.seed), kind, text))
        chat = kind == "chat"
        if "Is it classification?" in text:
            return self._classify(text, rng, chat=chat)
        if self._asks_instances(text):
            return self._instances(text, rng, chat=chat, label_first="class label" in text.lower())
        return self._continue_list(text, rng, chat=chat)

    @staticmethod
    def _asks_instances(text: str) -> bool:
        last_line = text.rstrip().rsplit("\n", 1)[-1]
        return bool(
            "Class label:" in text
            or re.search(r"^Example \d+\s*$", text, re.MULTILINE)
            or last_line.startswith("Task:")
            or "examples in the same format" in last_line
        )

    # -- instructions ---------------------------------------------------------------------------

    def _fill(self, template: str, rng: random.Random) -> str:
        labels = rng.choice(_LABELS)
        cats = rng.choice(_CATEGORIES)
        math, mathobj = rng.choice(_MATH)
        tone = rng.choice(_TONE)
        values = {
            "adj": rng.choice(_ADJ),
            "adj2": rng.choice(_ADJ),
            "noun": rng.choice(_NOUN),
            "noun2": rng.choice(_NOUN),
            "person": rng.choice(_PERSON),
            "person2": rng.choice(_PERSON),
            "padj": rng.choice(_PERSON_ADJ),
            "count": rng.choice(_COUNT),
            "thing": rng.choice(_THING),
            "format": rng.choice(_FORMAT),
            "tone": tone,
            "tone_adj": tone.split(" ", 1)[1],
            "constraint": rng.choice(_CONSTRAINT),
            "texttype": rng.choice(_TEXTTYPE),
            "labels": " or ".join(labels)
            if len(labels) == 2
            else f"{', '.join(labels[:-1])} or {labels[-1]}",
            "items": rng.choice(_ITEMS),
            "cats": " or ".join(cats) if len(cats) == 2 else f"{', '.join(cats[:-1])} or {cats[-1]}",
            "language": rng.choice(_LANGUAGE),
            "activity": rng.choice(_ACTIVITY),
            "place": rng.choice(_PLACE),
            "time": rng.choice(_TIME),
            "suggest": rng.choice(_SUGGEST),
            "write": rng.choice(_WRITE),
            "explain": rng.choice(_EXPLAIN),
            "concept": rng.choice(_CONCEPT),
            "math": math,
            "mathobj": mathobj,
            "event": rng.choice(_EVENT),
            "duration": rng.choice(_DURATION),
        }
        for slot in ("subject", "subject2"):
            if "{" + slot + "}" in template:
                values[slot] = self._fill(rng.choice(_SUBJECT), rng)
        if "{context}" in template:
            values["context"] = self._fill(rng.choice(_OPTIONAL_CONTEXT), rng)
        if "{constraint}" in template:
            values["constraint"] = f" {values['constraint']}" if rng.random() < 0.35 else ""
        return template.format(**values)

    def _near_copy(self, source: str, rng: random.Random) -> str:
        words = source.split()
        edits = rng.choice(("swap", "drop", "prefix", "suffix"))
        if edits == "swap" and len(words) > 3:
            position = rng.randrange(1, len(words))
            words[position] = rng.choice(("some", "the", "a", "new", "good", "two", "simple"))
        elif edits == "drop" and len(words) > 5:
            del words[rng.randrange(1, len(words) - 1)]
        elif edits == "prefix":
            words = ["Please", words[0].lower(), *words[1:]]
        else:
            words = [*words[:-1], words[-1].rstrip(".?!"), "briefly."]
        return " ".join(words)

    def _instruction(self, rng: random.Random, demos: Sequence[str]) -> str:
        draw = rng.random()
        if draw < self.near_duplicate_rate:
            if demos and rng.random() < 0.6:
                return self._near_copy(rng.choice(demos), rng)
            return (
                self._near_copy(rng.choice(_FAVOURITES), rng)
                if rng.random() < 0.5
                else rng.choice(_FAVOURITES)
            )
        draw -= self.near_duplicate_rate
        if draw < self.filter_hit_rate:
            family = rng.random()
            if family < 0.45:
                return self._fill(rng.choice(_BLACKLISTED), rng)
            if family < 0.6:
                return self._fill(rng.choice(_PROGRAMS), rng)
            if family < 0.78:
                return self._fill(rng.choice(_SHORT), rng)
            if family < 0.97:
                return self._fill(rng.choice(_ODD_START), rng)
            return " ".join(self._fill(rng.choice(_FRESH), rng) for _ in range(14))  # > 150 words
        instruction = self._fill(rng.choice(_FRESH), rng)
        if rng.random() < 0.6:
            instruction = f"{instruction} {self._fill(rng.choice(_TAILS), rng)}"
        return instruction

    def _continue_list(self, text: str, rng: random.Random, *, chat: bool) -> str | FakeReply:
        numbered = _NUMBERED.findall(text)
        demos = [item for _, item in numbered]
        start = int(numbered[-1][0]) + 1 if numbered else 1
        count = rng.randint(3, 16 - start) if start < 16 else 1
        items = [self._instruction(rng, demos) for _ in range(max(1, count))]
        truncated = rng.random() < self.truncate_rate
        if not chat:
            lines = [f" {items[0]}"] + [f"{start + i}. {item}" for i, item in enumerate(items[1:], start=1)]
            answer = "\n".join(lines)
            if not truncated and start + len(items) <= 16 and rng.random() < 0.5:
                answer += f"\n{start + len(items)}. {self._instruction(rng, demos)}"  # server stops at 16
            if rng.random() < self.sloppy_rate:
                answer += "\n\nThese tasks can be used to evaluate a model."  # stopped at the blank line
        else:
            sloppy = rng.random() < self.sloppy_rate
            style = rng.choice(("plain", "bold", "bullet", "prefixed")) if sloppy else "plain"
            lines = []
            if sloppy and rng.random() < 0.3:
                lines += [f"{n}. {d}" for n, d in enumerate(demos, start=1)]  # echoes the list first
            for number, item in enumerate(items, start=start):
                if style == "bold":
                    lines.append(f"{number}. **{item}**")
                elif style == "bullet":
                    lines.append(f"- {item}")
                elif style == "prefixed":
                    lines.append(f"{number}. Instruction: {item}")
                else:
                    lines.append(f"{number}. {item}")
            joiner = "\n\n" if sloppy and rng.random() < 0.5 else "\n"
            answer = joiner.join(lines)
            if rng.random() < 0.4:
                answer = f"{rng.choice(_CHAT_PREAMBLES)}\n\n{answer}"
            if rng.random() < 0.2:
                answer += f"\n\n{rng.choice(_CHAT_SIGNOFFS)}"
        if truncated:
            cut = answer.rstrip()
            cut = cut[: max(1, len(cut) - rng.randint(5, 25))]
            return FakeReply(text=cut, finish_reason="length")
        return answer

    # -- classification -------------------------------------------------------------------------

    def _classify(self, text: str, rng: random.Random, *, chat: bool) -> str:
        tasks = _TASK_LINE.findall(text)
        instruction = tasks[-1] if tasks else ""
        is_classification = bool(_CLASSIFY_CUES.search(instruction))
        if rng.random() < 0.03:  # a real model gets some wrong
            is_classification = not is_classification
        word = "Yes" if is_classification else "No"
        if rng.random() < self.sloppy_rate:
            return rng.choice((f" {word.lower()}", f"**{word}**", f"{word}.", f"{word}, it is", "It depends"))
        return word if chat else f" {word}"

    # -- instances ------------------------------------------------------------------------------

    def _sentence(self, rng: random.Random) -> str:
        sentence = rng.choice(_WORDS)
        if rng.random() < 0.5:
            sentence = f"{sentence} near the {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        return sentence[0].upper() + sentence[1:] + "."

    def _inputs(self, rng: random.Random, count: int) -> list[str]:
        # Distinct inputs within one task, as a real model mostly gives; sloppy answers repeat one.
        sentences = rng.sample(_WORDS, count)
        return [
            f"{s[0].upper()}{s[1:]} in the {rng.choice(_ADJ)} {rng.choice(_NOUN)} story."
            if rng.random() < 0.5
            else f"{s[0].upper()}{s[1:]}."
            for s in sentences
        ]

    def _instances(self, text: str, rng: random.Random, *, chat: bool, label_first: bool) -> str | FakeReply:
        return self._instance_answer(text, rng, chat=chat, label_first=label_first)[0]

    def _instance_answer(
        self, text: str, rng: random.Random, *, chat: bool, label_first: bool
    ) -> tuple[str | FakeReply, list[Instance]]:
        """The answer, and the instances written whole in it (as a careful reader would take them)."""
        tasks = _TASK_LINE.findall(text)
        instruction = tasks[-1] if tasks else ""
        count = rng.randint(1, 5)
        sloppy = rng.random() < self.sloppy_rate
        inputs = self._inputs(rng, count)
        if rng.random() < self.demo_shape_rate:
            blocks, written, joiner = _demo_shape_blocks(instruction, inputs, rng, label_first=label_first)
        else:
            blocks, written = self._prompt_shape_blocks(instruction, inputs, rng, chat, label_first, sloppy)
            joiner = "\n\n"
        answer = joiner.join(blocks)
        if sloppy and count > 1 and label_first and rng.random() < 0.5:
            answer += joiner + blocks[0]  # repeats itself
            blocks, written = [*blocks, blocks[0]], [*written, written[0]]
        lead = ""
        if chat and rng.random() < 0.2:
            lead = f"{rng.choice(_INSTANCE_PREAMBLES).format(n=len(blocks))}\n\n"
        elif chat and rng.random() < 0.05:
            lead = f"Task: {instruction}\n"  # echoes the task line (a completion stops at "Task:")
        answer = lead + answer
        if chat and rng.random() < 0.15:
            answer += f"\n\n{rng.choice(_INSTANCE_SIGNOFFS)}"
        if rng.random() < self.truncate_rate:
            cut = max(1, len(answer) - rng.randint(3, max(4, len(answer) * 2 // 5)))
            ends, position = [], len(lead)
            for block in blocks:
                position += len(block)
                ends.append(position)
                position += len(joiner)
            whole = [instance for instance, block_end in zip(written, ends, strict=True) if block_end <= cut]
            return FakeReply(text=answer[:cut], finish_reason="length"), whole
        return answer, written

    def _prompt_shape_blocks(
        self,
        instruction: str,
        inputs: list[str],
        rng: random.Random,
        chat: bool,
        label_first: bool,
        sloppy: bool,
    ) -> tuple[list[str], list[Instance]]:
        """Blocks in the prompt's own shape (``Input:`` / ``Output:``, ``Class label:`` / ``Input:``)."""
        count = len(inputs)
        blocks: list[str] = []
        written: list[Instance] = []
        if label_first:
            labels = _task_labels(instruction, rng)
            for number in range(count):
                label = labels[number % len(labels)]
                name = "**Class label:**" if sloppy and chat else "Class label:"
                blocks.append(f"{name} {label}\nInput: {inputs[number]}")
                written.append(Instance(inputs[number], label))
            return blocks, written
        if sloppy and count > 1 and rng.random() < 0.2:
            inputs[-1] = inputs[0]  # same input, and (below) a different output: a conflict
        for number in range(1, count + 1):
            has_input = rng.random() < 0.55
            source = inputs[number - 1] if has_input else "(none)"
            output = self._output(instruction, rng)
            if sloppy and number == count and rng.random() < 0.3:
                output = ""
            elif sloppy and number == count and rng.random() < 0.3 and has_input:
                output = source
            header = f"Example {number}" if not (sloppy and rng.random() < 0.5) else ""
            block = f"Input: {source}\nOutput: {output}"
            if sloppy and chat and rng.random() < 0.5:
                block = f"**Input:** {source}\n**Output:** {output}"
            blocks.append(f"{header}\n{block}" if header else block)
            written.append(Instance(source if has_input else "", output))
        return blocks, written

    def _output(self, instruction: str, rng: random.Random) -> str:
        words = instruction.split()
        return " ".join(
            [self._sentence(rng) for _ in range(rng.randint(1, 3))]
            + ([f"({' '.join(words[:3])})"] if words and rng.random() < 0.2 else [])
        )

    def written_instances(self, kind: str, body: dict[str, Any]) -> tuple[str, list[Instance]] | None:
        """For an instance request: its task and the instances its answer writes whole, else ``None``.

        The ground truth an audit compares a run's data with (see :mod:`.instance_audit`).
        """
        text = prompt_text(kind, body)
        if "Is it classification?" in text or not self._asks_instances(text):
            return None
        rng = random.Random(_digest(str(self.seed), kind, text))
        label_first = "class label" in text.lower()
        _, written = self._instance_answer(text, rng, chat=kind == "chat", label_first=label_first)
        tasks = _TASK_LINE.findall(text)
        return (tasks[-1] if tasks else ""), written


def _task_labels(instruction: str, rng: random.Random) -> list[str]:
    match = _LABEL_LIST.search(instruction)
    labels = [g for g in match.groups() if g] if match else list(rng.choice(_LABELS))
    return [label.strip().capitalize() for label in labels]


# -- the paper's demo shapes ------------------------------------------------------------------------

_FIELDS = ("Sentence", "Paragraph", "Text", "Review", "Email", "Statement")
_EMPTY_SPELLINGS = ("N/A", "None", "(none)", "No input", "n/a", "None.")
_INSTANCE_PREAMBLES = (
    "Sure! Here are {n} examples for this task:",
    "Here are some examples:",
    "Certainly! Below are {n} instances.",
)
_INSTANCE_SIGNOFFS = (
    "I hope these examples help!",
    "Let me know if you need more examples.",
    "Note: the examples cover different cases.",
)
_DEMO_SHAPES = (
    "paper",
    "paper-bare",
    "markdown",
    "bullets",
    "italic",
    "numbered",
    "na-inputs",
    "question-options",
    "dialogue",
)
_LABEL_SHAPES = ("paper", "bold", "headers", "two-fields")


def _demo_shape_blocks(
    instruction: str, inputs: list[str], rng: random.Random, *, label_first: bool
) -> tuple[list[str], list[Instance], str]:
    """Blocks in one of the paper's demo shapes, the instances they hold, and the block separator.

    Input-first: task-named fields (``Sentence:``, ``Question:`` + ``Options:``, a multi-line
    ``Dialogue:``), with or without ``Example N`` headers, markdown bold labels or bullets, numbered
    examples, ``N/A``-style empty inputs. Label-first: ``Class label: x`` then ``Sentence: ...``.
    """
    field = rng.choice(_FIELDS)
    if label_first:
        return _label_first_blocks(instruction, inputs, field, rng)
    shape = rng.choice(_DEMO_SHAPES)
    joiner = "\n" if shape == "paper" and rng.random() < 0.5 else "\n\n"  # the paper's demos: no blank lines
    words = instruction.split()
    blocks: list[str] = []
    written: list[Instance] = []
    for number, sentence in enumerate(inputs, start=1):
        output = " ".join(
            [_demo_sentence(rng) for _ in range(rng.randint(1, 2))]
            + ([f"({' '.join(words[:3])})"] if words and rng.random() < 0.2 else [])
        )
        lines, given = _demo_input_lines(shape, field, sentence, rng)
        out_line = {
            "markdown": f"**Output:** {output}",
            "bullets": f"- **Output:** {output}",
            "italic": f"*Output:* {output}",
        }.get(shape, f"Output: {output}")
        body = [*lines, out_line]
        if shape == "numbered":
            block = "\n".join([f"{number}. {body[0]}", *(f"   {line}" for line in body[1:])])
        elif shape == "paper-bare":
            block = "\n".join(body)
        elif shape in ("markdown", "bullets", "italic"):
            block = "\n".join([f"**Example {number}:**", *body])
        else:
            block = "\n".join([f"Example {number}", *body])
        blocks.append(block)
        written.append(Instance(given, output))
    return blocks, written, joiner


def _demo_input_lines(shape: str, field: str, sentence: str, rng: random.Random) -> tuple[list[str], str]:
    """The input lines of one input-first demo block, and the input they hold ("" for none)."""
    has_input = shape in ("na-inputs", "numbered") or rng.random() < 0.7
    given = f"{field}: {sentence}"
    lines = [f"{field}: {sentence}"]
    if shape == "question-options" or (shape == "numbered" and rng.random() < 0.5):
        lines = [f"Question: Which word fits this {rng.choice(_TEXTTYPE)}? {sentence}"]
        lines.append(f"Options: (A) {rng.choice(_ADJ)} (B) {rng.choice(_ADJ)} (C) {rng.choice(_ADJ)}")
        given = "\n".join(lines)
    elif shape == "dialogue":
        lines = [
            "Dialogue:",
            f"- {rng.choice(_PERSON).capitalize()}: {sentence}",
            f"- Friend: I see, {rng.choice(_WORDS)}.",
        ]
        given = "\n".join(lines)
    elif shape == "na-inputs" and rng.random() < 0.5:
        has_input = False
    if shape == "markdown":
        lines = [f"**{field}:** {sentence}"]
    elif shape == "bullets":
        lines = [f"- **{field}:** {sentence}"]
    elif shape == "italic":
        lines = [f"*{field}:* {sentence}"]
    if shape == "na-inputs":
        lines = [f"Input: {sentence if has_input else rng.choice(_EMPTY_SPELLINGS)}"]
        given = sentence
    if not has_input:
        lines, given = [], ""
    return lines, given


def _label_first_blocks(
    instruction: str, inputs: list[str], field: str, rng: random.Random
) -> tuple[list[str], list[Instance], str]:
    """Label-first demo blocks (``Class label: x`` then the input), their instances, the separator."""
    shape = rng.choice(_LABEL_SHAPES)
    labels = _task_labels(instruction, rng)
    blocks: list[str] = []
    written: list[Instance] = []
    for number, sentence in enumerate(inputs, start=1):
        label = labels[(number - 1) % len(labels)]
        if shape == "bold":
            block, given = f"**Class label:** {label}\n**{field}:** {sentence}", f"{field}: {sentence}"
        elif shape == "two-fields":
            claim = f"Claim: The writer mentions {rng.choice(_NOUN)}."
            block, given = (
                f"Class label: {label}\nDocument: {sentence}\n{claim}",
                f"Document: {sentence}\n{claim}",
            )
        else:
            block, given = f"Class label: {label}\n{field}: {sentence}", f"{field}: {sentence}"
        if shape == "headers":
            block = f"Example {number}\n{block}"
        blocks.append(block)
        written.append(Instance(given, label))
    return blocks, written, "\n\n"


def _demo_sentence(rng: random.Random) -> str:
    sentence = rng.choice(_WORDS)
    return sentence[0].upper() + sentence[1:] + "."


def main(argv: list[str] | None = None) -> int:
    """Serve the fake model on loopback until interrupted; print the base URL first."""
    import argparse

    from .server import (
        FakeOpenAIServer,
        FakeServerConfig,
        add_batch_arguments,
        batch_config_from_args,
        serve_until_stopped,
    )

    parser = argparse.ArgumentParser(prog="python -m selfinstruct.testing.fake_model", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    add_batch_arguments(parser)
    args = parser.parse_args(argv)
    model = FakeModel(seed=args.seed)
    server = FakeOpenAIServer(
        FakeServerConfig(latency=args.latency), model, port=args.port, batch=batch_config_from_args(args)
    )
    serve_until_stopped(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
