"""A sync run's name goes into object names on the source database: one check, matched whole."""

import pytest

from datamigration.db.capture import valid_run
from datamigration.errors import UserInputError
from datamigration.move.sync.request import check_run_name


@pytest.mark.parametrize(
    "name",
    ["users\n", "users\r\n", "a" * 41, "", "Users", "users-move", "x'; DROP", "users move", "ü"],
)
def test_a_run_name_outside_the_allowed_shape_is_refused_everywhere_it_is_checked(name):
    for check in (valid_run, check_run_name):
        with pytest.raises(UserInputError) as refused:
            check(name)
        assert "a-z, 0-9 and _" in str(refused.value)


@pytest.mark.parametrize("name", ["users", "users_to_mongo", "a" * 40, "r2_back"])
def test_a_run_name_of_lower_case_letters_digits_and_underscores_is_kept(name):
    assert valid_run(name) == name
    assert check_run_name(name) == name
