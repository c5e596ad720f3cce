import pytest

from tests.integration.harness import InProcessServer


@pytest.fixture
def make_server():
    """Build in-process servers; each is shut down at the end of the test."""
    made: list[InProcessServer] = []

    def make(*args, **kwargs) -> InProcessServer:
        server = InProcessServer(*args, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        if server.thread.is_alive():
            server.close()
