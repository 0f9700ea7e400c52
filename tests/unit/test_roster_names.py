"""Association names of a roster file against the city's: a typo must not become a new association."""

from __future__ import annotations

import pytest
from roster_helpers import household

from safetynet.domain.roster import Association
from safetynet.roster.names import association_key, new_associations


@pytest.mark.parametrize(("a", "b"), [
    ("桜台一丁目町内会", "桜台１丁目町内会"), ("桜台一丁目町内会", "桜台1丁目町内会"), ("桜台一丁目町内会", "桜台 一丁目 町内会"),
    ("桜台一丁目町内会", "桜台一丁目自治会"), ("桜台一丁目町内会", "桜台一丁目"), ("霞ヶ丘町会", "霞ケ丘町会"),
    ("霞ヶ丘町会", "霞が丘町内会"), ("ＡＢＣ町会", "abc町会"),
])  # fmt: skip
def test_names_typed_differently_fold_to_one_key(a: str, b: str) -> None:
    assert association_key(a) == association_key(b)


@pytest.mark.parametrize(("a", "b"), [("桜台一丁目町内会", "桜台二丁目町内会"), ("東町会", "西町会"), ("本町", "本郷")])
def test_other_associations_stay_apart(a: str, b: str) -> None:
    assert association_key(a) != association_key(b)


def test_the_files_new_associations_with_their_look_alikes() -> None:
    known = [Association(1, "桜台一丁目町内会", "桜台地区"), Association(2, "桜台二丁目町内会", "桜台地区")]
    records = [household("桜台地区", "桜台1丁目町内会", "1班", f"k{i}", f"世帯{i}") for i in range(3)]
    records += [household("桜台地区", "桜台二丁目町内会", "1班", "x", "既存"),
                household("桜台地区", "桜台三丁目町内会", "1班", "y", "新しい町会")]
    got = new_associations(records, known)
    assert [(n.name, n.households, n.like) for n in got] == [
        ("桜台1丁目町内会", 3, "桜台一丁目町内会"), ("桜台三丁目町内会", 1, "")]
