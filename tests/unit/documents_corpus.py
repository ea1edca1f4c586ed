"""A small corpus written for the retrieval test: six documents of four sections each,
on neighbouring topics (so words like "water", "temperature", "year" appear in many
passages), and questions phrased the way people ask, each with the one fact that answers
it. recall@5 = the share of questions whose answering passage is among the five given."""

from __future__ import annotations

DOCUMENTS = {
    "bees.md": """# Bees and their hives

## The queen
A colony has one queen, who lays up to 2,000 eggs a day in summer. Workers raise a new
queen on royal jelly when the old one fails.

## Workers
Worker bees live about six weeks in summer. They clean cells, nurse larvae, guard the
entrance and finally forage for nectar and pollen.

## Winter
In winter the colony forms a cluster and shivers its flight muscles to keep the centre
near 35 degrees Celsius. Honey stored in autumn is their only food until spring.

## Swarming
Swarming is how colonies reproduce: the old queen leaves with about half of the workers
and the swarm hangs on a branch while scouts look for a hollow tree.
""",
    "bread.md": """# Baking sourdough bread

## Starter
A sourdough starter is flour and water fermented by wild yeast and lactobacilli. Feed it
every day at room temperature, or once a week when it lives in the fridge.

## Hydration
Hydration is the weight of water divided by the weight of flour. A 75 percent dough is
sticky but gives an open crumb; beginners often start at 65 percent.

## Proofing
The bulk proof takes four to six hours at 24 degrees. A cold retard overnight in the
fridge deepens the sour flavour and makes the loaf easier to score.

## Baking
Bake in a preheated Dutch oven at 250 degrees with the lid on for twenty minutes to trap
steam, then without the lid until the crust is deep brown.
""",
    "comets.md": """# Comets

## Nucleus
A comet's nucleus is a loose body of ice, dust and rock a few kilometres across, often
called a dirty snowball. Halley's nucleus is about 15 kilometres long.

## Tails
Near the Sun the ice sublimates. A comet grows two tails: a curved dust tail and a
straight ion tail that always points away from the Sun, pushed by the solar wind.

## Orbits
Short-period comets come back within 200 years and mostly come from the Kuiper belt.
Long-period comets fall in from the distant Oort cloud.

## Famous returns
Halley's comet returns every 75 or 76 years; it last passed in 1986 and will be back in
2061. Edmond Halley predicted its return in 1705.
""",
    "tea.md": """# Tea

## Origins
Tea comes from the leaves of Camellia sinensis. Legend credits the Chinese emperor Shen
Nong with the first cup, around 2737 BC.

## Kinds
Green tea is heated soon after picking to stop oxidation; black tea is fully oxidised;
oolong sits between them. White tea is the least processed.

## Brewing
Green tea is best brewed at 70 to 80 degrees for two minutes; black tea wants boiling
water and four minutes. Water too hot makes green tea bitter.

## Caffeine
A cup of black tea holds about 47 milligrams of caffeine, roughly half of a cup of
coffee. Theanine in tea softens the jittery effect.
""",
    "bicycles.md": """# Bicycle maintenance

## Tyre pressure
Road tyres run at 80 to 100 psi, mountain bike tyres at 25 to 35 psi. Check pressure
weekly: tyres lose air slowly even without a puncture.

## Chain care
Clean and oil the chain every 300 kilometres, or after a wet ride. A chain stretched
beyond 0.75 percent wears the cassette and should be replaced.

## Brakes
Rim brake pads are worn when the grooves disappear. Disc brakes squeal when oil reaches
the pads; clean the rotor with isopropyl alcohol.

## Punctures
To fix a puncture, remove the tube, find the hole by listening or under water, roughen
the area, apply glue and wait a minute before pressing the patch.
""",
    "volcanoes.md": """# Volcanoes

## Magma
Magma forms where the mantle melts, at subduction zones or hot spots. Silica-rich magma
is thick and traps gas, which makes explosive eruptions.

## Types
Shield volcanoes like Mauna Loa have gentle slopes built by runny basalt lava.
Stratovolcanoes like Mount Fuji are steep cones of ash and lava layers.

## Famous eruptions
Vesuvius buried Pompeii in the year 79. Krakatoa exploded in 1883, and the sound was
heard 4,800 kilometres away on Rodrigues island.

## Monitoring
Volcanologists watch small earthquakes, ground swelling measured by GPS, and sulphur
dioxide in the gas to warn of an eruption days in advance.
""",
}

# (question, a phrase found only in the passage that answers it)
QUESTIONS = [
    ("How many eggs can a queen bee lay each day?", "2,000 eggs a day"),
    ("How do bees stay warm during the cold months?", "shivers its flight muscles"),
    ("Why does a colony swarm?", "Swarming is how colonies reproduce"),
    ("What does hydration mean for a dough?", "weight of water divided by"),
    ("How long should the bulk proof take?", "four to six hours"),
    ("At what temperature should I bake the loaf in the Dutch oven?", "preheated Dutch oven"),
    ("Which way does the ion tail point?", "points away from the Sun"),
    ("When will Halley's comet come back?", "2061"),
    ("Where do long-period comets come from?", "Oort cloud"),
    ("What is the right water temperature for green tea?", "70 to 80 degrees"),
    ("How much caffeine is in black tea?", "47 milligrams"),
    ("Who is said to have drunk the first cup of tea?", "Shen"),
    ("What pressure should road bike tyres have?", "80 to 100 psi"),
    ("When should a stretched chain be replaced?", "0.75 percent"),
    ("How do I patch a punctured inner tube?", "apply glue"),
    ("Why do disc brakes squeal?", "Disc brakes squeal"),
    ("When did Vesuvius bury Pompeii?", "year 79"),
    ("What makes an eruption explosive?", "traps gas"),
    ("How do scientists predict volcanic eruptions?", "ground swelling"),
    ("What kind of volcano is Mount Fuji?", "Stratovolcanoes"),
]
