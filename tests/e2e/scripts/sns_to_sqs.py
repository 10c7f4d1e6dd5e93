"""Run inside a LAN namespace of the dev stack: publish to the SNS topic `events`, then wait for
the message in the SQS queue `jobs` that subscribes to it (raw delivery, as the stack sets it
up). A second queue, subscribed here without raw delivery, gets the signed envelope, checked as
a subscriber would: the certificate at SigningCertURL chains to the cloud CA's root and signs
the envelope. SNS and SQS speak HTTPS from the cloud's CA: every call verifies against its root
alone. argv[1]: the stack outputs as JSON."""
import base64
import json
import ssl
import sys
import tempfile
import time
import urllib.request
import uuid

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

out = json.loads(sys.argv[1])
root_file = tempfile.NamedTemporaryFile("w", suffix=".pem")
root_file.write(out["ca_root_pem"])
root_file.flush()


def kw(s):
    return dict(region_name="us-east-1", aws_access_key_id=out[s + "_credentials"]["access_key"],
                aws_secret_access_key=out[s + "_credentials"]["secret_key"], verify=root_file.name)


def receive(url):
    deadline = time.time() + 20
    while time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", []):
            return m["Body"]
    sys.exit(f"nothing arrived in {url}")


def verify(envelope):
    assert envelope["SigningCertURL"].startswith("https://")
    context = ssl.create_default_context(cadata=out["ca_root_pem"])
    pem = urllib.request.urlopen(envelope["SigningCertURL"], timeout=5, context=context).read()
    leaf, *chain = x509.load_pem_x509_certificates(pem)
    issuer = leaf
    for cert in chain + [x509.load_pem_x509_certificate(out["ca_root_pem"].encode())]:
        issuer.verify_directly_issued_by(cert)   # raises if the chain is broken
        issuer = cert
    fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    text = "".join(f"{k}\n{envelope[k]}\n" for k in fields if envelope.get(k) is not None)
    algorithm = hashes.SHA256() if envelope["SignatureVersion"] == "2" else hashes.SHA1()
    leaf.public_key().verify(base64.b64decode(envelope["Signature"]), text.encode(),
                             padding.PKCS1v15(), algorithm)


assert out["sns_endpoint"].startswith("https://") and out["sqs_endpoint"].startswith("https://")
sns = boto3.client("sns", endpoint_url=out["sns_endpoint"], **kw("sns"))
sqs = boto3.client("sqs", endpoint_url=out["sqs_endpoint"], **kw("sqs"))
topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":events"))
jobs = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
signed = sqs.create_queue(QueueName=f"e2e-signed-{uuid.uuid4().hex[:8]}")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=signed, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
try:
    sns.publish(TopicArn=topic, Message="hello from the client")
    print(receive(jobs))
    envelope = json.loads(receive(signed))
    assert envelope["Message"] == "hello from the client" and envelope["TopicArn"] == topic
    verify(envelope)
    print("signature verified up to the cloud CA's root")
finally:
    sns.unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=signed)
