"""Function triggers in the spec: every cron schedule checked by the connector's own parser, in
an IANA time zone; a bad one fails naming its key."""

import pytest

from stacks.load import SpecError, parse_spec
from stacks.spec import Trigger


def spec_with(trigger: dict):
    return {"runDir": "/srv/m", "functions": [{"name": "report", "image": "i:1",
                                               "triggers": [{"kind": "http"}, trigger]}]}


def test_a_cron_trigger_defaults_to_utc_and_sync():
    trigger = Trigger.model_validate({"kind": "cron", "schedule": "0 3 * * *"})
    assert (trigger.timezone, trigger.invoke) == ("UTC", "sync")
    named = Trigger.model_validate({"kind": "cron", "schedule": "@daily",
                                    "timezone": "America/Sao_Paulo", "invoke": "async"})
    assert (named.timezone, named.invoke) == ("America/Sao_Paulo", "async")


@pytest.mark.parametrize("trigger, message", [
    ({"kind": "cron", "schedule": "0 3 * * *", "timezone": "Europe/Nowhere"},
     "mammatus:functions[0].triggers[1].timezone: 'Europe/Nowhere' is not an IANA time zone"),
    ({"kind": "cron", "schedule": "0 25 * * *"},
     "mammatus:functions[0].triggers[1].schedule: hour: 25 is out of range 0-23"),
    ({"kind": "cron", "schedule": "*/5 * * * * *"},
     "mammatus:functions[0].triggers[1].schedule: a cron schedule has five fields"),
    ({"kind": "sns", "topic": "t", "timezone": "Europe/Paris"},
     "mammatus:functions[0].triggers[1]: timezone applies to cron triggers only"),
    ({"kind": "sqs", "queue": "q", "invoke": "later"},
     "mammatus:functions[0].triggers[1].invoke: Input should be 'sync' or 'async'"),
])
def test_a_bad_trigger_names_its_key(trigger, message):
    with pytest.raises(SpecError) as err:
        parse_spec(spec_with(trigger))
    assert message in str(err.value)
