"""models.features: the numeric signals the spam model reads beside the words."""

import pytest

from models.features import FEATURE_NAMES, comment_features, comment_frame


def signals(content, author_name=None, author_url=None) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, comment_features(content, author_name, author_url)))


def test_every_signal_has_a_name_and_plain_text_has_none_of_the_spam_ones():
    values = signals("Harga beras naik terus, rakyat kecil makin susah")
    assert len(values) == len(FEATURE_NAMES)
    for name in ("links", "shorteners", "phones", "whatsapp", "brands", "gambling_words",
                 "disguised", "author_url"):
        assert values[name] == 0


@pytest.mark.parametrize(("content", "name"), [
    ("cek bit.ly/abc123 sekarang", "shorteners"),
    ("promo di www.slot88.com dan https://example.org/x", "links"),
    ("hubungi 0812-3456-7890", "phones"),
    ("info +62 812 3456 7890", "phones"),
    ("chat WA ya bos", "whatsapp"),
    ("main di pulau777 sekarang", "brands"),
    ("slot gacor maxwin", "gambling_words"),
    ("blokir situs judi, haram!", "against_words"),
    ("𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑", "disguised"),
    ("woooooy!!!!", "repeats"),
])
def test_each_signal_fires_on_its_example(content, name):
    assert signals(content)[name] > 0


def test_author_fields_feed_their_own_signals():
    values = signals("mantap", author_name="GACOR777 Official", author_url="https://bit.ly/x")
    assert values["author_url"] == values["author_url_shortener"] == 1
    assert values["author_name_gambling"] > 0 and values["author_name_digits"] == 1


def test_the_frame_holds_the_folded_text_and_the_signals():
    frame = comment_frame(["𝐒𝐋𝐎𝐓 gacor", ""])
    assert list(frame.columns) == ["text", *FEATURE_NAMES]
    assert frame["text"].tolist() == ["slot gacor", ""]
