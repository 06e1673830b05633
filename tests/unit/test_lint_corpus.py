"""The labelled corpus: every file produces the rules it is labelled with and none it forbids."""

from __future__ import annotations

import pytest

from datamigration.lint import lint_text
from datamigration.lint.catalogue import RULES
from datamigration.lint.model import LintOptions
from lint_corpus.labels import corpus

FILES = corpus()


def test_the_corpus_has_at_least_150_labelled_files():
    assert len(FILES) >= 150
    assert all(f.expect or f.expect_not for f in FILES)


def test_corpus_labels_name_only_known_rules():
    for f in FILES:
        assert (f.expect | f.expect_not) <= set(RULES), f.path.name


@pytest.mark.parametrize("item", FILES, ids=[f.path.name for f in FILES])
def test_corpus_file_produces_exactly_what_its_labels_say(item):
    options = LintOptions(
        dialect=item.dialect,
        assume_in_transaction=item.assume_in_transaction,
        pg_version=item.pg_version,
    )
    found = {f.rule for f in lint_text(item.path.read_text(), item.path.name, options).findings}
    assert item.expect <= found, f"missing {sorted(item.expect - found)}"
    assert not (item.expect_not & found), f"unexpected {sorted(item.expect_not & found)}"
