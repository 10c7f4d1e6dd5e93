"""Run inside a LAN namespace of the dev stack: publish to the SNS topic `events`, then wait for
the message in the SQS queue `jobs` that subscribes to it. argv[1]: the stack outputs as JSON."""
import json, sys, time, boto3
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
        sys.exit(0)
sys.exit("nothing arrived")
