from components.render import nats


def test_jetstream_and_loopback_monitoring():
    text = nats.render(server_name="mammatus-gw", listen_host="127.0.0.1",
                       store_dir="/var/lib/mammatus/nats")
    assert 'listen: "127.0.0.1:4222"' in text
    assert 'http: "127.0.0.1:8222"' in text
    assert "jetstream {" in text and 'store_dir: "/var/lib/mammatus/nats"' in text
    assert "authorization" not in text
    assert "sync_interval: always" in text and "max_payload: 8MB" in text


def test_users_are_rendered_sorted_and_quoted():
    text = nats.render(server_name="s", users={"sqs": 'p"w', "sns": "x"})
    assert text.index('user: "sns"') < text.index('user: "sqs"')
    assert 'password: "p\\"w"' in text


def test_client_url():
    assert nats.client_url("127.0.0.1") == "nats://127.0.0.1:4222"
    assert nats.client_url("10.0.0.2", 4223) == "nats://10.0.0.2:4223"
