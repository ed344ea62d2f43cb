"""Small talk no schema intent means: a turn closer to these than to every intent is off-topic.

The rule compares each intent's score with the turn's nearest anchor (`DecisionRule.anchor_lead`),
so the bar follows the model's own sense of "unrelated" rather than one fixed similarity. They are
generic telephone asides, written for this purpose; none is a bench turn (tests/engine/test_nlu_set.py).
"""

OFF_TOPIC_ANCHORS = (
    "sorry, hold on a second", "the weather has been awful lately", "can you hear me?",
    "I'm watching television", "the children are making a lot of noise", "let me turn the radio down",
    "my neighbour is at the door", "what time is it?", "I was just making a cup of tea",
    "did you see the news today?", "my car needs new tyres", "the garden needs weeding",
    "we're going on holiday soon", "I like your voice", "I'm in the supermarket",
    "what's for dinner tonight?", "the cat is asleep on the sofa", "traffic was terrible this morning",
    "I've been doing a crossword", "is this a recording?",
)
