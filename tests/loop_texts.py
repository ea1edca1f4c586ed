"""Texts for the loop guard's tests (unit: a word tokenizer; integration: the real models'
tokenizers). Imported by name: tests/ is on sys.path through tests/conftest.py."""

from __future__ import annotations

# Legitimate repetition: the guard must never fire on these.
TABLE = "| Model | Size | Context | Chat |\n|---|---|---|---|\n" + "".join(
    f"| model-{i} | {i * 100} MB | 4096 | yes |\n" for i in range(1, 21)
) + "| model-21 | 2100 MB | 4096 | yes |\n| model-21 | 2100 MB | 4096 | yes |\n"

STEPS = "Here is how to bake it:\n\n" + "".join(
    f"- Step {i}: {action} the {thing}.\n"
    for i, (action, thing) in enumerate(
        [("Preheat", "oven"), ("Weigh", "flour"), ("Sift", "flour"), ("Beat", "eggs"),
         ("Melt", "butter"), ("Mix", "batter"), ("Grease", "tin"), ("Pour", "batter"),
         ("Bake", "cake"), ("Cool", "cake"), ("Slice", "cake"), ("Serve", "cake")], start=1)
)

CODE = (
    "```python\n"
    "def test_add():\n"
    + "".join(f"    assert add({a}, {b}) == {a + b}\n" for a in range(4) for b in range(4))
    + "\n\nclass Point:\n    def __init__(self, x, y, z):\n"
    "        self.x = x\n        self.y = y\n        self.z = z\n"
    "\n\nCOLUMNS = [\n"
    + "".join(f'    "column_{i}",\n' for i in range(24))
    + "]\n"
    "# " + "-" * 76 + "\n"
    "```\n"
)

CHORUS = (
    "Oh, the tide comes in and the tide goes out,\n"
    "and the gulls all know what the wind's about,\n"
    "so sing with me by the harbour wall,\n"
    "the sea will answer, the sea will call.\n"
)
POEM = (
    "The boats went out at break of day,\nthe nets were mended, the sky was grey.\n\n"
    + CHORUS + "\n" + CHORUS
    + "\nAnd when the boats came home at night,\nthe harbour shone with lantern light.\n"
)

LEGITIMATE = {"table": TABLE, "list with a shared prefix": STEPS,
              "code with similar lines": CODE, "a chorus sung twice": POEM}

# Degenerate loops: the guard must fire on these.
TASK_BLOCK = (
    "Task: 1) Write a sentence about the sea.\n2) Write a sentence about the waves.\n"
    "3) Write a sentence about the sand.\n4) Write a sentence about the wind.\n"
    "5) Write a sentence about the sky.\n\n"
)
LOOPS = {
    "a five-line block": "The sea is blue.\n\n" + TASK_BLOCK * 6,
    "one word": "The sea is " + "the " * 100,
    "a sentence": "Waves. " + "The sea is deep and the sea is wide and I love it so. " * 12,
}
