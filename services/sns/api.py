"""SNS actions over the query protocol: validation, topics, subscriptions, publishing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import uuid
from urllib.parse import urlsplit

from services.awsapi.errors import AwsError
from services.awsapi.nats_store import answer_or_unavailable
from services.awsapi.server import Context
from . import filterpolicy
from .delivery import iso_now

_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FIFO_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
MAX_MESSAGE = 262144

TOPIC_SETTABLE = {"DisplayName", "Policy", "DeliveryPolicy", "KmsMasterKeyId", "SignatureVersion",
                  "TracingConfig", "ContentBasedDeduplication", "FifoTopic", "ArchivePolicy",
                  "DataProtectionPolicy", "FifoThroughputScope"}
SUB_SETTABLE = {"RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy",
                "DeliveryPolicy", "SubscriptionRoleArn"}


def invalid(what: str) -> AwsError:
    return AwsError("InvalidParameter", f"Invalid parameter: {what}")


def not_found(what: str = "Topic does not exist") -> AwsError:
    return AwsError("NotFound", what, status=404)


def _required(p: dict, name: str) -> str:
    v = p.get(name)
    if v in (None, ""):
        raise invalid(name)
    return v


def _tags(p: dict) -> dict:
    tags = p.get("Tags") or []
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {t["Key"]: t.get("Value", "") for t in tags if isinstance(t, dict) and "Key" in t}


def _check_attributes(attrs, what: str = "MessageAttributes") -> dict:
    if not attrs:
        return {}
    if len(attrs) > 10:
        raise invalid(f"{what}: too many message attributes")
    out = {}
    for name, v in attrs.items():
        dtype = (v or {}).get("DataType")
        if not dtype or dtype.split(".")[0] not in ("String", "Number", "Binary"):
            raise AwsError("ParameterValueInvalid",
                           f"The message attribute '{name}' has an invalid message attribute type, "
                           "the set of supported type prefixes is Binary, Number, and String.")
        if dtype.startswith("Binary"):
            raw = v.get("BinaryValue")
            if not raw:
                raise AwsError("ParameterValueInvalid", f"The message attribute '{name}' must contain "
                               f"non-empty message attribute value for message attribute type '{dtype}'.")
            if isinstance(raw, (bytes, bytearray)):
                raw = base64.b64encode(raw).decode()
            out[name] = {"DataType": dtype, "BinaryValue": raw}
        else:
            sval = v.get("StringValue")
            if sval in (None, ""):
                raise AwsError("ParameterValueInvalid", f"The message attribute '{name}' must contain "
                               f"non-empty message attribute value for message attribute type '{dtype}'.")
            if dtype.startswith("Number"):
                try:
                    float(sval)
                except ValueError:
                    raise AwsError("ParameterValueInvalid",
                                   f"Could not cast message attribute '{name}' value to number.") from None
            if dtype == "String.Array":
                try:
                    if not isinstance(json.loads(sval), list):
                        raise ValueError
                except ValueError:
                    raise AwsError("ParameterValueInvalid",
                                   f"The message attribute '{name}' with type 'String.Array' "
                                   "must use a valid JSON array.") from None
            out[name] = {"DataType": dtype, "StringValue": sval}
    return out


class SnsApi:
    def __init__(self, store, deliverer):
        self.store = store
        self.deliverer = deliverer

    async def dispatch(self, action: str, params: dict, ctx: Context):
        handler = getattr(self, "do_" + action, None)
        if handler is None:
            raise AwsError("InvalidAction", f"Could not find operation {action} for version 2010-03-31")
        return await answer_or_unavailable(handler(params, ctx))

    async def _topic(self, arn: str | None) -> dict:
        if not arn:
            raise invalid("TopicArn")
        name = self.store.topic_name(arn)
        if name is None:
            raise invalid("TopicArn")
        topic = await self.store.get_topic(name)
        if topic is None:
            raise not_found()
        return topic

    # --- topics --------------------------------------------------------------------------------

    def _topic_attrs(self, attrs: dict, fifo: bool, creating: bool) -> dict:
        out = {}
        for k, v in (attrs or {}).items():
            if k not in TOPIC_SETTABLE or (k == "FifoTopic" and not creating):
                raise invalid("AttributeName")
            v = str(v)
            if k == "SignatureVersion" and v not in ("1", "2"):
                raise invalid("Attributes Reason: SignatureVersion must be 1 or 2")
            if k in ("FifoTopic", "ContentBasedDeduplication") and v.lower() not in ("true", "false"):
                raise invalid(f"Attributes Reason: {k} must be true or false")
            if k == "ContentBasedDeduplication" and not fifo:
                raise invalid("Attributes Reason: Content-based deduplication can only be set for FIFO topics")
            if k in ("Policy", "DeliveryPolicy") and v:
                try:
                    json.loads(v)
                except ValueError:
                    raise invalid(f"Attributes Reason: {k}: failed to parse JSON") from None
            out[k] = v.lower() if k in ("FifoTopic", "ContentBasedDeduplication") else v
        return out

    async def do_CreateTopic(self, p: dict, ctx: Context):
        name = p.get("Name")
        attrs = p.get("Attributes") or {}
        fifo = str(attrs.get("FifoTopic", "false")).lower() == "true"
        if not name or not (_FIFO_TOPIC if fifo else _TOPIC).match(name):
            raise invalid("Topic Name")
        attrs = self._topic_attrs(attrs, fifo, creating=True)
        if fifo:
            attrs.setdefault("FifoTopic", "true")
            attrs.setdefault("ContentBasedDeduplication", "false")
        topic, created = await self.store.create_topic(name, attrs, _tags(p))
        if not created:
            for k, v in attrs.items():
                if topic["attrs"].get(k) != v:
                    raise invalid("Attributes Reason: Topic already exists with different attributes")
        return {"TopicArn": self.store.topic_arn(name)}

    async def do_DeleteTopic(self, p: dict, ctx: Context):
        name = self.store.topic_name(_required(p, "TopicArn"))
        if name is None:
            raise invalid("TopicArn")
        await self.store.delete_topic(name)  # deleting a missing topic is not an error in SNS
        return None

    async def do_ListTopics(self, p: dict, ctx: Context):
        names = await self.store.topic_names()
        token = p.get("NextToken")
        if token:
            names = [n for n in names if n > token]
        out: dict = {"Topics": [{"TopicArn": self.store.topic_arn(n)} for n in names[:100]]}
        if len(names) > 100:
            out["NextToken"] = names[99]
        return out

    async def do_GetTopicAttributes(self, p: dict, ctx: Context):
        topic = await self._topic(p.get("TopicArn"))
        arn = self.store.topic_arn(topic["name"])
        subs = self.store.topic_subs(topic["name"])
        attrs = {"TopicArn": arn, "Owner": self.store.account, "DisplayName": "",
                 "SignatureVersion": "2",
                 "SubscriptionsConfirmed": str(sum(1 for s in subs if s.get("confirmed"))),
                 "SubscriptionsPending": str(sum(1 for s in subs if not s.get("confirmed"))),
                 "SubscriptionsDeleted": "0",
                 "Policy": json.dumps({"Version": "2008-10-17", "Id": "__default_policy_ID",
                                       "Statement": [{"Sid": "__default_statement_ID", "Effect": "Allow",
                                                      "Principal": {"AWS": "*"}, "Action": ["SNS:Publish"],
                                                      "Resource": arn}]}),
                 "EffectiveDeliveryPolicy": json.dumps({"http": {"defaultHealthyRetryPolicy": {
                     "minDelayTarget": 1, "maxDelayTarget": 20, "numRetries": 3}}})}
        attrs.update(topic["attrs"])
        return {"Attributes": attrs}

    async def do_SetTopicAttributes(self, p: dict, ctx: Context):
        topic = await self._topic(p.get("TopicArn"))
        name = _required(p, "AttributeName")
        fifo = topic["attrs"].get("FifoTopic") == "true"
        attrs = self._topic_attrs({name: p.get("AttributeValue", "")}, fifo, creating=False)
        topic = dict(topic, attrs={**topic["attrs"], **attrs})
        await self.store.put_topic(topic)
        return None

    # --- tags ----------------------------------------------------------------------------------

    async def _tag_target(self, arn: str) -> dict:
        topic = await self.store.get_topic(self.store.topic_name(arn))
        if topic is None:
            raise AwsError("ResourceNotFound", "Resource does not exist", status=404)
        return topic

    async def do_TagResource(self, p: dict, ctx: Context):
        topic = await self._tag_target(_required(p, "ResourceArn"))
        tags = _tags(p)
        if not tags:
            raise invalid("Tags")
        if len({**topic["tags"], **tags}) > 50:
            raise AwsError("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
        await self.store.put_topic(dict(topic, tags={**topic["tags"], **tags}))
        return None

    async def do_UntagResource(self, p: dict, ctx: Context):
        topic = await self._tag_target(_required(p, "ResourceArn"))
        keys = set(p.get("TagKeys") or [])
        await self.store.put_topic(dict(topic, tags={k: v for k, v in topic["tags"].items() if k not in keys}))
        return None

    async def do_ListTagsForResource(self, p: dict, ctx: Context):
        topic = await self._tag_target(_required(p, "ResourceArn"))
        return {"Tags": [{"Key": k, "Value": v} for k, v in topic["tags"].items()]}

    # --- subscriptions -------------------------------------------------------------------------

    def _sub_attrs(self, attrs: dict) -> dict:
        out = {}
        for k, v in (attrs or {}).items():
            if k not in SUB_SETTABLE:
                raise invalid("AttributeName")
            v = str(v)
            if k == "RawMessageDelivery":
                if v.lower() not in ("true", "false"):
                    raise invalid(f"Attributes Reason: RawMessageDelivery: Invalid value [{v}]. Must be true or false.")
                v = v.lower()
            elif k == "FilterPolicyScope" and v not in ("MessageAttributes", "MessageBody"):
                raise invalid("Attributes Reason: FilterPolicyScope: Invalid value [" + v + "]. "
                              "Please use either MessageBody or MessageAttributes")
            elif k == "RedrivePolicy" and v:
                try:
                    target = json.loads(v)["deadLetterTargetArn"]
                except (ValueError, KeyError, TypeError):
                    raise invalid("RedrivePolicy: Redrive policy is not a valid JSON map") from None
                if not str(target).startswith("arn:aws:sqs:"):
                    raise invalid("RedrivePolicy: deadLetterTargetArn is not an SQS queue ARN")
            elif k == "DeliveryPolicy" and v:
                try:
                    json.loads(v)
                except ValueError:
                    raise invalid("DeliveryPolicy: failed to parse JSON") from None
            out[k] = v
        if out.get("FilterPolicy"):
            filterpolicy.parse(out["FilterPolicy"], out.get("FilterPolicyScope", "MessageAttributes"))
        return out

    async def _sub(self, arn: str | None) -> dict:
        if not arn:
            raise invalid("SubscriptionArn")
        sub_id = arn.rsplit(":", 1)[-1]
        sub = await self.store.get_sub(sub_id) if arn.startswith("arn:aws:sns:") else None
        if sub is None:
            raise not_found("Subscription does not exist")
        return sub

    async def do_Subscribe(self, p: dict, ctx: Context):
        topic = await self._topic(p.get("TopicArn"))
        protocol = p.get("Protocol")
        endpoint = p.get("Endpoint") or ""
        if not protocol:
            raise invalid("Protocol")
        protocol = protocol.lower()
        if protocol not in ("sqs", "http", "https"):
            raise invalid(f"Amazon SNS does not support this protocol string: {protocol}")
        fifo = topic["attrs"].get("FifoTopic") == "true"
        if protocol == "sqs":
            parts = endpoint.split(":")
            if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"]:
                raise invalid("SQS endpoint ARN")
            if self.deliverer.sqs is None:  # its deliveries could only fail
                raise invalid("Protocol Reason: this SNS has no SQS endpoint to deliver to "
                              "(it runs without --sqs-endpoint)")
        else:
            if fifo:
                raise invalid(f"Invalid protocol type: {protocol}")
            u = urlsplit(endpoint)
            if u.scheme != protocol or not u.netloc:
                raise invalid("Endpoint must match the specified protocol")
        attrs = self._sub_attrs(p.get("Attributes") or {})
        if protocol == "sqs" and endpoint.endswith(".fifo") and not fifo:
            raise invalid("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics")
        for s in self.store.topic_subs(topic["name"]):  # same endpoint and protocol: same subscription
            if s["protocol"] == protocol and s["endpoint"] == endpoint:
                if attrs and any(s["attrs"].get(k) != v for k, v in attrs.items()):
                    raise invalid("Attributes Reason: Subscription already exists with different attributes")
                return {"SubscriptionArn": self._shown_arn(s, p)}
        sub = {"id": str(uuid.uuid4()), "topic": topic["name"], "protocol": protocol, "endpoint": endpoint,
               "attrs": attrs, "confirmed": protocol == "sqs", "token": secrets.token_hex(64),
               "owner": self.store.account}
        await self.store.put_sub(sub)
        if not sub["confirmed"]:
            await self.store.enqueue(sub["id"], {"kind": "SubscriptionConfirmation", "sub": sub["id"]})
        return {"SubscriptionArn": self._shown_arn(sub, p)}

    def _shown_arn(self, sub: dict, p: dict) -> str:
        if sub.get("confirmed") or str(p.get("ReturnSubscriptionArn", "false")).lower() == "true":
            return self.store.sub_arn(sub)
        return "pending confirmation"

    async def do_ConfirmSubscription(self, p: dict, ctx: Context):
        topic = await self._topic(p.get("TopicArn"))
        token = _required(p, "Token")
        for s in self.store.topic_subs(topic["name"]):
            if secrets.compare_digest(s.get("token", ""), token):
                if not s.get("confirmed"):
                    s = dict(s, confirmed=True, authenticated=bool(ctx.access_key))
                    if str(p.get("AuthenticateOnUnsubscribe", "false")).lower() == "true":
                        s["auth_unsubscribe"] = True
                    await self.store.put_sub(s)
                return {"SubscriptionArn": self.store.sub_arn(s)}
        raise invalid("Token")

    async def do_Unsubscribe(self, p: dict, ctx: Context):
        sub = await self._sub(p.get("SubscriptionArn"))
        if not ctx.access_key and sub.get("auth_unsubscribe"):
            raise AwsError("AuthorizationError", "Unsubscribe requires authentication for this subscription",
                           status=403)
        await self.store.delete_sub(sub["id"])
        if sub["protocol"] in ("http", "https") and sub.get("confirmed"):
            # tell the endpoint (the subscription is gone, so the job carries a copy of it)
            await self.store.enqueue(sub["id"], {"kind": "UnsubscribeConfirmation", "sub": sub["id"],
                                                 "snapshot": sub})
        return None

    def _listing(self, s: dict) -> dict:
        return {"SubscriptionArn": self.store.sub_arn(s) if s.get("confirmed") else "PendingConfirmation",
                "Owner": s.get("owner", self.store.account), "Protocol": s["protocol"],
                "Endpoint": s["endpoint"], "TopicArn": self.store.topic_arn(s["topic"])}

    def _page(self, subs: list[dict], token: str | None) -> dict:
        if token:
            subs = [s for s in subs if s["id"] > token]
        out: dict = {"Subscriptions": [self._listing(s) for s in subs[:100]]}
        if len(subs) > 100:
            out["NextToken"] = subs[99]["id"]
        return out

    async def do_ListSubscriptions(self, p: dict, ctx: Context):
        return self._page(await self.store.all_subs(), p.get("NextToken"))

    async def do_ListSubscriptionsByTopic(self, p: dict, ctx: Context):
        topic = await self._topic(p.get("TopicArn"))
        subs = sorted(self.store.topic_subs(topic["name"]), key=lambda s: s["id"])
        return self._page(subs, p.get("NextToken"))

    async def do_GetSubscriptionAttributes(self, p: dict, ctx: Context):
        sub = await self._sub(p.get("SubscriptionArn"))
        attrs = {"SubscriptionArn": self.store.sub_arn(sub), "TopicArn": self.store.topic_arn(sub["topic"]),
                 "Protocol": sub["protocol"], "Endpoint": sub["endpoint"], "Owner": sub.get("owner", ""),
                 "ConfirmationWasAuthenticated": "true" if sub.get("authenticated", True) else "false",
                 "PendingConfirmation": "false" if sub.get("confirmed") else "true",
                 "RawMessageDelivery": "false", "SubscriptionPrincipal": f"arn:aws:iam::{self.store.account}:root"}
        attrs.update(sub.get("attrs", {}))
        if "FilterPolicy" in attrs and "FilterPolicyScope" not in attrs:
            attrs["FilterPolicyScope"] = "MessageAttributes"
        return {"Attributes": attrs}

    async def do_SetSubscriptionAttributes(self, p: dict, ctx: Context):
        sub = await self._sub(p.get("SubscriptionArn"))
        name = _required(p, "AttributeName")
        value = p.get("AttributeValue", "")
        merged = {**sub.get("attrs", {}), name: value}
        checked = self._sub_attrs(merged)
        if value == "":
            checked.pop(name, None)
        await self.store.put_sub(dict(sub, attrs=checked))
        return None

    # --- publishing ----------------------------------------------------------------------------

    async def _prepare(self, topic: dict, e: dict) -> dict:
        message = e.get("Message")
        if message is None or message == "":
            raise invalid("Empty message")
        if len(message.encode()) > MAX_MESSAGE:
            raise invalid("Message too long")
        subject = e.get("Subject")
        if subject is not None and (subject == "" or len(subject) > 100 or
                                    not all(32 <= ord(c) < 127 for c in subject)):
            raise invalid("Subject")
        structure = e.get("MessageStructure")
        per_protocol = None
        if structure is not None:
            if structure != "json":
                raise invalid("MessageStructure")
            try:
                per_protocol = json.loads(message)
            except ValueError:
                raise invalid("Message Structure - JSON message body failed to parse") from None
            if not isinstance(per_protocol, dict) or "default" not in per_protocol:
                raise invalid("Message Structure - No default entry in JSON message body")
        attrs = _check_attributes(e.get("MessageAttributes"))
        fifo = topic["attrs"].get("FifoTopic") == "true"
        group, dedup = e.get("MessageGroupId"), e.get("MessageDeduplicationId")
        if fifo:
            if not group:
                raise invalid("The MessageGroupId parameter is required for FIFO topics")
            if not dedup:
                if topic["attrs"].get("ContentBasedDeduplication") != "true":
                    raise invalid("The topic should either have ContentBasedDeduplication enabled "
                                  "or MessageDeduplicationId provided explicitly")
                dedup = hashlib.sha256(message.encode()).hexdigest()
        elif dedup:
            raise invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId "
                          "parameter that is not valid for this topic type")
        return {"message": message, "subject": subject, "attrs": attrs, "per_protocol": per_protocol,
                "group": group if fifo else None, "dedup": dedup if fifo else None, "fifo": fifo}

    async def _publish(self, topic: dict, prep: dict) -> dict:
        msg_id = str(uuid.uuid4())
        seq = fifo_key = None
        if prep["fifo"]:
            fifo_key = self.store.fifo_key(topic["name"], prep["dedup"])
            msg_id, n, published = await self.store.fifo_claim(fifo_key, msg_id)
            seq = str(n).zfill(20)
            if published:
                return {"MessageId": msg_id, "SequenceNumber": seq}
        topic_arn = self.store.topic_arn(topic["name"])
        base = {"id": msg_id, "topic_arn": topic_arn, "subject": prep["subject"], "attrs": prep["attrs"],
                "ts": iso_now(), "group": prep["group"], "dedup": prep["dedup"], "seq": seq}
        jobs = []
        for sub in self.store.topic_subs(topic["name"]):
            if not sub.get("confirmed"):
                continue
            message = prep["message"]
            if prep["per_protocol"] is not None:
                message = prep["per_protocol"].get(sub["protocol"], prep["per_protocol"]["default"])
                if not isinstance(message, str):
                    message = json.dumps(message)
            policy_text = sub.get("attrs", {}).get("FilterPolicy")
            if policy_text:
                scope = sub["attrs"].get("FilterPolicyScope", "MessageAttributes")
                if not filterpolicy.matches(json.loads(policy_text), scope, prep["attrs"], message):
                    continue
            job_id = f"{fifo_key}:{sub['id']}" if fifo_key else None
            jobs.append(self.store.enqueue(sub["id"], {"kind": "Notification", "sub": sub["id"],
                                                       "n": {**base, "message": message}}, job_id))
        await asyncio.gather(*jobs)  # every job durable before we answer
        if fifo_key:  # only now is a retry a duplicate
            await self.store.fifo_done.mark(fifo_key, {"id": msg_id, "seq": int(seq)})
        out = {"MessageId": msg_id}
        if seq:
            out["SequenceNumber"] = seq
        return out

    async def do_Publish(self, p: dict, ctx: Context):
        if p.get("PhoneNumber"):
            raise invalid("PhoneNumber Reason: SMS is not supported by this cloud")
        arn = p.get("TopicArn") or p.get("TargetArn")
        topic = await self._topic(arn)
        return await self._publish(topic, await self._prepare(topic, p))

    async def do_PublishBatch(self, p: dict, ctx: Context):
        topic = await self._topic(p.get("TopicArn"))
        entries = p.get("PublishBatchRequestEntries") or []
        if not entries:
            raise AwsError("EmptyBatchRequest", "The batch request doesn't contain any entries.")
        if len(entries) > 10:
            raise AwsError("TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
        ids = [e.get("Id") for e in entries]
        if any(not isinstance(i, str) or not _BATCH_ID.match(i) for i in ids):
            raise AwsError("InvalidBatchEntryId", "The Id of a batch entry in a batch request doesn't abide by the specification.")
        if len(set(ids)) != len(ids):
            raise AwsError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
        if sum(len(str(e.get("Message", "")).encode()) for e in entries) > MAX_MESSAGE:
            raise AwsError("BatchRequestTooLong", "The length of all the messages put together is more than the limit.")
        ok, failed = [], []
        for e in entries:  # in order: FIFO topics keep the batch's order
            try:
                r = await self._publish(topic, await self._prepare(topic, e))
                ok.append({"Id": e["Id"], **r})
            except AwsError as err:
                failed.append({"Id": e["Id"], "Code": err.query_code, "Message": err.message,
                               "SenderFault": err.fault == "Sender"})
        return {"Successful": ok, "Failed": failed}
