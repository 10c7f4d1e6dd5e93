"""What counts as not known yet in a provider's inputs at preview."""

from pulumi.output import Unknown

from dynamic_providers.preview import UNKNOWN, contains_unknown


def test_the_unknown_string_and_an_unknown_secret_nested_anywhere_are_unknown():
    assert contains_unknown(UNKNOWN)
    # A secret not known yet (a RandomPassword's result at preview) arrives as Unknown.
    assert contains_unknown({"web-1": {"userid": "u", "password": Unknown()}})
    assert contains_unknown([1, [Unknown()]])
    assert not contains_unknown({"web-1": {"userid": "u", "password": "s3cret"}})
