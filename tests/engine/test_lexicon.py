from engine.data.lexicon import Lexicon


def test_replaces_whole_words_case_insensitively() -> None:
    lexicon = Lexicon({"Dr": "Doctor", "mg": "milligrams"})
    assert lexicon.apply("dr Patel said 5 MG, not mgs") == "Doctor Patel said 5 milligrams, not mgs"


def test_longest_written_form_wins() -> None:
    lexicon = Lexicon({"Riverside": "River side", "Riverside Clinic": "the Riverside clinic"})
    assert lexicon.apply("Welcome to Riverside Clinic.") == "Welcome to the Riverside clinic."
    assert lexicon.apply("Riverside is near.") == "River side is near."


def test_written_forms_with_spaces_and_punctuation() -> None:
    lexicon = Lexicon({"Riverside Clinic": "River-side Clinic", "q.d.": "once a day"})
    spoken = lexicon.apply("riverside  clinic: take it q.d. please")
    assert spoken == "River-side Clinic: take it once a day please"


def test_replacement_is_not_reapplied() -> None:
    lexicon = Lexicon({"Dr": "Doctor", "Doctor": "Doc"})
    assert lexicon.apply("Dr Doctor") == "Doctor Doc"


def test_does_not_match_inside_words() -> None:
    lexicon = Lexicon({"Ann": "Anne"})
    assert lexicon.apply("Annual visit with Ann") == "Annual visit with Anne"


def test_empty_lexicon_returns_text_unchanged() -> None:
    lexicon = Lexicon({})
    text = "nothing to change"
    assert lexicon.apply(text) is text
    assert not lexicon
    assert Lexicon().apply("") == ""


def test_restore_puts_the_written_words_back() -> None:
    lexicon = Lexicon({"Washtenaw": "WASH-teh-naw", "Riverside Clinic": "River-side Clinic"})
    spoken = lexicon.apply("Riverside Clinic in Washtenaw county")
    assert spoken == "River-side Clinic in WASH-teh-naw county"
    assert lexicon.restore(spoken) == "Riverside Clinic in Washtenaw county"
    assert lexicon.restore("nothing respelled") == "nothing respelled"
    assert Lexicon().restore("as is") == "as is"
