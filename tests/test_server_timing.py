import re

import pytest


@pytest.mark.django_db
def test_every_response_says_how_long_the_server_spent_on_it(client):
    response = client.get("/login/")
    assert re.fullmatch(r"app;dur=\d+\.\d\d, cpu;dur=\d+\.\d\d", response["Server-Timing"])
    # Refused and redirected requests carry it as well.
    assert "Server-Timing" in client.get("/traces/1/")
