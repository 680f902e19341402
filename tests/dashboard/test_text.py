"""Task text shown as text (dashboard.text)."""

from dashboard.text import escape, marked_definition, perturbation_lines


def test_marked_definition_strikes_dropped_words_and_escapes():
    html = marked_definition("Answer with <b>yes</b> or *no*", [1, 3])
    assert html.count("line-through") == 2
    assert "<b>" not in html and "&#60;b&#62;" in html and "&#42;no&#42;" in html
    assert html.split(" ")[0] == "Answer"
    lines = perturbation_lines("a b c d", {1: [0], 2: [1, 2]})
    assert "j = 1" in lines and "(1 of 4 words dropped)" in lines and "(2 of 4 words dropped)" in lines
    assert escape("[x](e)") == "&#91;x&#93;&#40;e&#41;"
    # a word joiner keeps Markdown from linking a bare URL (it links after decoding entities)
    assert escape("http://e") == "http&#58;\u2060//e"
