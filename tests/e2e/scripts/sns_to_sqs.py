"""Run inside a LAN namespace of the dev stack: publish to the SNS topic `events`, then wait for
the message in the SQS queue `jobs` that subscribes to it, and check its signature as a
subscriber would: the certificate at SigningCertURL chains to the cloud CA's root, and signs the
envelope. argv[1]: the stack outputs as JSON."""
import base64, json, sys, time, urllib.request, boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
out = json.loads(sys.argv[1])
def kw(s): return dict(region_name="us-east-1", aws_access_key_id=out[s+"_credentials"]["access_key"], aws_secret_access_key=out[s+"_credentials"]["secret_key"])

sns = boto3.client("sns", endpoint_url=out["sns_endpoint"], **kw("sns"))
sqs = boto3.client("sqs", endpoint_url=out["sqs_endpoint"], **kw("sqs"))
topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":events"))
url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
sns.publish(TopicArn=topic, Message="hello from the client")
deadline = time.time() + 20
while time.time() < deadline:
    msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    for m in msgs:
        print(m["Body"])
        envelope = json.loads(m["Body"])
        pem = urllib.request.urlopen(envelope["SigningCertURL"], timeout=5).read()
        leaf, *chain = x509.load_pem_x509_certificates(pem)
        root = x509.load_pem_x509_certificate(out["ca_root_pem"].encode())
        issuer = leaf
        for cert in chain + [root]:
            issuer.verify_directly_issued_by(cert)   # raises if the chain is broken
            issuer = cert
        fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
        text = "".join(f"{k}\n{envelope[k]}\n" for k in fields if envelope.get(k) is not None)
        algorithm = hashes.SHA256() if envelope["SignatureVersion"] == "2" else hashes.SHA1()
        leaf.public_key().verify(base64.b64decode(envelope["Signature"]), text.encode(),
                                 padding.PKCS1v15(), algorithm)
        print("signature verified up to the cloud CA's root")
        sys.exit(0)
sys.exit("nothing arrived")
