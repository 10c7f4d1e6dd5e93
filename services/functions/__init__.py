"""The functions connector: SNS topics, SQS queues and cron schedules -> the OpenFaaS gateway."""
